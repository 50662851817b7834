"""Load time and memory of the dhcp_leases index: a 1,000,000-declaration ISC file and a 1,000,000-row Kea file.

Run: ``.venv/bin/python -m bench.dhcp_index [--leases N] [--keep]``. The files are generated into a temp dir
(a realistic journal: each address leased by one host, renewed, freed, then leased by another host that holds
it now). Each file is loaded in a fresh child process so the numbers are not mixed up: load time (wall and
CPU), peak RSS growth during the load (VmHWM minus the RSS before it), RSS kept after it, then a timed append
of 1,000 more records (the incremental re-read) and 100,000 lookups.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

START = int(datetime(2026, 1, 5, tzinfo=UTC).timestamp())
PER_IP = 4  # declarations per address: active, renewed, free, the current holder


def _isc_time(epoch: int) -> str:
    moment = datetime.fromtimestamp(epoch, UTC)
    return f"{(moment.weekday() + 1) % 7} {moment:%Y/%m/%d %H:%M:%S}"


def _ip(i: int) -> str:
    return f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}"


def _mac(i: int) -> str:
    return ":".join(f"{b:02x}" for b in (0, 0x16, 0x3E, i >> 16 & 255, i >> 8 & 255, i & 255))


def _isc_declaration(ip: str, start: int, end: int | None, state: str, mac: str, host: str | None) -> str:
    ends = _isc_time(end) if end is not None else "never"
    lines = [
        f"lease {ip} {{\n  starts {_isc_time(start)};\n  ends {ends};\n",
        f"  tstp {ends};\n" if state != "active" else "",
        f"  cltt {_isc_time(start)};\n  binding state {state};\n  next binding state free;\n",
        f"  rewind binding state free;\n  hardware ethernet {mac};\n",
        f'  uid "\\001\\000\\026>{mac[9:11]}{mac[12:14]}{mac[15:17]}";\n',
        f'  set vendor-class-identifier = "MSFT 5.0";\n  client-hostname "{host}";\n' if host else "",
        "}\n",
    ]
    return "".join(lines)


Record = tuple[str, int, int | None, str, str, str | None]


def _journal(leases: int) -> list[Record]:
    """(ip, start, end, state, mac, host) in file order: PER_IP records per address, time moving forward."""
    ips = leases // PER_IP
    rng = random.Random(7)
    records: list[Record] = []
    for i in range(ips):
        ip, t = _ip(i + 256), START + rng.randrange(86400)
        old, new = f"ws-{i:06d}", f"lt-{i:06d}"
        records.append((ip, t, t + 43200, "active", _mac(i), old))
        records.append((ip, t + 21600, t + 64800, "active", _mac(i), old))
        records.append((ip, t + 21600, t + 64800, "free", _mac(i), None))
        records.append((ip, t + 86400, None, "active", _mac(i + ips), new))
    return records


def write_isc(path: Path, leases: int) -> None:
    with path.open("w") as fh:
        fh.write("# This lease file was written by isc-dhcp-4.4.3\n\nauthoring-byte-order little-endian;\n\n")
        fh.writelines(_isc_declaration(*record) for record in _journal(leases))


def write_kea(path: Path, leases: int) -> None:
    header = (
        "address,hwaddr,client_id,valid_lifetime,expire,subnet_id,fqdn_fwd,fqdn_rev,hostname,state,user_context,pool_id"
    )
    with path.open("w") as fh:
        fh.write(header + "\n")
        for ip, start, end, state, mac, host in _journal(leases):
            lifetime = (end or start + 10 * 365 * 86400) - start
            code = 0 if state == "active" else 2
            name = f"{host}.corp.example" if host else ""
            fh.write(f"{ip},{mac},01:{mac},{lifetime},{start + lifetime},1,1,1,{name},{code},,0\n")


def _rss_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def load(path: Path, fmt: str) -> dict[str, Any]:
    """In this (fresh) process: load, measure, append, look up."""
    from positron.providers.dhcp._source import LeaseSource  # imported before the baseline RSS is taken

    source = LeaseSource(path, fmt)  # type: ignore[arg-type]
    before = _rss_kb("VmRSS")
    began, cpu = time.perf_counter(), time.process_time()
    source.refresh()
    load_s, load_cpu_s = time.perf_counter() - began, time.process_time() - cpu
    assert source.index is not None and source.error is None, source.error
    index = source.index
    result: dict[str, Any] = {
        "format": fmt,
        "file_mb": round(path.stat().st_size / 2**20),
        "records": index.records,
        "addresses": len(index.by_ip),
        "skipped": index.skipped,
        "load_s": round(load_s, 2),
        "load_cpu_s": round(load_cpu_s, 2),  # what the load cost, whatever other processes took meanwhile
        "peak_rss_delta_mb": round((_rss_kb("VmHWM") - before) / 1024),
        "kept_rss_delta_mb": round((_rss_kb("VmRSS") - before) / 1024),
    }
    with path.open("a") as fh:
        if fmt == "isc":
            fh.writelines(
                _isc_declaration("10.250.0.1", START + i, None, "active", _mac(i), "new") for i in range(1000)
            )
        else:
            fh.writelines(f"10.250.0.1,{_mac(i)},,3600,{START + i + 3600},1,0,0,new,0,,0\n" for i in range(1000))
    began = time.perf_counter()
    source.refresh()
    result["append_1000_s"] = round(time.perf_counter() - began, 3)
    assert index is source.index and index.records == result["records"] + 1000  # read incrementally
    ips = list(index.by_ip)[:: max(1, len(index.by_ip) // 100_000)][:100_000]
    at, now = float(START + 30000), time.time()
    began = time.perf_counter()
    hits = sum(index.lease_at(ip, at, now) is not None for ip in ips) + sum(
        index.lease_at(ip, None, now) is not None for ip in ips
    )
    result["lookups_per_s"] = round(2 * len(ips) / (time.perf_counter() - began))
    result["lookup_hits"] = hits
    return result


def measure(leases: int = 1_000_000, keep: bool = False) -> list[dict[str, Any]]:
    folder = Path(tempfile.mkdtemp(prefix="dhcp-bench-"))
    results = []
    try:
        for fmt, name, write in (("isc", "dhcpd.leases", write_isc), ("kea", "kea-leases4.csv", write_kea)):
            path = folder / name
            began = time.perf_counter()
            write(path, leases)
            generated_s = time.perf_counter() - began
            child = [sys.executable, "-m", "bench.dhcp_index", "--load", str(path), "--format", fmt]
            out = subprocess.run(child, check=True, capture_output=True, text=True).stdout
            results.append(json.loads(out) | {"generate_s": round(generated_s, 1)})
    finally:
        if not keep:
            for path in folder.iterdir():
                path.unlink()
            folder.rmdir()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leases", type=int, default=1_000_000)
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    parser.add_argument("--load", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--format", default="isc", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.load:
        print(json.dumps(load(args.load, args.format)))
        return
    for result in measure(args.leases, args.keep):
        print(
            f"{result['format']}: {result['records']:,} records ({result['addresses']:,} addresses, "
            f"{result['file_mb']} MB): load {result['load_s']} s ({result['load_cpu_s']} s CPU), "
            f"peak RSS +{result['peak_rss_delta_mb']} MB, "
            f"kept RSS +{result['kept_rss_delta_mb']} MB; append 1,000: {result['append_1000_s']} s; "
            f"{result['lookups_per_s']:,} lookups/s; skipped {result['skipped']}"
        )


if __name__ == "__main__":
    main()
