"""Lease files parsed into an index: ISC dhcpd ``dhcpd.leases`` declarations and Kea memfile CSV rows.

Both formats are append-only journals: each ISC declaration or Kea row restates one lease, so the newest record
of an address tells its state now and the earlier ones are its history. ``LeaseSource`` follows one file:
appended bytes are parsed incrementally; a replaced or rewritten file (new inode, shorter, or other bytes before
the last read offset) is parsed again from the start. A corrupt record is skipped and counted, never fatal.
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, Literal, NamedTuple

Format = Literal["isc", "kea"]

NEVER = math.inf
KEA_INFINITE = 0xFFFFFFFF  # a valid_lifetime that never expires
KEA_HEADER = (
    "address,hwaddr,client_id,valid_lifetime,expire,subnet_id,fqdn_fwd,fqdn_rev,hostname,state,user_context,pool_id"
)
_CHUNK = 8 << 20
_TAIL = 64  # bytes before the read offset remembered to notice a rewritten file

# One lease declaration; the closing brace at column 0 as dhcpd writes it, no nested "lease" header inside.
_ISC_LEASE = re.compile(rb"^lease +([^\s{]+)[ \t]*\{[^\n]*\n((?:(?![ \t]*lease[ \t])[^\n]*\n)*?)\}", re.M)
_ISC_FIELD = re.compile(
    rb"^[ \t]*(starts|ends|cltt|binding state|hardware ethernet|client-hostname)[ \t]+"
    rb'("(?:[^"\\\n]|\\.)*"|[^;\n]*);',
    re.M,
)
_ISC_ESCAPE = re.compile(rb"\\([0-7]{3}|.)")
_IPV4 = re.compile(rb"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}")
_MAC = re.compile(r"[0-9a-f]{2}(?::[0-9a-f]{2}){5}")
_DAYS: dict[bytes, float] = {}
_SECONDS: dict[bytes, int] = {}


class Lease(NamedTuple):
    """An active lease: [start, end) with end = inf for "never"; times are epoch seconds (UTC)."""

    start: float
    end: float
    observed: float  # cltt (client last transaction time), else start
    mac: str | None
    host: str | None  # the client's host name, lower case, without a trailing dot
    line: int


def _lease_start(lease: Lease) -> float:
    return lease.start


class LeaseIndex:
    """One file's leases: active leases per IP sorted by start, and the IPs each short host name held."""

    def __init__(self) -> None:
        self.by_ip: dict[str, list[Lease]] = {}
        self.by_host: dict[str, list[str]] = {}
        self.ended: set[str] = set()  # IPs whose newest record is not an active lease
        self.records = 0
        self.skipped = 0
        self._unsorted: set[str] = set()

    def add(self, ip: str, lease: Lease) -> None:
        leases = self.by_ip.get(ip)
        if leases is None:
            self.by_ip[ip] = [lease]
        else:
            if lease.start < leases[-1].start:
                self._unsorted.add(ip)
            leases.append(lease)
        self.ended.discard(ip)
        if lease.host:
            short = lease.host.partition(".")[0]
            ips = self.by_host.get(short)
            if ips is None:
                self.by_host[short] = [ip]
            elif ip not in ips:
                ips.append(ip)

    def end(self, ip: str, when: float) -> None:
        """Record that ``ip`` is not leased from ``when`` on (freed, released, expired, declined, deleted)."""
        leases = self.by_ip.get(ip)
        if leases is not None and ip not in self.ended and when < leases[-1].end:
            last = leases[-1]
            leases[-1] = last._replace(end=max(when, last.start))
        self.ended.add(ip)

    def finish(self) -> None:
        for ip in self._unsorted:
            self.by_ip[ip] = sorted(self.by_ip[ip], key=_lease_start)  # a new list: readers never see a sort
        self._unsorted.clear()

    def lease_at(self, ip: str, at: float | None, now: float) -> Lease | None:
        """The lease covering ``at``; without ``at``, the newest lease if it has not ended."""
        leases = self.by_ip.get(ip)
        if not leases:
            return None
        if at is None:
            lease = leases[-1]
            return lease if ip not in self.ended and lease.end > now else None
        i = bisect_right(leases, at, key=_lease_start) - 1
        return leases[i] if i >= 0 and at < leases[i].end else None


def _day(raw: bytes) -> float:
    value = _DAYS.get(raw)
    if value is None:
        year, month, day = (int(part) for part in raw.split(b"/"))
        value = _DAYS[raw] = datetime(year, month, day, tzinfo=UTC).timestamp()
    return value


