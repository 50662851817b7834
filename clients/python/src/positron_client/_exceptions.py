"""The client's exceptions, one tree.

    PositronError                  base of everything this package raises
    ├── ConfigurationError         no URL or API key (argument or POSITRON_URL / POSITRON_API_KEY), or a bad URL
    ├── TransportError             no HTTP answer
    │   ├── ConnectionFailed       could not connect, or the connection dropped (after the retries)
    │   └── RequestTimeout         no answer within the timeout (never retried: the server may still be working)
    ├── UnexpectedResponse         a 2xx whose body is not what Positron sends (a proxy's page, say)
    └── APIError                   the server answered with an error: status_code, code, message, details
        ├── AuthenticationError    401  missing or wrong API key
        ├── PermissionDenied       403  the key may not run this query
        ├── UnknownQuery           404  no such query
        ├── InvalidInput           422  the value (or another field) is not what the query expects
        └── ServerError            5xx  (502/503/504 only after the retries)

``APIError.message`` is the server's own message (``{"error": {"code", "message", "details"}}``); it never
contains the API key, and neither does any exception here.
"""

from __future__ import annotations

from typing import Any


class PositronError(Exception):
    """Base of every error raised by positron_client."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigurationError(PositronError):
    """The client is missing its URL or API key, or the URL is not http(s)."""


class TransportError(PositronError):
    """The request got no HTTP answer."""


class ConnectionFailed(TransportError):
    """Could not connect to the server, or the connection dropped before an answer (after the retries)."""


class RequestTimeout(TransportError):
    """The server did not answer within the configured timeout."""


class UnexpectedResponse(PositronError):
    """A successful status with a body that is not Positron's JSON."""


class APIError(PositronError):
    """The server answered with an error status. ``code`` is Positron's stable snake_case error code."""

    def __init__(self, status_code: int, code: str, message: str, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.code = code
        self.details = details or []

    def __str__(self) -> str:
        return f"{self.message} (HTTP {self.status_code} {self.code})"


class AuthenticationError(APIError):
    """401: the API key is missing or wrong."""


class PermissionDenied(APIError):
    """403: the API key is valid but may not do this."""


class UnknownQuery(APIError):
    """404: the server has no query by that name."""


class InvalidInput(APIError):
    """422: the value (or another request field) is not what the query expects; the message says what is."""


class ServerError(APIError):
    """5xx: the server (or a gateway in front of it) failed."""


def error_for_status(status_code: int, code: str, message: str, details: list[dict[str, Any]] | None) -> APIError:
    """The APIError subclass for a status (and, for 404, Positron's ``unknown_query`` code)."""
    cls: type[APIError]
    if status_code == 401:
        cls = AuthenticationError
    elif status_code == 403:
        cls = PermissionDenied
    elif status_code == 404 and code == "unknown_query":
        cls = UnknownQuery
    elif status_code == 422:
        cls = InvalidInput
    elif status_code >= 500:
        cls = ServerError
    else:
        cls = APIError
    return cls(status_code, code, message, details)
