"""The dhcp_leases provider over real ISC dhcpd and Kea memfile lease files written to tmp_path."""

from __future__ import annotations

import gc
import os
import re
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import anyio
import pydantic
import pytest
import yaml
from positron.providers.dhcp import CONFIDENCE, DhcpLeases, DhcpLeasesConfig
from positron.providers.dhcp._source import LeaseSource
from positron.queries import HOSTNAME_TO_IP, IP_TO_HOSTNAME, IP_TO_MAC

from positron.config import parse_settings
from positron.errors import ProviderUnavailable
from positron.query import Answer, Lookup, Query
from positron.registry import Registry
from tests.support.leases import (
    KEA_HEADER,
    KEA_HEADER_0_9,
    KEA_HEADER_1_0,
    KEA_HEADER_1_4,
    bump_mtime,
    isc_lease,
    isc_time,
    kea_row,
    write_isc,
    write_kea,
)

NOW = datetime.now(UTC).replace(microsecond=0)
T0 = datetime(2026, 3, 4, 8, 0, tzinfo=UTC)  # history: well in the past
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)
REPO = Path(__file__).parents[2]

Make = Callable[..., DhcpLeases]


@pytest.fixture
async def make() -> AsyncIterator[Make]:
    opened: list[DhcpLeases] = []

    def build(*files: Path | dict[str, Any], **extra: Any) -> DhcpLeases:
        entries = [f if isinstance(f, dict) else {"path": str(f)} for f in files]
        fields = {"type": "dhcp_leases", "files": entries, "reload_interval_s": 0} | extra
        provider = DhcpLeases("dhcp_test", DhcpLeasesConfig.model_validate(fields))
        opened.append(provider)
        return provider

    yield build
    for provider in opened:
        await provider.aclose()


async def ask(provider: DhcpLeases, query: Query[Any], value: str, at: datetime | None = None) -> list[Answer[Any]]:
    return await provider.ask(Lookup(query, query.normalize(value), at))


def values(answers: list[Answer[Any]]) -> list[Any]:
    return [answer.value for answer in answers]


def line_of(path: Path, needle: str, nth: int = 0) -> int:
    lines = [i for i, text in enumerate(path.read_text().splitlines(), 1) if needle in text]
    return lines[nth]


@pytest.fixture
def history(tmp_path: Path) -> Path:
    """10.1.2.3: WS-042 for a day (renewed once), then free; LAPTOP-7 holds it now. 10.1.2.9: released early."""
    return write_isc(
        tmp_path / "dhcpd.leases",
        [
            isc_lease("10.1.2.3", T0, T0 + 12 * HOUR, mac="00:16:3E:12:34:56", host="WS-042", cltt=T0),
            isc_lease("10.1.2.3", T0 + 6 * HOUR, T0 + DAY, mac="00:16:3e:12:34:56", host="WS-042", cltt=T0 + 6 * HOUR),
            isc_lease("10.1.2.3", T0 + 6 * HOUR, T0 + DAY, state="free", mac="00:16:3e:12:34:56"),
            isc_lease("10.1.2.3", T0 + 2 * DAY, "never", mac="00:16:3e:aa:bb:cc", host="LAPTOP-7", cltt=NOW - HOUR),
            isc_lease("10.1.2.9", T0, T0 + DAY, mac="00:16:3e:00:00:09", host="ws-009"),
            isc_lease("10.1.2.9", T0, T0 + 2 * HOUR, state="released", mac="00:16:3e:00:00:09"),
        ],
    )


