"""A real OpenLDAP slapd for tests: throwaway config, mdb database and TLS certificates in a temp directory.

``running_slapd(tmp_path)`` loads ``ldap/directory.ldif`` with slapadd, starts ``slapd -d stats`` in the
foreground on free 127.0.0.1 ports (ldap:// with StartTLS, and ldaps://), waits until it accepts, and kills it
on exit. The stats log (one ``SRCH ... filter=`` and one ``SEARCH RESULT ... nentries=`` line per search) is
captured to ``slapd.log`` so tests can assert what the server received and matched.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

SLAPD = "/usr/sbin/slapd"
SLAPADD = "/usr/sbin/slapadd"
SUPPORT_DIR = Path(__file__).parent / "ldap"
BASE_DN = "dc=corp,dc=example"
BIND_DN = f"cn=svc-positron,ou=service,{BASE_DN}"
BIND_PASSWORD = "Pos1tron-Bind-Pw!"  # a distinctive value, so tests can assert it never leaks
ADMIN_PASSWORD = "admin-only-for-slapadd"


def available() -> bool:
    return os.access(SLAPD, os.X_OK) and os.access(SLAPADD, os.X_OK) and shutil.which("openssl") is not None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Slapd:
    command: list[str]
    port: int
    ldaps_port: int
    work_dir: Path
    base_dn: str = BASE_DN
    bind_dn: str = BIND_DN
    bind_password: str = BIND_PASSWORD
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log_path.open("ab") as log:  # the child keeps its own descriptor
            self.process = subprocess.Popen(self.command, stdout=log, stderr=log)
        _wait_accepting(self.process, self.port, self.log_path)
        _wait_accepting(self.process, self.ldaps_port, self.log_path)

    def stop(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGCONT)
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None

    def restart(self) -> None:
        """The same server on the same ports: connections made before are gone."""
        self.stop()
        self.start()

    @property
    def url(self) -> str:
        return f"ldap://127.0.0.1:{self.port}"

    @property
    def ldaps_url(self) -> str:
        return f"ldaps://127.0.0.1:{self.ldaps_port}"

    @property
    def ca_file(self) -> Path:
        return self.work_dir / "ca.crt"

    @property
    def log_path(self) -> Path:
        return self.work_dir / "slapd.log"

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def searches(self) -> list[tuple[str, int]]:
        """Every search the server has run so far: (filter as logged, number of entries returned)."""
        text = self.log()
        filters = dict(re.findall(r"(conn=\d+ op=\d+) SRCH base=.* filter=\"(.*)\"", text))
        counts = dict(re.findall(r"(conn=\d+ op=\d+) SEARCH RESULT .*nentries=(\d+)", text))
        return [(flt, int(counts[op])) for op, flt in filters.items() if op in counts]

    def pause(self) -> None:
        """Freeze the server: the kernel still accepts connections, nothing answers (a hung server)."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)


def _make_certificates(work_dir: Path) -> None:
    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=work_dir, check=True, capture_output=True, timeout=30)

    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=Positron Test CA")
    openssl("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1")
    (work_dir / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n", encoding="utf-8")
    openssl(
        "x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "server.crt", "-days", "2", "-extfile", "san.ext",
    )  # fmt: skip
    # A certificate from the right CA for another name: a client connecting to 127.0.0.1 must refuse it.
    openssl("req", *ec, "-keyout", "wrong-host.key", "-out", "wrong-host.csr", "-subj", "/CN=wrong.example")
    (work_dir / "wrong.ext").write_text("subjectAltName=DNS:wrong.example\n", encoding="utf-8")
    openssl(
        "x509", "-req", "-in", "wrong-host.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "wrong-host.crt", "-days", "2", "-extfile", "wrong.ext",
    )  # fmt: skip
    # A second, unrelated CA: a client trusting only this one must refuse the server.
    openssl("req", "-x509", *ec, "-keyout", "other-ca.key", "-out", "other-ca.crt", "-days", "2", "-subj", "/CN=Other")


def _write_config(work_dir: Path, extra_ldif: str = "") -> Path:
    (work_dir / "db").mkdir()
    template = (SUPPORT_DIR / "slapd.conf.template").read_text(encoding="utf-8")
    conf = work_dir / "slapd.conf"
    conf.write_text(
        template.format(support_dir=SUPPORT_DIR, work_dir=work_dir, base_dn=BASE_DN, admin_password=ADMIN_PASSWORD),
        encoding="utf-8",
    )
    ldif = (SUPPORT_DIR / "directory.ldif").read_text(encoding="utf-8")
    data = work_dir / "directory.ldif"
    data.write_text(ldif.replace("{bind_password}", BIND_PASSWORD) + "\n" + extra_ldif, encoding="utf-8")
    subprocess.run([SLAPADD, "-q", "-f", str(conf), "-l", str(data)], check=True, capture_output=True, timeout=30)
    return conf


def _wait_accepting(process: subprocess.Popen[bytes], port: int, log_path: Path, deadline_s: float = 10.0) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if process.poll() is not None:
            raise RuntimeError(f"slapd exited with {process.returncode}:\n{log_path.read_text(errors='replace')}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.01)
    raise RuntimeError(f"slapd did not accept connections on port {port} within {deadline_s}s")


@contextmanager
def running_slapd(work_dir: Path, extra_ldif: str = "") -> Iterator[Slapd]:
    """``extra_ldif``: more entries to load after the test directory (e.g. a simulated organisation)."""
    _make_certificates(work_dir)
    conf = _write_config(work_dir, extra_ldif)
    port, ldaps_port = free_port(), free_port()
    urls = f"ldap://127.0.0.1:{port}/ ldaps://127.0.0.1:{ldaps_port}/"
    # -d stats: stay in the foreground and log each operation (filters, result counts) to stderr.
    command = [SLAPD, "-d", "stats", "-h", urls, "-f", str(conf)]
    server = Slapd(command=command, port=port, ldaps_port=ldaps_port, work_dir=work_dir)
    try:
        server.start()
        yield server
    finally:
        server.stop()
