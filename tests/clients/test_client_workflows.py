"""batch(), iter_batch() and enrich() on both clients, against the real Positron server of conftest.py (uvicorn,
the demo's sample data); retries through the faulty HTTP front; and, for what a healthy server never does (a
stream cut mid-way, a stream that ends early, a server that ignores Accept), a scripted socket server replaying
lines the real server sent."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from positron_client import (
    AsyncPositron,
    AuthenticationError,
    BatchItem,
    ConnectionFailed,
    InvalidInput,
    ItemError,
    Observable,
    PermissionDenied,
    Person,
    Positron,
    QueryResult,
    Reputation,
    UnexpectedResponse,
    UnknownQuery,
    UserInfo,
)
from positron_client._workflows import parse_enrich

from tests.clients.conftest import Server
from tests.clients.faulty_proxy import FaultyProxy

EICAR_MD5 = "44d88612fea8a8f36de82e1278abb02f"
ALERT_TIME = datetime(2026, 11, 20, 12, tzinfo=UTC)
MIXED: list[Any] = [
    ("IP_TO_HOSTNAME", "10.20.0.42"),
    {"query": "NO_SUCH_QUERY", "value": "x"},
    ("ip_to_hostname", "not-an-ip"),
    BatchItem("IP_TO_HOSTNAME", "10.20.0.42", at=ALERT_TIME),
    ("user-manager", "CORP\\jdoe"),
    {"query": "HASH_REPUTATION", "value": EICAR_MD5.upper(), "at": None},
    ("IP_TO_HOSTNAME", "10.20.0.42", "2026-11-20T12:00:00Z"),  # the same work as item 3: runs once, answered twice
]
SPLUNK_WEBHOOK = {
    "search_name": "Malware on endpoint",
    "sid": "scheduler__admin__search__RMD5e1e0e3ea",
    "results_link": "https://splunk.corp.example:8000/app/search/@go?sid=scheduler__admin__search__RMD5e1e0e3ea",
    "app": "search",
    "owner": "admin",
    "result": {"user": "CORP\\jdoe", "md5": EICAR_MD5, "src_ip": "10.20.0.42", "_time": "2026-11-20T12:00:00+00:00"},
}


@pytest.fixture
def positron(server: Server) -> Iterator[Positron]:
    with Positron(server.url, server.key) as client:
        yield client


def check_mixed(results: list[Any]) -> None:
    assert [r.index for r in results] == list(range(len(MIXED)))
    assert [r.status for r in results] == [200, 404, 422, 200, 200, 200, 200]
    assert [r.ok for r in results] == [True, False, False, True, True, True, True]
    assert results[0].result.best == "ws-042.corp.example" and results[0].error is None
    assert results[1].result is None and results[1].error.code == "unknown_query"
    assert "expected an IPv4" in results[2].error.message
    assert results[3].result.best == "laptop-7" and results[3].result.at == ALERT_TIME
    assert isinstance(results[4].result, QueryResult) and isinstance(results[4].result.best, Person)
    assert results[4].result.best.username == "asmith"
    assert results[5].result.best == Reputation(
        "malicious", malicious=1, total=1, label="eicar-test-file", link=results[5].result.best.link
    )
    assert results[6].result.answers == results[3].result.answers


def test_batch_is_typed_in_request_order_with_each_items_own_error(positron: Positron) -> None:
    results = positron.batch(MIXED, no_cache=True, tlp="amber")
    check_mixed(results)
    assert results[0].unwrap() is results[0].result
    with pytest.raises(UnknownQuery, match="unknown query 'NO_SUCH_QUERY'") as unknown:
        results[1].unwrap()
    with pytest.raises(InvalidInput) as invalid:
        results[2].unwrap()
    assert (unknown.value.status_code, invalid.value.status_code, invalid.value.code) == (404, 422, "invalid_input")


def test_iter_batch_yields_every_index_exactly_once_as_results_finish(positron: Positron) -> None:
    items = [*MIXED, *[("HASH_REPUTATION", f"{n:032x}") for n in range(40)]]
    seen: list[int] = []
    for done, result in enumerate(positron.iter_batch(items), start=1):  # how a caller shows progress
        seen.append(result.index)
        assert done == len(seen) <= len(items)
    assert sorted(seen) == list(range(len(items)))
    by_index = {r.index: r for r in positron.iter_batch(MIXED)}
    check_mixed([by_index[i] for i in range(len(MIXED))])


def test_iter_batch_can_be_left_early_and_the_client_goes_on(positron: Positron) -> None:
    for result in positron.iter_batch([("USER_GROUPS", "jdoe"), ("USER_GROUPS", "asmith")]):
        assert result.ok
        break
    assert positron.batch([("USER_GROUPS", "jdoe")])[0].unwrap().best == ["SOC Analysts", "VPN Users"]


def test_enrich_a_splunk_webhook_into_markdown_and_typed_results(positron: Positron) -> None:
    enriched = positron.enrich(SPLUNK_WEBHOOK)
    assert enriched.at == ALERT_TIME and enriched.title == "Malware on endpoint"
    assert "Alice Smith" in enriched.markdown and "laptop-7" in enriched.markdown  # the manager; the host back then
    by_value = {o.value: o for o in enriched.observables}
    user, ip, md5 = by_value["jdoe"], by_value["10.20.0.42"], by_value[EICAR_MD5]
    assert (user.type, user.field, ip.type, md5.type) == ("username", "user", "ip", "hash")
    assert user.results["USER_MANAGER"].best == Person(
        "asmith", "Alice Smith", "alice.smith@corp.example", "SOC Manager"
    )
    assert isinstance(user.results["USER_INFO"].best, UserInfo)
    assert ip.results["IP_TO_HOSTNAME"].best == "laptop-7" and ip.results["IP_TO_HOSTNAME"].at == ALERT_TIME
    assert md5.results["HASH_REPUTATION"].best.verdict == "malicious"
    assert all(o.errors == {} for o in enriched.observables)
    wrapped = positron.enrich({"alert": SPLUNK_WEBHOOK}, queries=["user_manager"])
    assert [list(o.results) for o in wrapped.observables if o.results] == [["USER_MANAGER"]]


def test_enrich_typed_observables_with_a_query_subset_and_a_time(positron: Positron) -> None:
    enriched = positron.enrich(
        [Observable("ip", "10.20.0.42"), ("ip", "10.20.0.17"), {"type": "username", "value": "jdoe"}],
        queries=["ip_to_hostname", "USER_MANAGER"],
        at=ALERT_TIME,
    )
    assert enriched.title is None and enriched.at == ALERT_TIME
    results = {o.value: {q: r.best for q, r in o.results.items()} for o in enriched.observables}
    assert results["10.20.0.42"] == {"IP_TO_HOSTNAME": "laptop-7"}
    assert results["10.20.0.17"] == {"IP_TO_HOSTNAME": "ws-017.corp.example"}
    assert results["jdoe"]["USER_MANAGER"].username == "asmith"
    assert "ws-017.corp.example" in enriched.markdown


def test_invalid_requests_are_invalid_input_with_the_servers_words(positron: Positron) -> None:
    with pytest.raises(InvalidInput):
        positron.batch([])
    with pytest.raises(InvalidInput, match=r"items\.0\.at"):
        positron.batch([("IP_TO_HOSTNAME", "10.20.0.42", "yesterday")])
    with pytest.raises(InvalidInput, match=r"items\.0\.at"):
        list(positron.iter_batch([("IP_TO_HOSTNAME", "10.20.0.42", "yesterday")]))
    with pytest.raises(InvalidInput, match="expected 'observables'"):
        positron.enrich({})
    with pytest.raises(InvalidInput, match="unknown NOPE"):
        positron.enrich([("ip", "10.20.0.42")], queries=["NOPE"])
    with pytest.raises(InvalidInput, match=r"observables\.0\.value"):
        positron.enrich([("ip", "not-an-ip")])


def test_malformed_items_are_type_errors_before_anything_is_sent(positron: Positron) -> None:
    with pytest.raises(TypeError, match="a batch item is BatchItem"):
        positron.batch([("IP_TO_HOSTNAME",)])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="an observable is"):
        positron.enrich([("ip", "10.20.0.42", "extra")])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="not a string"):
        positron.enrich("10.20.0.42")  # type: ignore[arg-type]


def test_keys_without_rights_get_403_items_and_a_wrong_key_a_401(server: Server) -> None:
    with Positron(server.url, server.nobody_key) as nobody:
        results = nobody.batch([("IP_TO_HOSTNAME", "10.20.0.42"), ("USER_MANAGER", "jdoe")])
        assert all(o.results == {} for o in nobody.enrich(SPLUNK_WEBHOOK).observables)  # nothing it may run
    assert [r.status for r in results] == [403, 403]
    with pytest.raises(PermissionDenied, match="you may not run USER_MANAGER"):
        results[1].unwrap()
    with Positron(server.url, "not-the-key-0123456789abcdef") as wrong:
        for call in (lambda: wrong.batch(MIXED), lambda: list(wrong.iter_batch(MIXED)), lambda: wrong.enrich({})):
            with pytest.raises(AuthenticationError):
                call()


async def test_the_async_client_batches_streams_and_enriches_alike(server: Server) -> None:
    async with AsyncPositron(server.url, server.key) as positron:
        check_mixed(await positron.batch(MIXED))
        streamed = [r async for r in positron.iter_batch(MIXED)]
        enriched = await positron.enrich(SPLUNK_WEBHOOK, at="2026-11-21T10:00:00Z")
        with pytest.raises(InvalidInput, match="expected 'observables'"):
            await positron.enrich({"alert": {}})
        async for _ in positron.iter_batch([("USER_GROUPS", "jdoe"), ("USER_GROUPS", "asmith")]):
            break  # left early; the client goes on
        assert (await positron.batch([("USER_GROUPS", "jdoe")]))[0].ok
    check_mixed(sorted(streamed, key=lambda r: r.index))
    assert enriched.at == datetime(2026, 11, 21, 10, tzinfo=UTC)
    assert "Alice Smith" in enriched.markdown


# --- retries through the faulty front ---------------------------------------------------------------------------


def test_batch_stream_and_enrich_are_retried_like_query_before_any_result(proxy: FaultyProxy, server: Server) -> None:
    with Positron(proxy.url, server.key, backoff_s=0.01, max_retries=2) as positron:
        proxy.fail(503)
        proxy.drop()
        check_mixed(positron.batch(MIXED))
        proxy.fail(502)
        proxy.fail(504)
        assert sorted(r.index for r in positron.iter_batch(MIXED)) == list(range(len(MIXED)))
        proxy.drop()
        assert "laptop-7" in positron.enrich(SPLUNK_WEBHOOK).markdown
    assert [r.path for r in proxy.requests] == ["/v1/batch"] * 6 + ["/v1/enrich"] * 2
    assert proxy.requests[3].headers["Accept"] == "application/x-ndjson"


# --- what a healthy server never does: a scripted socket server ----------------------------------------------


class Scripted:
    """Answers every request on a loopback socket with the given raw bytes, then closes the connection."""

    def __init__(self, raw: bytes) -> None:
        self.raw, self.requests = raw, 0
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            with conn, conn.makefile("rb") as request:
                length = 0
                while (line := request.readline()) not in (b"\r\n", b""):  # read it all: unread bytes → a reset
                    name, _, value = line.partition(b":")
                    length = int(value) if name.lower() == b"content-length" else length
                request.read(length)
                self.requests += 1
                conn.sendall(self.raw)

    def close(self) -> None:
        self._sock.close()


def real_lines(server: Server) -> list[bytes]:
    body = {"items": [{"query": "IP_TO_HOSTNAME", "value": "10.20.0.42"}]}
    headers = {"Authorization": f"Bearer {server.key}", "Accept": "application/x-ndjson"}
    return httpx.post(f"{server.url}/v1/batch", json=body, headers=headers).content.splitlines(keepends=True)


def chunked(*lines: bytes, end: bool) -> bytes:
    head = b"HTTP/1.1 200 OK\r\ncontent-type: application/x-ndjson\r\ntransfer-encoding: chunked\r\n\r\n"
    return head + b"".join(b"%x\r\n%s\r\n" % (len(x), x) for x in lines) + (b"0\r\n\r\n" if end else b"")


@pytest.fixture
def scripted() -> Iterator[list[Scripted]]:
    started: list[Scripted] = []
    yield started
    for s in started:
        s.close()


def test_a_stream_cut_after_a_result_is_not_retried(server: Server, scripted: list[Scripted]) -> None:
    cut = Scripted(chunked(*real_lines(server), end=False))
    scripted.append(cut)
    got: list[int] = []
    items = [("IP_TO_HOSTNAME", "10.20.0.42"), ("IP_TO_HOSTNAME", "10.20.0.17")]
    with Positron(cut.url, server.key, max_retries=3, backoff_s=0.01) as positron:
        with pytest.raises(ConnectionFailed, match="dropped after 1 of 2 batch results") as broken:
            got.extend(r.index for r in positron.iter_batch(items))
    assert got == [0] and cut.requests == 1 and "not retried" in broken.value.message


async def test_async_stream_cut_is_not_retried_and_an_early_end_is_unexpected(
    server: Server, scripted: list[Scripted]
) -> None:
    lines = real_lines(server)
    cut, short = Scripted(chunked(*lines, end=False)), Scripted(chunked(*lines, end=True))
    scripted.extend([cut, short])
    items = [("IP_TO_HOSTNAME", "10.20.0.42"), ("IP_TO_HOSTNAME", "10.20.0.17")]
    async with AsyncPositron(cut.url, server.key, max_retries=3, backoff_s=0.01) as positron:
        with pytest.raises(ConnectionFailed, match="dropped after 1 of 2"):
            [r async for r in positron.iter_batch(items)]
    async with AsyncPositron(short.url, server.key, max_retries=3) as positron:
        with pytest.raises(UnexpectedResponse, match="ended after 1 of 2 results"):
            [r async for r in positron.iter_batch(items)]
    assert (cut.requests, short.requests) == (1, 1)
    with Positron(short.url, server.key) as sync_positron, pytest.raises(UnexpectedResponse, match="1 of 2"):
        list(sync_positron.iter_batch(items))


def test_a_server_that_ignores_accept_still_streams_its_json_results(server: Server, scripted: list[Scripted]) -> None:
    result = json.loads(real_lines(server)[0])
    body = json.dumps({"results": [{**result, "index": 1}, {**result, "index": 0}], "took_ms": 1.0}).encode()
    plain = Scripted(
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body)
    )
    scripted.append(plain)
    with Positron(plain.url, server.key) as positron:
        assert [r.index for r in positron.iter_batch([("IP_TO_HOSTNAME", "10.20.0.42")] * 2)] == [0, 1]


def test_enrich_results_that_failed_are_typed_errors() -> None:
    raw = {
        "at": None,
        "title": None,
        "markdown": "",
        "took_ms": 1.0,
        "observables": [
            {
                "type": "ip",
                "value": "10.0.0.1",
                "field": None,
                "results": {"IP_TO_MAC": {"error": {"code": "forbidden", "message": "you may not run IP_TO_MAC"}}},
            }
        ],
    }
    observable = parse_enrich(raw).observables[0]
    assert observable.results == {} and observable.errors == {
        "IP_TO_MAC": ItemError("forbidden", "you may not run IP_TO_MAC")
    }
