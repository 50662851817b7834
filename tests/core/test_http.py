"""The shared HTTP plumbing: one session per source, transport errors and rate headers translated once."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from multidict import CIMultiDict, CIMultiDictProxy

from positron.errors import BadResponse, ProviderAuthError, ProviderRateLimited, ProviderTimeout, ProviderUnavailable
from positron.http import HttpResponse, HttpSource, check_base_url, raise_for_status, retry_after, status_error
from positron.provider import HttpProvider, ProviderConfig


async def _slow(request: web.Request) -> web.Response:
    await asyncio.sleep(2)
    return web.json_response({})


async def _status(request: web.Request) -> web.Response:
    return web.Response(status=int(request.match_info["code"]), text="{}", headers={"Retry-After": "7"})


async def _echo(request: web.Request) -> web.Response:
    return web.json_response({"auth": request.headers.get("Authorization")})


@pytest.fixture
async def server() -> AsyncIterator[TestServer]:
    app = web.Application()
    app.router.add_get("/slow", _slow)
    app.router.add_get("/status/{code}", _status)
    app.router.add_get("/echo", _echo)
    async with TestServer(app, host="127.0.0.1") as srv:
        yield srv


def _response(status: int, **headers: str) -> HttpResponse:
    return HttpResponse(status, CIMultiDictProxy(CIMultiDict(headers)), b"", "src.example")


async def test_open_and_aclose_are_idempotent(server: TestServer) -> None:
    source = HttpSource(str(server.make_url("")), timeout_s=1)
    await source.open()
    session = source._session
    await source.open()
    assert source._session is session and isinstance(session, aiohttp.ClientSession)
    await source.aclose()
    assert session.closed and not source.is_open
    await source.aclose()


async def test_a_call_on_a_closed_source_is_unavailable() -> None:
    with pytest.raises(ProviderUnavailable, match="not open"):
        await HttpSource("http://127.0.0.1:1", timeout_s=1).get("/")


async def test_timeout_is_a_provider_timeout_naming_the_label(server: TestServer) -> None:
    source = HttpSource(str(server.make_url("")), label="slow.example", timeout_s=0.2)
    await source.open()
    try:
        with pytest.raises(ProviderTimeout, match=r"slow.example did not answer within 0.2 s"):
            await source.get("/slow")
    finally:
        await source.aclose()


async def test_refused_connection_is_unavailable_without_library_text() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    source = HttpSource(f"http://127.0.0.1:{port}", timeout_s=1)
    await source.open()
    try:
        with pytest.raises(ProviderUnavailable) as info:
            await source.get("/")
        assert info.value.message == f"cannot reach 127.0.0.1 ({type(info.value.__cause__).__name__})"
    finally:
        await source.aclose()


async def test_default_headers_can_change_after_open(server: TestServer) -> None:
    source = HttpSource(str(server.make_url("")), headers={"Authorization": "Bearer one"}, timeout_s=1)
    await source.open()
    try:
        assert (await source.get("/echo")).json() == {"auth": "Bearer one"}
        source.set_header("Authorization", "Bearer two")
        assert (await source.get("/echo")).json() == {"auth": "Bearer two"}
    finally:
        await source.aclose()


@pytest.mark.parametrize(
    ("status", "error"),
    [(401, ProviderAuthError), (403, ProviderAuthError), (429, ProviderRateLimited), (500, ProviderUnavailable),
     (503, ProviderUnavailable), (302, BadResponse), (404, BadResponse), (418, BadResponse)],
)
async def test_statuses_map_to_provider_errors(server: TestServer, status: int, error: type[Exception]) -> None:
    source = HttpSource(str(server.make_url("")), timeout_s=1)
    await source.open()
    try:
        response = await source.get(f"/status/{status}")
    finally:
        await source.aclose()
    with pytest.raises(error) as info:
        raise_for_status(response)
    if isinstance(info.value, ProviderRateLimited):
        assert info.value.retry_after == 7.0
    raise_for_status(_response(204))  # 2xx passes


def test_body_that_is_not_json_is_a_bad_response() -> None:
    with pytest.raises(BadResponse, match="src.example sent a body that is not JSON"):
        HttpResponse(200, CIMultiDictProxy(CIMultiDict()), b"<html>", "src.example").json()


def test_retry_after_forms() -> None:
    soon = datetime.now(UTC) + timedelta(seconds=30)
    assert retry_after(CIMultiDict({"Retry-After": "12"})) == 12.0
    assert 28 <= (retry_after(CIMultiDict({"Retry-After": format_datetime(soon, usegmt=True)})) or 0) <= 30
    assert retry_after(CIMultiDict({"Retry-After": "-5"})) == 0.0
    assert retry_after(CIMultiDict({"ratelimit-reset": "9"})) == 9.0
    assert retry_after(CIMultiDict({"X-RateLimit-Reset": "4.5"})) == 4.5
    epoch = str(int(soon.timestamp()))
    assert 28 <= (retry_after(CIMultiDict({"X-RateLimit-Reset": epoch})) or 0) <= 31
    assert retry_after(CIMultiDict({"Retry-After": "soon"})) is None
    assert retry_after(CIMultiDict({"Retry-After": "nan"})) is None
    assert retry_after(CIMultiDict()) is None


def test_status_error_never_carries_a_body() -> None:
    error = status_error(HttpResponse(500, CIMultiDictProxy(CIMultiDict()), b"secret=hunter2", "src.example"))
    assert "hunter2" not in error.message and "src.example" in error.message


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b'{"error": {"code": 2006, "message": "Invalid key sk-123"}}', "2006"),
        (b'{"error": {"code": "QuotaExceededError", "message": "x"}}', "QuotaExceededError"),
        (b'{"error": {"code": true}}', None),
        (b'{"error": {"code": "no spaces or <tags> allowed"}}', None),
        (b'{"error": "flat"}', None),
        (b"[]", None),
        (b"<html>", None),
    ],
)
def test_error_code_keeps_the_code_never_the_message(body: bytes, code: str | None) -> None:
    response = HttpResponse(400, CIMultiDictProxy(CIMultiDict()), body, "src.example")
    assert response.error_code == code


def test_status_error_names_the_detail() -> None:
    error = status_error(_response(400), "error code 2001")
    assert isinstance(error, BadResponse) and "src.example: HTTP 400, error code 2001" in error.message


class _Echo(HttpProvider[ProviderConfig]):
    type_name = "echo_test"

    def http_source(self) -> HttpSource:
        return HttpSource(self.base_url, headers={"Authorization": "Bearer t0ken"}, timeout_s=self.config.timeout_s)

    base_url = ""


async def test_an_http_provider_opens_and_closes_its_source_with_the_instance(server: TestServer) -> None:
    _Echo.base_url = str(server.make_url(""))
    provider = _Echo("echo", ProviderConfig(type="echo_test", timeout_s=1))
    assert not provider.http.is_open
    await provider.open()
    try:
        assert (await provider.http.get("/echo")).json() == {"auth": "Bearer t0ken"}
    finally:
        await provider.aclose()
    assert not provider.http.is_open


def test_an_http_provider_must_say_where_its_source_is() -> None:
    class Nowhere(HttpProvider[ProviderConfig]):
        type_name = "nowhere_test"

    with pytest.raises(NotImplementedError, match="Nowhere must define http_source"):
        Nowhere("n", ProviderConfig(type="nowhere_test"))


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(" https://api.example.com/ ", "https://api.example.com"), ("http://127.0.0.1:8080/v2", "http://127.0.0.1:8080/v2")],
)
def test_a_base_url_is_an_http_root(raw: str, expected: str) -> None:
    assert check_base_url(raw) == expected


@pytest.mark.parametrize(
    "raw", ["ftp://files.example.com", "api.example.com", "https://user:pw-123@api.example.com", "https://h/?key=pw-123"]
)
def test_a_base_url_with_credentials_or_another_scheme_is_refused_without_echoing_it(raw: str) -> None:
    with pytest.raises(ValueError) as info:
        check_base_url(raw)
    assert "pw-123" not in str(info.value)