async def test_isc_at_picks_the_lease_of_that_moment_and_now_the_current_one(make: Make, history: Path) -> None:
    provider = make(history)
    await provider.open()

    early = await ask(provider, IP_TO_HOSTNAME, "10.1.2.3", T0 + 3 * HOUR)
    renewed = await ask(provider, IP_TO_HOSTNAME, "10.1.2.3", T0 + 20 * HOUR)
    gap = await ask(provider, IP_TO_HOSTNAME, "10.1.2.3", T0 + 30 * HOUR)
    now = await ask(provider, IP_TO_HOSTNAME, "10.1.2.3")
    later = await ask(provider, IP_TO_HOSTNAME, "10.1.2.3", T0 + 400 * DAY)

    assert values(early) == ["ws-042"]
    assert early[0].observed_at == T0
    assert early[0].source_ref == f"dhcpd.leases:{line_of(history, 'lease 10.1.2.3', 0)}"
    assert values(renewed) == ["ws-042"]
    assert renewed[0].observed_at == T0 + 6 * HOUR
    assert renewed[0].source_ref == f"dhcpd.leases:{line_of(history, 'lease 10.1.2.3', 1)}"
    assert gap == []
    assert values(now) == ["laptop-7"]
    assert now[0].confidence == CONFIDENCE
    assert now[0].observed_at == NOW - HOUR
    assert now[0].source_ref == f"dhcpd.leases:{line_of(history, 'lease 10.1.2.3', 3)}"
    assert values(later) == ["laptop-7"]


async def test_isc_released_lease_ends_early(make: Make, history: Path) -> None:
    provider = make(history)

    assert values(await ask(provider, IP_TO_HOSTNAME, "10.1.2.9", T0 + HOUR)) == ["ws-009"]
    assert await ask(provider, IP_TO_HOSTNAME, "10.1.2.9", T0 + 3 * HOUR) == []
    assert await ask(provider, IP_TO_HOSTNAME, "10.1.2.9") == []


async def test_ip_to_mac_normalizes(make: Make, history: Path, tmp_path: Path) -> None:
    old = write_isc(tmp_path / "old.leases", [isc_lease("10.9.0.1", T0, "never", mac="0:16:3E:a:B:c")])
    provider = make(history, old)

    assert values(await ask(provider, IP_TO_MAC, "10.1.2.3", T0 + HOUR)) == ["00:16:3e:12:34:56"]
    assert values(await ask(provider, IP_TO_MAC, "10.1.2.3")) == ["00:16:3e:aa:bb:cc"]
    assert values(await ask(provider, IP_TO_MAC, "10.9.0.1")) == ["00:16:3e:0a:0b:0c"]
    assert await ask(provider, IP_TO_MAC, "10.9.0.2") == []


async def test_hostname_to_ip_by_short_name_and_fqdn(make: Make, history: Path) -> None:
    provider = make(history)

    assert values(await ask(provider, HOSTNAME_TO_IP, "LAPTOP-7")) == ["10.1.2.3"]
    assert values(await ask(provider, HOSTNAME_TO_IP, "laptop-7.corp.example")) == ["10.1.2.3"]
    assert values(await ask(provider, HOSTNAME_TO_IP, "WS-042.corp.example", T0 + HOUR)) == ["10.1.2.3"]
    assert await ask(provider, HOSTNAME_TO_IP, "ws-042") == []  # it no longer holds the address
    assert await ask(provider, HOSTNAME_TO_IP, "ws-043") == []


async def test_domain_makes_fqdns_and_narrows_fqdn_questions(make: Make, history: Path) -> None:
    provider = make(history, domain=".Corp.Example.")

    assert values(await ask(provider, IP_TO_HOSTNAME, "10.1.2.3")) == ["laptop-7.corp.example"]
    assert values(await ask(provider, HOSTNAME_TO_IP, "laptop-7.corp.example")) == ["10.1.2.3"]
    assert values(await ask(provider, HOSTNAME_TO_IP, "laptop-7")) == ["10.1.2.3"]
    assert await ask(provider, HOSTNAME_TO_IP, "laptop-7.lab.example") == []


