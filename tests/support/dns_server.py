"""A real DNS server on 127.0.0.1 for provider tests: dnslib's ``DNSServer`` (UDP and TCP on one port).

``Zone`` answers from a small record table and NXDOMAIN for every other name, with three special behaviours
chosen by name: ``servfail`` names answer SERVFAIL, ``refused`` names answer REFUSED, ``garbled`` names get a
reply that claims a question it does not contain (a malformed message), ``silent`` names are never answered
(the request is dropped, so the client times out) and ``flaky`` names lose the first request for each type
(a lost datagram: a retry is answered). Every request is recorded in ``Zone.seen``
as ``(protocol, qname, qtype)``.

``BlackHole`` is a UDP socket that reads nothing: a nameserver that never answers anything.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from dnslib import QTYPE, RCODE, RR, DNSRecord
from dnslib.server import DNSHandler, DNSLogger, DNSServer


class _Drop(Exception):
    """Raised by the zone to leave a request unanswered."""


@dataclass(frozen=True)
class _Raw:
    """Bytes sent as they are, in place of a packed DNSRecord."""

    data: bytes

    def pack(self) -> bytes:
        return self.data


@dataclass
class Zone:
    records: list[RR] = field(default_factory=list)
    servfail: set[str] = field(default_factory=set)
    refused: set[str] = field(default_factory=set)
    silent: set[str] = field(default_factory=set)
    garbled: set[str] = field(default_factory=set)
    flaky: set[str] = field(default_factory=set)
    seen: list[tuple[str, str, str]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, zone_text: str) -> None:
        self.records.extend(RR.fromZone(zone_text))

    def resolve(self, request: DNSRecord, handler: DNSHandler) -> DNSRecord | _Raw:
        qname = str(request.q.qname).lower()
        qtype = QTYPE[request.q.qtype]
        with self._lock:
            first = all((q, t) != (qname, qtype) for _, q, t in self.seen)
            self.seen.append((handler.protocol, qname, qtype))
        if qname in self.silent or (qname in self.flaky and first):
            raise _Drop
        if qname in self.garbled:  # the request's id, QR set, one question promised, nothing after the header
            return _Raw(request.header.id.to_bytes(2, "big") + bytes.fromhex("8180 0001 0000 0000 0000"))
        reply = request.reply()
        if qname in self.servfail:
            reply.header.rcode = RCODE.SERVFAIL
            return reply
        if qname in self.refused:
            reply.header.rcode = RCODE.REFUSED
            return reply
        if not self._owned(qname):
            reply.header.rcode = RCODE.NXDOMAIN
            return reply
        for _ in range(8):  # follow a CNAME chain, as a recursive server does
            owned = self._owned(qname)
            reply.add_answer(*(rr for rr in owned if rr.rtype == request.q.qtype))
            cname = next((rr for rr in owned if rr.rtype == QTYPE.CNAME), None)
            if cname is None or request.q.qtype == QTYPE.CNAME:
                break
            reply.add_answer(cname)
            qname = str(cname.rdata.label).lower()
        return reply  # NOERROR with no answer when the name has no record of this type

    def _owned(self, qname: str) -> list[RR]:
        return [rr for rr in self.records if str(rr.rname).lower() == qname]


class _Handler(DNSHandler):  # type: ignore[misc]  # dnslib is untyped
    def handle(self) -> None:
        try:
            super().handle()
        except _Drop:
            pass


def _quiet_logger() -> DNSLogger:
    return DNSLogger(log="-recv,-send,-request,-reply,-truncated,-error,-data", prefix=False)


@dataclass
class RunningServer:
    host: str
    port: int
    zone: Zone


def _bind_pair(zone: Zone, attempts: int = 20) -> tuple[DNSServer, DNSServer]:
    """A UDP server on a free port and a TCP server on the same port (retried if TCP's port is taken)."""
    for _ in range(attempts):
        udp = DNSServer(zone, address="127.0.0.1", port=0, handler=_Handler, logger=_quiet_logger())
        port = udp.server.server_address[1]
        try:
            tcp = DNSServer(zone, "127.0.0.1", port, tcp=True, handler=_Handler, logger=_quiet_logger())
        except OSError:
            udp.server.server_close()
            continue
        return udp, tcp
    raise RuntimeError("no free port for UDP and TCP together")


@contextmanager
def dns_server(zone: Zone) -> Iterator[RunningServer]:
    """Serve ``zone`` on 127.0.0.1 (UDP and TCP) until the block ends."""
    servers = _bind_pair(zone)
    threads = [
        threading.Thread(target=server.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        for server in servers
    ]
    for thread in threads:
        thread.start()
    try:
        yield RunningServer("127.0.0.1", servers[0].server.server_address[1], zone)
    finally:
        for server, thread in zip(servers, threads, strict=True):
            server.server.shutdown()
            server.server.server_close()
            thread.join(timeout=5)


@contextmanager
def black_hole() -> Iterator[int]:
    """A UDP port on 127.0.0.1 that swallows every packet; yields the port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])
    finally:
        sock.close()
