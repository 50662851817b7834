"""The verdict across VirusTotal, MISP, a blocklist and AbuseIPDB, end to end through the API against their
emulators (docs/verdicts.md): an engine false positive cleared by a local allowlist or a MISP false-positive
decision, and a listing that nothing clears."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.emulators.abuseipdb import AbuseIpdbEmulator
from tests.emulators.misp import MispEmulator
from tests.emulators.virustotal import VirusTotalEmulator
from tests.security.support import auth, client

VT_KEY, MISP_KEY, ABUSE_KEY = "vt-verdict-key", "misp-verdict-key", "abuse-verdict-key"
RELAY = "9.9.9.9"  # our mail relay: VirusTotal's engines flag it by mistake
SCANNER = "1.1.1.1"  # a research scanner: MISP analysts recorded false positives
C2 = "8.8.4.4"  # a real C2: everyone agrees


@pytest.fixture
async def sources(tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    (tmp_path / "allow.txt").write_text(f"# reviewed 2026-11-30: outbound relay, VT FP\n{RELAY}\n")
    (tmp_path / "drop.txt").write_text(f"; drop\n{C2}/32 ; SBL1\n")
    async with (
        VirusTotalEmulator(VT_KEY) as vt,
        MispEmulator(MISP_KEY) as misp,
        AbuseIpdbEmulator(ABUSE_KEY) as abuse,
    ):
        for ip in (RELAY, SCANNER, C2):
            vt.add_ip(ip, stats={"malicious": 9, "harmless": 60, "undetected": 10})
        scanners = misp.add_event("Research scanners", threat_level_id=4)
        yesterday = int(time.time()) - 86_400  # a recent decision: old ones fade like every observation
        misp.add_attribute(scanners, "ip-src", SCANNER, sightings=[("1", yesterday), ("1", yesterday + 60)])
        c2 = misp.add_event("Emotet C2", threat_level_id=1)
        misp.add_attribute(c2, "ip-dst", C2)
        abuse.add_ip(C2, score=100, reports=80, users=40)
        base = {"rate_limits": [], "allow_internal": False}
        yield {
            "virustotal": {"type": "virustotal", "api_key": VT_KEY, "base_url": vt.base_url, "weight": 0.8, **base},
            "misp": {"type": "misp", "api_key": MISP_KEY, "base_url": misp.base_url, "weight": 0.9},
            "abuseipdb": {"type": "abuseipdb", "api_key": ABUSE_KEY, "base_url": abuse.base_url, "weight": 0.7, **base},
            "blocklists": {
                "type": "blocklist",
                "weight": 1.0,
                "feeds": [
                    {"name": "drop", "path": str(tmp_path / "drop.txt"), "kinds": ["ip"]},
                    {"name": "allow", "path": str(tmp_path / "allow.txt"), "verdict": "harmless", "confidence": 1.0},
                ],
            },
        }


async def reputation(providers: dict[str, Any], ip: str) -> dict[str, Any]:
    async with client(providers) as c:
        r = await c.post("/v1/queries/IP_REPUTATION", json={"value": ip}, headers=auth("root"))
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def test_a_local_allowlist_clears_a_virustotal_false_positive(sources: dict[str, Any]):
    body = await reputation(sources, RELAY)
    value = body["answer"]["value"]
    assert (value["verdict"], value["allowlisted"], value["malicious"]) == ("harmless", True, 9)
    assert body["conflict"] is True and body["details"]["cleared_by"] == ["blocklists"]
    assert body["details"]["votes"] == {"malicious": ["virustotal"], "harmless": ["blocklists"]}


async def test_misp_false_positive_sightings_clear_a_virustotal_false_positive(sources: dict[str, Any]):
    body = await reputation(sources, SCANNER)
    assert body["answer"]["value"]["verdict"] == "harmless" and body["details"]["cleared_by"] == ["misp"]
    assert body["answer"]["value"]["label"] == "Research scanners"


async def test_without_a_clearance_the_listings_win(sources: dict[str, Any]):
    body = await reputation(sources, C2)
    value = body["answer"]["value"]
    assert value["verdict"] == "malicious" and not value["allowlisted"] and body["conflict"] is False
    assert body["details"]["votes"] == {"malicious": ["abuseipdb", "blocklists", "misp", "virustotal"]}
    statuses = {p["name"]: p["status"] for p in body["providers"]}
    assert statuses == dict.fromkeys(("virustotal", "misp", "abuseipdb", "blocklists"), "ok")
