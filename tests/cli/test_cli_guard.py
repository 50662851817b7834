"""The in-process CLI asks through the same guard as the API: egress rules keep internal values away from external
services, the access policy applies to the ``cli`` principal the config names, and the answer is the same result
the API serializes. Against the VirusTotal emulator (run in its own thread: the CLI runs its own event loop)."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from positron.cli.commands import main
from positron.demo import demo_config
from tests.emulators.virustotal import EICAR, VirusTotalEmulator

VT_KEY = "vt-cli-guard-key-0123456789"


@contextmanager
def virustotal() -> Iterator[VirusTotalEmulator]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="vt-emulator", daemon=True)
    thread.start()
    emulator = VirusTotalEmulator(VT_KEY)
    asyncio.run_coroutine_threadsafe(emulator.start(), loop).result(10)
    try:
        yield emulator
    finally:
        asyncio.run_coroutine_threadsafe(emulator.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def write_config(tmp_path: Path, emulator: VirusTotalEmulator, **extra: Any) -> Path:
    providers = demo_config("unused")["providers"]
    vt = {"type": "virustotal", "api_key": VT_KEY, "base_url": emulator.base_url, "rate_limits": []}
    config = {
        "providers": {**providers, "vt": vt},
        "security": {"internal_domains": ["corp.example"], "audit": {"destination": str(tmp_path / "audit.jsonl")}},
        **extra,
    }
    path = tmp_path / "positron.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def run(*args: str, stdin: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), input=stdin, env={"POSITRON_CONFIG": ""})
    return result.exit_code, result.output


def audit_lines(tmp_path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]


def test_query_with_the_provider_named_never_sends_an_internal_name_to_virustotal(tmp_path: Path) -> None:
    with virustotal() as vt:
        config = write_config(tmp_path, vt)
        code, output = run(
            "query", "DOMAIN_REPUTATION", "ws-042.corp.example", "--config", str(config), "--provider", "vt", "--json"
        )
        public_code, _ = run("query", "HASH_REPUTATION", EICAR["md5"], "--config", str(config), "--json")
    assert code == 0, output
    [status] = json.loads(output)["providers"]
    assert (status["name"], status["status"]) == ("vt", "skipped")
    assert status["error"] == "egress: internal value not sent to an external service"
    assert public_code == 0
    assert [r.path for r in vt.requests] == [f"/api/v3/files/{EICAR['md5']}"]  # vt was reachable all along
    first, second = audit_lines(tmp_path)  # the CLI's lookups are audited like the API's
    assert (first["principal"], first["groups"], first["client"]) == ("cli", ["admins"], "cli")
    assert first["providers"] == [{"name": "vt", "status": "skipped", "cached": False, "reason": status["error"]}]
    assert second["query"] == "HASH_REPUTATION" and second["decision"] == "allowed"


def test_enrich_in_process_never_sends_internal_names_to_virustotal(tmp_path: Path) -> None:
    alert = {
        "search_name": "Exfiltration",
        "sid": "rt_7",
        "result": {
            "url": "http://fileserver.corp.example/share/payroll.xlsx",
            "dest_domain": "mail.lab.test",
            "md5": EICAR["md5"],
        },
    }
    with virustotal() as vt:
        config = write_config(tmp_path, vt)
        code, output = run("enrich", "-", "--config", str(config), stdin=json.dumps(alert))
    assert code == 0, output
    assert "MALICIOUS" in output
    sent = " ".join(r.raw_path for r in vt.requests)
    assert "fileserver" not in sent and "lab.test" not in sent
    assert [r.path for r in vt.requests] == [f"/api/v3/files/{EICAR['md5']}"]


def test_the_cli_principal_is_subject_to_the_policy(tmp_path: Path) -> None:
    with virustotal() as vt:
        config = write_config(tmp_path, vt, cli={"principal": "soc-laptop", "groups": ["soc-analysts"]})
        denied_code, denied = run("query", "USER_INFO", "jdoe", "--config", str(config))
        skipped_code, skipped = run("query", "HASH_REPUTATION", EICAR["md5"], "--config", str(config), "--json")
    assert denied_code == 2 and "you may not run USER_INFO" in denied
    assert skipped_code == 0
    vt_status = next(p for p in json.loads(skipped)["providers"] if p["name"] == "vt")
    assert (vt_status["status"], vt_status["error"]) == ("skipped", "denied")  # soc-analysts may not use vt
    assert vt.request_count == 0
    refused = audit_lines(tmp_path)[0]
    assert (refused["principal"], refused["decision"], refused["status"]) == ("soc-laptop", "denied", 403)


@pytest.mark.parametrize("value", ["fec0::1", "2002:a14:2a::"])
def test_addresses_that_wrap_private_ones_stay_inside(tmp_path: Path, value: str) -> None:
    with virustotal() as vt:
        config = write_config(tmp_path, vt)
        code, output = run("query", "IP_REPUTATION", value, "--config", str(config), "--json")
    assert code == 0, output
    assert vt.request_count == 0
    vt_status = next(p for p in json.loads(output)["providers"] if p["name"] == "vt")
    assert vt_status["status"] == "skipped"
