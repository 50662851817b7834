"""A real HTTP front for a Positron server that misbehaves on request, as a load balancer or a restarting backend
does: the next requests can get a gateway error, a hang, a dropped connection or a non-JSON body; everything else
is forwarded unchanged. Clients are tested against it over real sockets (http.server in a thread, 127.0.0.1).

    with FaultyProxy(upstream) as proxy:
        proxy.fail(503, times=2)          # the next two requests: 503, then forwarding again
        proxy.drop()                      # the next request: connection closed without an answer
        proxy.hang(2.0)                   # the next request waits 2 s before being forwarded
        proxy.requests                    # [Seen(method, path, headers, body), ...] every request that arrived
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

# hop-by-hop, and the encoding: httpx hands over the decoded body
HOP_BY_HOP = {
    "host",
    "content-length",
    "connection",
    "transfer-encoding",
    "keep-alive",
    "accept-encoding",
    "content-encoding",
}


@dataclass(frozen=True, slots=True)
class Fault:
    kind: str  # status | drop | hang
    status: int = 0
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class FaultyProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.requests: list[Seen] = []
        self._faults: deque[Fault] = deque()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def fail(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None, times: int = 1) -> None:
        for _ in range(times):
            self._faults.append(Fault("status", status=status, body=body, headers=headers or {}))

    def drop(self, times: int = 1) -> None:
        for _ in range(times):
            self._faults.append(Fault("drop"))

    def hang(self, seconds: float) -> None:
        self._faults.append(Fault("hang", seconds=seconds))

    def __enter__(self) -> FaultyProxy:
        threading.Thread(target=self._server.serve_forever, args=(0.02,), name="faulty-proxy", daemon=True).start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _next_fault(self) -> Fault | None:
        with self._lock:
            return self._faults.popleft() if self._faults else None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                self._handle()

            def do_POST(self) -> None:
                self._handle()

            def _handle(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                proxy.requests.append(Seen(self.command, self.path, dict(self.headers.items()), body))
                fault = proxy._next_fault()
                if fault is not None and fault.kind == "drop":
                    self.close_connection = True  # no status line at all: the client sees the connection die
                    return
                if fault is not None and fault.kind == "status":
                    self._answer(fault.status, fault.body, {"content-type": "text/html", **fault.headers})
                    return
                if fault is not None and fault.kind == "hang":
                    time.sleep(fault.seconds)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                upstream = httpx.request(self.command, proxy.upstream + self.path, content=body, headers=headers)
                kept = {k: v for k, v in upstream.headers.items() if k.lower() not in HOP_BY_HOP}
                self._answer(upstream.status_code, upstream.content, kept)

            def _answer(self, status: int, body: bytes, headers: dict[str, str]) -> None:
                try:
                    self.send_response(status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("content-length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout test)
                    self.close_connection = True

        return Handler
