"""Write lease files the way the servers do: ISC dhcpd ``dhcpd.leases`` declarations and Kea memfile CSV rows.

``isc_lease`` formats one declaration as dhcpd's ``write_lease`` does (statement order, two-space indent, the
closing brace at column 0, times as ``W YYYY/MM/DD HH:MM:SS`` in UTC with the weekday digit 0 = Sunday, or
``epoch N; # <ctime>`` when ``db-time-format local`` is set, or ``never``). ``kea_row`` formats one memfile row
(``expire`` = cltt + valid_lifetime, commas in the host name escaped as ``&#x2c``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path

ISC_PREAMBLE = (
    "# The format of this file is documented in the dhcpd.leases(5) manual page.\n"
    "# This lease file was written by isc-dhcp-4.4.3\n\n"
    "# authoring-byte-order entry is generated, DO NOT DELETE\n"
    "authoring-byte-order little-endian;\n\n"
)
KEA_HEADER = (
    "address,hwaddr,client_id,valid_lifetime,expire,subnet_id,fqdn_fwd,fqdn_rev,hostname,state,user_context,pool_id"
)
KEA_HEADER_1_0 = "address,hwaddr,client_id,valid_lifetime,expire,subnet_id,fqdn_fwd,fqdn_rev,hostname,state"
KEA_HEADER_0_9 = "address,hwaddr,client_id,valid_lifetime,expire,subnet_id,fqdn_fwd,fqdn_rev,hostname"
KEA_HEADER_1_4 = f"{KEA_HEADER_1_0},user_context"

Time = datetime | str  # a datetime (UTC), or "never", or "epoch"-prefixed text written verbatim


def isc_time(value: Time, *, epoch: bool = False) -> str:
    if isinstance(value, str):
        return value
    value = value.astimezone(UTC)
    if epoch:
        return f"epoch {int(value.timestamp())}; # {value.strftime('%a %b %d %H:%M:%S %Y')}"
    return f"{(value.weekday() + 1) % 7} {value.strftime('%Y/%m/%d %H:%M:%S')}"


def isc_string(raw: bytes) -> str:
    """Bytes as dhcpd quotes them: printable ASCII as is, everything else (and quote, backslash) in octal."""
    return "".join(chr(b) if 32 <= b < 127 and b not in b'"\\' else f"\\{b:03o}" for b in raw)


def isc_lease(
    ip: str,
    starts: Time,
    ends: Time,
    *,
    state: str = "active",
    mac: str | None = None,
    host: str | None = None,
    cltt: Time | None = None,
    epoch: bool = False,
    extra: Sequence[str] = (),
) -> str:
    """One declaration; ``extra`` statements go after the uid line (``set ...;``, ``option agent...;``)."""

    def stamp(name: str, value: Time) -> str:
        text = isc_time(value, epoch=epoch)
        return f"  {name} {text}\n" if "; #" in text else f"  {name} {text};\n"

    lines = [f"lease {ip} {{\n", stamp("starts", starts), stamp("ends", ends)]
    if state != "active":
        lines.append(stamp("tstp", ends))
    if cltt is not None:
        lines.append(stamp("cltt", cltt))
    lines.append(f"  binding state {state};\n")
    lines.append("  next binding state free;\n")
    lines.append("  rewind binding state free;\n")
    if mac is not None:
        lines.append(f"  hardware ethernet {mac};\n")
        if re.fullmatch(r"[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}", mac):  # uid: hardware type 1 + the address
            lines.append(f'  uid "{isc_string(bytes([1]) + bytes.fromhex(mac.replace(":", "")))}";\n')
    lines.extend(f"  {statement}\n" for statement in extra)
    if host is not None:
        lines.append(f'  client-hostname "{host}";\n')
    lines.append("}\n")
    return "".join(lines)


def write_isc(path: Path, declarations: Iterable[str], *, preamble: str = ISC_PREAMBLE) -> Path:
    path.write_text(preamble + "".join(declarations))
    return path


def kea_row(
    ip: str,
    cltt: datetime,
    valid_lifetime: int,
    *,
    mac: str = "",
    host: str = "",
    state: int = 0,
    header: str = KEA_HEADER,
) -> str:
    expire = int(cltt.timestamp()) + valid_lifetime
    values = {
        "address": ip,
        "hwaddr": mac,
        "client_id": "01:" + mac if mac else "",
        "valid_lifetime": str(valid_lifetime),
        "expire": str(expire),
        "subnet_id": "1",
        "fqdn_fwd": "0",
        "fqdn_rev": "0",
        "hostname": host.replace(",", "&#x2c"),
        "state": str(state),
        "user_context": "",
        "pool_id": "0",
    }
    return ",".join(values[name] for name in header.split(",")) + "\n"


def write_kea(path: Path, rows: Iterable[str], *, header: str = KEA_HEADER) -> Path:
    path.write_text(header + "\n" + "".join(rows))
    return path


def bump_mtime(path: Path, seconds: float = 10.0) -> None:
    """Move the modification time forward, so a rewrite within one clock tick still counts as a change."""
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + int(seconds * 1e9)))
