"""The CLI's list-and-batch commands, keys, a fast --version and shell completion, through click's runner or the
installed console script."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import yaml
from click.testing import CliRunner

from positron.cli.commands import main
from tests.support.servers import POSITRON, positron_server

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), env={"POSITRON_CONFIG": "", **(env or {})})
    return result.exit_code, result.stdout, result.stderr


def test_batch_of_iocs_one_a_line_picks_the_query_by_kind_and_keeps_the_order(tmp_path: Path) -> None:
    iocs = tmp_path / "iocs.txt"
    iocs.write_text("# from the phishing case\n44d88612fea8a8f36de82e1278abb02f\n\n10.20.0.42\nnot a value!\n")
    code, out, err = run("batch", str(iocs))
    assert code == 1, err  # one item failed: the exit status says so, the others are answered
    results = json.loads(out)
    assert [r["query"] for r in results] == ["HASH_REPUTATION", "IP_REPUTATION", "HASH_REPUTATION"]
    assert results[0]["status"] == 200 and results[0]["result"]["answer"]["value"]["verdict"] == "malicious"
    assert results[2]["status"] == 422 and "expected an MD5" in results[2]["error"]["message"]
    assert "2 of 3 answered, 1 failed" in err


def test_batch_csv_in_and_out_with_query_and_at_columns(tmp_path: Path) -> None:
    rows = tmp_path / "rows.csv"
    rows.write_text("query,value,at\nIP_TO_HOSTNAME,10.20.0.42,2026-11-20T12:00:00+00:00\nUSER_MANAGER,jdoe,\n")
    out_file = tmp_path / "answers.csv"
    code, out, err = run("batch", str(rows), "-o", str(out_file))
    assert code == 0, err
    table = list(csv.DictReader(io.StringIO(out_file.read_text())))
    assert [(r["query"], r["value"], r["status"]) for r in table] == [
        ("IP_TO_HOSTNAME", "10.20.0.42", "200"),
        ("USER_MANAGER", "jdoe", "200"),
    ]
    assert table[0]["answer"] == "laptop-7" and "dhcp" in table[0]["sources"]
    assert "username=" in table[1]["answer"] and out == ""


def test_batch_against_a_server_gives_the_same_answers(tmp_path: Path) -> None:
    iocs = tmp_path / "iocs.txt"
    iocs.write_text("10.20.0.42\n")
    key = "batch-server-key-0123456789abcdef"
    with positron_server(env={"POSITRON_DEMO_KEY": key, "POSITRON_CONFIG": ""}) as (base, _):
        code, out, err = run("batch", str(iocs), "--query", "IP_TO_HOSTNAME", "--server", base, "--key", key)
    assert code == 0, err
    (item,) = json.loads(out)
    assert item["result"]["answer"]["value"] == "ws-042.corp.example"


def test_enrich_json_prints_the_whole_answer(tmp_path: Path) -> None:
    alert = tmp_path / "alert.json"
    alert.write_text(json.dumps({"src_ip": "10.20.0.42", "user": "jdoe"}))
    code, out, _ = run("enrich", str(alert), "--json")
    assert code == 0
    body = json.loads(out)
    assert "markdown" in body and body["markdown"].startswith("#")
    assert {o["value"] for o in body["observables"]} >= {"10.20.0.42", "jdoe"}


def test_queries_and_providers_list_the_demo() -> None:
    code, out, _ = run("queries", "--json")
    assert code == 0
    by_name = {q["name"]: q for q in json.loads(out)}
    assert by_name["IP_TO_HOSTNAME"]["providers"] == ["inventory", "dhcp"] and by_name["TEAM_ONCALL"]["providers"] == []
    code, out, _ = run("providers", "--json")
    assert code == 0
    assert {p["name"]: p["type"] for p in json.loads(out)} == {
        "inventory": "static_inventory",
        "hr_export": "static_inventory",
        "local_iocs": "static_inventory",
        "dhcp": "dhcp_leases",
    }
    code, out, _ = run("queries")
    assert code == 0 and "USER_MANAGER" in out


def test_keys_create_warns_without_groups_list_shows_them_and_revoke_removes_a_line(tmp_path: Path) -> None:
    code, out, err = run("keys", "create", "--principal", "bot")
    assert code == 0 and "has no groups" in err
    line_bot = next(ln for ln in out.splitlines() if ln.startswith("{"))
    code, out, _ = run("keys", "create", "--principal", "alice", "--groups", "soc-analysts")
    line_alice = next(ln for ln in out.splitlines() if ln.startswith("{"))
    keys_file = tmp_path / "keys.jsonl"
    keys_file.write_text(f"# keys\n{line_bot}\n{line_alice}\n")
    config = tmp_path / "positron.yaml"
    config.write_text(yaml.safe_dump({"security": {"keys_file": "keys.jsonl"}}))

    code, out, err = run("keys", "list", "--config", str(config))
    assert code == 0 and "alice" in out and "soc-analysts" in out and "keys.jsonl:2" in out
    assert "keys.jsonl:2: the key of bot has no groups" in " ".join(err.split())
    alice_hash = json.loads(line_alice)["key_hash"]
    assert alice_hash[:16] in out and alice_hash not in out  # the start of the hash only

    code, out, err = run("keys", "revoke", "--config", str(config), "--principal", "bot")
    assert code == 0, err
    assert "revoked bot's key" in out and "kill -HUP" in out
    assert keys_file.read_text() == f"# keys\n{line_alice}\n"
    code, _, err = run("keys", "revoke", "--config", str(config), "sha256:ffff0000")
    assert code == 2 and "no stored key matches" in err


def test_version_is_fast_because_it_imports_nothing_heavy() -> None:
    probe = (
        "import sys; sys.argv = ['positron', '--version']\n"
        "from positron.cli import main; main()\n"
        "heavy = sorted(m for m in ('pydantic', 'fastapi', 'aiohttp', 'positron.config', 'positron.engine')"
        " if m in sys.modules)\n"
        "print('heavy:', heavy)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert "positron, version 0.1.0" in done.stdout and "heavy: []" in done.stdout
    console = subprocess.run([str(POSITRON), "--version"], capture_output=True, text=True, timeout=60, check=True)
    assert console.stdout.strip() == "positron, version 0.1.0"


def test_shell_completion_script_is_generated() -> None:
    env = {**os.environ, "_POSITRON_COMPLETE": "bash_source"}
    done = subprocess.run([str(POSITRON)], capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 0 and "_positron_completion" in done.stdout and "complete " in done.stdout
    assert "completion" in (ROOT / "README.md").read_text()


def test_cli_errors_are_one_line_when_not_on_a_terminal() -> None:
    done = subprocess.run(
        [str(POSITRON), "query", "HASH_REPUTATION", "x" * 200],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "POSITRON_CONFIG": ""},
    )
    assert done.returncode == 2
    (line,) = [ln for ln in done.stderr.splitlines() if ln.strip()]
    assert line.startswith("error: ") and "expected an MD5" in line
