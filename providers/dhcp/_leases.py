"""Lease files parsed into an index: ISC dhcpd ``dhcpd.leases`` declarations and Kea memfile CSV rows.

Both formats are append-only journals: each ISC declaration or Kea row restates one lease, so the newest
record of an address tells its state now and the earlier ones are its history. The parsers read whole records
from a file position on (a half-written last one is left for later), so a file can be read incrementally
(see ``_source``). A corrupt record is skipped and counted, never fatal.

Speed: declarations are cut apart with ``bytes.split``; the head of each is read with one anchored regex in
dhcpd's own field order and the rest with ``bytes.find`` (an order-free regex parse is the fallback); times go
through caches of days and minutes; each chunk's addresses, MACs and names are validated once.
"""

from __future__ import annotations

import ipaddress
import math
import re
from bisect import bisect_right
from datetime import UTC, datetime
from functools import partial
from typing import BinaryIO, Literal, NamedTuple

Format = Literal["isc", "kea"]

NEVER = math.inf
KEA_INFINITE = 0xFFFFFFFF  # a valid_lifetime that never expires
KEA_HEADER = (
    b"address,hwaddr,client_id,valid_lifetime,expire,subnet_id,fqdn_fwd,fqdn_rev,hostname,state,user_context,pool_id"
)
_CHUNK = 8 << 20

# The head of one declaration after its "lease ", as dhcpd's write_lease() lays it out (this order, two-space
# indent); hardware and client-hostname are then found with bytes.find, faster than a regex over uid/set lines.
_ISC_HEAD = re.compile(
    rb"([^\s{]+) \{\n"
    rb"  starts ([^;\n]*);[^\n]*\n"
    rb"  ends ([^;\n]*);[^\n]*\n"
    rb"(?:  (?:tstp|tsfp|atsfp) [^\n]*\n)*"
    rb"(?:  cltt ([^;\n]*);[^\n]*\n)?"
    rb"  binding state ([a-z-]+);"
)
_ISC_HEADER = re.compile(rb"\s*([^\s{]+)\s*\{")
_ISC_FIELD = re.compile(
    rb"^[ \t]*(starts|ends|cltt|binding state|hardware ethernet|client-hostname)[ \t]+"
    rb'("(?:[^"\\\n]|\\.)*"|[^;\n]*);',
    re.M,
)
_ISC_ESCAPE = re.compile(rb"\\([0-7]{3}|.)")
_IPV4 = re.compile(rb"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}")
_MAC = re.compile(rb"[0-9a-fA-F]{2}(?::[0-9a-fA-F]{2}){5}")
_MAC_SHORT = re.compile(rb"[0-9a-fA-F]{1,2}(?::[0-9a-fA-F]{1,2}){5}")  # old dhcpd wrote 0:16:3e:a:b:c
_DAYS: dict[bytes, float] = {}
_MINUTES: dict[bytes, int] = {}  # b"HH:MM" -> seconds

IscFields = tuple[bytes, bytes | None, bytes | None, bytes | None, bytes, bytes | None, bytes | None]


class Lease(NamedTuple):
    """An active lease: [start, end) with end = inf for "never"; times are epoch seconds (UTC)."""

    start: float
    end: float
    observed: float  # cltt (client last transaction time), else start
    mac: str | None
    host: str | None  # the client's host name, lower case, without a trailing dot
    line: int


_new_lease = partial(tuple.__new__, Lease)  # Lease(...) without the Python-level __new__: 1M times faster


def _lease_start(lease: Lease) -> float:
    return lease.start