async def test_epoch_and_never_forms(make: Make, tmp_path: Path) -> None:
    path = write_isc(
        tmp_path / "dhcpd.leases",
        [
            isc_lease("10.5.0.1", T0, T0 + DAY, host="EPOCH-1", cltt=T0 + HOUR, epoch=True),
            isc_lease("10.5.0.2", T0, "never", host="forever"),
            isc_lease("10.5.0.3", NOW - HOUR, NOW + HOUR, host="Soon-Done", epoch=True),
        ],
    )
    assert "starts epoch " in path.read_text() and "; # " in path.read_text()
    provider = make(path)

    epoch = await ask(provider, IP_TO_HOSTNAME, "10.5.0.1", T0 + 2 * HOUR)
    assert values(epoch) == ["epoch-1"]
    assert epoch[0].observed_at == T0 + HOUR
    assert await ask(provider, IP_TO_HOSTNAME, "10.5.0.1", T0 + DAY) == []  # ends is exclusive
    assert await ask(provider, IP_TO_HOSTNAME, "10.5.0.1") == []
    assert values(await ask(provider, IP_TO_HOSTNAME, "10.5.0.2")) == ["forever"]
    assert values(await ask(provider, IP_TO_HOSTNAME, "10.5.0.2", T0 + 1000 * DAY)) == ["forever"]
    assert await ask(provider, IP_TO_HOSTNAME, "10.5.0.2", T0 - HOUR) == []
    assert values(await ask(provider, IP_TO_HOSTNAME, "10.5.0.3")) == ["soon-done"]


@pytest.mark.parametrize("state", ["free", "abandoned", "expired", "released", "backup"])
async def test_isc_states_other_than_active_do_not_answer(make: Make, tmp_path: Path, state: str) -> None:
    path = write_isc(tmp_path / "dhcpd.leases", [isc_lease("10.6.0.1", NOW - HOUR, NOW + DAY, state=state, host="x")])
    provider = make(path)

    assert await ask(provider, IP_TO_HOSTNAME, "10.6.0.1") == []
    assert await ask(provider, IP_TO_HOSTNAME, "10.6.0.1", NOW) == []
    assert await ask(provider, HOSTNAME_TO_IP, "x") == []


async def test_active_lease_that_has_ended_answers_only_for_its_time(make: Make, tmp_path: Path) -> None:
    path = write_isc(tmp_path / "dhcpd.leases", [isc_lease("10.6.0.2", T0, T0 + DAY, host="gone")])
    provider = make(path)

    assert await ask(provider, IP_TO_HOSTNAME, "10.6.0.2") == []
    assert await ask(provider, HOSTNAME_TO_IP, "gone") == []
    assert values(await ask(provider, HOSTNAME_TO_IP, "gone", T0 + HOUR)) == ["10.6.0.2"]


async def test_isc_tolerates_other_statements_and_blocks(make: Make, tmp_path: Path) -> None:
    extra = [
        'set ddns-fwd-name = "ws-077.corp.example";',
        'set vendor-class-identifier = "MSFT 5.0";',
        "option agent.circuit-id 0:4:0:b:1:1;",
        'on expiry {\n    set ddns-rev-name = "77.0.7.10.in-addr.arpa.";\n  }',
    ]
    declaration = isc_lease("10.7.0.77", NOW - HOUR, NOW + DAY, mac="00:16:3e:00:00:77", host="WS-077", extra=extra)
    declaration = declaration.replace("  ends", "  tsfp 4 2026/03/05 08:00:00;\n  atsfp 4 2026/03/05 08:00:00;\n  ends")
    path = write_isc(
        tmp_path / "dhcpd.leases",
        [
            'server-duid "\\000\\001\\000\\001#\\334";\n\n',
            'failover peer "dhcp-failover" state {\n  my state normal at 3 2026/03/04 08:00:00;\n'
            "  partner state normal at 3 2026/03/04 08:00:00;\n}\n",
            "host static-1 {\n  dynamic;\n  hardware ethernet 00:16:3e:99:99:99;\n  fixed-address 10.7.0.5;\n}\n",
            "# a comment between declarations\n",
            declaration,
            isc_lease("10.7.0.78", NOW - HOUR, NOW + DAY, host=r"ws\055078\"x"),
        ],
    )
    provider = make(path)

    assert values(await ask(provider, IP_TO_HOSTNAME, "10.7.0.77")) == ["ws-077"]
    assert values(await ask(provider, IP_TO_MAC, "10.7.0.77")) == ["00:16:3e:00:00:77"]
    assert values(await ask(provider, IP_TO_HOSTNAME, "10.7.0.78")) == ['ws-078"x']  # octal and quote escapes
    assert await ask(provider, IP_TO_MAC, "10.7.0.5") == []
    health = await provider.health()
    assert health.ok and "2 lease records" in health.detail and "0 corrupt" in health.detail


