"""A generic HTTP/1.1 upstream that misbehaves on purpose, for fault injection (asyncio streams on 127.0.0.1).

Each server has one behaviour, applied to every request whatever its method or path:

    ok          answer ``status`` with ``body`` after ``latency_s`` (keep-alive)
    hang        read the request, then never answer (until the server stops)
    status      answer ``status`` (e.g. 500) with ``body``
    malformed   answer 200 with a JSON content type and a body that is not JSON
    reset       read the request, then reset the connection (RST, via SO_LINGER 0)
    drip        send the headers, then ``body`` one byte every ``drip_interval_s``
    retry_after answer 429 with ``Retry-After: <retry_after>`` and a VirusTotal-style error document

    server = FaultyServer("drip", body=b'{"data": ...}', drip_interval_s=0.05)
    base_url = await server.start()
    ...
    server.requests    # how many requests it read
    await server.stop()
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from typing import Literal

Behaviour = Literal["ok", "hang", "status", "malformed", "reset", "drip", "retry_after"]
REASONS = {200: "OK", 404: "Not Found", 429: "Too Many Requests", 500: "Internal Server Error", 503: "Unavailable"}
MALFORMED = b'{"data": {"id": "x", "type": "file", "attributes": {"last_analysis_stats": {"malicious": 3,'
QUOTA = b'{"error": {"code": "QuotaExceededError", "message": "Quota exceeded"}}'


class FaultyServer:
    def __init__(
        self,
        behaviour: Behaviour,
        *,
        body: bytes = b"{}",
        status: int = 200,
        latency_s: float = 0.0,
        drip_interval_s: float = 0.05,
        retry_after: int = 30,
    ) -> None:
        self.behaviour = behaviour
        self.body, self.status, self.latency_s = body, status, latency_s
        self.drip_interval_s, self.retry_after = drip_interval_s, retry_after
        self.requests = 0
        self.base_url = ""
        self._server: asyncio.Server | None = None
        self._closing = asyncio.Event()
        self._connections: dict[asyncio.Task[None], asyncio.StreamWriter] = {}

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._connection, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.base_url = f"http://127.0.0.1:{port}"
        return self.base_url

    async def stop(self) -> None:
        """Wake the hanging and dripping handlers, close every connection and wait for the handlers to end."""
        self._closing.set()
        if self._server is not None:
            self._server.close()
        for writer in self._connections.values():
            writer.transport.abort()
        await asyncio.gather(*self._connections, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> FaultyServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections[task] = writer
        try:
            while not self._closing.is_set() and await _read_request(reader):
                self.requests += 1
                if not await self._answer(writer):
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            del self._connections[task]
            with contextlib.suppress(Exception):
                writer.close()

    async def _answer(self, writer: asyncio.StreamWriter) -> bool:
        """Answer one request; False when the connection must not be used again."""
        match self.behaviour:
            case "hang":
                await self._closing.wait()
                return False
            case "reset":
                sock = writer.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                writer.transport.abort()
                return False
            case "malformed":
                writer.write(_head(200, len(MALFORMED)) + MALFORMED)
            case "retry_after":
                writer.write(_head(429, len(QUOTA), {"Retry-After": str(self.retry_after)}) + QUOTA)
            case "drip":
                writer.write(_head(200, len(self.body)))
                for i in range(len(self.body)):
                    writer.write(self.body[i : i + 1])
                    await writer.drain()
                    if await _wait(self._closing, self.drip_interval_s):
                        return False
            case "status" | "ok":
                if await _wait(self._closing, self.latency_s):
                    return False
                writer.write(_head(self.status, len(self.body)) + self.body)
        await writer.drain()
        return True


async def _wait(event: asyncio.Event, seconds: float) -> bool:
    """Sleep ``seconds`` unless ``event`` is set first; True when it was."""
    try:
        await asyncio.wait_for(event.wait(), seconds)
    except TimeoutError:
        return False
    return True


async def _read_request(reader: asyncio.StreamReader) -> bool:
    """Read one request (head and Content-Length body); False at end of stream."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return False
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            await reader.readexactly(int(value.strip()))
    return True


def _head(status: int, length: int, extra: dict[str, str] | None = None) -> bytes:
    lines = [f"HTTP/1.1 {status} {REASONS.get(status, 'Status')}", "Content-Type: application/json"]
    lines += [f"Content-Length: {length}", *(f"{k}: {v}" for k, v in (extra or {}).items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()