class LeaseIndex:
    """One file's active leases per IP (one Lease, or a list sorted by start) and the IPs per short name."""

    def __init__(self) -> None:
        self.by_ip: dict[str, Lease | list[Lease]] = {}
        self.by_host: dict[str, str | tuple[str, ...]] = {}
        self.ended: set[str] = set()  # IPs whose newest record is not an active lease
        self.records = 0
        self.skipped = 0
        self._unsorted: set[str] = set()

    def add(self, ip: str, lease: Lease) -> None:
        held = self.by_ip.get(ip)
        if held is None:
            self.by_ip[ip] = lease
        else:
            if isinstance(held, Lease):
                held = self.by_ip[ip] = [held]
            if lease.start < held[-1].start:
                self._unsorted.add(ip)
            held.append(lease)
            self.ended.discard(ip)
        if host := lease.host:
            short = host.partition(".")[0] if "." in host else host
            ips = self.by_host.get(short)
            if ips is None:
                self.by_host[short] = ip
            elif isinstance(ips, str):
                if ips != ip:
                    self.by_host[short] = (ips, ip)
            elif ip not in ips:
                self.by_host[short] = (*ips, ip)

    def end(self, ip: str, when: float) -> None:
        """Record that ``ip`` is not leased from ``when`` on (freed, released, expired, declined, deleted)."""
        held = self.by_ip.get(ip)
        if held is None:
            return
        if ip not in self.ended:
            last = held if isinstance(held, Lease) else held[-1]
            if when < last.end:
                cut = last._replace(end=max(when, last.start))
                if isinstance(held, Lease):
                    self.by_ip[ip] = cut
                else:
                    held[-1] = cut
        self.ended.add(ip)

    def finish(self) -> None:
        for ip in self._unsorted:
            self.by_ip[ip] = sorted(self.by_ip[ip], key=_lease_start)  # type: ignore[arg-type]  # a new list
        self._unsorted.clear()

    def lease_at(self, ip: str, at: float | None, now: float) -> Lease | None:
        """The lease covering ``at``; without ``at``, the newest lease if it has not ended."""
        held = self.by_ip.get(ip)
        if held is None:
            return None
        leases = [held] if isinstance(held, Lease) else held
        if at is None:
            lease = leases[-1]
            return lease if ip not in self.ended and lease.end > now else None
        i = bisect_right(leases, at, key=_lease_start) - 1
        return leases[i] if i >= 0 and at < leases[i].end else None

    def ips_of(self, short: str) -> tuple[str, ...]:
        ips = self.by_host.get(short, ())
        return (ips,) if isinstance(ips, str) else ips


def _isc_time(raw: bytes | None) -> float:
    """``3 2019/03/06 18:21:00`` (UTC), ``epoch 1551896460`` or ``never``; absent means 0 (as dhcpd reads it)."""
    if raw is None:
        return 0.0
    day, minute = _DAYS.get(raw[2:12]), _MINUTES.get(raw[13:18])  # the weekday digit is ignored, as by dhcpd
    if day is not None and minute is not None and len(raw) == 21 and raw[18] == 58:
        if 0 <= (second := int(raw[19:])) <= 60:
            return day + minute + second
    parts = raw.split()
    if len(parts) == 2 and parts[0] == b"epoch":
        return float(int(parts[1]))
    if parts == [b"never"]:
        return NEVER
    if len(parts) != 3 or len(parts[0]) != 1:
        raise ValueError("not a dhcpd time")
    year, month, mday = (int(part) for part in parts[1].split(b"/"))
    hour, minutes, second = (int(part) for part in parts[2].split(b":"))
    if not (0 <= hour < 24 and 0 <= minutes < 60 and 0 <= second <= 60):
        raise ValueError("time of day out of range")
    midnight = datetime(year, month, mday, tzinfo=UTC).timestamp()  # ValueError for 2019/13/45
    if len(raw) == 21:
        _DAYS[raw[2:12]], _MINUTES[raw[13:18]] = midnight, hour * 3600 + minutes * 60
    return midnight + hour * 3600 + minutes * 60 + second


