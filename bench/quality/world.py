"""A simulated enterprise with known truth, deterministic from a seed: who held each address, and when.

Three address scopes, each covered by a different mix of sources:

  dhcp_full   10.10.x  ISC dhcpd lease file with the whole period; Splunk DHCP logs (some events missing)
  dhcp_short  10.20.x  Kea lease file that keeps only the last ``short_retention_days``; Splunk holds the whole
                       period with more missing and late-indexed events
  static      10.30.x  fixed addresses: a stale-in-places inventory and log sightings; some addresses are given
                       to a new server mid-period
Dynamic hosts hold leases in sessions (hours to days) with renewals at half the lease time, release early or let
the lease expire, and prefer their previous address when it is free (so addresses are reassigned when it is not).
The inventory also lists about half of the dynamic hosts with the first address they had, recorded while they had
it and never updated since. Every source is right when it records something; sources go stale, miss events or
forget (the short lease file), they do not lie.

People: managers change mid-period; AD (whenChanged) has the change at once, the HR export only after a lag.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

HOUR = 3600.0
DAY = 86_400.0


@dataclass(frozen=True)
class Params:
    seed: int = 1
    days: int = 30
    hosts: int = 300
    people: int = 60
    lookups: int = 600
    short_retention_days: float = 3.0
    miss_full: float = 0.15  # share of Splunk DHCP events never indexed, scope dhcp_full
    miss_short: float = 0.3  # the same for dhcp_short
    late_share: float = 0.1  # share of events indexed hours late (absent if that is after now)


@dataclass(frozen=True)
class Binding:
    """The truth: ``host`` held ``ip`` over [start, end)."""

    ip: str
    host: str
    mac: str
    start: float
    end: float


@dataclass(frozen=True)
class LeaseRecord:
    """One record the DHCP server wrote: a grant/renewal [start, end), or a release at ``end``."""

    ip: str
    host: str
    mac: str
    start: float
    end: float
    released: bool = False


@dataclass(frozen=True)
class Event:
    """A log event Splunk indexed at ``indexed``: ``host`` seen using ``ip`` at ``time``."""

    time: float
    indexed: float
    ip: str
    host: str
    kind: str  # dhcp | auth


@dataclass(frozen=True)
class InventoryRow:
    ip: str
    host: str
    updated: float


@dataclass(frozen=True)
class Person:
    username: str
    managers: tuple[tuple[float, str], ...]  # (since, manager), oldest first
    ad_changed: float  # AD's whenChanged
    hr_manager: str  # what the HR export says now
    hr_updated: float  # the HR row's last change


@dataclass
class World:
    params: Params
    now: float
    scopes: dict[str, list[str]] = field(default_factory=dict)  # scope -> addresses
    bindings: dict[str, list[Binding]] = field(default_factory=dict)  # ip -> bindings, by start
    leases: dict[str, list[LeaseRecord]] = field(default_factory=dict)  # scope -> records, by write time
    events: list[Event] = field(default_factory=list)
    inventory: list[InventoryRow] = field(default_factory=list)
    people: list[Person] = field(default_factory=list)

    def holder(self, ip: str, t: float) -> str | None:
        for b in self.bindings.get(ip, ()):
            if b.start <= t < b.end:
                return b.host
        return None

    def scope_of(self, ip: str) -> str:
        return next(name for name, ips in self.scopes.items() if ip in ips)


def _mac(rng: random.Random) -> str:
    return "00:16:3e:" + ":".join(f"{rng.randrange(256):02x}" for _ in range(3))


def _name(rng: random.Random, used: set[str], prefixes: tuple[str, ...]) -> str:
    while True:
        name = f"{rng.choice(prefixes)}-{rng.randrange(10_000):04d}"
        if name not in used:
            used.add(name)
            return name


def build(params: Params, now: float) -> World:
    rng = random.Random(params.seed)
    world = World(params, now)
    used: set[str] = set()
    n_full, n_short = int(params.hosts * 0.4), int(params.hosts * 0.35)
    n_static = params.hosts - n_full - n_short
    _dynamic(world, rng, "dhcp_full", "10.10", n_full, lease_s=12 * HOUR, miss=params.miss_full, used=used)
    _dynamic(world, rng, "dhcp_short", "10.20", n_short, lease_s=DAY, miss=params.miss_short, used=used)
    _static(world, rng, n_static, used)
    _people(world, rng)
    world.events.sort(key=lambda e: e.time)
    return world


def _indexed(world: World, rng: random.Random, t: float) -> float:
    late = rng.random() < world.params.late_share
    return t + (rng.uniform(HOUR, 12 * HOUR) if late else rng.expovariate(1 / 120))


def _sessions(rng: random.Random, start: float, now: float) -> list[tuple[float, float]]:
    """Online periods of one host: hours to days, with gaps of hours to days between them."""
    out, t = [], start + rng.uniform(0, DAY)
    while t < now:
        length = min(rng.lognormvariate(2.3, 1.0) * HOUR, 4 * DAY)
        out.append((t, t + max(length, 0.5 * HOUR)))
        t += length + rng.lognormvariate(2.5, 1.0) * HOUR
    return out


def _dynamic(
    world: World, rng: random.Random, scope: str, net: str, n: int, *, lease_s: float, miss: float, used: set[str]
) -> None:
    start = world.now - world.params.days * DAY
    pool = [f"{net}.{i // 250}.{i % 250 + 2}" for i in range(max(8, int(n * 0.7)))]
    world.scopes[scope] = pool
    free_at = dict.fromkeys(pool, 0.0)
    hosts = [(_name(rng, used, ("ws", "lt", "dev", "pc")), _mac(rng)) for _ in range(n)]
    last_ip: dict[str, str] = {}
    sessions = sorted((s, e, h, m) for h, m in hosts for s, e in _sessions(rng, start, world.now))
    records: list[tuple[float, LeaseRecord]] = []
    for s, e, host, mac in sessions:
        free = [ip for ip in pool if free_at[ip] <= s]
        if not free:
            continue
        ip = last_ip[host] if last_ip.get(host) in free else rng.choice(free)
        last_ip[host] = ip
        r = s
        while True:  # grants and renewals every half lease while online
            records.append((r, LeaseRecord(ip, host, mac, r, r + lease_s)))
            if rng.random() >= miss:
                world.events.append(Event(r, _indexed(world, rng, r), ip, host, "dhcp"))
            if r + lease_s / 2 >= e or r + lease_s / 2 >= world.now:
                break
            r += lease_s / 2
        if rng.random() < 0.5 and e < r + lease_s:  # an early release
            end = e
            records.append((e, LeaseRecord(ip, host, mac, r, e, released=True)))
        else:
            end = r + lease_s
        free_at[ip] = end
        world.bindings.setdefault(ip, []).append(Binding(ip, host, mac, s, end))
    world.leases[scope] = [rec for t, rec in sorted(records, key=lambda tr: tr[0]) if t <= world.now]
    for host, _ in hosts:  # the inventory records the first address a host had, while it had it; never updated
        first = min((b for ip in pool for b in world.bindings.get(ip, ()) if b.host == host), key=lambda b: b.start,
                    default=None)  # fmt: skip
        if first is not None and rng.random() < 0.5:
            updated = rng.uniform(first.start, min(first.end, world.now))
            world.inventory.append(InventoryRow(first.ip, host, updated))


def _static(world: World, rng: random.Random, n: int, used: set[str]) -> None:
    start = world.now - world.params.days * DAY
    ips = [f"10.30.{i // 250}.{i % 250 + 2}" for i in range(n)]
    world.scopes["static"] = ips
    for ip in ips:
        old = _name(rng, used, ("srv", "app", "db", "web"))
        spans = [(old, start - 400 * DAY, world.now + DAY)]
        if rng.random() < 0.25:  # given to a new server mid-period
            t_r = start + rng.uniform(2 * DAY, world.params.days * DAY - 2 * HOUR)
            new = _name(rng, used, ("srv", "app", "db", "web"))
            spans = [(old, spans[0][1], t_r), (new, t_r, world.now + DAY)]
            if rng.random() < 0.5:  # the inventory caught up
                world.inventory.append(InventoryRow(ip, new, rng.uniform(t_r, world.now - HOUR)))
            else:
                world.inventory.append(InventoryRow(ip, old, t_r - rng.uniform(DAY, 40 * DAY)))
        else:
            world.inventory.append(InventoryRow(ip, old, world.now - rng.uniform(DAY, 70 * DAY)))
        rate = math.exp(rng.uniform(math.log(0.05), math.log(3.0))) / DAY  # sightings per second, log-uniform
        for host, s, e in spans:
            world.bindings.setdefault(ip, []).append(Binding(ip, host, _mac(rng), s, e))
            t = max(s, start) + rng.expovariate(rate)
            while t < min(e, world.now):
                world.events.append(Event(t, _indexed(world, rng, t), ip, host, "auth"))
                t += rng.expovariate(rate)


def _people(world: World, rng: random.Random) -> None:
    start = world.now - world.params.days * DAY
    names = [f"user{i:03d}" for i in range(world.params.people)]
    bosses = [f"boss{i:02d}" for i in range(max(3, world.params.people // 8))]
    for name in names:
        first = rng.choice(bosses)
        since = start - rng.uniform(30 * DAY, 400 * DAY)
        managers: list[tuple[float, str]] = [(since, first)]
        if rng.random() < 0.4:  # the reorg
            t_c = start + rng.uniform(DAY, world.params.days * DAY - HOUR)
            managers.append((t_c, rng.choice([b for b in bosses if b != first])))
        last_t, last_m = managers[-1]
        hr_lag = rng.uniform(0, 14 * DAY)
        if last_t + hr_lag <= world.now:
            hr = (last_m, last_t + hr_lag)
        else:
            hr = (managers[-2][1], managers[-2][0] + rng.uniform(0, 5 * DAY))
        world.people.append(Person(name, tuple(managers), last_t, hr[0], hr[1]))
