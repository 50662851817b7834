"""Fleet (FleetDM, osquery at scale): IP_TO_HOSTNAME, IP_TO_MAC, HOST_INFO and HOST_USER from the host records
Fleet keeps, through its REST API (``GET /api/v1/fleet/hosts``).

One search per lookup: ``GET /api/v1/fleet/hosts?query=<value>&device_mapping=true&page=N&per_page=M`` with the
API token as ``Authorization: Bearer``. Fleet's ``query`` is a keyword search (hostname, serial, UUID, IPv4 and
e-mail addresses, matched as substrings), so every returned host is filtered here exactly: ``primary_ip`` must
equal the address asked about, the host name must be the name asked about or its short form. A search that fills
a page reads the next, up to ``max_pages``.

Fleet knows the present only: each answer's ``observed_at`` is the host's last check-in (``seen_time``), so with
``at`` far from it the merge discounts the answer by recency. HOST_USER comes from the host's device mapping
(e-mail addresses Fleet learned from the identity provider, Chrome profiles or a custom mapping); an address in
``strip_domains`` becomes its local part, to merge with the directory's account names.
"""

from __future__ import annotations

import ssl
from datetime import UTC, datetime
from typing import Any, ClassVar

from positron.providers._assets import (
    CaFile,
    Domains,
    host_name,
    ip_address,
    mac_address,
    parse_time,
    same_host,
    text,
    username,
)
from positron.queries import HOST_INFO, HOST_USER, IP_TO_HOSTNAME, IP_TO_MAC, HostInfo
from pydantic import Field

from positron.provider import (
    Answer,
    BadResponse,
    BaseUrl,
    Health,
    HttpProvider,
    HttpSource,
    Lookup,
    ProviderConfig,
    ProviderError,
    Secret,
    answers,
    raise_for_status,
)

HOSTS = "/api/v1/fleet/hosts"
Host = dict[str, Any]


class FleetConfig(ProviderConfig):
    base_url: BaseUrl = Field(description="The Fleet server, e.g. https://fleet.corp.example")
    api_token: Secret = Field(description="A Fleet API token (an API-only user with the observer role is enough)")
    ca_file: CaFile | None = Field(default=None, description="PEM bundle to verify Fleet's certificate with")
    verify_tls: bool = Field(default=True, description="Verify Fleet's TLS certificate")
    team_id: int | None = Field(default=None, ge=0, description="Search only this team's hosts")
    per_page: int = Field(default=50, ge=1, le=500, description="Hosts per page")
    max_pages: int = Field(default=4, ge=1, le=50, description="Pages read at most per lookup")
    strip_domains: Domains = Field(
        default_factory=list, description="E-mail domains whose addresses become account names (jdoe@corp → jdoe)"
    )
    confidence: float = Field(default=0.8, ge=0, le=1, description="Confidence of an answer")



