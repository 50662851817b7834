"""clients/python/README.md's example, run as written against a live server: what it prints is the answer (the
README once printed `result.value`, which is the input)."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

from tests.clients.conftest import Server

README = Path(__file__).resolve().parents[2] / "clients" / "python" / "README.md"
HASHES = ["44d88612fea8a8f36de82e1278abb02f", "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"]
ALERT = {"search_name": "Malware on endpoint", "result": {"src_ip": "10.20.0.42", "_time": "2026-11-20T12:00:00Z"}}


def test_the_readme_example_prints_the_answers(server: Server) -> None:
    block = re.search(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert block is not None
    code = block[1].replace('"https://positron.corp.example"', repr(server.url)).replace('"..."', repr(server.key))
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(code, str(README), "exec"), {"hashes": HASHES, "splunk_webhook_body": ALERT})
    lines = printed.getvalue().splitlines()
    assert lines[0] == "laptop-7 False ['ok', 'ok']"  # the host at that time, not the IP asked about
    streamed = dict(line.split(" ", 1) for line in lines[1:3])  # in completion order
    assert sorted(streamed) == ["0", "1"] and streamed["0"].startswith("Reputation(verdict='malicious'")
    assert lines[3] == "### Positron enrichment — Malware on endpoint"