async def test_isc_any_field_order_and_out_of_order_history(make: Make, tmp_path: Path) -> None:
    hand_written = (
        'lease 10.7.1.1 {\n\tclient-hostname "Hand-1";\n\thardware ethernet 00:16:3e:07:01:01;\n'
        f"\tbinding state active;\n\tends never;\n\tstarts {isc_time(T0)};\n}}\n"
    )
    no_state = f'lease 10.7.1.2 {{\n  starts {isc_time(T0)};\n  ends never;\n  client-hostname "old-2";\n}}\n'
    path = write_isc(
        tmp_path / "dhcpd.leases",
        [
            hand_written,
            no_state,  # dhcpd 2 wrote no binding state: active until it ends
            isc_lease("10.7.1.3", T0 + DAY, T0 + 2 * DAY, host="second"),
            isc_lease("10.7.1.3", T0, T0 + DAY, host="first"),  # a failover peer's older news, appended later
        ],
    )
    provider = make(path)

    assert values(await ask(provider, IP_TO_HOSTNAME, "10.7.1.1")) == ["hand-1"]
    assert values(await ask(provider, IP_TO_MAC, "10.7.1.1")) == ["00:16:3e:07:01:01"]
    assert values(await ask(provider, IP_TO_HOSTNAME, "10.7.1.2")) == ["old-2"]
    assert values(await ask(provider, IP_TO_HOSTNAME, "10.7.1.3", T0 + HOUR)) == ["first"]
    assert values(await ask(provider, IP_TO_HOSTNAME, "10.7.1.3", T0 + DAY + HOUR)) == ["second"]


async def test_concurrent_questions_during_reloads(make: Make, tmp_path: Path) -> None:
    path = write_isc(
        tmp_path / "dhcpd.leases", [isc_lease(f"10.9.{i}.1", NOW - HOUR, "never", host=f"h{i}") for i in range(50)]
    )
    provider = make(path)
    results: dict[int, list[Any]] = {}

    async def one(i: int) -> None:
        results[i] = values(await ask(provider, IP_TO_HOSTNAME, f"10.9.{i}.1"))

    with path.open("a") as fh:
        fh.write(isc_lease("10.9.99.1", NOW - HOUR, "never", host="appended"))
    async with anyio.create_task_group() as group:
        for i in range(50):
            group.start_soon(one, i)
    assert results == {i: [f"h{i}"] for i in range(50)}
    assert values(await ask(provider, IP_TO_HOSTNAME, "10.9.99.1")) == ["appended"]


async def test_corrupt_declarations_are_skipped_and_counted(make: Make, tmp_path: Path) -> None:
    good = isc_lease("10.8.0.1", NOW - HOUR, "never", mac="00:16:3e:00:00:01", host="good")
    path = write_isc(
        tmp_path / "dhcpd.leases",
        [
            isc_lease("10.8.0.2", NOW - HOUR, "never", host="bad-date").replace(
                f"{NOW - HOUR:%Y/%m/%d}", f"{NOW:%Y}/13/45"
            ),
            isc_lease("10.8.0.300", NOW - HOUR, "never", host="bad-ip"),
            "lease 10.8.0.4 {\n  starts 3 2026/03/04 08:00:00;\n",  # truncated write
            good,
            isc_lease("10.8.0.5", NOW - HOUR, "never", mac="00:zz:3e:00:00:05", host="bad-mac"),
            isc_lease("10.8.0.6", "garbage", "never", host="bad-starts"),
        ],
    )
    provider = make(path)

    assert values(await ask(provider, IP_TO_HOSTNAME, "10.8.0.1")) == ["good"]
    assert values(await ask(provider, IP_TO_HOSTNAME, "10.8.0.5")) == ["bad-mac"]  # only the line is dropped
    assert await ask(provider, IP_TO_MAC, "10.8.0.5") == []
    for ip in ("10.8.0.2", "10.8.0.4", "10.8.0.6"):
        assert await ask(provider, IP_TO_HOSTNAME, ip) == []
    health = await provider.health()
    assert health.ok
    assert "5 corrupt skipped" in health.detail


