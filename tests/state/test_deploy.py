"""deploy/ stays consistent: the shipped config validates, the ConfigMap carries the same config, the compose file
runs two replicas on one Redis, and Kubernetes probes /health and /ready."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from positron.config import parse_settings
from positron.errors import ConfigError
from positron.registry import Registry

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
ENV = {"POSITRON_REDIS_URL": "redis://redis:6379/0", "POSITRON_KEY_SOC": "k" * 32, "VT_API_KEY": "vt-key"}


def manifests() -> dict[str, dict[str, Any]]:
    found = {}
    for path in sorted((DEPLOY / "k8s").glob("*.yaml")):
        if path.stem == "kustomization":
            continue
        for doc in yaml.safe_load_all(path.read_text()):
            found[f"{doc['kind']}/{doc['metadata']['name']}"] = doc
    return found


def test_the_shipped_config_validates_and_the_configmap_is_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    shipped = yaml.safe_load((DEPLOY / "positron.yaml").read_text())
    in_cluster = yaml.safe_load(manifests()["ConfigMap/positron-config"]["data"]["positron.yaml"])
    assert in_cluster == shipped
    settings = parse_settings(shipped, Registry.from_entry_points())
    assert settings.redis.url is not None and settings.redis.url.get_secret_value() == ENV["POSITRON_REDIS_URL"]
    monkeypatch.setenv("POSITRON_KEY_SOC", "changeme")
    with pytest.raises(ConfigError, match="placeholder"):  # a placeholder never starts a server
        parse_settings(shipped, Registry.from_entry_points())


def test_kubernetes_runs_replicas_with_probes_config_and_secrets() -> None:
    found = manifests()
    assert set(found) >= {
        "Namespace/positron",
        "ConfigMap/positron-config",
        "Deployment/positron",
        "Service/positron",
        "Deployment/positron-redis",
        "Service/positron-redis",
    }
    kustomized = yaml.safe_load((DEPLOY / "k8s" / "kustomization.yaml").read_text())["resources"]
    assert sorted(kustomized) == sorted(p.name for p in (DEPLOY / "k8s").glob("*.yaml") if p.stem != "kustomization")
    deployment = found["Deployment/positron"]["spec"]
    (container,) = deployment["template"]["spec"]["containers"]
    assert deployment["replicas"] >= 2
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert container["envFrom"] == [{"secretRef": {"name": "positron-secrets"}}]
    assert not any(kind.startswith("Secret/") for kind in found)  # created with kubectl (docs/deploy.md)


def test_compose_runs_two_replicas_on_one_redis() -> None:
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    services = compose["services"]
    replicas = [s for name, s in services.items() if name.startswith("positron")]
    assert len(replicas) == 2 and "redis" in services
    for replica in replicas:
        assert replica["environment"]["POSITRON_REDIS_URL"] == "redis://redis:6379/0"
        assert replica["build"]["dockerfile"] == "deploy/Dockerfile"
        assert "./positron.yaml:/etc/positron/positron.yaml:ro" in replica["volumes"]
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert "python:3.12-slim" in dockerfile and "deploy/install.sh" in dockerfile  # tests/deploy/test_image.py
    assert '"--config", "/etc/positron/positron.yaml", "--host", "0.0.0.0"' in dockerfile