def _seconds(raw: bytes) -> int:
    value = _SECONDS.get(raw)
    if value is None:
        hour, minute, second = (int(part) for part in raw.split(b":"))
        if not (0 <= hour < 24 and 0 <= minute < 60 and 0 <= second <= 60):
            raise ValueError("time of day out of range")
        value = _SECONDS[raw] = hour * 3600 + minute * 60 + second
    return value


def _isc_time(raw: bytes | None) -> float:
    """``3 2019/03/06 18:21:00`` (UTC), ``epoch 1551896460`` or ``never``; absent means 0 (as dhcpd reads it)."""
    if raw is None:
        return 0.0
    parts = raw.split()
    if len(parts) == 3:
        return _day(parts[1]) + _seconds(parts[2])
    if len(parts) == 2 and parts[0] == b"epoch":
        return float(int(parts[1]))
    if parts == [b"never"]:
        return NEVER
    raise ValueError("not a dhcpd time")


def _mac(raw: bytes) -> str:
    text = raw.decode("ascii").strip().lower()
    if len(text) != 17:
        text = ":".join(part.zfill(2) for part in text.split(":"))  # old dhcpd wrote "0:1:2:a:b:c"
    if not _MAC.fullmatch(text):
        raise ValueError("not a MAC address")
    return text


def _host(raw: bytes) -> str | None:
    text = raw.decode("utf-8", "replace").strip().rstrip(".").lower()
    return text or None


def _unescape(match: re.Match[bytes]) -> bytes:
    code = match.group(1)
    return bytes([int(code, 8) & 0xFF]) if len(code) == 3 else code


def _address(raw: bytes) -> str:
    if _IPV4.fullmatch(raw):
        return raw.decode("ascii")
    return ipaddress.ip_address(raw.decode("ascii")).compressed  # IPv6 (Kea): raises ValueError if invalid


def _isc_record(index: LeaseIndex, ip: bytes, fields: dict[bytes, bytes], line: int) -> bool:
    """Index one ISC declaration; False if it is corrupt (bad address or time)."""
    try:
        address = _address(ip)
        start = _isc_time(fields.get(b"starts"))
        end = _isc_time(fields.get(b"ends"))
        cltt = fields.get(b"cltt")
        observed = _isc_time(cltt) if cltt else start
    except (ValueError, UnicodeDecodeError):
        return False
    if not math.isfinite(start):
        return False
    if not math.isfinite(observed):
        observed = start
    if fields.get(b"binding state", b"active") != b"active":
        index.end(address, end if end > 0 else start)
        return True
    mac = None
    if (hardware := fields.get(b"hardware ethernet")) is not None:
        try:
            mac = _mac(hardware)
        except (ValueError, UnicodeDecodeError):
            index.skipped += 1  # the line is dropped, the lease kept
    host = None
    if (quoted := fields.get(b"client-hostname")) is not None:
        name = quoted[1:-1] if quoted.startswith(b'"') else quoted
        host = _host(_ISC_ESCAPE.sub(_unescape, name) if b"\\" in name else name)
    index.add(address, Lease(start, end, observed, mac, host, line))
    return True


def _parse_isc(fh: BinaryIO, index: LeaseIndex, line: int) -> tuple[int, int]:
    """Parse whole declarations from the current position; returns (bytes consumed, line number after)."""
    consumed, buf = 0, b""
    while True:
        data = fh.read(_CHUNK)
        buf += data
        cut = buf.rfind(b"\n}\n") + 3 if data else len(buf) if buf.rstrip().endswith(b"\n}") else 0
        if cut < 3:
            if not data:
                return consumed, line
            continue
        headers = buf.count(b"\nlease ", 0, cut) + buf.startswith(b"lease ")
        last = matched = 0
        for match in _ISC_LEASE.finditer(buf, 0, cut):
            line += buf.count(b"\n", last, match.start())
            last = match.start()
            matched += 1
            index.records += 1
            if not _isc_record(index, match.group(1), dict(_ISC_FIELD.findall(match.group(2))), line):
                index.skipped += 1
        index.skipped += headers - matched  # unterminated declarations
        line += buf.count(b"\n", last, cut)
        consumed += cut
        buf = buf[cut:]


class _KeaColumns(NamedTuple):
    width: int
    address: int
    hwaddr: int
    valid: int
    expire: int
    hostname: int
    state: int  # -1: files older than Kea 1.0 have no state column


def _kea_columns(header: bytes) -> _KeaColumns:
    names = header.decode("ascii", "replace").strip().split(",")
    at = {name: i for i, name in enumerate(names)}
    get = at.get
    return _KeaColumns(
        len(names), get("address", -1), get("hwaddr", -1), get("valid_lifetime", -1),
        get("expire", -1), get("hostname", -1), get("state", -1),
    )  # fmt: skip