@pytest.fixture
def kea(tmp_path: Path) -> Path:
    return write_kea(
        tmp_path / "kea-leases4.csv",
        [
            kea_row("10.30.0.5", T0, 3600, mac="00:16:3e:30:00:05", host="ws-005.corp.example."),
            kea_row("10.30.0.5", T0 + 30 * MINUTE, 3600, mac="00:16:3e:30:00:05", host="ws-005.corp.example."),
            kea_row("10.30.0.5", NOW - HOUR, 86400, mac="00:16:3E:30:00:55", host="LAPTOP-55"),
            kea_row("10.30.0.6", NOW - HOUR, 86400, mac="00:16:3e:30:00:06", host="smith,john"),
            kea_row("10.30.0.7", NOW - HOUR, 86400, mac="00:16:3e:30:00:07", host="deleted-soon"),
            kea_row("10.30.0.7", NOW - 30 * MINUTE, 0, mac="00:16:3e:30:00:07", host="deleted-soon"),
            kea_row("10.30.0.8", NOW - HOUR, 86400, mac="00:16:3e:30:00:08", host="declined"),
            kea_row("10.30.0.8", NOW - 30 * MINUTE, 86400, state=1),
            kea_row("10.30.0.9", T0, 3600, host="reclaimed"),
            kea_row("10.30.0.9", T0, 3600, host="reclaimed", state=2),
            kea_row("10.30.0.10", NOW - HOUR, 86400, host="released"),
            kea_row("10.30.0.10", NOW - 30 * MINUTE, 86400, host="released", state=3),
            kea_row("10.30.0.11", T0, 0xFFFFFFFF, host="infinite"),
        ],
    )


async def test_kea_history_and_current(make: Make, kea: Path) -> None:
    provider = make({"path": str(kea), "format": "kea"})

    early = await ask(provider, IP_TO_HOSTNAME, "10.30.0.5", T0 + 10 * MINUTE)
    assert values(early) == ["ws-005.corp.example"]
    assert early[0].observed_at == T0 and early[0].source_ref == "kea-leases4.csv:2"
    renewed = await ask(provider, IP_TO_HOSTNAME, "10.30.0.5", T0 + 80 * MINUTE)
    assert values(renewed) == ["ws-005.corp.example"] and renewed[0].source_ref == "kea-leases4.csv:3"
    assert await ask(provider, IP_TO_HOSTNAME, "10.30.0.5", T0 + 91 * MINUTE) == []
    now = await ask(provider, IP_TO_HOSTNAME, "10.30.0.5")
    assert values(now) == ["laptop-55"]
    assert now[0].observed_at == NOW - HOUR and now[0].confidence == CONFIDENCE
    assert values(await ask(provider, IP_TO_MAC, "10.30.0.5")) == ["00:16:3e:30:00:55"]
    assert values(await ask(provider, IP_TO_HOSTNAME, "10.30.0.6")) == ["smith,john"]
    assert values(await ask(provider, IP_TO_HOSTNAME, "10.30.0.11")) == ["infinite"]
    assert values(await ask(provider, HOSTNAME_TO_IP, "ws-005", T0 + 10 * MINUTE)) == ["10.30.0.5"]
    assert values(await ask(provider, HOSTNAME_TO_IP, "WS-005.corp.example.", T0 + 10 * MINUTE)) == ["10.30.0.5"]
    assert await ask(provider, HOSTNAME_TO_IP, "ws-005.lab.example", T0 + 10 * MINUTE) == []
    assert values(await ask(provider, HOSTNAME_TO_IP, "laptop-55")) == ["10.30.0.5"]


