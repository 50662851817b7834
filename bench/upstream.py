"""VirusTotal-shaped upstreams for benchmarks: N loopback ports in one process, each answering
``GET /api/v3/files/{hash}`` after a set latency with a real VirusTotal file object.

The body is built once by the test emulator (``tests/emulators/virustotal.py``: real attribute names, 70 engines,
~12 KB) and served from a minimal asyncio + httptools HTTP/1.1 server with keep-alive, so the upstreams cost as
little CPU as possible and do not compete with the server under test. The key is checked (401 otherwise), like
VirusTotal. ``GET /_stats`` returns the requests served, the connections opened and the most ever in flight.

    python -m bench.upstream COUNT LATENCY_S API_KEY      # prints one line: the base URLs, space-separated
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from typing import Any, cast

import httptools
import uvloop

from tests.emulators.virustotal import VirusTotalEmulator

SHA256 = "7b0e8d8cbfa0f2b8a3a1c2f5e4d6a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2"


def file_body() -> bytes:
    emulator = VirusTotalEmulator(seed_eicar=False)
    attributes = emulator.add_file(
        sha256=SHA256, stats={"malicious": 5, "undetected": 65}, label="trojan.generic/agent", meaningful_name="a.exe"
    )
    link = f"https://www.virustotal.com/api/v3/files/{SHA256}"
    doc = {"data": {"id": SHA256, "type": "file", "links": {"self": link}, "attributes": attributes}}
    return json.dumps(doc).encode()


def _response(status: str, body: bytes) -> bytes:
    head = f"HTTP/1.1 {status}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: {len(body)}\r\n\r\n"
    return head.encode() + body


class Stats:
    def __init__(self) -> None:
        self.served = 0
        self.connections = 0  # opened so far: with keep-alive, about the most ever in flight
        self.in_flight = 0
        self.max_in_flight = 0


class _Connection(asyncio.Protocol):
    def __init__(self, ok: bytes, latency_s: float, api_key: bytes, stats: Stats) -> None:
        self._ok, self._latency, self._key, self._stats = ok, latency_s, api_key, stats
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._url = b""
        self._presented = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's transports are not its subclasses
        self._stats.connections += 1

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError:
            if self._transport is not None:
                self._transport.close()

    def on_message_begin(self) -> None:
        self._url, self._presented = b"", b""

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() == b"x-apikey":
            self._presented = value

    def on_message_complete(self) -> None:
        if self._url == b"/_stats":
            s = self._stats
            self._send(_response("200 OK", json.dumps(vars(s)).encode()))
            return
        if not self._url.startswith(b"/api/v3/files/"):
            self._send(_response("404 Not Found", b'{"error": {"code": "NotFoundError", "message": "no route"}}'))
            return
        if self._presented != self._key:
            body = b'{"error": {"code": "WrongCredentialsError", "message": "Wrong API key"}}'
            self._send(_response("401 Unauthorized", body))
            return
        self._stats.in_flight += 1
        self._stats.max_in_flight = max(self._stats.max_in_flight, self._stats.in_flight)
        asyncio.get_running_loop().call_later(self._latency, self._answer)

    def _answer(self) -> None:
        self._stats.in_flight -= 1
        self._stats.served += 1
        self._send(self._ok)

    def _send(self, data: bytes) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(data)


async def serve(count: int, latency_s: float, api_key: str) -> list[str]:
    ok = _response("200 OK", file_body())
    loop = asyncio.get_running_loop()
    urls = []
    for _ in range(count):
        stats = Stats()
        server = await loop.create_server(
            lambda s=stats: _Connection(ok, latency_s, api_key.encode(), s), "127.0.0.1", 0, backlog=1024
        )
        port = server.sockets[0].getsockname()[1]
        urls.append(f"http://127.0.0.1:{port}")
    return urls


async def _main(count: int, latency_s: float, api_key: str) -> None:
    urls = await serve(count, latency_s, api_key)
    print(" ".join(urls), flush=True)
    await asyncio.Event().wait()


def main(argv: list[str] | None = None) -> Any:
    args = argv if argv is not None else sys.argv[1:]
    with contextlib.suppress(KeyboardInterrupt):
        uvloop.run(_main(int(args[0]), float(args[1]), args[2]))


if __name__ == "__main__":
    main()
