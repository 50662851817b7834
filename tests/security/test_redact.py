"""The log redaction itself: every configured secret, in any part of any log record, from any logger."""

from __future__ import annotations

import base64
import logging
from urllib.parse import quote

import pytest

from positron.config import parse_settings
from positron.security import redact
from tests.support.apps import registry

SECRET = "s3cr3t/with+chars=&more"


@pytest.fixture(autouse=True)
def installed() -> None:
    settings = parse_settings(
        {"providers": {"vt": {"type": "virustotal", "api_key": SECRET}}, "api_keys": []}, registry()
    )
    assert SECRET in redact.secret_values(settings)
    redact.install(redact.secret_values(settings))


def test_a_secret_is_masked_in_messages_arguments_and_any_logger(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    logging.getLogger("some.library").debug("GET https://api.example/?key=%s", SECRET)
    logging.getLogger("aiohttp.client").warning(f"headers: {{'x-apikey': '{SECRET}'}}")
    logging.getLogger("x").info("url %s, b64 %s", quote(SECRET, safe=""), base64.b64encode(SECRET.encode()).decode())
    logging.getLogger("y").info("an object %s", {"password": SECRET})  # str() of a non-string argument
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [
        "GET https://api.example/?key=**********",
        "headers: {'x-apikey': '**********'}",
        "url **********, b64 **********",
        "an object {'password': '**********'}",
    ]
    assert SECRET not in caplog.text


def test_exception_text_is_masked_and_harmless_arguments_are_kept(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    try:
        raise ConnectionError(f"cannot connect to ldap://svc:{SECRET}@dc1:389")
    except ConnectionError:
        logging.getLogger("ldap3").exception("bind failed")
    logging.getLogger("uvicorn.access").info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5", "GET", "/health", "1.1", 200)
    failed, access = caplog.records
    assert (
        "Traceback" in caplog.text and "ConnectionError: cannot connect to ldap://svc:**********@dc1:389" in caplog.text
    )
    assert SECRET not in caplog.text and failed.exc_info is None
    assert access.args == ("127.0.0.1:5", "GET", "/health", "1.1", 200)  # untouched: uvicorn's formatter reads them


def test_short_values_are_not_treated_as_secrets() -> None:
    redact.install(["abc"])
    assert redact.scrub("abc and abcdef") == "abc and abcdef"
