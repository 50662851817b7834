"""The analysts' lookup page at / in a real headless Chromium against a real server: the key goes into the tab's
sessionStorage, a query with a value and a time shows the merged answer, the alternatives, the conflict and every
provider's status — the same as the API says — with nothing from a CDN and nothing the page's CSP (no
'unsafe-inline') had to block. The screenshot lands in test-artifacts/ for a person to look at."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import yaml

from positron.api.middleware import LOOKUP_CSP
from positron.demo import demo_config
from tests.clients.cdp import Chromium
from tests.clients.conftest import Server
from tests.support.apps import client
from tests.support.servers import positron_server

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT = ROOT / "test-artifacts" / "lookup_page_ip_to_hostname.png"
AT = "2026-11-20T12:00:00Z"


def api(server: Server, query: str, body: dict[str, Any]) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {server.key}"}
    result: dict[str, Any] = httpx.post(f"{server.url}/v1/queries/{query}", json=body, headers=headers).json()
    return result


def choose(browser: Chromium, query: str) -> None:
    """Pick an option as a user's selection does: set it and fire the change event the page listens to."""
    browser.wait_for(f"[...document.querySelectorAll('#query option')].some(o => o.value === {json.dumps(query)})")
    browser.evaluate(
        f"(() => {{ const s = document.querySelector('#query'); s.value = {json.dumps(query)};"
        " s.dispatchEvent(new Event('change')); })()"
    )


def look_up(browser: Chromium, value: str, at: str = "") -> dict[str, Any]:
    browser.type_into("#value", value)
    if at:
        browser.type_into("#at", at)
    browser.evaluate("document.querySelector('#result-title').textContent = ''")
    browser.click("#run")
    browser.wait_for("document.querySelector('#result-title').textContent !== ''")
    shown: dict[str, Any] = browser.evaluate(
        """(() => ({
            title: document.querySelector('#result-title').innerText,
            answer: document.querySelector('#answer .value')?.innerText ?? null,
            answerText: document.querySelector('#answer').innerText,
            alternatives: [...document.querySelectorAll('#alternatives li.alt .value')].map(e => e.innerText),
            conflict: !document.querySelector('#conflict').hidden,
            providers: [...document.querySelectorAll('#providers tbody tr')].map(
                r => [...r.cells].map(c => c.innerText)),
        }))()"""
    )
    return shown


def test_an_analyst_looks_up_an_ip_at_alert_time_and_a_conflicting_manager(tmp_path: Path, server: Server) -> None:
    base = server.url
    with Chromium(tmp_path / "profile") as browser:
        browser.send("Log.enable")
        browser.send("Runtime.enable")
        browser.navigate(f"{base}/")
        browser.wait_for("document.querySelector('#key') !== null && document.readyState === 'complete'")
        browser.type_into("#key", server.key)
        browser.click("#key-use")
        choose(browser, "IP_TO_HOSTNAME")
        ip = look_up(browser, "10.20.0.42", AT)
        browser.screenshot(SCREENSHOT)
        choose(browser, "USER_MANAGER")
        at_disabled = browser.evaluate("document.querySelector('#at').disabled")  # USER_MANAGER takes no time
        manager = look_up(browser, "CORP\\bwhite")
        stored = browser.evaluate("[sessionStorage.getItem('positron.apiKey'), localStorage.length, document.cookie]")
        key_field = browser.evaluate("document.querySelector('#key').value")
        browser.navigate(f"{base}/")  # a reload in the same tab keeps the key: no typing needed
        choose(browser, "HASH_REPUTATION")
        reputation = look_up(browser, "44d88612fea8a8f36de82e1278abb02f")
        requested = browser.requested_urls()
        events = list(browser.events)

    expected = api(server, "IP_TO_HOSTNAME", {"value": "10.20.0.42", "at": AT})
    assert ip["title"] == "IP_TO_HOSTNAME 10.20.0.42 at 2026-11-20T12:00:00+00:00"
    assert ip["answer"] == expected["answer"]["value"] == "laptop-7"
    assert f"confidence {expected['answer']['confidence']:.2f}" in ip["answerText"]
    assert ip["alternatives"] == [a["value"] for a in expected["answers"][1:]]
    assert ip["conflict"] is expected["conflict"]
    assert [(row[0], row[2]) for row in ip["providers"]] == [(p["name"], p["status"]) for p in expected["providers"]]

    expected = api(server, "USER_MANAGER", {"value": "CORP\\bwhite"})
    assert at_disabled is True
    assert manager["conflict"] is expected["conflict"]
    assert manager["answer"].startswith(f"username: {expected['answer']['value']['username']}")
    assert len(manager["alternatives"]) == len(expected["answers"]) - 1 >= 1  # the demo's HR export disagrees

    assert reputation["answer"].startswith("verdict: malicious")
    assert stored == [server.key, 0, ""] and key_field == ""  # sessionStorage only; the field is cleared
    # offline: page, script, styles and API calls all from the server itself
    assert f"{base}/static/lookup/lookup.js" in requested and f"{base}/static/lookup/lookup.css" in requested
    assert [u for u in requested if not u.startswith(base)] == []
    problems = [e for e in events if e["method"] in ("Runtime.exceptionThrown", "Log.entryAdded")]
    problems = [e for e in problems if e["params"].get("entry", {}).get("level", "error") in ("error", "warning")]
    problems = [e for e in problems if "favicon.ico" not in json.dumps(e)]
    assert problems == []  # no script error, no CSP violation report
    assert SCREENSHOT.read_bytes().startswith(b"\x89PNG") and SCREENSHOT.stat().st_size > 20_000


