"""DNS: PTR for IP_TO_HOSTNAME, A and AAAA for HOSTNAME_TO_IP, asked of configured nameservers (dnspython).

DNS describes the present only: every answer is observed now, and an answer to a question about the past
(``at`` more than ``PRESENT_WINDOW`` ago) gets a lower confidence.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import ClassVar

import anyio
import dns.asyncresolver
import dns.exception
import dns.name
import dns.rdatatype
import dns.resolver
import dns.reversename
from positron.queries.network import HOSTNAME_TO_IP, IP_TO_HOSTNAME
from pydantic import Field, field_validator

from positron.provider import (
    Answer,
    BadResponse,
    Health,
    InvalidInput,
    Lookup,
    Provider,
    ProviderConfig,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    answers,
    normalize_hostname,
)

PRESENT_CONFIDENCE = 0.7
PAST_CONFIDENCE = 0.35
PRESENT_WINDOW = timedelta(minutes=15)
EDNS_PAYLOAD = 1232  # the DNS flag day 2020 size: no IP fragmentation, fewer truncated UDP answers


class DnsConfig(ProviderConfig):
    nameservers: list[str] = Field(min_length=1, description="Nameserver IP addresses, asked in order")
    port: int = Field(default=53, ge=1, le=65535, description="Port of every nameserver")
    timeout_s: float = Field(default=2.0, gt=0, le=120, description="Time for one try to one nameserver")
    attempts: int = Field(default=2, ge=1, le=5, description="Rounds over the nameservers, as in resolv.conf")
    lifetime_s: float | None = Field(
        default=None,
        gt=0,
        le=120,
        description="Total time for one resolution; default timeout_s × attempts × number of nameservers",
    )
    tcp: bool = Field(default=False, description="Query over TCP instead of UDP")
    search_domains: list[str] = Field(
        default_factory=list, description="Suffixes tried in order for a single-label host name (ws-042)"
    )
    health_name: str = Field(default=".", description="health() asks for this name's SOA record")

    @field_validator("nameservers")
    @classmethod
    def _ip_addresses(cls, values: list[str]) -> list[str]:
        return [ipaddress.ip_address(value.strip()).compressed for value in values]

    @field_validator("search_domains")
    @classmethod
    def _domains(cls, values: list[str]) -> list[str]:
        try:
            return [normalize_hostname(value) for value in values]
        except InvalidInput as exc:
            raise ValueError(exc.message) from None

    @field_validator("health_name")
    @classmethod
    def _dns_name(cls, value: str) -> str:
        try:
            dns.name.from_text(value)
        except dns.exception.DNSException as exc:
            raise ValueError(f"not a DNS name ({type(exc).__name__})") from None
        return value

    @property
    def lifetime(self) -> float:
        if self.lifetime_s is not None:
            return self.lifetime_s
        return self.timeout_s * self.attempts * len(self.nameservers)


class Dns(Provider[DnsConfig]):
    type_name = "dns"
    Config: ClassVar[type[ProviderConfig]] = DnsConfig

    def __init__(self, name: str, config: DnsConfig) -> None:
        super().__init__(name, config)
        self._resolver: dns.asyncresolver.Resolver | None = None

    async def open(self) -> None:
        resolver = dns.asyncresolver.Resolver(configure=False)  # never /etc/resolv.conf
        resolver.nameservers = list(self.config.nameservers)
        resolver.port = self.config.port
        resolver.timeout = self.config.timeout_s
        resolver.lifetime = self.config.lifetime
        resolver.use_edns(0, 0, EDNS_PAYLOAD)
        self._resolver = resolver

    async def aclose(self) -> None:
        self._resolver = None  # sockets live only as long as one query

    @answers(IP_TO_HOSTNAME)
    async def ip_to_hostname(self, lookup: Lookup) -> list[Answer[str]]:
        qname = dns.reversename.from_address(lookup.value)
        answer = await self._resolve(qname, "PTR")
        if answer is None:
            return []
        names = _unique(rdata.target.to_text(omit_final_dot=True).lower() for rdata in answer)
        return self._answers(names, answer, lookup)

    @answers(HOSTNAME_TO_IP)
    async def hostname_to_ip(self, lookup: Lookup) -> list[Answer[str]]:
        for qname in self._candidates(lookup.value):
            found = await self._addresses(qname)
            if found:
                return [a for answer in found for a in self._answers(_address_values(answer), answer, lookup)]
        return []

    async def health(self) -> Health:
        started = time.monotonic()
        try:
            answer = await self._resolve(dns.name.from_text(self.config.health_name), "SOA")
        except ProviderError as exc:
            return Health(ok=False, detail=exc.message)
        except Exception as exc:  # health() never raises
            return Health(ok=False, detail=f"health query failed ({type(exc).__name__})")
        elapsed_ms = (time.monotonic() - started) * 1000
        server = answer.nameserver if answer is not None else "a nameserver"
        detail = f"{server} answered {self.config.health_name} SOA in {elapsed_ms:.0f} ms"
        return Health(ok=True, detail=detail)

    def _candidates(self, hostname: str) -> list[dns.name.Name]:
        """A dotted name is an FQDN; a single label is tried under each search domain (as is if none)."""
        if "." in hostname or not self.config.search_domains:
            return [dns.name.from_text(hostname)]
        return [dns.name.from_text(f"{hostname}.{domain}") for domain in self.config.search_domains]

    async def _addresses(self, qname: dns.name.Name) -> list[dns.resolver.Answer]:
        """A and AAAA at once; both must succeed (an error in either is raised, never a half answer)."""
        results: dict[str, dns.resolver.Answer | None | Exception] = {}

        async def one(rdtype: str) -> None:
            try:
                results[rdtype] = await self._resolve(qname, rdtype)
            except Exception as exc:  # re-raised below, after both finished
                results[rdtype] = exc

        async with anyio.create_task_group() as group:
            group.start_soon(one, "A")
            group.start_soon(one, "AAAA")
        found: list[dns.resolver.Answer] = []
        for rdtype in ("A", "AAAA"):
            result = results[rdtype]
            if isinstance(result, Exception):
                raise result
            if result is not None:
                found.append(result)
        return found

    async def _resolve(self, qname: dns.name.Name, rdtype: str) -> dns.resolver.Answer | None:
        """One resolution; None when the name or the record type does not exist."""
        if self._resolver is None:
            raise ProviderUnavailable(f"dns provider {self.name!r} is not open")
        what = f"{qname.to_text(omit_final_dot=True) or '.'} {rdtype}"
        # fail_after: dnspython may sleep a retry backoff past its lifetime before it gives up
        with _translate_errors(what, self.config.lifetime), anyio.fail_after(self.config.lifetime):
            try:
                return await self._resolver.resolve(qname, rdtype, tcp=self.config.tcp)
            except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
                return None

    def _answers(self, values: list[str], answer: dns.resolver.Answer, lookup: Lookup) -> list[Answer[str]]:
        now = datetime.now(UTC)
        confidence = PRESENT_CONFIDENCE
        if lookup.at is not None and lookup.at < now - PRESENT_WINDOW:
            confidence = PAST_CONFIDENCE
        ref = _source_ref(answer)
        return [Answer(value, confidence=confidence, observed_at=now, source_ref=ref) for value in values]


@contextmanager
def _translate_errors(what: str, lifetime: float) -> Iterator[None]:
    """dnspython's exceptions → Positron's; messages carry only the question, servers and rcodes."""
    try:
        yield
    except (dns.exception.Timeout, TimeoutError) as exc:  # before OSError: TimeoutError is one
        raise ProviderTimeout(f"no DNS answer for {what} within {lifetime:g} s") from exc
    except dns.resolver.NoNameservers as exc:
        if _all_malformed(exc):
            raise BadResponse(f"malformed DNS response for {what}: {_failures(exc)}") from exc
        raise ProviderUnavailable(f"every nameserver failed {what}: {_failures(exc)}") from exc
    except dns.resolver.YXDOMAIN as exc:
        raise BadResponse(f"DNS answered YXDOMAIN for {what}") from exc
    except dns.exception.DNSException as exc:
        raise BadResponse(f"unusable DNS response for {what} ({type(exc).__name__})") from exc
    except OSError as exc:
        raise ProviderUnavailable(f"cannot reach a nameserver for {what} (errno {exc.errno})") from exc


def _all_malformed(exc: dns.resolver.NoNameservers) -> bool:
    """Every server sent a message that did not parse (not an error rcode, not a network failure)."""
    errors = [error for _server, _tcp, _port, error, *_ in exc.kwargs.get("errors", [])]
    return bool(errors) and all(
        isinstance(error, dns.exception.DNSException) and not isinstance(error, dns.exception.Timeout)
        for error in errors
    )


def _failures(exc: dns.resolver.NoNameservers) -> str:
    """``127.0.0.1:53 SERVFAIL; 10.0.0.2:53 EOFError`` from the resolver's per-server error list."""
    parts = []
    for server, _tcp, port, error, *_ in exc.kwargs.get("errors", []):
        reason = error if isinstance(error, str) else type(error).__name__  # an rcode name or an exception
        host = str(server).removeprefix("Do53:").rsplit("@", 1)[0]  # dnspython writes Do53:10.0.0.53@53
        parts.append(f"{_authority(host, port)} {reason}")
    return "; ".join(parts) or "no nameserver left to ask"


def _address_values(answer: dns.resolver.Answer) -> list[str]:
    return _unique(ipaddress.ip_address(rdata.address).compressed for rdata in answer)


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


def _authority(server: str, port: int | None) -> str:
    host = f"[{server}]" if ":" in server else server
    return host if port in (None, 53) else f"{host}:{port}"


def _source_ref(answer: dns.resolver.Answer) -> str:
    """An RFC 4501 DNS URI: ``dns://10.0.0.53/ws-042.corp.example?type=A``."""
    qname = answer.qname.to_text(omit_final_dot=True)
    rdtype = dns.rdatatype.to_text(answer.rdtype)
    return f"dns://{_authority(str(answer.nameserver), answer.port)}/{qname}?type={rdtype}"
