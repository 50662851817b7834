"""The positron command, run in-process with click's runner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from positron.cli.commands import build_openapi, main

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), env={"POSITRON_CONFIG": "", **(env or {})})
    return result.exit_code, result.output


def write(tmp_path: Path, config: object) -> Path:
    path = tmp_path / "positron.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_query_against_the_demo_prints_a_table() -> None:
    code, output = run("query", "IP_TO_HOSTNAME", "10.20.0.42")
    assert code == 0, output
    assert "ws-042.corp.example" in output and "inventory" in output and "dhcp" in output


def test_query_json_with_at() -> None:
    code, output = run("query", "ip_to_hostname", "10.20.0.42", "--at", "2026-11-20T12:00:00+00:00", "--json")
    assert code == 0, output
    assert json.loads(output)["answer"]["value"] == "laptop-7"


def test_query_with_bad_input_says_what_was_expected() -> None:
    code, output = run("query", "HASH_REPUTATION", "xyz")
    assert code == 2
    assert "expected an MD5, SHA-1 or SHA-256" in output and "Traceback" not in output


def test_check_config_on_the_example_reports_only_its_missing_data_files_all_at_once() -> None:
    # the example names production paths (/etc/positron/hosts.csv, /var/lib/dhcp/...): every other setting is valid
    code, output = run("check-config", str(ROOT / "examples" / "positron.yaml"), env=EXAMPLE_ENV)
    assert code == 2, output
    problems = [line.strip() for line in output.splitlines() if line.startswith("  ")]
    assert len(problems) >= 5 and f"{len(problems)} problems" in output
    assert all(p.startswith("providers.") and p.endswith("does not exist") for p in problems), problems


EXAMPLE_ENV = {
    "POSITRON_KEY_ALICE": "alice-key-0123456789abcdef",
    "POSITRON_KEY_CORTEX": "cortex-key-0123456789abcdef",
    "AD_BIND_PASSWORD": "x" * 20,
    "SPLUNK_TOKEN": "y" * 20,
    "VT_API_KEY": "z" * 64,
    "PAGERDUTY_API_KEY": "p" * 20,
    "MISP_API_KEY": "m" * 40,
    "ABUSEIPDB_API_KEY": "a" * 80,
    "INTEL_CLIENT_SECRET": "i" * 32,
    "GREYNOISE_API_KEY": "g" * 30,
    "FLEET_API_TOKEN": "f" * 20,
    "FALCON_CLIENT_SECRET": "c" * 40,
    "ENTRA_CLIENT_SECRET": "e" * 20,
    "ES_API_KEY": "k" * 20,
}


@pytest.mark.parametrize(
    ("config", "key", "why"),
    [
        ({"providers": {"inv": {"type": "nosuch"}}}, "providers.inv.type", "unknown provider type 'nosuch'"),
        ({"providers": {"inv": {"type": "static_inventory", "wieght": 1}}}, "providers.inv.wieght", "Extra inputs"),
        (
            {"providers": {"inv": {"type": "static_inventory", "weight": 7}}},
            "providers.inv.weight",
            "less than or equal",
        ),
        ({"engine": {"deadline_s": -1}}, "engine.deadline_s", "greater than 0"),
        ({"api_keys": [{"principal": "a", "key": "changeme"}]}, "api_keys.0.key", "placeholder"),
        (
            {"api_keys": [{"principal": "a", "key": {"env": "NOPE_UNSET_VAR"}}]},
            "api_keys.0.key",
            "NOPE_UNSET_VAR is not set",
        ),
    ],
)
def test_check_config_names_the_bad_key(tmp_path: Path, config: object, key: str, why: str) -> None:
    code, output = run("check-config", str(write(tmp_path, config)))
    assert code == 2
    flat = " ".join(output.split())
    assert key in flat and why in flat


def test_check_config_on_broken_yaml_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("providers:\n  inv: [unclosed\n")
    code, output = run("check-config", str(path))
    assert code == 2 and "not valid YAML at line" in output


def test_secrets_from_files_are_resolved_and_never_printed(tmp_path: Path) -> None:
    secret = tmp_path / "key"
    secret.write_text("file-secret-0123456789abcdef\n")
    path = write(tmp_path, {"api_keys": [{"principal": "a", "key": {"file": str(secret)}}]})
    code, output = run("check-config", str(path))
    assert code == 0 and "file-secret" not in output


def test_demo_refuses_a_public_bind() -> None:
    code, output = run("serve", "--host", "0.0.0.0")
    assert code == 2 and "127.0.0.1 only" in output


def test_openapi_command_prints_the_spec_and_the_committed_copy_is_current() -> None:
    code, output = run("openapi")
    assert code == 0
    spec = json.loads(output)
    assert "/v1/queries/IP_TO_HOSTNAME" in spec["paths"]
    committed = json.loads((ROOT / "openapi" / "positron.openapi.json").read_text())
    assert committed == build_openapi(), "openapi/ is stale: run `positron openapi > openapi/positron.openapi.json`"
