"""The CLI's way to a running server (``--server URL``): one JSON POST, errors carrying the server's message.

Standard library only (urllib): the CLI makes one request at a time, so the server package needs no HTTP client
dependency for it; programs should use the positron-client library instead.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from positron.errors import PositronError, QueryError

TIMEOUT_S = 60.0


class RemoteError(QueryError):
    code = "remote_error"


def post_json(server: str, path: str, body: dict[str, Any], key: str | None) -> dict[str, Any]:
    request = urllib.request.Request(
        server.rstrip("/") + path,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {key or ''}"},
        method="POST",
    )
    data: dict[str, Any] = _send(server, request)
    return data


def get_json(server: str, path: str, key: str | None) -> Any:
    headers = {"Authorization": f"Bearer {key or ''}"}
    return _send(server, urllib.request.Request(server.rstrip("/") + path, headers=headers, method="GET"))


def _send(server: str, request: urllib.request.Request) -> Any:
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:  # noqa: S310 (the user's URL)
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        raise RemoteError(f"server answered {exc.code}: {_message(exc)}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise PositronError(f"cannot reach {server}: {reason}") from None


def _message(exc: urllib.error.HTTPError) -> str:
    try:
        return str(json.loads(exc.read())["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return exc.reason or "error"
