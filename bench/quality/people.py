"""People in the simulated world: AD (a real slapd; the change time as ``modifyTimestamp``, OpenLDAP's
``whenChanged``) and the HR export (a static_inventory users CSV whose ``updated`` lags the reorg)."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.quality.world import World
from tests.support import slapd

PEOPLE = f"ou=people,{slapd.BASE_DN}"


def _stamp(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y%m%d%H%M%SZ")


def _entry(uid: str, manager: str | None, changed: float) -> str:
    lines = [
        f"dn: uid={uid},{PEOPLE}", "objectClass: inetOrgPerson", "objectClass: positronAdLite", f"uid: {uid}",
        f"sAMAccountName: {uid}", f"cn: {uid}", f"sn: {uid}", f"displayName: {uid.title()}",
        f"modifyTimestamp: {_stamp(changed)}",
    ]  # fmt: skip
    if manager:
        lines.append(f"manager: uid={manager},{PEOPLE}")
    return "\n".join(lines) + "\n\n"


def ldif(world: World) -> str:
    bosses = sorted({m for p in world.people for _, m in p.managers})
    first = world.now - 400 * 86_400
    return "".join(_entry(b, None, first) for b in bosses) + "".join(
        _entry(p.username, p.managers[-1][1], p.ad_changed) for p in world.people
    )


def write_hr(world: World, root: Path) -> Path:
    path = root / "hr.csv"
    with path.open("w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["username", "display_name", "manager", "updated"])
        for p in world.people:
            out.writerow([p.username, p.username.title(), p.hr_manager, datetime.fromtimestamp(p.hr_updated, UTC)])
    return path


@contextmanager
def directory(world: World, root: Path) -> Iterator[dict[str, dict[str, Any]]]:
    """The people providers' config, with slapd running while it is open (only the HR export without slapd)."""
    hr = {"hr_export": {"type": "static_inventory", "users": str(write_hr(world, root))}}
    if not slapd.available():
        yield hr
        return
    work = root / "slapd"
    work.mkdir()
    with slapd.running_slapd(work, extra_ldif=ldif(world)) as server:
        ad = {
            "type": "ldap",
            "servers": [server.url],
            "bind_user": server.bind_dn,
            "bind_password": {"env": "BENCH_LDAP_PASSWORD"},
            "base_dn": server.base_dn,
            "user_attribute": "uid",
            "tls": "none",
        }
        yield hr | {"ad": ad}
