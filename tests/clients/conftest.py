"""One real Positron server for the client and analyzer tests: the demo's sample data behind a config with two
keys, an admin's and one that carries no group (so every query is a 403 for it under the shipped policy)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from positron.demo import demo_config
from tests.clients.faulty_proxy import FaultyProxy
from tests.support.servers import positron_server

ADMIN_KEY = "client-tests-admin-key-0123456789abcdef"
NOBODY_KEY = "client-tests-nobody-key-0123456789abcde"


@dataclass(frozen=True, slots=True)
class Server:
    url: str
    key: str
    nobody_key: str


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    config = demo_config("unused")
    del config["demo"], config["server"]
    config["api_keys"] = [
        {"principal": "analyst", "key": {"env": "CLIENT_TESTS_ADMIN_KEY"}, "groups": ["admins"]},
        {"principal": "nobody", "key": {"env": "CLIENT_TESTS_NOBODY_KEY"}},
    ]
    path: Path = tmp_path_factory.mktemp("positron") / "positron.yaml"
    path.write_text(yaml.safe_dump(config))
    env = {"CLIENT_TESTS_ADMIN_KEY": ADMIN_KEY, "CLIENT_TESTS_NOBODY_KEY": NOBODY_KEY, "POSITRON_CONFIG": ""}
    with positron_server("--config", str(path), env=env) as (url, _):
        yield Server(url, ADMIN_KEY, NOBODY_KEY)


@pytest.fixture
def proxy(server: Server) -> Iterator[FaultyProxy]:
    with FaultyProxy(server.url) as front:
        yield front