@pytest.mark.parametrize("ip", ["10.30.0.7", "10.30.0.8", "10.30.0.10"])  # deleted, declined, released
async def test_kea_deleted_declined_released_end_the_lease(make: Make, kea: Path, ip: str) -> None:
    provider = make(kea)

    assert await ask(provider, IP_TO_HOSTNAME, ip) == []
    assert await ask(provider, IP_TO_HOSTNAME, ip, NOW - 10 * MINUTE) == []
    assert len(await ask(provider, IP_TO_HOSTNAME, ip, NOW - 50 * MINUTE)) == 1


async def test_kea_expired_reclaimed_keeps_its_history(make: Make, kea: Path) -> None:
    provider = make(kea)

    assert values(await ask(provider, IP_TO_HOSTNAME, "10.30.0.9", T0 + 10 * MINUTE)) == ["reclaimed"]
    assert await ask(provider, IP_TO_HOSTNAME, "10.30.0.9") == []


@pytest.mark.parametrize("header", [KEA_HEADER_0_9, KEA_HEADER_1_0, KEA_HEADER_1_4, KEA_HEADER])
async def test_kea_headers_old_and_current(make: Make, tmp_path: Path, header: str) -> None:
    rows = [kea_row("10.31.0.1", NOW - HOUR, 86400, mac="00:16:3e:31:00:01", host="ws-311", header=header)]
    path = write_kea(tmp_path / "kea-leases4.csv", rows, header=header)
    provider = make(path)  # format guessed from the header

    assert values(await ask(provider, IP_TO_HOSTNAME, "10.31.0.1")) == ["ws-311"]
    assert values(await ask(provider, IP_TO_MAC, "10.31.0.1")) == ["00:16:3e:31:00:01"]


async def test_kea_corrupt_rows_are_skipped_and_counted(make: Make, tmp_path: Path) -> None:
    rows = [
        "10.32.0.1,00:16:3e:32:00:01,,86400,not-a-number,1,0,0,bad-expire,0,,0\n",
        "10.32.0.2,00:16:3e:32:00:02,,86400\n",
        "10.32.0.999,00:16:3e:32:00:03,,86400,1900000000,1,0,0,bad-ip,0,,0\n",
        kea_row("10.32.0.4", NOW - HOUR, 86400, mac="00:16:3e:32:00:04", host="good"),
        "10.32.0.5,ff:ff,,86400,1900000000,1,0,0,infiniband,0,,0\n",
    ]
    provider = make(write_kea(tmp_path / "kea-leases4.csv", rows))

    assert values(await ask(provider, IP_TO_HOSTNAME, "10.32.0.4")) == ["good"]
    assert values(await ask(provider, IP_TO_HOSTNAME, "10.32.0.5")) == ["infiniband"]
    assert await ask(provider, IP_TO_MAC, "10.32.0.5") == []
    assert await ask(provider, IP_TO_HOSTNAME, "10.32.0.1") == []
    health = await provider.health()
    assert health.ok and "3 corrupt skipped" in health.detail and "5 lease records" in health.detail


async def test_reload_after_rewrite_and_append(make: Make, tmp_path: Path) -> None:
    path = write_isc(tmp_path / "dhcpd.leases", [isc_lease("10.40.0.1", NOW - HOUR, "never", host="alpha1")])
    provider = make(path)
    assert values(await ask(provider, IP_TO_HOSTNAME, "10.40.0.1")) == ["alpha1"]

    write_isc(path, [isc_lease("10.40.0.1", NOW - HOUR, "never", host="bravo2")])  # in place, same size
    bump_mtime(path)
    assert values(await ask(provider, IP_TO_HOSTNAME, "10.40.0.1")) == ["bravo2"]

    with path.open("a") as fh:  # dhcpd appends; a declaration may be caught half written
        text = isc_lease("10.40.0.1", NOW - MINUTE, "never", host="third")
        fh.write(text[:40])
        fh.flush()
        assert values(await ask(provider, IP_TO_HOSTNAME, "10.40.0.1")) == ["bravo2"]
        fh.write(text[40:])
    assert values(await ask(provider, IP_TO_HOSTNAME, "10.40.0.1")) == ["third"]
    assert (await ask(provider, IP_TO_HOSTNAME, "10.40.0.1"))[
        0
    ].source_ref == f"dhcpd.leases:{line_of(path, 'lease 10.40', 1)}"

    replacement = write_isc(
        tmp_path / "dhcpd.leases.new", [isc_lease("10.40.0.1", NOW - MINUTE / 2, "never", host="fourth")]
    )
    os.replace(replacement, path)  # how dhcpd rewrites its file: a new inode
    assert values(await ask(provider, IP_TO_HOSTNAME, "10.40.0.1")) == ["fourth"]
    assert "1 lease records" in (await provider.health()).detail


