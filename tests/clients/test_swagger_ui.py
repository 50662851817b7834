"""Swagger UI at /docs in a real headless Chromium against a real server: it loads with no internet, the Authorize
button takes the bearer key, and "Try it out" on IP_TO_HOSTNAME returns the answer. The screenshot lands in
test-artifacts/ for a person to look at."""

from __future__ import annotations

from pathlib import Path

from tests.clients.cdp import Chromium
from tests.clients.conftest import Server

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT = ROOT / "test-artifacts" / "swagger_ui_ip_to_hostname.png"
OP = "#operations-queries-query_IP_TO_HOSTNAME"


def _execute_and_wait(browser: Chromium, status: str) -> str:
    browser.click(f"{OP} .execute")
    cell = f"{OP} .live-responses-table tbody .response-col_status"
    browser.wait_for(f"(document.querySelector('{cell}') || {{}}).innerText === '{status}'")
    return browser.text(f"{OP} .live-responses-table tbody .response-col_description")


def test_swagger_ui_authorizes_and_runs_ip_to_hostname_offline(tmp_path: Path, server: Server) -> None:
    base, key = server.url, server.key
    with Chromium(tmp_path / "profile") as browser:
        browser.navigate(f"{base}/docs")
        browser.wait_for(f"document.querySelector('{OP}') !== null")
        browser.click(f"{OP} .opblock-summary-control")
        browser.click(f"{OP} .try-out__btn")
        body = browser.wait_for(f"document.querySelector('{OP} textarea.body-param__text')?.value")
        unauthorized = _execute_and_wait(browser, "401")

        browser.click(".btn.authorize")
        browser.type_into("#auth-bearer-value", key)
        browser.click(".auth-btn-wrapper .authorize")
        browser.wait_for("document.querySelector('.auth-btn-wrapper .btn-done') !== null")
        authorized = browser.text(".auth-container")
        browser.click(".auth-btn-wrapper .btn-done")

        answer = _execute_and_wait(browser, "200")
        curl = browser.text(f"{OP} .curl-command")
        browser.evaluate(f"document.querySelector('{OP} .live-responses-table').scrollIntoView({{block: 'center'}})")
        browser.screenshot(SCREENSHOT)
        requested = browser.requested_urls()

    assert body.replace(" ", "").replace("\n", "") == '{"value":"10.20.0.42"}'  # the example runs as it is
    assert "invalid or missing API key" in unauthorized
    assert "Authorized" in authorized and key not in authorized  # the modal masks the key once applied
    assert f"Authorization: Bearer {key}" in curl
    assert '"query": "IP_TO_HOSTNAME"' in answer
    assert '"value": "ws-042.corp.example"' in answer
    # offline: the page, Swagger UI's JS/CSS and the spec all came from the server itself, nothing from a CDN
    assert f"{base}/static/swagger/swagger-ui-bundle.js" in requested
    assert [url for url in requested if not url.startswith((base, "data:"))] == []
    assert SCREENSHOT.read_bytes().startswith(b"\x89PNG") and SCREENSHOT.stat().st_size > 20_000
