"""A wire-faithful emulator of the VirusTotal API v3 endpoints Positron uses (aiohttp.web on 127.0.0.1).

It speaks ``GET /api/v3/files/{md5|sha1|sha256}``, ``/api/v3/ip_addresses/{ip}``, ``/api/v3/domains/{domain}`` and
``/api/v3/urls/{id}`` (the id is the SHA-256 of the URL or the URL in unpadded base64url; the object's own id is the
SHA-256; an id that decodes to no URL → 400 InvalidArgumentError, an unknown URL → 404 NotFoundError)
with the real object shape (``{"data": {"id", "type", "links": {"self"}, "attributes": {...}}}``, real attribute
names, per-engine ``last_analysis_results``) and the real error document ``{"error": {"code", "message"}}``:
a missing ``x-apikey`` → 401 AuthenticationRequiredError, a wrong one → 401 WrongCredentialsError, an unknown file
or domain → 404 NotFoundError. Any public IP address answers (as VirusTotal does), with empty stats unless seeded.

    emulator = VirusTotalEmulator(api_key="k", latency_s=0.0)
    base_url = await emulator.start()
    emulator.add_file(sha256=..., stats={"malicious": 12}, label="trojan.emotet")
    emulator.fail(429, "QuotaExceededError", retry_after=30)      # the next request only
    emulator.fail_raw(200, b"{not json")                          # malformed body
    emulator.hang(2.0)                                            # the next request sleeps 2 s first
    ...
    emulator.requests        # every request: method, path, raw_path, headers
    await emulator.stop()

Optionally it enforces a quota like the public API's (``quota=(4, 60.0)`` → 429 QuotaExceededError).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import ipaddress
import json
import random
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

EICAR = {
    "md5": "44d88612fea8a8f36de82e1278abb02f",
    "sha1": "3395856ce81f2b7382dee72602f798b642f14140",
    "sha256": "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f",
}
FILE_STATS = (
    "harmless",
    "type-unsupported",
    "suspicious",
    "confirmed-timeout",
    "timeout",
    "failure",
    "malicious",
    "undetected",
)
NETWORK_STATS = ("harmless", "malicious", "suspicious", "undetected", "timeout")
JSON_TYPE = "application/json"


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    method: str
    path: str  # decoded path, without the query string
    raw_path: str  # as sent on the wire, with the query string
    query_string: str
    headers: dict[str, str]  # lower-cased names


@dataclass(slots=True)
class _Fault:
    status: int | None  # None: only delay, then answer normally
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    content_type: str = JSON_TYPE


def error_body(code: str, message: str) -> bytes:
    return json.dumps({"error": {"code": code, "message": message}}).encode()


def analysis_stats(kind: str, counts: dict[str, int] | None) -> dict[str, int]:
    """A full ``last_analysis_stats`` for a file or a network object: every real key, zero unless given."""
    names = FILE_STATS if kind == "file" else NETWORK_STATS
    stats = dict.fromkeys(names, 0)
    stats.update(counts or {})
    return stats


def analysis_results(stats: dict[str, int], result: str | None, when: int) -> dict[str, Any]:
    """Per-engine ``last_analysis_results`` consistent with ``stats`` (synthetic engine names)."""
    results: dict[str, Any] = {}
    for category, count in stats.items():
        for _ in range(count):
            engine = f"Engine{len(results) + 1:02d}"
            bad = category in ("malicious", "suspicious")
            results[engine] = {
                "category": category,
                "engine_name": engine,
                "engine_version": "1.0.0",
                "result": (result or "malware") if bad else None,
                "method": "blacklist",
                "engine_update": time.strftime("%Y%m%d", time.gmtime(when)),
            }
    return results


class VirusTotalEmulator:
    def __init__(
        self,
        api_key: str = "emulator-key",
        *,
        latency_s: float = 0.0,
        quota: tuple[int, float] | None = None,
        seed_eicar: bool = True,
    ) -> None:
        self.api_key = api_key
        self.latency_s = latency_s
        self.quota = quota
        self.requests: list[RecordedRequest] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._files: dict[str, dict[str, Any]] = {}  # md5, sha1 and sha256 → the same attributes
        self._ips: dict[str, dict[str, Any]] = {}
        self._domains: dict[str, dict[str, Any]] = {}
        self._urls: dict[str, dict[str, Any]] = {}  # SHA-256 of the URL → attributes
        self._faults: deque[_Fault] = deque()
        self._quota_log: deque[float] = deque()
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.base_url = ""
        if seed_eicar:
            self.add_file(
                sha256=EICAR["sha256"],
                sha1=EICAR["sha1"],
                md5=EICAR["md5"],
                stats={"malicious": 63, "undetected": 4, "type-unsupported": 9},
                label="virus.eicar/test",
                meaningful_name="eicar.com",
                type_description="Text",
            )

    # lifecycle

    async def start(self) -> str:
        app = web.Application()
        app.router.add_get("/api/v3/files/{id}", self._file)
        app.router.add_get("/api/v3/ip_addresses/{id}", self._ip)
        app.router.add_get("/api/v3/domains/{id}", self._domain)
        app.router.add_get("/api/v3/urls/{id}", self._url)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.base_url = f"http://{host}:{port}"
        return self.base_url

    async def stop(self) -> None:
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> VirusTotalEmulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def request_count(self) -> int:
        return len(self.requests)

    def reset_log(self) -> None:
        self.requests.clear()
        self.max_in_flight = self.in_flight

    # seeding

    def add_file(
        self,
        *,
        sha256: str,
        sha1: str | None = None,
        md5: str | None = None,
        stats: dict[str, int] | None = None,
        label: str | None = None,
        meaningful_name: str | None = None,
        type_description: str = "Win32 EXE",
        last_analysis_date: int | None = None,
        reputation: int = 0,
        **extra: Any,
    ) -> dict[str, Any]:
        """Seed a file; ``md5``/``sha1`` default to stand-ins derived from ``sha256``. Returns its attributes."""
        sha256 = sha256.lower()
        sha1 = (sha1 or hashlib.sha1(sha256.encode()).hexdigest()).lower()
        md5 = (md5 or hashlib.md5(sha256.encode()).hexdigest()).lower()
        when = last_analysis_date if last_analysis_date is not None else int(time.time()) - 3600
        full_stats = analysis_stats("file", stats)
        attributes: dict[str, Any] = {
            "sha256": sha256,
            "sha1": sha1,
            "md5": md5,
            "size": 73_802,
            "type_description": type_description,
            "type_tag": type_description.split()[0].lower(),
            "names": [meaningful_name] if meaningful_name else [],
            "first_submission_date": when - 86_400,
            "last_submission_date": when,
            "last_modification_date": when,
            "last_analysis_date": when,
            "last_analysis_stats": full_stats,
            "last_analysis_results": analysis_results(full_stats, label, when),
            "reputation": reputation,
            "total_votes": {"harmless": 0, "malicious": 0},
            "times_submitted": 1,
            "tags": [],
        }
        if meaningful_name:
            attributes["meaningful_name"] = meaningful_name
        if label:
            category, _, family = label.partition(".")
            attributes["popular_threat_classification"] = {
                "suggested_threat_label": label,
                "popular_threat_category": [{"count": full_stats["malicious"], "value": category}],
                "popular_threat_name": [{"count": full_stats["malicious"], "value": family or label}],
            }
        attributes.update(extra)
        for key in (sha256, sha1, md5):
            self._files[key] = attributes
        return attributes

    def add_ip(
        self,
        ip: str,
        *,
        stats: dict[str, int] | None = None,
        as_owner: str | None = "EXAMPLE-AS",
        asn: int = 64_496,
        country: str = "US",
        last_analysis_date: int | None = None,
        reputation: int = 0,
        **extra: Any,
    ) -> dict[str, Any]:
        address = ipaddress.ip_address(ip)
        attributes = self._network_attributes(stats, last_analysis_date, reputation)
        attributes.update(
            {
                "as_owner": as_owner,
                "asn": asn,
                "country": country,
                "continent": "NA",
                "network": str(ipaddress.ip_network(f"{address}/24", strict=False))
                if address.version == 4
                else str(address),
                "regional_internet_registry": "ARIN",
            }
        )
        attributes.update(extra)
        self._ips[address.compressed] = attributes
        return attributes

    def add_domain(
        self,
        domain: str,
        *,
        stats: dict[str, int] | None = None,
        categories: dict[str, str] | None = None,
        registrar: str = "Example Registrar, Inc.",
        last_analysis_date: int | None = None,
        reputation: int = 0,
        **extra: Any,
    ) -> dict[str, Any]:
        attributes = self._network_attributes(stats, last_analysis_date, reputation)
        attributes.update(
            {
                "categories": categories or {},
                "registrar": registrar,
                "tld": domain.rsplit(".", 1)[-1],
                "last_dns_records": [],
                "popularity_ranks": {},
                "creation_date": attributes["last_modification_date"] - 365 * 86_400,
            }
        )
        attributes.update(extra)
        self._domains[domain.lower()] = attributes
        return attributes

    def add_url(
        self,
        url: str,
        *,
        stats: dict[str, int] | None = None,
        title: str = "Sign in",
        last_analysis_date: int | None = None,
        reputation: int = 0,
        **extra: Any,
    ) -> dict[str, Any]:
        """Seed a URL, stored under the SHA-256 of exactly this string (VirusTotal canonicalizes; so do callers)."""
        attributes = self._network_attributes(stats, last_analysis_date, reputation)
        attributes.update(
            {
                "url": url,
                "last_final_url": url,
                "title": title,
                "categories": {},
                "last_http_response_code": 200,
                "first_submission_date": attributes["last_modification_date"] - 86_400,
                "last_submission_date": attributes["last_modification_date"],
                "times_submitted": 1,
                "threat_names": [],
            }
        )
        attributes.update(extra)
        self._urls[hashlib.sha256(url.encode()).hexdigest()] = attributes
        return attributes

    def seed_files(self, count: int, *, seed: int = 0) -> list[str]:
        """Seed ``count`` files with varied verdicts (for benchmarks); returns their SHA-256s."""
        rng = random.Random(seed)
        hashes = []
        for i in range(count):
            sha256 = hashlib.sha256(f"positron-bench-{seed}-{i}".encode()).hexdigest()
            malicious = rng.choice((0, 0, 0, 1, 2, 5, 40))
            self.add_file(
                sha256=sha256,
                stats={"malicious": malicious, "undetected": 70 - malicious},
                label="trojan.generic/agent" if malicious >= 5 else None,
            )
            hashes.append(sha256)
        return hashes

    # faults

    def fail(
        self,
        status: int,
        code: str,
        message: str | None = None,
        *,
        retry_after: str | float | None = None,
        times: int = 1,
    ) -> None:
        """The next ``times`` requests get VirusTotal's error document with ``status``."""
        headers = {} if retry_after is None else {"Retry-After": str(retry_after)}
        body = error_body(code, message or f"emulated {code}")
        for _ in range(times):
            self._faults.append(_Fault(status, body, headers))

    def fail_raw(
        self,
        status: int,
        body: bytes,
        *,
        content_type: str = JSON_TYPE,
        headers: dict[str, str] | None = None,
        times: int = 1,
    ) -> None:
        """The next ``times`` requests get exactly this status and body (malformed JSON, odd shapes, 3xx)."""
        for _ in range(times):
            self._faults.append(_Fault(status, body, dict(headers or {}), content_type=content_type))

    def hang(self, seconds: float, *, times: int = 1) -> None:
        """The next ``times`` requests sleep ``seconds`` before they are answered (``stop()`` wakes them)."""
        for _ in range(times):
            self._faults.append(_Fault(None, delay_s=seconds))

    # handlers

    async def _file(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, self._lookup_file)

    async def _ip(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, self._lookup_ip)

    async def _domain(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, self._lookup_domain)

    async def _url(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, self._lookup_url)

    async def _serve(self, request: web.Request, lookup: Any) -> web.StreamResponse:
        self.requests.append(
            RecordedRequest(
                request.method,
                request.path,
                request.raw_path,
                request.query_string,
                {k.lower(): v for k, v in request.headers.items()},
            )
        )
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await self._sleep(self.latency_s)
            fault = self._faults.popleft() if self._faults else None
            if fault is not None:
                await self._sleep(fault.delay_s)
                if fault.status is not None:
                    return web.Response(
                        status=fault.status, body=fault.body, headers=fault.headers, content_type=fault.content_type
                    )
            denied = self._check_key(request) or self._check_quota()
            if denied is not None:
                return denied
            status, doc = lookup(request.match_info["id"])
            return _json(status, doc)
        finally:
            self.in_flight -= 1

    def _check_key(self, request: web.Request) -> web.Response | None:
        key = request.headers.get("x-apikey")
        if key is None:
            return _json(401, _error("AuthenticationRequiredError", "X-Apikey header is missing"))
        if key != self.api_key:
            return _json(401, _error("WrongCredentialsError", "Wrong API key"))
        return None

    def _check_quota(self) -> web.Response | None:
        if self.quota is None:
            return None
        allowed, period = self.quota
        now = time.monotonic()
        while self._quota_log and self._quota_log[0] <= now - period:
            self._quota_log.popleft()
        if len(self._quota_log) >= allowed:
            return _json(429, _error("QuotaExceededError", "Quota exceeded"))
        self._quota_log.append(now)
        return None

    def _lookup_file(self, raw_id: str) -> tuple[int, dict[str, Any]]:
        attributes = self._files.get(raw_id.lower())
        if attributes is None:
            return 404, _error("NotFoundError", f'File "{raw_id}" not found')
        return 200, self._object("file", "files", attributes["sha256"], attributes)

    def _lookup_ip(self, raw_id: str) -> tuple[int, dict[str, Any]]:
        try:
            address = ipaddress.ip_address(raw_id)
        except ValueError:
            return 400, _error("InvalidArgumentError", f'Invalid IP address "{raw_id}"')
        attributes = self._ips.get(address.compressed)
        if attributes is None:  # VirusTotal answers for any address, with empty analysis stats
            attributes = {
                "last_analysis_stats": analysis_stats("ip_address", None),
                "last_analysis_results": {},
                "reputation": 0,
                "total_votes": {"harmless": 0, "malicious": 0},
                "tags": [],
            }
        return 200, self._object("ip_address", "ip_addresses", address.compressed, attributes)

    def _lookup_domain(self, raw_id: str) -> tuple[int, dict[str, Any]]:
        attributes = self._domains.get(raw_id.lower())
        if attributes is None:
            return 404, _error("NotFoundError", f'Domain "{raw_id}" not found')
        return 200, self._object("domain", "domains", raw_id.lower(), attributes)

    def _lookup_url(self, raw_id: str) -> tuple[int, dict[str, Any]]:
        if len(raw_id) == 64 and all(c in "0123456789abcdef" for c in raw_id.lower()):
            sha256 = raw_id.lower()
        else:
            if "=" in raw_id or not raw_id:
                return 400, _error("InvalidArgumentError", "Invalid URL identifier (padding is not allowed)")
            try:
                url = base64.urlsafe_b64decode(raw_id + "=" * (-len(raw_id) % 4)).decode()
            except (binascii.Error, UnicodeDecodeError, ValueError):
                return 400, _error("InvalidArgumentError", f'Invalid URL identifier "{raw_id}"')
            sha256 = hashlib.sha256(url.encode()).hexdigest()
        attributes = self._urls.get(sha256)
        if attributes is None:
            return 404, _error("NotFoundError", f'URL "{raw_id}" not found')
        return 200, self._object("url", "urls", sha256, attributes)

    def _object(self, kind: str, collection: str, object_id: str, attributes: dict[str, Any]) -> dict[str, Any]:
        self_link = f"{self.base_url}/api/v3/{collection}/{object_id}"
        return {"data": {"id": object_id, "type": kind, "links": {"self": self_link}, "attributes": attributes}}

    def _network_attributes(self, stats: dict[str, int] | None, when: int | None, reputation: int) -> dict[str, Any]:
        when = when if when is not None else int(time.time()) - 3600
        full_stats = analysis_stats("ip_address", stats)
        return {
            "last_analysis_date": when,
            "last_analysis_stats": full_stats,
            "last_analysis_results": analysis_results(full_stats, None, when),
            "last_modification_date": when,
            "reputation": reputation,
            "total_votes": {"harmless": 0, "malicious": 0},
            "tags": [],
            "whois": "",
        }

    async def _sleep(self, seconds: float) -> None:
        if seconds <= 0:
            return
        try:
            await asyncio.wait_for(self._closing.wait(), seconds)
        except TimeoutError:
            pass


def _error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def _json(status: int, doc: dict[str, Any]) -> web.Response:
    return web.Response(status=status, body=json.dumps(doc).encode(), content_type=JSON_TYPE, charset="utf-8")