class Fleet(HttpProvider[FleetConfig]):
    type_name: ClassVar[str] = "fleet"
    Config: ClassVar[type[ProviderConfig]] = FleetConfig

    def http_source(self) -> HttpSource:
        config = self.config
        return HttpSource(
            config.base_url,
            headers={"Authorization": f"Bearer {config.api_token.get_secret_value()}", "Accept": "application/json"},
            timeout_s=config.timeout_s,
            max_connections=config.max_concurrency,
            ssl=_ssl(config),
        )

    async def health(self) -> Health:
        try:
            response = await self.http.get("/api/v1/fleet/version")
            raise_for_status(response)
            version = response.json().get("version", "?") if isinstance(response.json(), dict) else "?"
        except ProviderError as exc:
            return Health(ok=False, detail=exc.message)
        return Health(ok=True, detail=f"Fleet {version} at {self.http.label}")

    @answers(IP_TO_HOSTNAME)
    async def ip_to_hostname(self, lookup: Lookup) -> list[Answer[str]]:
        hosts = [h for h in await self._search(lookup.value) if ip_address(h.get("primary_ip")) == lookup.value]
        return self._answers(hosts, lambda h: host_name(h.get("hostname")))

    @answers(IP_TO_MAC)
    async def ip_to_mac(self, lookup: Lookup) -> list[Answer[str]]:
        hosts = [h for h in await self._search(lookup.value) if ip_address(h.get("primary_ip")) == lookup.value]
        return self._answers(hosts, lambda h: mac_address(h.get("primary_mac")))

    @answers(HOST_INFO)
    async def host_info(self, lookup: Lookup) -> list[Answer[HostInfo]]:
        return self._answers(await self._hosts_named(lookup.value), self._host_info)

    @answers(HOST_USER)
    async def host_user(self, lookup: Lookup) -> list[Answer[str]]:
        found: list[Answer[str]] = []
        for host in await self._hosts_named(lookup.value):
            for entry in host.get("device_mapping") or []:
                user = username(entry.get("email") if isinstance(entry, dict) else None, self.config.strip_domains)
                if user is not None and user not in {a.value for a in found}:
                    found.append(self._answer(user, host))
        return found

    # --- searching ---

    async def _hosts_named(self, hostname: str) -> list[Host]:
        short = hostname.split(".", 1)[0]  # Fleet may know the short name only: search by it, match exactly
        return [h for h in await self._search(short) if same_host(hostname, h.get("hostname"))]

    async def _search(self, value: str) -> list[Host]:
        params = {"query": value, "device_mapping": "true", "per_page": str(self.config.per_page)}
        if self.config.team_id is not None:
            params["team_id"] = str(self.config.team_id)
        hosts: list[Host] = []
        for page in range(self.config.max_pages):
            response = await self.http.get(HOSTS, params={**params, "page": str(page)})
            raise_for_status(response)
            body = response.json()
            batch = body.get("hosts") if isinstance(body, dict) else None
            if not isinstance(batch, list) or not all(isinstance(h, dict) for h in batch):
                raise BadResponse(f"{self.http.label}: a hosts search without a 'hosts' list")
            hosts += batch
            if len(batch) < self.config.per_page:
                break
        return hosts

    # --- answers ---

    def _answers(self, hosts: list[Host], pick: Any) -> list[Answer[Any]]:
        found: dict[Any, Answer[Any]] = {}
        for host in sorted(hosts, key=_seen, reverse=True):  # newest check-in first
            value = pick(host)
            if value is not None and value not in found:
                found[value] = self._answer(value, host)
        return list(found.values())

    def _answer(self, value: Any, host: Host) -> Answer[Any]:
        ref = f"{self.config.base_url}/hosts/{host['id']}" if isinstance(host.get("id"), int) else None
        return Answer(value, self.config.confidence, parse_time(host.get("seen_time")), ref)

    def _host_info(self, host: Host) -> HostInfo | None:
        name = host_name(host.get("hostname"))
        if name is None:
            return None
        owners = [e.get("email") for e in host.get("device_mapping") or [] if isinstance(e, dict)]
        agents = [f"fleet:{host['id']}"] if isinstance(host.get("id"), int) else []
        if text(host.get("uuid")):
            agents.append(f"osquery:{host['uuid']}")
        return HostInfo(
            hostname=name,
            os=text(host.get("os_version")),
            platform=text(host.get("platform")),
            ip=ip_address(host.get("primary_ip")),
            mac=mac_address(host.get("primary_mac")),
            serial_number=text(host.get("hardware_serial")),
            manufacturer=text(host.get("hardware_vendor")),
            model=text(host.get("hardware_model")),
            owner=next((u for u in (username(o, self.config.strip_domains) for o in owners) if u), None),
            site=text(host.get("team_name")),
            last_seen=parse_time(host.get("seen_time")),
            agent_ids=tuple(agents) or None,
        )


def _seen(host: Host) -> datetime:
    return parse_time(host.get("seen_time")) or datetime.min.replace(tzinfo=UTC)


def _ssl(config: FleetConfig) -> ssl.SSLContext | bool | None:
    if not config.verify_tls:
        return False
    return ssl.create_default_context(cafile=config.ca_file) if config.ca_file else None
