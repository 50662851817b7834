"""positron serve against a real uvicorn: the port is checked first, HTTPS, one log format, the audit apart."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import yaml

from tests.support.servers import POSITRON, free_port

KEY = "serve-test-key-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {KEY}"}


def config(tmp_path: Path, **extra: object) -> Path:
    (tmp_path / "hosts.csv").write_text("hostname,ip\nws-1,10.0.0.1\n")
    data = {
        "api_keys": [{"principal": "alice", "key": {"env": "SERVE_TEST_KEY"}, "groups": ["admins"]}],
        "providers": {"inv": {"type": "static_inventory", "hosts": "hosts.csv"}},
        **extra,
    }
    path = tmp_path / "positron.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@contextmanager
def serving(*args: str, url: str, verify: object = True) -> Iterator[subprocess.Popen[str]]:
    """``positron serve ARGS`` until /health answers; stopped with SIGINT, its output kept on the process."""
    env = {**os.environ, "SERVE_TEST_KEY": KEY, "POSITRON_CONFIG": ""}
    proc = subprocess.Popen(
        [str(POSITRON), "serve", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    deadline = time.monotonic() + 60
    try:
        while True:
            assert proc.poll() is None, proc.communicate()
            try:
                if httpx.get(f"{url}/health", timeout=1, verify=verify).status_code == 200:  # type: ignore[arg-type]
                    break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.1)
        yield proc
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            out, err = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
        proc.captured = (out, err)  # type: ignore[attr-defined]


def test_a_taken_port_fails_before_any_demo_key_or_curl_is_printed() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [str(POSITRON), "serve", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "POSITRON_CONFIG": ""},
        )
    assert done.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr and "choose --port" in done.stderr
    assert "API key" not in done.stdout + done.stderr and "curl" not in done.stdout + done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl makes the test certificate")
def test_https_with_a_self_signed_certificate(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    port = free_port()
    url = f"https://127.0.0.1:{port}"
    trust = ssl.create_default_context(cafile=str(cert))
    args = [
        "--config",
        str(config(tmp_path)),
        "--port",
        str(port),
        "--ssl-certfile",
        str(cert),
        "--ssl-keyfile",
        str(key),
    ]
    with serving(*args, url=url, verify=trust):
        answer = httpx.post(f"{url}/v1/queries/IP_TO_HOSTNAME", json={"value": "10.0.0.1"}, headers=AUTH, verify=trust)
        assert answer.status_code == 200 and answer.json()["answer"]["value"] == "ws-1"
        with pytest.raises(httpx.TransportError):  # plain HTTP on the TLS port is not served
            httpx.get(f"http://127.0.0.1:{port}/health", timeout=5)
        with pytest.raises(httpx.ConnectError):  # and a client that does not trust the certificate refuses it
            httpx.get(f"{url}/health", timeout=5)


def test_tls_files_from_the_config_must_come_in_pairs(tmp_path: Path) -> None:
    path = config(tmp_path, server={"ssl_certfile": "cert.pem"})
    done = subprocess.run([str(POSITRON), "check-config", str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "server: Value error, give both ssl_certfile and ssl_keyfile" in done.stderr


def test_json_logs_on_stderr_with_request_id_and_client_and_the_audit_apart_on_stdout(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    path = config(tmp_path, logging={"format": "json", "level": "info"}, server={"trusted_proxies": ["127.0.0.1"]})
    with serving("--config", str(path), "--port", str(port), url=url) as proc:
        headers = {**AUTH, "X-Request-ID": "req-42", "X-Forwarded-For": "203.0.113.9"}
        assert httpx.post(f"{url}/v1/queries/IP_TO_HOSTNAME", json={"value": "10.0.0.1"}, headers=headers).is_success
        assert httpx.get(f"{url}/v1/providers", headers={"X-Request-ID": "req-43"}).status_code == 401
    out, err = proc.captured  # type: ignore[attr-defined]
    assert all(line.startswith("{") for line in err.splitlines()), [
        ln for ln in err.splitlines() if not ln.startswith("{")
    ]
    logs = [json.loads(line) for line in err.splitlines()]  # every stderr line is one JSON event
    assert all({"time", "level", "logger", "message"} <= set(line) for line in logs)
    (access,) = [line for line in logs if line["logger"] == "uvicorn.access" and line["request_id"] == "req-42"]
    assert access["method"] == "POST" and access["path"] == "/v1/queries/IP_TO_HOSTNAME" and access["status"] == 200
    assert access["client"] == "203.0.113.9"  # from X-Forwarded-For: 127.0.0.1 is a trusted proxy
    audit = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert {a["request_id"] for a in audit} >= {"req-42", "req-43"}  # the audit stream is stdout, never stderr
    assert all(a["event"] in ("query", "auth", "admin") for a in audit)
    assert not any(line.get("event") for line in logs)


def test_text_logs_have_time_level_and_request_id(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with serving("--config", str(config(tmp_path)), "--port", str(port), url=url) as proc:
        httpx.get(f"{url}/health", headers={"X-Request-ID": "req-text-1"})
    _, err = proc.captured  # type: ignore[attr-defined]
    (line,) = [ln for ln in err.splitlines() if "req-text-1" in ln]
    stamp, level, logger = line.split()[:3]
    assert stamp.endswith("Z") and "T" in stamp and level == "INFO" and logger == "uvicorn.access:"
    assert "[request_id=req-text-1 client=127.0.0.1]" in line
