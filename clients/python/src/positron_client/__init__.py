"""Typed client for the Positron query broker: ``Positron`` (sync) and ``AsyncPositron`` (asyncio).

from positron_client import Positron

with Positron() as positron:                                  # POSITRON_URL, POSITRON_API_KEY
    result = positron.user_manager("CORP\\\\jdoe")
    result.best                                               # Person(username='asmith', ...)
    result.conflict, [(p.name, p.status) for p in result.providers]
    for item in positron.iter_batch([("IP_TO_HOSTNAME", ip) for ip in ips]):   # as they finish; batch(): in order
        item.index, item.status, item.result or item.error
    positron.enrich(splunk_webhook_body).markdown             # every observable's lookups, for a ticket
"""

from __future__ import annotations

from positron_client._async_client import AsyncPositron
from positron_client._client import Positron
from positron_client._exceptions import (
    APIError,
    AuthenticationError,
    ConfigurationError,
    ConnectionFailed,
    InvalidInput,
    PermissionDenied,
    PositronError,
    RequestTimeout,
    ServerError,
    TransportError,
    UnexpectedResponse,
    UnknownQuery,
)
from positron_client._models import (
    Answer,
    HostInfo,
    OnCall,
    Person,
    ProviderInfo,
    ProviderStatus,
    QueryInfo,
    QueryResult,
    Quota,
    Reputation,
    Source,
    UserInfo,
    Why,
)
from positron_client._queries import STANDARD_QUERIES, StandardQuery
from positron_client._version import __version__
from positron_client._workflows import (
    BatchItem,
    BatchItemResult,
    EnrichedObservable,
    EnrichResult,
    ItemError,
    Observable,
)

__all__ = [
    "STANDARD_QUERIES",
    "APIError",
    "Answer",
    "AsyncPositron",
    "AuthenticationError",
    "BatchItem",
    "BatchItemResult",
    "ConfigurationError",
    "ConnectionFailed",
    "EnrichResult",
    "EnrichedObservable",
    "HostInfo",
    "InvalidInput",
    "ItemError",
    "Observable",
    "OnCall",
    "PermissionDenied",
    "Person",
    "Positron",
    "PositronError",
    "ProviderInfo",
    "ProviderStatus",
    "QueryInfo",
    "QueryResult",
    "Quota",
    "Reputation",
    "RequestTimeout",
    "ServerError",
    "Source",
    "StandardQuery",
    "TransportError",
    "UnexpectedResponse",
    "UnknownQuery",
    "UserInfo",
    "Why",
    "__version__",
]