async def test_kea_reload_after_append(make: Make, tmp_path: Path) -> None:
    path = write_kea(tmp_path / "kea-leases4.csv", [kea_row("10.41.0.1", NOW - HOUR, 86400, host="before")])
    provider = make(path)
    assert values(await ask(provider, IP_TO_HOSTNAME, "10.41.0.1")) == ["before"]

    with path.open("a") as fh:
        fh.write(kea_row("10.41.0.1", NOW - MINUTE, 0, host="before"))
    assert await ask(provider, IP_TO_HOSTNAME, "10.41.0.1") == []
    assert values(await ask(provider, IP_TO_HOSTNAME, "10.41.0.1", NOW - 30 * MINUTE)) == ["before"]


async def test_files_are_not_checked_more_often_than_the_interval(make: Make, tmp_path: Path) -> None:
    path = write_isc(tmp_path / "dhcpd.leases", [isc_lease("10.42.0.1", NOW - HOUR, "never", host="cached")])
    provider = make(path, reload_interval_s=3600)
    assert values(await ask(provider, IP_TO_HOSTNAME, "10.42.0.1")) == ["cached"]

    write_isc(path, [isc_lease("10.42.0.1", NOW - HOUR, "never", host="changed")])
    bump_mtime(path)
    assert values(await ask(provider, IP_TO_HOSTNAME, "10.42.0.1")) == ["cached"]
    assert (await provider.health()).ok  # health probes now ...
    assert values(await ask(provider, IP_TO_HOSTNAME, "10.42.0.1")) == ["changed"]  # ... and reloads


