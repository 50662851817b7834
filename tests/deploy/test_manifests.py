"""The deploy files and docs/deploy.md agree: one documented image name and tag, no shipped Secret, and a
``kubectl create secret`` command that fills exactly the variables the shipped config refers to."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import yaml

from positron import __version__

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
DOC = (ROOT / "docs" / "deploy.md").read_text()
IMAGE = f"positron-broker:{__version__}"


def env_refs(value: Any) -> set[str]:
    if isinstance(value, dict):
        if set(value) == {"env"}:
            return {value["env"]}
        return {name for item in value.values() for name in env_refs(item)}
    if isinstance(value, list):
        return {name for item in value for name in env_refs(item)}
    return set()


def test_one_image_name_and_tag_everywhere() -> None:
    deployment = yaml.safe_load((DEPLOY / "k8s" / "deployment.yaml").read_text())
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["image"] == IMAGE
    kustomization = yaml.safe_load((DEPLOY / "k8s" / "kustomization.yaml").read_text())
    assert {"name": "positron-broker", "newTag": __version__} in kustomization["images"]
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    assert compose["x-positron"]["image"] == IMAGE
    assert f"docker build -f deploy/Dockerfile -t {IMAGE} ." in DOC
    assert f"-t {IMAGE} ." in (DEPLOY / "Dockerfile").read_text()


def test_no_secret_is_shipped_and_the_documented_command_fills_what_the_config_needs() -> None:
    shipped = [doc for p in (DEPLOY / "k8s").glob("*.yaml") for doc in yaml.safe_load_all(p.read_text()) if doc]
    assert not [d for d in shipped if d.get("kind") == "Secret"]
    assert "changeme" not in "".join(p.read_text() for p in (DEPLOY / "k8s").glob("*.yaml"))
    command = re.search(r"kubectl -n positron create secret generic positron-secrets(.*?)\n(?!\s)", DOC, re.S)
    assert command is not None
    words = shlex.split(command.group(1).replace("\\\n", " "))
    filled = {w.split("=", 1)[1].split("=", 1)[0] for w in words if w.startswith("--from-literal=")}
    config = yaml.safe_load((DEPLOY / "positron.yaml").read_text())
    assert filled == env_refs(config) == {"POSITRON_KEY_SOC", "VT_API_KEY", "POSITRON_REDIS_URL"}