class _Names:
    """Text read from one chunk, validated and normalized once: raw bytes -> shared str (None: invalid MAC)."""

    def __init__(self) -> None:
        self.ips: dict[bytes, str] = {}
        self.macs: dict[bytes, str | None] = {}
        self.hosts: dict[bytes, str | None] = {}

    def ip(self, raw: bytes) -> str:
        text = self.ips.get(raw)
        if text is None:
            text = raw.decode("ascii")
            if not _IPV4.fullmatch(raw):
                text = ipaddress.ip_address(text).compressed  # IPv6 (Kea); ValueError if invalid
            self.ips[raw] = text
        return text

    def mac(self, raw: bytes) -> str | None:
        """aa:bb:cc:dd:ee:ff, or None if ``raw`` is not a 6-byte hardware address."""
        if raw in self.macs:
            return self.macs[raw]
        text = None
        if len(raw) == 17 and _MAC.fullmatch(raw):
            text = raw.decode("ascii").lower()
        elif _MAC_SHORT.fullmatch(raw):
            text = ":".join(part.decode("ascii").lower().zfill(2) for part in raw.split(b":"))
        self.macs[raw] = text
        return text

    def host(self, raw: bytes) -> str | None:
        if raw in self.hosts:
            return self.hosts[raw]
        text = raw.decode("utf-8", "replace").strip().rstrip(".").lower()
        self.hosts[raw] = name = text or None
        return name


def _unescape(match: re.Match[bytes]) -> bytes:
    code = match.group(1)
    return bytes([int(code, 8) & 0xFF]) if len(code) == 3 else code


def _isc_fields(part: bytes) -> IscFields | None:
    """Read one declaration; None if it has no header or no closing brace (at column 0, as dhcpd writes it)."""
    head = _ISC_HEAD.match(part)
    if head is None:
        return _isc_fields_any_order(part)
    close = part.find(b"\n}", head.end())
    if close < 0:
        return None
    ip, starts, ends, cltt, state = head.groups()
    hardware = host = None
    if (i := part.find(b"\n  hardware ethernet ", head.end(), close)) >= 0 and (j := part.find(b";", i)) >= 0:
        hardware = part[i + 21 : j]
    if (i := part.find(b'\n  client-hostname "', head.end(), close)) >= 0 and (j := part.find(b'";\n', i)) >= 0:
        host = part[i + 20 : j]
    return ip, starts, ends, cltt, state, hardware, host


def _isc_fields_any_order(part: bytes) -> IscFields | None:
    header, close = _ISC_HEADER.match(part), part.find(b"\n}")
    if header is None or close < 0:
        return None
    get = dict(_ISC_FIELD.findall(part, header.end(), close)).get
    host = get(b"client-hostname")
    host = host[1:-1] if host and host[:1] == b'"' else host
    return header[1], get(b"starts"), get(b"ends"), get(b"cltt"), get(b"binding state", b"active"), get(
        b"hardware ethernet"
    ), host  # fmt: skip


def _isc_record(index: LeaseIndex, names: _Names, line: int, fields: IscFields) -> bool:
    """Index one ISC declaration; False if it is corrupt (bad address or time)."""
    ip, starts, ends, cltt, state, hardware, host = fields
    try:
        address = names.ip(ip)
        start = _isc_time(starts)
        end = _isc_time(ends)
        observed = start if cltt is None or cltt == starts else _isc_time(cltt)
    except (ValueError, UnicodeDecodeError):
        return False
    if state != b"active":
        index.end(address, end if end > 0 else start)
        return True
    if start == NEVER:
        return False
    mac = None
    if hardware is not None and (mac := names.mac(hardware)) is None:
        index.skipped += 1  # the line is dropped, the lease kept
    name = names.host(_ISC_ESCAPE.sub(_unescape, host) if b"\\" in host else host) if host else None
    index.add(address, _new_lease((start, end, observed if observed != NEVER else start, mac, name, line)))
    return True