def _kea_record(index: LeaseIndex, row: bytes, cols: _KeaColumns, line: int) -> bool:
    values = row.rstrip(b"\r\n").split(b",")
    if len(values) != cols.width or min(cols.address, cols.valid, cols.expire) < 0:
        return False
    try:
        address = _address(values[cols.address])
        lifetime = int(values[cols.valid])
        expire = int(values[cols.expire])
        state = int(values[cols.state] or 0) if cols.state >= 0 else 0
    except (ValueError, UnicodeDecodeError):
        return False
    hwaddr = values[cols.hwaddr] if cols.hwaddr >= 0 else b""
    try:
        mac = _mac(hwaddr) if hwaddr else None
    except (ValueError, UnicodeDecodeError):
        mac = None  # not Ethernet (e.g. InfiniBand): no MAC to give
    cltt = float(expire - lifetime)
    if state != 0 or lifetime == 0:
        # expired-reclaimed and deleted leases end at `expire`; declined and released ones at their cltt
        index.end(address, float(expire) if state in (0, 2) else cltt)
        return True
    raw_host = values[cols.hostname] if cols.hostname >= 0 else b""
    host = _host(raw_host.replace(b"&#x2c", b",")) if raw_host else None
    end = NEVER if lifetime >= KEA_INFINITE else float(expire)
    index.add(address, Lease(cltt, end, cltt, mac, host, line))
    return True


def _parse_kea(fh: BinaryIO, index: LeaseIndex, line: int, cols: _KeaColumns) -> tuple[int, int, _KeaColumns]:
    """Parse whole rows from the current position; returns (bytes consumed, line number after, columns)."""
    consumed = 0
    for row in fh:
        if not row.endswith(b"\n"):
            break  # being written: read it next time
        consumed += len(row)
        if row.startswith(b"address,"):
            cols = _kea_columns(row)
        elif row.strip():
            index.records += 1
            if not _kea_record(index, row, cols, line):
                index.skipped += 1
        line += 1
    return consumed, line, cols


def _guess_format(head: bytes) -> Format:
    return "kea" if head.lstrip().startswith(b"address,") else "isc"


@dataclass
class LeaseSource:
    """One configured file and how far it has been read."""

    path: Path
    format: Format | None
    index: LeaseIndex | None = None
    error: str | None = None
    mtime: float = 0.0
    _stamp: tuple[int, int, int, int] | None = None
    _offset: int = 0
    _line: int = 1
    _tail: bytes = b""
    _kind: Format = "isc"
    _columns: _KeaColumns = field(default_factory=lambda: _kea_columns(KEA_HEADER.encode()))

    def refresh(self) -> None:
        try:
            st = os.stat(self.path)
            if (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns) != self._stamp or self.index is None:
                with open(self.path, "rb") as fh:
                    st = os.fstat(fh.fileno())
                    self._read(fh, st)
        except OSError as exc:
            self.error = f"cannot read {self.path}: {exc.strerror or type(exc).__name__}"
            self.index, self._stamp = None, None  # read again in full once it is back
            return
        self._stamp = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
        self.mtime = st.st_mtime
        self.error = None

    def _read(self, fh: BinaryIO, st: os.stat_result) -> None:
        index = self.index
        if index is None or self._stamp is None or self._stamp[:2] != (st.st_dev, st.st_ino):
            index = self._restart(fh)
        elif st.st_size < self._offset or not self._continues(fh):
            index = self._restart(fh)
        if self._kind == "kea":
            consumed, self._line, self._columns = _parse_kea(fh, index, self._line, self._columns)
        else:
            consumed, self._line = _parse_isc(fh, index, self._line)
        index.finish()
        self._offset += consumed
        fh.seek(max(0, self._offset - _TAIL))
        self._tail = fh.read(self._offset - fh.tell())
        self.index = index

    def _continues(self, fh: BinaryIO) -> bool:
        """The bytes before the read offset are the ones read last time (the file only grew)."""
        fh.seek(self._offset - len(self._tail))
        return fh.read(len(self._tail)) == self._tail

    def _restart(self, fh: BinaryIO) -> LeaseIndex:
        fh.seek(0)
        head = fh.readline()
        self._kind = self.format or _guess_format(head)
        self._offset, self._line, self._tail = 0, 1, b""
        self._columns = _kea_columns(KEA_HEADER.encode())
        fh.seek(0)
        return LeaseIndex()
