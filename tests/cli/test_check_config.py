"""check-config finds every problem in one run, checks files offline, and --connect says which sources answer."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from positron.cli.commands import main
from tests.emulators.pagerduty import PagerDutyEmulator
from tests.emulators.virustotal import VirusTotalEmulator
from tests.support.servers import POSITRON, free_port


def check(path: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["check-config", str(path), *args], env={"POSITRON_CONFIG": "", **(env or {})})
    return result.exit_code, result.output


def write(folder: Path, config: Any, name: str = "positron.yaml") -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump(config))
    return path


def test_every_problem_is_reported_in_one_run_each_naming_its_key(tmp_path: Path) -> None:
    config = {
        "engine": {"deadline_s": -1, "retries": 99},
        "server": {"port": 0},
        "api_keys": [{"principal": "a", "key": "changeme"}],
        "providers": {
            "typo": {"type": "static_inventroy"},
            "inv": {"type": "static_inventory", "weight": 7, "wieght": 1},
            "vt": {"type": "virustotal", "api_key": {"env": "NOPE_UNSET_VAR_X"}},
        },
    }
    code, output = check(write(tmp_path, config))
    assert code == 2
    for key in (
        "engine.deadline_s",
        "engine.retries",
        "server.port",
        "api_keys.0.key",
        "providers.typo.type: unknown provider type 'static_inventroy'",
        "providers.inv.weight",
        "providers.inv.wieght",
        "providers.vt.api_key",
    ):
        assert key in output, (key, output)
    assert "more)" not in output and "8 problems" in output and "Traceback" not in output


def test_missing_and_empty_files_fail_and_relative_paths_are_from_the_config_folder(tmp_path: Path) -> None:
    folder = tmp_path / "conf"
    (folder / "data").mkdir(parents=True)
    (folder / "data" / "hosts.csv").write_text("hostname,ip\nws-1,10.0.0.1\n")
    (folder / "data" / "empty.csv").write_text("")
    config = {
        "providers": {
            "good": {"type": "static_inventory", "hosts": "data/hosts.csv"},
            "gone": {"type": "static_inventory", "hosts": "/nonexistent/hosts.csv"},
            "empty": {"type": "static_inventory", "users": "data/empty.csv"},
        }
    }
    write(folder, config)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    cwd = os.getcwd()
    os.chdir(elsewhere)  # the relative path must not depend on where the command runs
    try:
        code, output = check(Path("..") / "conf" / "positron.yaml")
    finally:
        os.chdir(cwd)
    assert code == 2
    assert "providers.gone.hosts: file /nonexistent/hosts.csv does not exist" in output
    assert f"providers.empty.users: file {folder / 'data' / 'empty.csv'} is empty" in output
    assert "providers.good" not in output


def test_a_file_that_does_not_parse_is_reported_by_opening_the_local_provider(tmp_path: Path) -> None:
    (tmp_path / "users.json").write_text('{"not": "a list"}')
    code, output = check(write(tmp_path, {"providers": {"hr": {"type": "static_inventory", "users": "users.json"}}}))
    assert code == 2 and "providers.hr: cannot read users table" in output


def test_relative_file_secrets_resolve_from_the_config_folder_and_loose_ones_warn(tmp_path: Path) -> None:
    (tmp_path / "tight").write_text("tight-secret-0123456789abcdef\n")
    (tmp_path / "tight").chmod(0o600)
    (tmp_path / "loose").write_text("loose-secret-0123456789abcdef\n")
    (tmp_path / "loose").chmod(0o644)
    config = {
        "api_keys": [
            {"principal": "a", "key": {"file": "tight"}, "groups": ["admins"]},
            {"principal": "b", "key": {"file": "loose"}, "groups": ["admins"]},
        ]
    }
    code, output = check(write(tmp_path, config))
    assert code == 0, output
    flat = " ".join(output.split())
    assert "warning: api_keys.1.key: secret file" in flat and "readable by group or others" in flat
    assert "api_keys.0.key" not in output and "secret-0123" not in output


def test_a_key_without_groups_is_a_warning(tmp_path: Path) -> None:
    code, output = check(write(tmp_path, {"api_keys": [{"principal": "nobody", "key": "k" * 32}]}))
    assert code == 0 and "api_keys.0: the key of nobody has no groups" in output


@pytest.mark.parametrize("command", ["check-config", "serve"])
def test_a_malformed_redis_url_is_exit_2_naming_the_key_without_the_password(tmp_path: Path, command: str) -> None:
    import subprocess

    path = write(tmp_path, {"redis": {"url": {"env": "REDIS_URL_X"}}})
    secret_part = "Xy7/Qk9pass"
    env = {**os.environ, "REDIS_URL_X": f"redis://:{secret_part}@127.0.0.1:6379/0", "POSITRON_CONFIG": ""}
    args = (
        [str(POSITRON), command, str(path)]
        if command == "check-config"
        else [str(POSITRON), "serve", "--config", str(path), "--port", str(free_port())]
    )
    done = subprocess.run(args, capture_output=True, text=True, env=env, timeout=60)
    printed = done.stdout + done.stderr
    assert done.returncode == 2, printed
    assert "redis.url: " in printed and "not a valid Redis URL" in printed and "%2F" in printed
    assert "Traceback" not in printed and "Xy7" not in printed and "Qk9" not in printed


async def _check_subprocess(path: Path, env: dict[str, str]) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        str(POSITRON),
        "check-config",
        str(path),
        "--connect",
        "--timeout",
        "5",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, **env},
    )
    stdout, _ = await asyncio.wait_for(proc.communicate(), 90)
    assert proc.returncode is not None
    return proc.returncode, stdout.decode()


async def test_connect_reports_each_instance_ok_auth_failed_no_permission_or_unreachable(tmp_path: Path) -> None:
    (tmp_path / "hosts.csv").write_text("hostname,ip\nws-1,10.0.0.1\n")
    vt = VirusTotalEmulator(api_key="the-right-vt-key-0123456789")
    pd = PagerDutyEmulator(api_key="pd-key-0123456789abcdef")
    vt_url, pd_url = await vt.start(), await pd.start()
    pd.force_next(403, {"error": {"message": "Forbidden", "code": 2010}}, path="/abilities")
    closed = free_port()
    config = {
        "providers": {
            "inv": {"type": "static_inventory", "hosts": "hosts.csv"},
            "vt": {"type": "virustotal", "api_key": {"env": "VT_KEY_X"}, "base_url": vt_url},
            "pd": {"type": "pagerduty", "api_key": {"env": "PD_KEY_X"}, "base_url": pd_url},
            "gone": {"type": "pagerduty", "api_key": {"env": "PD_KEY_X"}, "base_url": f"http://127.0.0.1:{closed}"},
        }
    }
    try:
        code, output = await _check_subprocess(
            write(tmp_path, config), {"VT_KEY_X": "a-wrong-vt-key-0123456789", "PD_KEY_X": "pd-key-0123456789abcdef"}
        )
    finally:
        await vt.stop()
        await pd.stop()
    lines = {line.split(" ", 1)[0]: line for line in output.splitlines() if " (" in line and "): " in line}
    assert code == 1, output
    assert "inv (static_inventory): ok" in lines["inv"]
    assert "vt (virustotal): auth failed" in lines["vt"] and "check the secret" in lines["vt"]
    assert "pd (pagerduty): no permission" in lines["pd"] and "grant the account" in lines["pd"]
    assert "gone (pagerduty): unreachable" in lines["gone"] and "address and port" in lines["gone"]
    assert "a-wrong-vt-key" not in output and "3 of 4 instance(s) did not connect" in output


def test_check_config_runs_without_a_terminal_and_does_not_wrap(tmp_path: Path) -> None:
    import subprocess

    long_name = "x" * 150
    path = write(
        tmp_path, {"providers": {long_name: {"type": "static_inventory", "hosts": f"/nonexistent/{long_name}"}}}
    )
    done = subprocess.run([str(POSITRON), "check-config", str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    (line,) = [ln for ln in done.stderr.splitlines() if "does not exist" in ln]
    assert f"providers.{long_name}.hosts: file /nonexistent/{long_name} does not exist" in line
    assert sys.executable  # the subprocess ran the installed console script, not a terminal
