"""Retries, timeouts and broken answers, over real sockets: a faulty HTTP front (tests/clients/faulty_proxy.py)
before the real server, and a port nobody listens on. Retried: connection errors and 502/503/504, with backoff;
nothing else."""

from __future__ import annotations

import time

import pytest
from positron_client import (
    APIError,
    AsyncPositron,
    ConnectionFailed,
    Positron,
    RequestTimeout,
    ServerError,
    UnexpectedResponse,
)

from tests.clients.conftest import Server
from tests.clients.faulty_proxy import FaultyProxy
from tests.support.servers import free_port

GATEWAY_PAGE = b"<html><body><h1>502 Bad Gateway</h1></body></html>"


def client(proxy: FaultyProxy, server: Server, **options: float) -> Positron:
    return Positron(proxy.url, server.key, backoff_s=options.pop("backoff_s", 0.01), **options)  # type: ignore[arg-type]


def test_gateway_errors_are_retried_until_the_server_answers(proxy: FaultyProxy, server: Server) -> None:
    proxy.fail(502, GATEWAY_PAGE)
    proxy.fail(503)
    proxy.fail(504)
    with client(proxy, server, max_retries=3) as positron:
        result = positron.ip_to_hostname("10.20.0.42")
    assert result.best == "ws-042.corp.example"
    assert len(proxy.requests) == 4
    assert {r.headers["Authorization"] for r in proxy.requests} == {f"Bearer {server.key}"}


def test_dropped_connections_are_retried(proxy: FaultyProxy, server: Server) -> None:
    proxy.drop(times=2)
    with client(proxy, server, max_retries=2) as positron:
        assert positron.user_manager("jdoe").best is not None
    assert len(proxy.requests) == 3


def test_retries_run_out_into_a_server_error_with_the_gateways_words(proxy: FaultyProxy, server: Server) -> None:
    proxy.fail(502, GATEWAY_PAGE, times=3)
    with client(proxy, server, max_retries=2) as positron, pytest.raises(ServerError) as failed:
        positron.ip_to_hostname("10.20.0.42")
    assert failed.value.status_code == 502 and "502 Bad Gateway" in failed.value.message
    assert len(proxy.requests) == 3


def test_retry_after_is_honoured(proxy: FaultyProxy, server: Server) -> None:
    proxy.fail(503, headers={"Retry-After": "0.4"})
    with client(proxy, server, max_retries=1) as positron:
        started = time.monotonic()
        positron.ip_to_hostname("10.20.0.42")
        waited = time.monotonic() - started
    assert waited >= 0.4 and len(proxy.requests) == 2


@pytest.mark.parametrize("status", [500, 429, 400])
def test_other_errors_are_not_retried(proxy: FaultyProxy, server: Server, status: int) -> None:
    body = b'{"error": {"code": "slow_down", "message": "too many requests", "details": [{"field": "x"}]}}'
    proxy.fail(status, body, headers={"content-type": "application/json"})
    with client(proxy, server, max_retries=3) as positron, pytest.raises(APIError) as failed:
        positron.ip_to_hostname("10.20.0.42")
    error = failed.value
    assert (error.status_code, error.code, error.message) == (status, "slow_down", "too many requests")
    assert failed.value.details == [{"field": "x"}]
    assert isinstance(failed.value, ServerError) == (status == 500)
    assert len(proxy.requests) == 1


def test_a_slow_answer_is_a_timeout_and_is_not_retried(proxy: FaultyProxy, server: Server) -> None:
    proxy.hang(3.0)
    with client(proxy, server, timeout=0.3, max_retries=3) as positron, pytest.raises(RequestTimeout) as slow:
        positron.ip_to_hostname("10.20.0.42")
    assert "did not answer in time" in slow.value.message
    assert len(proxy.requests) == 1


def test_a_body_that_is_not_positrons_is_an_unexpected_response(proxy: FaultyProxy, server: Server) -> None:
    proxy.fail(200, b"<html>captive portal</html>")
    proxy.fail(200, b'{"something": "else"}', headers={"content-type": "application/json"})
    with client(proxy, server) as positron:
        with pytest.raises(UnexpectedResponse, match="is not JSON: <html>captive portal"):
            positron.ip_to_hostname("10.20.0.42")
        with pytest.raises(UnexpectedResponse, match="not what Positron sends"):
            positron.ip_to_hostname("10.20.0.42")


def test_a_server_that_is_down_is_a_connection_error_after_the_retries(server: Server) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with Positron(url, server.key, max_retries=2, backoff_s=0.01) as positron, pytest.raises(ConnectionFailed) as down:
        positron.ip_to_hostname("10.20.0.42")
    assert down.value.message.startswith(f"could not reach Positron at {url} after 3 attempts: ConnectError")
    assert server.key not in str(down.value)


async def test_async_client_answers_and_retries_like_the_sync_one(proxy: FaultyProxy, server: Server) -> None:
    proxy.fail(503)
    proxy.drop()
    async with AsyncPositron(proxy.url, server.key, backoff_s=0.01, max_retries=2) as positron:
        host = await positron.ip_to_hostname("10.20.0.42", at="2026-11-20T12:00:00Z")
        manager = await positron.user_manager("bwhite")
        queries = await positron.queries()
        providers = await positron.providers()
    assert host.best == "laptop-7"
    assert manager.best is not None and manager.best.username == "ekahn"
    assert "TEAM_ONCALL" in {q.name for q in queries} and len(providers) == 4
    assert len(proxy.requests) == 6  # 2 failed + 4 answered


async def test_async_client_timeouts_and_down_servers(proxy: FaultyProxy, server: Server) -> None:
    proxy.hang(3.0)
    async with AsyncPositron(proxy.url, server.key, timeout=0.3) as positron:
        with pytest.raises(RequestTimeout):
            await positron.hash_reputation("44d88612fea8a8f36de82e1278abb02f")
    down = f"http://127.0.0.1:{free_port()}"
    async with AsyncPositron(down, server.key, max_retries=1, backoff_s=0.01) as positron:
        with pytest.raises(ConnectionFailed, match="after 2 attempts"):
            await positron.ip_reputation("203.0.113.7")
    assert len(proxy.requests) == 1
