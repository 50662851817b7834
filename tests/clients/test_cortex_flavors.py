"""The Cortex flavors have the shape of the published Cortex-Analyzers flavors (TheHive-Project/Cortex-Analyzers,
analyzers/*/*.json: read for the facts below), are generated from one description (clients/cortex/make_flavors.py),
and TEAM_ONCALL runs end to end against a Positron asking PagerDuty (its emulator)."""

from __future__ import annotations

import asyncio
import json
import ssl
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.clients.test_cortex_analyzer import ANALYZER, ANALYZERS, FLAVORS, assert_report, job, run
from tests.emulators.pagerduty import PagerDutyEmulator
from tests.support.servers import positron_server

# What the published flavors hold: these keys at the top (command for a process analyzer, dockerImage for a
# container one), configuration items with these keys and types, and Cortex's observable data types (TheHive's
# defaults; `username` is a custom type TheHive instances commonly add).
REQUIRED = {"name", "version", "author", "url", "license", "description", "dataTypeList", "baseConfig", "config"}
OPTIONAL = {
    *("command", "dockerImage", "configurationItems", "registration_required", "subscription_required"),
    *("free_subscription", "service_homepage", "service_logo", "screenshots"),
}
ITEM_KEYS = {"name", "description", "type", "multi", "required"}
ITEM_TYPES = {"string": str, "number": int | float, "boolean": bool}
DATA_TYPES = {
    *("autonomous-system", "domain", "file", "filename", "fqdn", "hash", "hostname", "ip", "mail", "mail_subject"),
    *("other", "regexp", "registry", "uri_path", "url", "user-agent", "username"),
}


def spec_of(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return loaded


@pytest.mark.parametrize("path", FLAVORS, ids=[p.stem for p in FLAVORS])
def test_each_flavor_has_the_published_shape(path: Path) -> None:
    spec = spec_of(path)
    assert REQUIRED <= set(spec) and set(spec) <= REQUIRED | OPTIONAL
    assert ("command" in spec) != ("dockerImage" in spec)
    assert all(isinstance(spec[k], str) and spec[k] for k in ("name", "version", "author", "license", "description"))
    for key in ("url", "service_homepage"):
        assert spec[key].startswith("https://") and " " not in spec[key]  # absolute, as published flavors have
    assert spec["dataTypeList"] and set(spec["dataTypeList"]) <= DATA_TYPES
    assert isinstance(spec["config"], dict) and isinstance(spec["config"]["service"], str)
    assert isinstance(spec["config"]["max_tlp"], int) and 0 <= spec["config"]["max_tlp"] <= 3
    names = [item["name"] for item in spec["configurationItems"]]
    assert len(names) == len(set(names))
    for item in spec["configurationItems"]:
        assert ITEM_KEYS <= set(item) <= ITEM_KEYS | {"defaultValue"}
        assert item["type"] in ITEM_TYPES and isinstance(item["multi"], bool) and isinstance(item["required"], bool)
        if "defaultValue" in item:
            assert isinstance(item["defaultValue"], ITEM_TYPES[item["type"]]) and not item["required"]
    for flag in ("registration_required", "subscription_required", "free_subscription"):
        assert isinstance(spec.get(flag, False), bool)


def test_the_flavors_are_generated_and_share_their_base_config() -> None:
    check = subprocess.run([sys.executable, str(ANALYZERS / "make_flavors.py"), "--check"], capture_output=True)
    assert check.returncode == 0, check.stderr.decode()
    items = {json.dumps(spec_of(p)["configurationItems"]) for p in FLAVORS}
    assert len(items) == 1  # baseConfig "Positron": one set of items, configured once in Cortex
    assert "Positron_TEAM_ONCALL" in [p.stem for p in FLAVORS]
    assert spec_of(ANALYZERS / "Positron" / "Positron_TEAM_ONCALL.json")["dataTypeList"] == ["other"]


def test_tls_settings_choose_how_positron_is_verified(tmp_path: Path) -> None:
    sys.path.insert(0, str(ANALYZER.parent))
    try:
        from positron_analyzer import tls_verify
    finally:
        sys.path.remove(str(ANALYZER.parent))
    bundle = Path(ssl.get_default_verify_paths().cafile or "/etc/ssl/certs/ca-certificates.crt")
    ca_text = bundle.read_text(encoding="utf-8").split("-----END CERTIFICATE-----")[0] + "-----END CERTIFICATE-----\n"
    assert tls_verify(True, None, None) is True
    assert tls_verify(False, "/etc/ca.pem", ca_text) is False and tls_verify("false", None, None) is False
    assert tls_verify(True, " /etc/positron/ca.pem ", ca_text) == "/etc/positron/ca.pem"  # the flavor's bundle first
    context = tls_verify(True, "", ca_text)  # else Cortex's own cacerts setting (PEM text)
    assert isinstance(context, ssl.SSLContext) and context.cert_store_stats()["x509_ca"] == 1


async def test_team_oncall_names_who_is_on_call_from_pagerduty(tmp_path: Path) -> None:
    emulator = PagerDutyEmulator(api_key="pd-test-key-0123456789")
    now = datetime.now(UTC)
    shift = {"start": now - timedelta(hours=1), "end": now + timedelta(hours=8)}
    emulator.add_oncall(user="Jane Doe", email="jane@corp.example", escalation_policy_id="PEPSEC", **shift)
    await emulator.start()
    config = {
        "api_keys": [{"principal": "cortex", "key": {"env": "ONCALL_TEST_KEY"}, "groups": ["automation"]}],
        "providers": {
            "pagerduty": {
                "type": "pagerduty",
                "api_key": "pd-test-key-0123456789",
                "base_url": emulator.base_url,
                "rate_limits": [],
                "teams": {"security": {"escalation_policy_ids": ["PEPSEC"]}},
            }
        },
    }
    path = tmp_path / "positron.yaml"
    path.write_text(yaml.safe_dump(config))
    key = "oncall-test-key-0123456789abcdef"
    try:
        with positron_server("--config", str(path), env={"ONCALL_TEST_KEY": key, "POSITRON_CONFIG": ""}) as (url, _):
            code, report, _ = await asyncio.to_thread(run, tmp_path, job("TEAM_ONCALL", url, key, data="Security"))
    finally:
        await emulator.stop()
    assert code == 0
    assert_report(report)
    assert report["summary"]["taxonomies"] == [
        {"level": "info", "namespace": "Positron", "predicate": "TEAM_ONCALL", "value": "Jane Doe (level 1)"}
    ]
    assert [(a["dataType"], a["data"]) for a in report["artifacts"]] == [("mail", "jane@corp.example")]
