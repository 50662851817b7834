"""The container image's build, as far as this machine allows (no Docker engine): the Dockerfile's own RUN lines
that build the wheels and install them into a fresh venv run here, with the image's paths mapped to temporary
folders; then the image's CMD, with the shipped config, serves /health from that venv."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support.servers import free_port

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "deploy" / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def test_the_dockerfile_is_multi_stage_slim_and_non_root() -> None:
    steps = instructions()
    froms = [args for op, args in steps if op == "FROM"]
    assert len(froms) == 2 and froms[0].endswith("AS build") and "slim" in DOCKERFILE.read_text()
    users = [args for op, args in steps if op == "USER"]
    assert users and users[-1] not in ("root", "0")
    assert any(op == "COPY" and args.startswith("--from=build") for op, args in steps)
    runtime = steps[[i for i, (op, _) in enumerate(steps) if op == "FROM"][1] :]
    assert not any(op == "COPY" and args.startswith(". ") for op, args in runtime)  # no source tree in the image


@pytest.mark.slow  # ~45 s of CPU (wheels, venv, a server start); minutes when every core is busy
def test_the_image_build_steps_produce_a_venv_that_serves_health(tmp_path: Path) -> None:
    paths = {
        "/tmp/install.sh": str(ROOT / "deploy" / "install.sh"),
        "/src": str(ROOT),
        "/wheels": str(tmp_path / "wheels"),
        "/opt/positron": str(tmp_path / "venv"),
        '"$EXTRAS"': "''",
    }
    runs = [args.split("&&")[0].strip() for op, args in instructions() if op == "RUN" and "install.sh" in args]
    assert [r.split()[2] for r in runs] == ["wheels", "venv"]
    python = shutil.which("python3") or sys.executable
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHONPATH"))}
    env.update(PYTHON=python, PIP_DISABLE_PIP_VERSION_CHECK="1")
    for run in runs:
        for image_path, here in paths.items():
            run = run.replace(image_path, here)
        done = subprocess.run(run, shell=True, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stdout + done.stderr
    venv_bin = tmp_path / "venv" / "bin"
    installed = subprocess.run(
        [str(venv_bin / "python"), "-m", "pip", "list", "--format=json"], capture_output=True, text=True, check=True
    )
    names = {p["name"].lower() for p in json.loads(installed.stdout)}
    assert "positron-broker" in names and not names & {"pytest", "mypy", "ruff", "hypothesis", "schemathesis"}

    cmd = json.loads(next(args for op, args in instructions() if op == "CMD"))
    cmd = [str(ROOT / "deploy" / "positron.yaml") if a == "/etc/positron/positron.yaml" else a for a in cmd]
    cmd = ["127.0.0.1" if a == "0.0.0.0" else a for a in cmd]
    port = free_port()
    serve_env = {
        **env,
        "PATH": f"{venv_bin}:{env.get('PATH', '')}",
        "POSITRON_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",  # nothing listens: each replica falls back
        "POSITRON_KEY_SOC": "image-test-key-0123456789abcdef",
        "VT_API_KEY": "image-test-vt-key-0123456789",
    }
    log = tmp_path / "serve.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [*cmd, "--port", str(port)], cwd=tmp_path, env=serve_env, stdout=subprocess.DEVNULL, stderr=sink
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, log.read_text()
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the server from the image venv did not start"
                time.sleep(0.2)
        assert health.status_code == 200
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