def test_a_conflict_is_flagged_and_keys_without_rights_say_so(tmp_path: Path) -> None:
    """A server where any disagreement is a conflict (conflict_margin 1): the manager HR and the inventory disagree
    about is flagged; a key with no group and a wrong key get a message, not an empty page."""
    config = demo_config("unused")
    del config["demo"], config["server"]
    config["engine"] = {"conflict_margin": 1.0}
    config["api_keys"] = [
        {"principal": "analyst", "key": {"env": "LOOKUP_ADMIN_KEY"}, "groups": ["admins"]},
        {"principal": "nobody", "key": {"env": "LOOKUP_NOBODY_KEY"}},
    ]
    path = tmp_path / "positron.yaml"
    path.write_text(yaml.safe_dump(config))
    keys = {"LOOKUP_ADMIN_KEY": "lookup-admin-key-0123456789abcdef", "LOOKUP_NOBODY_KEY": "lookup-nobody-0123456789ab"}
    with positron_server("--config", str(path), env={**keys, "POSITRON_CONFIG": ""}) as (base, _):
        with Chromium(tmp_path / "profile") as browser:
            browser.navigate(f"{base}/")
            browser.wait_for("document.readyState === 'complete'")
            browser.type_into("#key", keys["LOOKUP_ADMIN_KEY"])
            browser.click("#key-use")
            choose(browser, "USER_MANAGER")
            manager = look_up(browser, "CORP\\bwhite")
            banner = browser.text("#conflict")
            browser.type_into("#key", keys["LOOKUP_NOBODY_KEY"])
            browser.click("#key-use")
            nobody = browser.wait_for("document.querySelector('#status.error')?.innerText")
            browser.type_into("#key", "not-a-key-0123456789abcdef")
            browser.click("#key-use")
            browser.wait_for("document.querySelector('#status').innerText.startsWith('Could not')")
            wrong = browser.text("#status")
            browser.click("#key-forget")
            forgotten = browser.evaluate("sessionStorage.length")
    assert manager["conflict"] is True and banner.startswith("Conflict: hr_export, inventory disagree")
    assert len(manager["alternatives"]) >= 1
    assert nobody == "This key may run no query: ask an admin for a group."
    assert wrong == "Could not list the queries: invalid or missing API key"
    assert forgotten == 0


async def test_the_page_is_plain_files_with_a_strict_csp() -> None:
    async with client({}) as c:
        page = await c.get("/")
        script = await c.get("/static/lookup/lookup.js")
        style = await c.get("/static/lookup/lookup.css")
    csp = page.headers["content-security-policy"]
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert csp == LOOKUP_CSP and "unsafe-inline" not in csp and "script-src 'self'" in csp
    assert "<script>" not in page.text and " style=" not in page.text and not re.search(r" on[a-z]+=", page.text)
    assert script.status_code == style.status_code == 200
    assert "innerHTML" not in script.text  # answers come from other systems: text only


async def test_the_page_can_be_turned_off() -> None:
    async with client({}, server={"lookup_page": False}) as c:
        assert (await c.get("/")).status_code == 404
        assert (await c.get("/static/lookup/lookup.js")).status_code == 404
