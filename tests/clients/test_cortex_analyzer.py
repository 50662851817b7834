"""The Cortex analyzer run exactly as Cortex runs it — a process, ``positron_analyzer.py <job dir>`` with
``<job dir>/input/input.json``, or the job on stdin — against a live Positron server; reports are checked against
the shape Cortex and TheHive read."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.clients.conftest import Server
from tests.clients.faulty_proxy import FaultyProxy
from tests.support.servers import free_port

ROOT = Path(__file__).resolve().parents[2]
ANALYZERS = ROOT / "clients" / "cortex"  # what Cortex's analyzer path points at
ANALYZER = ANALYZERS / "Positron" / "positron_analyzer.py"
FLAVORS = sorted((ANALYZERS / "Positron").glob("Positron_*.json"))
LEVELS = {"info", "safe", "suspicious", "malicious"}
VERDICT_LEVELS = {"malicious": "malicious", "suspicious": "suspicious", "harmless": "safe", "unknown": "info"}
SAMPLES = {  # per query: (data type, observable) that the demo data answers
    "IP_TO_HOSTNAME": ("ip", "10.20.0.42"),
    "IP_TO_MAC": ("ip", "10.20.0.42"),
    "IP_REPUTATION": ("ip", "203.0.113.7"),
    "HASH_REPUTATION": ("hash", "44d88612fea8a8f36de82e1278abb02f"),
    "HOSTNAME_TO_IP": ("fqdn", "ws-042.corp.example"),
    "DOMAIN_REPUTATION": ("domain", "example.com"),
    "USER_INFO": ("username", "jdoe"),
    "USER_MANAGER": ("other", "CORP\\bwhite"),
    "USER_GROUPS": ("username", "jdoe"),
    "IP_TO_USER": ("ip", "10.20.0.42"),
    "HOST_USER": ("fqdn", "ws-042.corp.example"),
    "HOST_INFO": ("hostname", "ws-042"),
}
NO_DEMO_SOURCE = {"TEAM_ONCALL"}  # the demo has no on-call source: test_team_oncall_with_pagerduty asks one


def flavor(query: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((ANALYZERS / "Positron" / f"Positron_{query}.json").read_text())
    return loaded


def job(query: str, url: str, key: str, data: str | None = None, **extra: Any) -> dict[str, Any]:
    """What Cortex writes for a job: the observable, TLP/PAP, parameters, and the flavor's config + the admin's
    (the configuration items at their defaults, then url and key)."""
    data_type, sample = SAMPLES.get(query, ("other", "security"))
    spec = flavor(query)
    defaults = {i["name"]: i["defaultValue"] for i in spec["configurationItems"] if "defaultValue" in i}
    config = {**spec["config"], **defaults, "url": url, "key": key, **extra.pop("config", {})}
    return {"data": data or sample, "dataType": data_type, "tlp": 2, "pap": 2, "message": "", "parameters": {}} | {
        "config": config,
        **extra,
    }


def run(tmp_path: Path, job: dict[str, Any], *, stdin: bool = False) -> tuple[int, dict[str, Any], str]:
    """Run the analyzer as Cortex does; returns (exit code, report, everything it printed)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("POSITRON_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"  # its `python3` has the deps
    if stdin:
        proc = subprocess.run([ANALYZER], input=json.dumps(job), capture_output=True, text=True, env=env, cwd=tmp_path)
        return proc.returncode, json.loads(proc.stdout), proc.stdout + proc.stderr
    jobdir = tmp_path / "job"
    (jobdir / "input").mkdir(parents=True)
    (jobdir / "input" / "input.json").write_text(json.dumps(job))
    proc = subprocess.run([ANALYZER, jobdir], capture_output=True, text=True, env=env, cwd=tmp_path)
    output = (jobdir / "output" / "output.json").read_text()
    return proc.returncode, json.loads(output), proc.stdout + proc.stderr + output


def assert_report(report: dict[str, Any]) -> None:
    """A successful report as Cortex stores it and TheHive reads it."""
    assert set(report) == {"success", "summary", "artifacts", "operations", "full"}
    assert report["success"] is True and report["operations"] == []
    for taxonomy in report["summary"]["taxonomies"]:
        assert set(taxonomy) == {"level", "namespace", "predicate", "value"}
        assert taxonomy["level"] in LEVELS and taxonomy["namespace"] == "Positron"
        assert isinstance(taxonomy["value"], str) and taxonomy["value"]
    for artifact in report["artifacts"]:
        assert isinstance(artifact["dataType"], str) and isinstance(artifact["data"], str)
    assert {"query", "value", "answer", "answers", "conflict", "providers"} <= set(report["full"])


def test_ip_to_hostname_job_dir_with_the_alert_time(tmp_path: Path, server: Server) -> None:
    alert_ms = 1_795_176_000_000  # 2026-11-20T12:00:00Z, as TheHive keeps dates
    code, report, _ = run(tmp_path, job("IP_TO_HOSTNAME", server.url, server.key, parameters={"at": alert_ms}))
    assert code == 0
    assert_report(report)
    assert report["full"]["at"] == "2026-11-20T12:00:00+00:00"
    (taxonomy,) = report["summary"]["taxonomies"]
    assert taxonomy["predicate"] == "IP_TO_HOSTNAME" and taxonomy["value"].startswith("laptop-7")
    assert {(a["dataType"], a["data"]) for a in report["artifacts"]} == {
        ("hostname", "laptop-7"),
        ("fqdn", "ws-042.corp.example"),
    }
    assert report["artifacts"][0]["tags"] == ["positron:IP_TO_HOSTNAME"]


def test_user_manager_on_stdin_names_the_manager_and_their_mail(tmp_path: Path, server: Server) -> None:
    code, report, _ = run(tmp_path, job("USER_MANAGER", server.url, server.key), stdin=True)
    assert code == 0
    assert_report(report)
    # HR (updated 2026-11-15) and the inventory (2026-10-01) disagree, neither confirmed now: a conflict
    assert report["summary"]["taxonomies"] == [
        {"level": "info", "namespace": "Positron", "predicate": "USER_MANAGER", "value": "Eli Kahn (ekahn) (conflict)"}
    ]
    mails = [a["data"] for a in report["artifacts"] if a["dataType"] == "mail"]
    assert mails == ["eli.kahn@corp.example", "dana.green@corp.example"]  # HR's answer first, then inventory's


DEMO_FLAVORS = [p for p in FLAVORS if p.stem.removeprefix("Positron_") not in NO_DEMO_SOURCE]


@pytest.mark.parametrize("path", DEMO_FLAVORS, ids=[p.stem for p in DEMO_FLAVORS])
def test_every_flavor_answers_in_both_modes(tmp_path: Path, server: Server, path: Path) -> None:
    query = flavor(path.stem.removeprefix("Positron_"))["config"]["service"]
    stdin = query in ("HASH_REPUTATION", "USER_GROUPS", "HOSTNAME_TO_IP", "IP_TO_MAC")  # half of them each way
    code, report, _ = run(tmp_path, job(query, server.url, server.key), stdin=stdin)
    assert code == 0
    assert_report(report)
    (taxonomy,) = report["summary"]["taxonomies"]
    answer = report["full"]["answer"]
    assert taxonomy["predicate"] == query and answer is not None
    if query.endswith("_REPUTATION"):
        assert taxonomy["level"] == VERDICT_LEVELS[answer["value"]["verdict"]]
        assert taxonomy["value"].startswith(answer["value"]["verdict"])
    else:
        assert taxonomy["level"] == "info"


def test_domain_reputation_harmless_is_safe(tmp_path: Path, server: Server) -> None:
    _, report, _ = run(tmp_path, job("DOMAIN_REPUTATION", server.url, server.key), stdin=True)
    assert report["summary"]["taxonomies"][0] | {} == {
        "level": "safe",
        "namespace": "Positron",
        "predicate": "DOMAIN_REPUTATION",
        "value": "harmless 0/1",
    }


def test_the_jobs_tlp_goes_to_positron(tmp_path: Path, server: Server, proxy: FaultyProxy) -> None:
    code, _, _ = run(tmp_path, job("IP_TO_HOSTNAME", proxy.url, server.key, tlp=1))
    assert code == 0
    assert json.loads(proxy.requests[0].body) == {"value": "10.20.0.42", "tlp": "green"}


def test_a_positron_without_request_tlps_is_asked_again_without_it(
    tmp_path: Path, server: Server, proxy: FaultyProxy
) -> None:
    refusal = {"code": "invalid_request", "message": "tlp: Extra inputs are not permitted"}
    refusal["details"] = [{"field": "tlp", "message": "Extra inputs are not permitted"}]  # type: ignore[assignment]
    proxy.fail(422, json.dumps({"error": refusal}).encode(), headers={"content-type": "application/json"})
    code, report, _ = run(tmp_path, job("USER_GROUPS", proxy.url, server.key))
    assert code == 0 and report["full"]["answer"]["value"] == ["SOC Analysts", "VPN Users"]
    assert [json.loads(r.body) for r in proxy.requests] == [{"value": "jdoe", "tlp": "amber"}, {"value": "jdoe"}]


def test_tlp_red_is_refused_before_positron_is_asked(tmp_path: Path, server: Server, proxy: FaultyProxy) -> None:
    code, report, _ = run(tmp_path, job("HASH_REPUTATION", proxy.url, server.key, tlp=3))
    assert code == 1
    assert report["success"] is False and report["errorMessage"] == "TLP is higher than allowed."
    assert proxy.requests == []


@pytest.mark.parametrize("stdin", [False, True], ids=["job-dir", "stdin"])
def test_a_bad_key_fails_with_positrons_message_and_never_the_key(tmp_path: Path, server: Server, stdin: bool) -> None:
    bad_key = "not-the-key-0123456789abcdefghijklmn"
    code, report, printed = run(tmp_path, job("IP_TO_HOSTNAME", server.url, bad_key), stdin=stdin)
    assert code == 1
    assert report["success"] is False
    assert report["errorMessage"] == "Positron: invalid or missing API key (HTTP 401 unauthenticated)"
    assert report["input"]["config"]["key"] == "REMOVED"
    assert bad_key not in printed


def test_a_server_that_is_down_fails_cleanly(tmp_path: Path, server: Server) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    code, report, printed = run(tmp_path, job("USER_INFO", url, server.key))
    assert code == 1 and report["success"] is False
    assert report["errorMessage"].startswith(f"Positron: could not reach Positron at {url} after 3 attempts")
    assert server.key not in printed and "Traceback" not in printed


@pytest.mark.parametrize(
    ("query", "data_type", "data", "parameters", "message"),
    [
        ("IP_TO_HOSTNAME", "ip", "not-an-ip", {}, "Positron: expected an IPv4 or IPv6 address"),
        ("IP_TO_HOSTNAME", "hash", "44d88612fea8a8f36de82e1278abb02f", {}, "takes ip observables, not hash"),
        ("IP_TO_MAC", "ip", "10.20.0.42", {"at": "yesterday"}, "Positron: at: Input should be a valid datetime"),
    ],
)
def test_bad_input_fails_with_what_was_expected(
    tmp_path: Path, server: Server, query: str, data_type: str, data: str, parameters: dict[str, Any], message: str
) -> None:
    bad = job(query, server.url, server.key, data=data, parameters=parameters) | {"dataType": data_type}
    code, report, printed = run(tmp_path, bad)
    assert code == 1 and report["success"] is False
    assert message in report["errorMessage"] and "Traceback" not in printed


def test_flavors_declare_what_cortex_needs() -> None:
    sys.path.insert(0, str(ANALYZER.parent))
    try:
        import positron_analyzer
    finally:
        sys.path.remove(str(ANALYZER.parent))
    assert [p.stem for p in FLAVORS] == sorted(f"Positron_{q}" for q in positron_analyzer.DATA_TYPES)
    assert os.access(ANALYZER, os.X_OK) and ANALYZER.read_text().startswith("#!/usr/bin/env python3\n")
    for path in FLAVORS:
        spec = json.loads(path.read_text())
        query = spec["config"]["service"]
        assert spec["name"] == path.stem == f"Positron_{query}"
        assert {"name", "version", "author", "url", "license", "description"} <= set(spec)
        assert spec["dataTypeList"] == list(positron_analyzer.DATA_TYPES[query])
        assert (ANALYZERS / spec["command"]).resolve() == ANALYZER  # relative to Cortex's analyzer path
        assert spec["baseConfig"] == "Positron"
        assert spec["config"]["service"] == query and spec["config"]["check_tlp"] is True
        items = {item["name"]: item for item in spec["configurationItems"]}
        for name in ("url", "key"):
            assert (items[name]["type"], items[name]["required"], items[name]["multi"]) == ("string", True, False)
        for name, kind in [("check_tlp", "boolean"), ("max_tlp", "number"), ("check_pap", "boolean"),
                           ("max_pap", "number"), ("verify_ssl", "boolean"), ("ca_bundle", "string")]:
            assert items[name]["type"] == kind and items[name]["required"] is False
