"""``positron serve``: the API server (uvicorn), or the embedded offline demo when no config is given.

In order: read the config (every problem at once, exit 2), set up the process log (``logging``), bind the port
(taken: exit 2 before any demo key or sample curl is printed), build the broker, then serve on the socket already
bound. HTTPS with ``--ssl-certfile/--ssl-keyfile`` or ``server.ssl_certfile/ssl_keyfile``; behind a reverse
proxy, ``server.trusted_proxies`` lists the proxies whose ``X-Forwarded-For`` gives the client address.
"""

from __future__ import annotations

import errno
import logging
import socket
import sys
from pathlib import Path

import click

from positron.cli.common import CONFIG, err, fail, fail_unexpected, out, settings_for
from positron.config import Settings
from positron.errors import ConfigError, PositronError
from positron.registry import Registry

LOOPBACK = {"127.0.0.1", "::1", "localhost"}
log = logging.getLogger("positron.serve")


@click.command()
@CONFIG
@click.option("--host", default=None, help="Bind address (default from config; the demo binds 127.0.0.1 only)")
@click.option("--port", default=None, type=int, help="Port (default from config, 8080)")
@click.option("--ssl-certfile", type=click.Path(path_type=Path), default=None, help="PEM certificate: serve HTTPS")
@click.option("--ssl-keyfile", type=click.Path(path_type=Path), default=None, help="PEM private key of the certificate")
def serve(
    config: Path | None, host: str | None, port: int | None, ssl_certfile: Path | None, ssl_keyfile: Path | None
) -> None:
    """Start the API server; with no config, the embedded offline demo."""
    from positron.telemetry import logs

    registry = Registry.from_entry_points()
    try:
        settings, demo_key = settings_for(config, registry)
    except PositronError as exc:
        fail(exc)
    except Exception as exc:  # noqa: BLE001 (never a traceback that could print a secret)
        fail_unexpected("reading the config", exc)
    logs.configure(settings.logging.format, settings.logging.level)
    for warning in settings.warnings:
        log.warning("%s", warning)
    bind = host or settings.server.host
    if demo_key is not None and bind not in LOOPBACK:
        err.print("[bold red]error:[/] the demo binds 127.0.0.1 only; give --config to serve elsewhere")
        sys.exit(2)
    try:
        certfile, keyfile = _tls_files(settings, ssl_certfile, ssl_keyfile)
        sock = listen(bind, port or settings.server.port)
    except PositronError as exc:
        fail(exc)
    _run(settings, registry, sock, demo_key, certfile, keyfile)


def _run(
    settings: Settings,
    registry: Registry,
    sock: socket.socket,
    demo_key: str | None,
    certfile: Path | None,
    keyfile: Path | None,
) -> None:
    import uvicorn

    from positron.api.app import create_app
    from positron.broker import Broker
    from positron.telemetry import tracing

    try:
        tracing.configure(settings.tracing)
        broker = Broker(settings, registry)  # reads the keys file and the access policy
    except PositronError as exc:
        sock.close()
        fail(exc)
    except Exception as exc:  # noqa: BLE001
        sock.close()
        fail_unexpected("starting", exc)
    host, port = sock.getsockname()[:2]
    if demo_key is not None:
        _print_demo_banner(host, port, demo_key, https=certfile is not None)
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(broker),
            host=host,
            port=port,
            log_config=None,  # positron.telemetry.logs set up the process log: one format for every logger
            ssl_certfile=str(certfile) if certfile else None,
            ssl_keyfile=str(keyfile) if keyfile else None,
            # the client address comes from X-Forwarded-For only behind server.trusted_proxies, decided once in
            # positron.api.middleware (so the audit line, the logs and the ASGI tests agree)
            proxy_headers=False,
        )
    )
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn re-raises the Ctrl-C it handled: the shutdown was clean
        pass


def _tls_files(settings: Settings, certfile: Path | None, keyfile: Path | None) -> tuple[Path | None, Path | None]:
    """The command line's TLS files, else the config's; both or neither, and both readable."""
    certfile = certfile or settings.server.ssl_certfile
    keyfile = keyfile or settings.server.ssl_keyfile
    if (certfile is None) != (keyfile is None):
        raise ConfigError("give both --ssl-certfile and --ssl-keyfile (or server.ssl_certfile and ssl_keyfile)")
    for option, path in (("ssl_certfile", certfile), ("ssl_keyfile", keyfile)):
        if path is not None and not path.is_file():
            raise ConfigError(f"{path} is not a readable file", key=f"server.{option}")
    return certfile, keyfile


def listen(host: str, port: int) -> socket.socket:
    """Bind the server's socket now, so a taken port is an error before anything is printed or started."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        hint = (
            " (another process is listening there; stop it or choose --port)" if exc.errno == errno.EADDRINUSE else ""
        )
        raise PositronError(f"cannot listen on {host}:{port}: {exc.strerror}{hint}") from None
    sock.set_inheritable(True)
    return sock


def _print_demo_banner(host: str, port: int, key: str, *, https: bool = False) -> None:
    base = f"{'https' if https else 'http'}://{host}:{port}"
    out.print(f"[bold]Positron demo[/] on {base}  (offline sample data; docs at {base}/docs)", highlight=False)
    out.print(f"API key: [bold]{key}[/]   (set POSITRON_DEMO_KEY to choose it)", highlight=False)
    out.print(
        f"try:  curl -s -H 'Authorization: Bearer {key}' -H 'Content-Type: application/json' "
        f'-d \'{{"value": "10.20.0.42"}}\' {base}/v1/queries/IP_TO_HOSTNAME',
        highlight=False,
    )
