"""The one tree of Positron's errors.

    PositronError
    ├── ConfigError                 a config file or value is wrong; names the key
    ├── QueryError                  the caller's fault → a 4xx response
    │   ├── UnknownQuery            404  unknown_query
    │   ├── InvalidInput            422  invalid_input
    │   ├── InvalidBody             422  invalid_request   (malformed JSON, says where)
    │   ├── UnsupportedMediaType    415  unsupported_media_type
    │   ├── TooMuchWork             422  too_many_lookups  (names the workflows.* limit)
    │   ├── UnknownProvider         422  unknown_provider
    │   ├── AuthenticationFailed    401  unauthenticated
    │   └── PermissionDenied        403  forbidden
    └── ProviderError               one provider failed → that provider's status, never a 5xx
        ├── ProviderTimeout         timeout       (not retried: see below)
        ├── ProviderUnavailable     unavailable   (transient: a 5xx, a reset, a busy server)
        │   └── ProviderUnreachable unavailable   (not retried: refused, unknown host, TLS refused)
        ├── ProviderAuthError       auth_failed
        ├── ProviderRateLimited     rate_limited  (carries retry_after)
        ├── BadResponse             bad_response
        └── UnsupportedInput        unsupported_input

Only ``transient`` errors are retried by the engine, and only while the request's deadline allows. What is not:
a call that timed out (its own ``timeout_s`` passed: a second call would most likely hang as long, it triples
the load on a struggling source, and for a paged answer it starts again from the first page), and a source that
cannot be reached at all (refused, unknown host, a TLS failure: nothing heals in the 100 ms of a backoff, and
each retry would spend a slot of a scarce quota such as VirusTotal's 4/minute).

Each provider translates its library's exceptions into a ProviderError at its own boundary
(``raise ProviderUnavailable("...") from exc``). Messages must never contain secrets: providers build them from
what they know is safe (a host name, a status code), not from the library's exception text.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar


class PositronError(Exception):
    """Base of every error Positron raises on purpose."""

    code: ClassVar[str] = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(PositronError):
    """``problems`` lists every problem found (one per line of the message when there are several), so a config
    is fixed in one pass instead of one run per mistake."""

    code = "config_error"

    def __init__(self, message: str, *, key: str | None = None, problems: Sequence[str] = ()) -> None:
        super().__init__(f"{key}: {message}" if key else message)
        self.key = key
        self.problems = list(problems) or [self.message]

    @classmethod
    def of(cls, errors: Sequence[ConfigError]) -> ConfigError:
        """One error carrying all of these (the error itself when there is one)."""
        if len(errors) == 1:
            return errors[0]
        problems = [p for e in errors for p in e.problems]
        listing = "\n".join(f"  {p}" for p in problems)
        return cls(f"{len(problems)} problems:\n{listing}", problems=problems)


class QueryError(PositronError):
    """The request is wrong; answered with ``status_code`` and the message."""

    status_code: ClassVar[int] = 400
    code = "bad_request"


class UnknownQuery(QueryError):
    status_code = 404
    code = "unknown_query"


class InvalidInput(QueryError):
    status_code = 422
    code = "invalid_input"


class InvalidBody(QueryError):
    status_code = 422
    code = "invalid_request"


class UnsupportedMediaType(QueryError):
    status_code = 415
    code = "unsupported_media_type"


class TooMuchWork(QueryError):
    status_code = 422
    code = "too_many_lookups"


class UnknownProvider(QueryError):
    status_code = 422
    code = "unknown_provider"


class AuthenticationFailed(QueryError):
    status_code = 401
    code = "unauthenticated"


class PermissionDenied(QueryError):
    status_code = 403
    code = "forbidden"


class ProviderError(PositronError):
    """A provider could not answer. ``transient`` errors are retried within the deadline."""

    code = "provider_error"
    status: ClassVar[str] = "error"
    transient: ClassVar[bool] = False


class ProviderTimeout(ProviderError):
    code = "timeout"
    status = "timeout"


class ProviderUnavailable(ProviderError):
    code = "unavailable"
    transient = True


class ProviderUnreachable(ProviderUnavailable):
    """The source could not be reached at all (nothing was sent): reported as unavailable, never retried."""

    transient = False


class ProviderAuthError(ProviderError):
    code = "auth_failed"


class ProviderRateLimited(ProviderError):
    code = "rate_limited"
    status = "rate_limited"

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class BadResponse(ProviderError):
    code = "bad_response"


class UnsupportedInput(ProviderError):
    code = "unsupported_input"
