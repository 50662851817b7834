"""Start real processes for tests: a free loopback port and a positron server that is always stopped."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import httpx

POSITRON = Path(sys.executable).with_name("positron")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_http(url: str, proc: subprocess.Popen[bytes], timeout_s: float = 60.0) -> None:
    """Until ``url`` answers; a start takes ~1 s on an idle machine, 10-20 s with every core busy (imports)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"server exited with {proc.returncode}: {proc.stderr.read().decode() if proc.stderr else ''}"
            )
        try:
            if httpx.get(url, timeout=0.5).status_code < 500:
                return
        except httpx.TransportError:
            time.sleep(0.05)
    raise TimeoutError(f"{url} did not answer within {timeout_s} s")


def _drain(pipe: IO[bytes]) -> tuple[threading.Thread, list[bytes]]:
    """Read a child's pipe to its end in a thread: a server whose output fills a pipe nobody reads (64 KiB: a few
    hundred audit lines) blocks on its next write, and every request after that hangs."""
    sink: list[bytes] = []
    thread = threading.Thread(target=lambda: sink.append(pipe.read()), name="drain", daemon=True)
    thread.start()
    return thread, sink


@contextmanager
def positron_server(
    *args: str, env: dict[str, str] | None = None, start_timeout_s: float = 60.0
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``positron serve ARGS --port P`` on 127.0.0.1; yields (base_url, process) and stops it. The start may take
    ``start_timeout_s``: importing the app takes seconds on a loaded shared machine (tests bound the server, not
    the machine)."""
    port = free_port()
    proc = subprocess.Popen(
        [str(POSITRON), "serve", *args, "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )
    base = f"http://127.0.0.1:{port}"
    drains: list[tuple[threading.Thread, list[bytes]]] = []
    try:
        wait_http(f"{base}/health", proc, start_timeout_s)
        drains = [_drain(pipe) for pipe in (proc.stdout, proc.stderr) if pipe]
        yield base, proc
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        for thread, _ in drains:
            thread.join(timeout=5)
        # what the server printed, for tests to read after it stopped
        printed = b"".join(drains[0][1]) if drains else b""
        printed += proc.stdout.read() if proc.stdout else b""
        proc.captured_stdout = printed.decode()  # type: ignore[attr-defined]
        errors = b"".join(drains[1][1]) if len(drains) > 1 else b""
        proc.captured_stderr = errors.decode()  # type: ignore[attr-defined]
        for pipe in (proc.stdout, proc.stderr):
            if pipe:
                pipe.close()
