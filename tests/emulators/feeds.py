"""A wire-faithful feed server (aiohttp.web on 127.0.0.1) for the blocklist provider, and samples of the real
formats: Spamhaus DROP (``; comments``, ``CIDR ; SBL id``), abuse.ch Feodo Tracker (CSV with a quoted header and
``#`` banner) and URLhaus (CSV whose header is commented out), a FireHOL netset, a fail2ban-style ban list and a
hosts-file domain list.

The server behaves like the CDNs these lists are served from: a strong ``ETag`` and a ``Last-Modified`` per
version; ``If-None-Match`` (or ``If-Modified-Since`` when no ETag is sent) answers 304 with no body; an optional
required header (abuse.ch's ``Auth-Key``) answers 401 when missing or wrong. Faults: ``fail(status)`` for the next
requests (with ``Retry-After`` on 429), ``hang(seconds)``.

    feeds = FeedServer()
    base = await feeds.start()
    feeds.publish("/drop.txt", spamhaus_drop(["1.10.16.0/20"]))
    feeds.requests   # every request: path, query string, headers
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime

from aiohttp import web


@dataclass(frozen=True, slots=True)
class Recorded:
    path: str
    query_string: str
    headers: dict[str, str]


@dataclass(slots=True)
class _Version:
    body: bytes
    content_type: str
    etag: str
    modified: datetime


class FeedServer:
    def __init__(self, *, required_header: tuple[str, str] | None = None) -> None:
        self.required_header = required_header
        self.requests: list[Recorded] = []
        self._feeds: dict[str, _Version] = {}
        self._faults: deque[tuple[int | None, float, dict[str, str]]] = deque()
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    async def start(self) -> str:
        app = web.Application()
        app.router.add_get("/{path:.*}", self._serve)
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

    async def __aenter__(self) -> FeedServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def publish(self, path: str, text: str, content_type: str = "text/plain") -> str:
        """Serve a new version of the feed at ``path``; returns its URL."""
        body = text.encode()
        modified = datetime.now(UTC).replace(microsecond=0)
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        self._feeds[path] = _Version(body, content_type, etag, modified)
        return self.base_url + path

    def fail(self, status: int, *, times: int = 1, retry_after: int | None = None) -> None:
        headers = {} if retry_after is None else {"Retry-After": str(retry_after)}
        self._faults.extend([(status, 0.0, headers)] * times)

    def hang(self, seconds: float) -> None:
        self._faults.append((None, seconds, {}))

    def fetches(self, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.path == path]

    async def _serve(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(Recorded(request.path, request.query_string, dict(request.headers)))
        if self._faults:
            status, delay, headers = self._faults.popleft()
            if delay:
                try:
                    await asyncio.wait_for(self._closing.wait(), delay)
                except TimeoutError:
                    pass
            if status is not None:
                return web.Response(status=status, text=f"error {status}", headers=headers)
        if self.required_header is not None:
            name, value = self.required_header
            if request.headers.get(name) != value:
                return web.Response(status=401, text="Unauthorized: Auth-Key missing or invalid")
        version = self._feeds.get(request.path)
        if version is None:
            return web.Response(status=404, text="Not Found")
        validators = {"ETag": version.etag, "Last-Modified": format_datetime(version.modified, usegmt=True)}
        if _not_modified(request, version):
            return web.Response(status=304, headers=validators)
        return web.Response(body=version.body, content_type=version.content_type, headers=validators)


def _not_modified(request: web.Request, version: _Version) -> bool:
    """RFC 9110: If-None-Match decides when present; If-Modified-Since only without it."""
    tags = request.headers.get("If-None-Match")
    if tags is not None:
        return version.etag in [t.strip() for t in tags.split(",")] or tags.strip() == "*"
    since = request.headers.get("If-Modified-Since")
    if since is None:
        return False
    try:
        return version.modified <= parsedate_to_datetime(since)
    except (TypeError, ValueError):
        return False


# --- the real formats ---


def spamhaus_drop(cidrs: list[str], first_sbl: int = 256_894) -> str:
    head = [
        "; Spamhaus DROP List 2026/12/01 - (c) 2026 The Spamhaus Project SLU",
        "; https://www.spamhaus.org/drop/drop.txt",
        "; Last-Modified: Tue, 01 Dec 2026 12:00:00 GMT",
        "; Expires: Tue, 01 Dec 2026 13:00:00 GMT",
    ]
    return "\n".join([*head, *(f"{c} ; SBL{first_sbl + i}" for i, c in enumerate(cidrs))]) + "\n"


def feodo_csv(rows: list[tuple[str, str, str]]) -> str:
    """(first_seen_utc, dst_ip, malware) rows in Feodo Tracker's ipblocklist.csv layout."""
    head = [
        "################################################################",
        "# abuse.ch Feodo Tracker Botnet C2 IP Blocklist (CSV)          #",
        "# Last updated: 2026-12-01 12:00:00 UTC                        #",
        "#                                                              #",
        "# For questions please contact feodotracker [at] abuse.ch      #",
        "################################################################",
        "#",
        '"first_seen_utc","dst_ip","dst_port","c2_status","last_online","malware"',
    ]
    body = [f'"{seen}","{ip}","443","online","2026-12-01","{malware}"' for seen, ip, malware in rows]
    return "\n".join([*head, *body, f'#"Number of entries": {len(rows)}']) + "\n"


def urlhaus_csv(rows: list[tuple[str, str, str, str]]) -> str:
    """(id, dateadded, url, threat) rows in URLhaus' csv_recent layout (the header is a comment line)."""
    head = [
        "################################################################",
        "# abuse.ch URLhaus Database Dump (CSV - recent URLs)           #",
        "# Last updated: 2026-12-01 12:00:00 (UTC)                      #",
        "#                                                              #",
        "# Terms Of Use: https://urlhaus.abuse.ch/api/                  #",
        "# For questions please contact urlhaus [at] abuse.ch           #",
        "################################################################",
        "#",
        "# id,dateadded,url,url_status,last_online,threat,tags,urlhaus_link,reporter",
    ]
    body = [
        f'"{i}","{added}","{url}","online","{added}","{threat}","elf,mozi",'
        f'"https://urlhaus.abuse.ch/url/{i}/","reporter1"'
        for i, added, url, threat in rows
    ]
    return "\n".join([*head, *body]) + "\n"


def firehol_netset(entries: list[str]) -> str:
    head = [
        "#",
        "# firehol_level1",
        "# ipv4 hash:net ipset",
        "#",
        "# A firewall blacklist composed from IP lists, providing",
        "# maximum protection with minimum false positives.",
        "#",
    ]
    return "\n".join([*head, *entries]) + "\n"


def fail2ban_list(addresses: list[str]) -> str:
    return "\n".join(f"{a}    # sshd, 5 failures" for a in addresses) + "\n"


def hosts_file(domains: list[str]) -> str:
    return "\n".join(["# blocked domains", "127.0.0.1 localhost", *(f"0.0.0.0 {d}" for d in domains)]) + "\n"