def _isc_region(index: LeaseIndex, region: bytes, line: int) -> None:
    """Index the declarations in ``region`` (whole lines, starting at line number ``line``)."""
    parts = region.split(b"\nlease ")
    if parts[0].startswith(b"lease "):
        parts[0] = parts[0][6:]
    else:
        line += parts[0].count(b"\n") + 1
        del parts[0]
    names = _Names()
    for part in parts:
        fields = _isc_fields(part)
        index.records += 1
        if fields is None or not _isc_record(index, names, line, fields):
            index.skipped += 1
        line += part.count(b"\n") + 1


def parse_isc(fh: BinaryIO, index: LeaseIndex, line: int) -> tuple[int, int]:
    """Parse whole declarations from the current position; returns (bytes consumed, line number after)."""
    consumed, buf = 0, b""
    while True:
        data = fh.read(_CHUNK)
        buf += data
        cut = buf.rfind(b"\n}\n") + 3 if data else len(buf) if buf.rstrip().endswith(b"\n}") else 0
        if cut < 3:  # no complete declaration yet; at the end of the file, one may be half written
            if not data:
                return consumed, line
            continue
        _isc_region(index, buf[:cut], line)
        line += buf.count(b"\n", 0, cut)
        consumed += cut
        buf = buf[cut:]


class KeaColumns(NamedTuple):
    width: int
    address: int
    hwaddr: int
    valid: int
    expire: int
    hostname: int
    state: int  # -1: files older than Kea 1.0 have no state column


def kea_columns(header: bytes) -> KeaColumns:
    names = header.decode("ascii", "replace").strip().split(",")
    get = {name: i for i, name in enumerate(names)}.get
    return KeaColumns(
        len(names), get("address", -1), get("hwaddr", -1), get("valid_lifetime", -1),
        get("expire", -1), get("hostname", -1), get("state", -1),
    )  # fmt: skip


def _kea_record(index: LeaseIndex, names: _Names, row: bytes, cols: KeaColumns, line: int) -> bool:
    values = row.rstrip(b"\r\n").split(b",")
    if len(values) != cols.width or min(cols.address, cols.valid, cols.expire) < 0:
        return False
    try:
        address = names.ip(values[cols.address])
        lifetime = int(values[cols.valid])
        expire = int(values[cols.expire])
        state = int(values[cols.state] or 0) if cols.state >= 0 else 0
    except (ValueError, UnicodeDecodeError):
        return False
    cltt = float(expire - lifetime)
    if state != 0 or lifetime == 0:
        # expired-reclaimed and deleted leases end at `expire`; declined and released ones at their cltt
        index.end(address, float(expire) if state in (0, 2) else cltt)
        return True
    hwaddr = values[cols.hwaddr] if cols.hwaddr >= 0 else b""
    mac = names.mac(hwaddr) if hwaddr else None  # None also for non-Ethernet hardware (InfiniBand)
    host = values[cols.hostname] if cols.hostname >= 0 else b""
    name = names.host(host.replace(b"&#x2c", b",") if b"&" in host else host) if host else None
    index.add(address, _new_lease((cltt, NEVER if lifetime >= KEA_INFINITE else float(expire), cltt, mac, name, line)))
    return True


def parse_kea(fh: BinaryIO, index: LeaseIndex, line: int, cols: KeaColumns) -> tuple[int, int, KeaColumns]:
    """Parse whole rows from the current position; returns (bytes consumed, line number after, columns)."""
    consumed, names = 0, _Names()
    for row in fh:
        if not row.endswith(b"\n"):
            break  # being written: read it next time
        consumed += len(row)
        if row.startswith(b"address,"):
            cols = kea_columns(row)
        elif row.strip():
            index.records += 1
            if not _kea_record(index, names, row, cols, line):
                index.skipped += 1
        line += 1
        if len(names.ips) > 50_000:
            names = _Names()  # bounded: the memo only saves work within nearby rows
    return consumed, line, cols
