"""Helpers for the reliability suite: a real ``positron serve`` process whose output goes to a file (a pipe that
nobody reads would fill up and block the server under load), and VirusTotal-shaped answers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from tests.emulators.virustotal import VirusTotalEmulator
from tests.support.servers import POSITRON, free_port, wait_http

KEY = "reliability-key-0123456789abcdefghij"
AUTH = {"Authorization": f"Bearer {KEY}"}
SHA256 = "3f1a9c7e5b2d4f6a8c0e1b3d5f7a9c2e4b6d8f0a1c3e5b7d9f2a4c6e8b0d1f3a"


def vt_body() -> bytes:
    """A VirusTotal ``GET /api/v3/files/{id}`` answer for SHA256, as the emulator builds it."""
    attributes = VirusTotalEmulator(seed_eicar=False).add_file(sha256=SHA256, stats={"malicious": 7, "undetected": 60})
    data = {"id": SHA256, "type": "file", "links": {"self": f"https://vt/api/v3/files/{SHA256}"}}
    return json.dumps({"data": {**data, "attributes": attributes}}).encode()


@contextmanager
def serve(config: dict[str, Any], workdir: Path) -> Iterator[str]:
    """``positron serve --config`` on a free loopback port with ``config`` (the key above is added); yields the URL."""
    config = {"api_keys": [{"principal": "tester", "key": KEY, "groups": ["admins"]}], **config}
    path = workdir / "positron.yaml"
    path.write_text(yaml.safe_dump(config))
    port = free_port()
    with (workdir / "server.log").open("wb") as log:
        proc = subprocess.Popen(
            [str(POSITRON), "serve", "--config", str(path), "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ},
        )
        try:
            try:
                wait_http(f"http://127.0.0.1:{port}/health", proc)
            except (RuntimeError, TimeoutError) as exc:
                raise RuntimeError(f"{exc}\n{(workdir / 'server.log').read_text()[-4000:]}") from None
            yield f"http://127.0.0.1:{port}"
        finally:
            proc.send_signal(signal.SIGTERM)  # graceful for uvicorn; SIGINT may be ignored (background jobs)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
