"""CrowdStrike Falcon (hosts API): IP_TO_HOSTNAME (local and external IP), HOSTNAME_TO_IP, IP_TO_MAC, HOST_INFO,
HOST_USER and IP_TO_USER (the last logged-on user) from the devices Falcon keeps.

Two calls per lookup: ``GET /devices/queries/devices/v1?filter=<FQL>`` for the device ids (paged by
``offset``/``limit`` while ``meta.pagination.total`` says there are more, up to ``max_pages``), then
``GET /devices/entities/devices/v2?ids=…`` for the devices. FQL filters are built from the normalized value as one
single-quoted FQL string with ``\\`` and ``'`` escaped; ``*`` (FQL's wildcard) and control characters are refused,
so no value changes a filter's structure.

OAuth2 client credentials: ``POST /oauth2/token`` (form ``client_id``, ``client_secret``) gives a bearer token
valid ``expires_in`` seconds (30 minutes); it is cached per instance, fetched again ``refresh_margin_s`` before it
expires, and once more when the API answers 401 (a revoked token). One token request at a time (a lock).
``cloud`` picks the regional base URL. Falcon's ``X-RateLimit-*`` headers: a 429 becomes ``rate_limited`` with
``retry_after`` from ``X-RateLimit-RetryAfter`` (an epoch time) via positron/http.py.

Falcon knows each device's present state; ``observed_at`` is its ``last_seen`` (for HOST_USER/IP_TO_USER the
``last_login_timestamp`` where Falcon has one), so answers for a distant ``at`` are discounted by recency.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal

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
from positron.providers._oauth import TokenCache, token_from
from positron.queries import (
    HOST_INFO,
    HOST_USER,
    HOSTNAME_TO_IP,
    IP_TO_HOSTNAME,
    IP_TO_MAC,
    IP_TO_USER,
    HostInfo,
)
from pydantic import Field, model_validator

from positron.provider import (
    Answer,
    BadResponse,
    BaseUrl,
    Health,
    HttpProvider,
    HttpSource,
    Lookup,
    ProviderAuthError,
    ProviderConfig,
    ProviderError,
    Secret,
    UnsupportedInput,
    answers,
    raise_for_status,
)

CLOUDS = {
    "us-1": "https://api.crowdstrike.com",
    "us-2": "https://api.us-2.crowdstrike.com",
    "eu-1": "https://api.eu-1.crowdstrike.com",
    "us-gov-1": "https://api.laggar.gcw.crowdstrike.com",
}
QUERY_DEVICES = "/devices/queries/devices/v1"
DEVICES = "/devices/entities/devices/v2"
MAX_IDS = 100  # device ids per entities request
EXTERNAL_IP_CONFIDENCE = 0.5  # an external (NAT) address is shared by every host behind it
Device = dict[str, Any]


def fql_string(value: str) -> str:
    """``value`` as one single-quoted FQL string. ``*`` is refused: inside quotes FQL still reads it as a
    wildcard."""
    if "*" in value or any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise UnsupportedInput("the value holds '*' or a control character, which FQL cannot match literally")
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class CrowdStrikeConfig(ProviderConfig):
    client_id: str = Field(min_length=1, description="API client id (scope: Hosts read)")
    client_secret: Secret = Field(description="API client secret")
    cloud: Literal["us-1", "us-2", "eu-1", "us-gov-1"] = Field(default="us-1", description="The Falcon cloud")
    base_url: BaseUrl | None = Field(default=None, description="Overrides cloud (a proxy, or a test server)")
    member_cid: str | None = Field(default=None, description="A child CID (Flight Control)")
    ca_file: CaFile | None = Field(default=None, description="PEM bundle for a TLS-intercepting proxy")
    page_size: int = Field(default=100, ge=1, le=5000, description="Device ids per query page")
    max_pages: int = Field(default=3, ge=1, le=50, description="Query pages read at most per lookup")
    refresh_margin_s: float = Field(default=60.0, ge=0, description="Fetch a new token this long before expiry")
    strip_domains: Domains = Field(default_factory=list, description="UPN domains whose users become accounts")
    confidence: float = Field(default=0.9, ge=0, le=1)

    @model_validator(mode="after")
    def _check(self) -> CrowdStrikeConfig:
        if self.member_cid is not None and not self.member_cid.isalnum():
            raise ValueError("member_cid must be a CID (letters and digits)")
        return self

    @property
    def api_url(self) -> str:
        return self.base_url or CLOUDS[self.cloud]


class CrowdStrike(HttpProvider[CrowdStrikeConfig]):
    type_name: ClassVar[str] = "crowdstrike"
    Config: ClassVar[type[ProviderConfig]] = CrowdStrikeConfig

    def __init__(self, name: str, config: CrowdStrikeConfig) -> None:
        super().__init__(name, config)
        self.tokens = TokenCache(self._fetch_token, config.refresh_margin_s)

    def http_source(self) -> HttpSource:
        config = self.config
        context = ssl.create_default_context(cafile=config.ca_file) if config.ca_file else None
        return HttpSource(
            config.api_url,
            headers={"Accept": "application/json"},
            timeout_s=config.timeout_s,
            max_connections=config.max_concurrency,
            ssl=context,
        )

    async def aclose(self) -> None:
        await super().aclose()
        self.tokens.clear()

    async def health(self) -> Health:
        try:
            await self._query("hostname:'positron-health-check'", pages=1)
        except ProviderError as exc:
            return Health(ok=False, detail=exc.message)
        return Health(ok=True, detail=f"Falcon {self.config.cloud} at {self.http.label}: token and Hosts scope ok")

    # --- handlers ---

    @answers(IP_TO_HOSTNAME)
    async def ip_to_hostname(self, lookup: Lookup) -> list[Answer[str]]:
        ip = fql_string(lookup.value)
        devices = await self._devices(f"local_ip:{ip},external_ip:{ip}")
        found = self._answers([d for d in devices if _local(d, lookup.value)], lambda d: host_name(d.get("hostname")))
        known = {a.value for a in found}
        behind_nat = self._answers(
            [d for d in devices if ip_address(d.get("external_ip")) == lookup.value],
            lambda d: host_name(d.get("hostname")),
            EXTERNAL_IP_CONFIDENCE,
        )
        return found + [a for a in behind_nat if a.value not in known]

    @answers(HOSTNAME_TO_IP)
    async def hostname_to_ip(self, lookup: Lookup) -> list[Answer[str]]:
        return self._answers(await self._named(lookup.value), lambda d: ip_address(d.get("local_ip")))

    @answers(IP_TO_MAC)
    async def ip_to_mac(self, lookup: Lookup) -> list[Answer[str]]:
        devices = await self._devices(f"local_ip:{fql_string(lookup.value)}")
        return self._answers(
            [d for d in devices if _local(d, lookup.value)], lambda d: mac_address(d.get("mac_address"))
        )

    @answers(HOST_INFO)
    async def host_info(self, lookup: Lookup) -> list[Answer[HostInfo]]:
        return self._answers(await self._named(lookup.value), self._host_info)

    @answers(HOST_USER)
    async def host_user(self, lookup: Lookup) -> list[Answer[str]]:
        return self._users(await self._named(lookup.value))

    @answers(IP_TO_USER)
    async def ip_to_user(self, lookup: Lookup) -> list[Answer[str]]:
        devices = await self._devices(f"local_ip:{fql_string(lookup.value)}")
        return self._users([d for d in devices if _local(d, lookup.value)])

    # --- Falcon ---

    async def _named(self, hostname: str) -> list[Device]:
        short = hostname.split(".", 1)[0]  # Falcon keeps the short (NetBIOS/host) name
        devices = await self._devices(f"hostname:{fql_string(short)},hostname:{fql_string(hostname)}")
        return [d for d in devices if same_host(hostname, d.get("hostname"))]

    async def _devices(self, fql: str) -> list[Device]:
        ids = await self._query(fql, pages=self.config.max_pages)
        devices: list[Device] = []
        for start in range(0, len(ids), MAX_IDS):
            params = [("ids", i) for i in ids[start : start + MAX_IDS]]
            body = await self._api(DEVICES, params)
            devices += [d for d in _resources(body, self.http.label) if isinstance(d, dict)]
        return devices

    async def _query(self, fql: str, pages: int) -> list[str]:
        ids: list[str] = []
        for page in range(pages):
            offset = page * self.config.page_size
            params = [("filter", fql), ("limit", str(self.config.page_size)), ("offset", str(offset))]
            body = await self._api(QUERY_DEVICES, params)
            batch = [i for i in _resources(body, self.http.label) if isinstance(i, str)]
            ids += batch
            total = ((body.get("meta") or {}).get("pagination") or {}).get("total")
            if not batch or not isinstance(total, int) or offset + len(batch) >= total:
                break
        return list(dict.fromkeys(ids))

    async def _api(self, path: str, params: list[tuple[str, str]]) -> dict[str, Any]:
        """One authorized GET; a 401 fetches a new token and tries once more."""
        for attempt in (1, 2):
            token = await self.tokens.get(force=attempt == 2)
            response = await self.http.get(path, params=params, headers={"Authorization": f"Bearer {token}"})
            if response.status != 401 or attempt == 2:
                break
        raise_for_status(response)
        body = response.json()
        if not isinstance(body, dict):
            raise BadResponse(f"{self.http.label}: {path} answered with something other than a JSON object")
        return body

    async def _fetch_token(self) -> tuple[str, float]:
        form = {"client_id": self.config.client_id, "client_secret": self.config.client_secret.get_secret_value()}
        if self.config.member_cid:
            form["member_cid"] = self.config.member_cid
        response = await self.http.request("POST", "/oauth2/token", data=form)
        if response.status in (400, 401, 403):
            raise ProviderAuthError(f"{self.http.label}: HTTP {response.status}: the client credentials were refused")
        raise_for_status(response)
        return token_from(response)

    # --- answers ---

    def _answers(
        self, devices: list[Device], pick: Callable[[Device], Any], confidence: float | None = None
    ) -> list[Answer[Any]]:
        found: dict[Any, Answer[Any]] = {}
        for device in sorted(devices, key=lambda d: _time(d, "last_seen"), reverse=True):
            value = pick(device)
            if value is not None and value not in found:
                conf = self.config.confidence if confidence is None else confidence
                found[value] = Answer(value, conf, parse_time(device.get("last_seen")), _ref(device))
        return list(found.values())

    def _users(self, devices: list[Device]) -> list[Answer[str]]:
        found: dict[str, Answer[str]] = {}
        for device in sorted(devices, key=lambda d: _time(d, "last_login_timestamp"), reverse=True):
            user = username(device.get("last_login_user"), self.config.strip_domains)
            if user is not None and user not in found:
                when = parse_time(device.get("last_login_timestamp")) or parse_time(device.get("last_seen"))
                found[user] = Answer(user, self.config.confidence, when, _ref(device))
        return list(found.values())

    def _host_info(self, device: Device) -> HostInfo | None:
        name = host_name(device.get("hostname"))
        if name is None:
            return None
        domain = host_name(device.get("machine_domain"))
        fqdn = f"{name}.{domain}" if domain and "." not in name else name
        aid = text(device.get("device_id"))
        ou = device.get("ou")
        ous: list[Any] = ou if isinstance(ou, list) else []
        return HostInfo(
            hostname=fqdn,
            os=text(device.get("os_version")),
            platform=(text(device.get("platform_name")) or "").casefold() or None,
            ip=ip_address(device.get("local_ip")),
            mac=mac_address(device.get("mac_address")),
            serial_number=text(device.get("serial_number")),
            manufacturer=text(device.get("system_manufacturer")),
            model=text(device.get("system_product_name")),
            owner=username(device.get("last_login_user"), self.config.strip_domains),
            site=text(device.get("site_name")) or next((text(o) for o in ous if text(o)), None),
            last_seen=parse_time(device.get("last_seen")),
            agent_ids=(f"crowdstrike:{aid}",) if aid else None,
        )


def _local(device: Device, ip: str) -> bool:
    return ip_address(device.get("local_ip")) == ip


def _time(device: Device, name: str) -> datetime:
    return parse_time(device.get(name)) or datetime.min.replace(tzinfo=UTC)


def _ref(device: Device) -> str | None:
    aid = text(device.get("device_id"))
    return f"https://falcon.crowdstrike.com/host-management/hosts/{aid}" if aid and aid.isalnum() else None


def _resources(body: dict[str, Any], label: str) -> list[Any]:
    resources = body.get("resources")
    if resources is None:
        return []  # Falcon sends null for an empty result
    if not isinstance(resources, list):
        raise BadResponse(f"{label}: 'resources' is not a list")
    return resources
