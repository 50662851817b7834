"""`positron enrich` and `positron query --server`: in-process on the demo, and against a real server."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from positron.cli.commands import main
from tests.support.servers import positron_server

ALERT = {
    "search_name": "Suspicious login",
    "sid": "rt_123",
    "result": {"user": "jdoe@corp.example", "src_ip": "10.20.0.42", "_time": "2026-11-20T12:00:00Z"},
}


def run(*args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), input=stdin, env={"POSITRON_CONFIG": "", **(env or {})})
    return result.exit_code, result.output


def test_enrich_prints_markdown_in_process(tmp_path: Path) -> None:
    alert = tmp_path / "alert.json"
    alert.write_text(json.dumps(ALERT))
    code, output = run("enrich", str(alert))
    assert code == 0, output
    assert output.startswith("### Positron enrichment — Suspicious login")
    assert "Jane Doe" in output and "Alice Smith" in output and "host at alert time: laptop-7" in output


def test_enrich_reads_stdin_and_rejects_non_json() -> None:
    code, output = run("enrich", "-", stdin=json.dumps({"observables": [{"type": "ip", "value": "10.20.0.17"}]}))
    assert code == 0 and "ws-017.corp.example" in output
    code, output = run("enrich", "-", stdin="{nope")
    assert code == 2 and "is not JSON" in output


def test_query_and_enrich_against_a_server() -> None:
    key = "cli-server-key-0123456789abcdef"
    with positron_server(env={"POSITRON_DEMO_KEY": key, "POSITRON_CONFIG": ""}) as (base, _):
        code, output = run("query", "ip_to_hostname", "10.20.0.42", "--json", "--server", base, "--key", key)
        assert code == 0, output
        assert json.loads(output)["answer"]["value"] == "ws-042.corp.example"
        code, output = run("enrich", "-", "--server", base, env={"POSITRON_API_KEY": key}, stdin=json.dumps(ALERT))
        assert code == 0 and "Jane Doe" in output
        code, output = run("query", "IP_TO_HOSTNAME", "10.20.0.42", "--server", base, "--key", "wrong")
        assert code == 2 and "server answered 401: invalid or missing API key" in output
    code, output = run("query", "IP_TO_HOSTNAME", "10.20.0.42", "--server", base, "--key", key)
    assert code == 2 and "cannot reach" in output