async def test_missing_file_is_unavailable_and_unhealthy(make: Make, history: Path, tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "dhcpd.leases"
    provider = make(history, missing)
    await provider.open()

    for query, value in ((IP_TO_HOSTNAME, "10.1.2.3"), (IP_TO_MAC, "10.1.2.3"), (HOSTNAME_TO_IP, "laptop-7")):
        with pytest.raises(ProviderUnavailable, match=re.escape(str(missing))):
            await ask(provider, query, value)
    health = await provider.health()
    assert not health.ok and str(missing) in health.detail


async def test_file_removed_after_load_then_back(make: Make, history: Path, tmp_path: Path) -> None:
    provider = make(history)
    assert values(await ask(provider, IP_TO_HOSTNAME, "10.1.2.3")) == ["laptop-7"]
    kept = history.rename(tmp_path / "kept")

    with pytest.raises(ProviderUnavailable, match="No such file"):
        await ask(provider, IP_TO_HOSTNAME, "10.1.2.3")
    assert not (await provider.health()).ok

    kept.rename(history)
    assert values(await ask(provider, IP_TO_HOSTNAME, "10.1.2.3")) == ["laptop-7"]
    assert (await provider.health()).ok


async def test_unreadable_file_is_unavailable(make: Make, tmp_path: Path) -> None:
    provider = make(tmp_path)  # a directory: open() fails the way an unreadable file does

    with pytest.raises(ProviderUnavailable, match=f"cannot read {re.escape(str(tmp_path))}: Is a directory"):
        await ask(provider, IP_TO_HOSTNAME, "10.1.2.3")


async def test_several_files_each_answer(make: Make, history: Path, kea: Path) -> None:
    provider = make(history, kea)

    assert values(await ask(provider, IP_TO_HOSTNAME, "10.1.2.3")) == ["laptop-7"]
    assert values(await ask(provider, IP_TO_HOSTNAME, "10.30.0.5")) == ["laptop-55"]
    health = await provider.health()
    assert health.ok and "in 2 file(s)" in health.detail and "s ago" in health.detail


async def test_not_found_is_empty(make: Make, history: Path) -> None:
    provider = make(history)

    assert await ask(provider, IP_TO_HOSTNAME, "192.0.2.1") == []
    assert await ask(provider, IP_TO_HOSTNAME, "2001:db8::1") == []
    assert await ask(provider, IP_TO_MAC, "192.0.2.1", T0) == []
    assert await ask(provider, HOSTNAME_TO_IP, "nobody.corp.example") == []


async def test_empty_files_answer_nothing(make: Make, tmp_path: Path) -> None:
    isc = tmp_path / "dhcpd.leases"
    isc.write_text("")
    kea = write_kea(tmp_path / "kea-leases4.csv", [])
    provider = make(isc, {"path": str(kea), "format": "kea"})

    assert await ask(provider, IP_TO_HOSTNAME, "10.0.0.1") == []
    assert (await provider.health()).ok


async def test_demo_leases(make: Make) -> None:
    provider = make(REPO / "positron" / "demo" / "data" / "dhcpd.leases")

    assert values(await ask(provider, IP_TO_HOSTNAME, "10.20.0.42")) == ["ws-042"]
    assert values(await ask(provider, IP_TO_MAC, "10.20.0.42")) == ["00:16:3e:12:34:56"]
    held = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    assert values(await ask(provider, IP_TO_HOSTNAME, "10.20.0.42", held)) == ["laptop-7"]
    assert values(await ask(provider, IP_TO_MAC, "10.20.0.42", held)) == ["00:16:3e:aa:bb:cc"]
    assert values(await ask(provider, IP_TO_HOSTNAME, "10.20.0.17")) == ["ws-017"]
    assert values(await ask(provider, IP_TO_MAC, "10.20.0.17")) == ["00:16:3e:00:00:17"]
    assert values(await ask(provider, IP_TO_HOSTNAME, "10.20.0.99")) == ["printer-3"]
    assert values(await ask(provider, HOSTNAME_TO_IP, "ws-055.corp.example")) == ["10.20.0.55"]
    health = await provider.health()
    assert health.ok and "0 corrupt" in health.detail


def test_parsing_leaves_the_garbage_collector_as_it_was(history: Path) -> None:
    assert gc.isenabled()
    LeaseSource(history, "isc").refresh()
    assert gc.isenabled()
    gc.disable()
    try:
        LeaseSource(history, None).refresh()
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_config_and_registration() -> None:
    with pytest.raises(pydantic.ValidationError):
        DhcpLeasesConfig.model_validate({"type": "dhcp_leases", "files": []})
    with pytest.raises(pydantic.ValidationError):
        DhcpLeasesConfig.model_validate({"type": "dhcp_leases", "files": [{"path": "x", "format": "csv"}]})
    with pytest.raises(pydantic.ValidationError):
        DhcpLeasesConfig.model_validate({"type": "dhcp_leases", "files": [{"path": "x"}], "reload_interval_s": -1})
    assert DhcpLeases.supported_queries() == ["HOSTNAME_TO_IP", "IP_TO_HOSTNAME", "IP_TO_MAC"]
    [entry] = [e for e in entry_points(group="positron.providers") if e.name == "dhcp_leases"]
    assert entry.load() is DhcpLeases


def test_docs_example_is_a_valid_config() -> None:
    text = (REPO / "docs" / "providers" / "dhcp_leases.md").read_text(encoding="utf-8")
    [block] = re.findall(r"```yaml\n(.*?)```", text, re.S)
    settings = parse_settings(yaml.safe_load(block), Registry({"dhcp_leases": DhcpLeases}))
    config = settings.providers["dhcp_main"]
    assert isinstance(config, DhcpLeasesConfig)
    assert [f.format for f in config.files] == ["isc", "kea"]
    assert config.domain == "corp.example"
