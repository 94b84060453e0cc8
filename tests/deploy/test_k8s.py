"""Kubernetes manifests: schema-valid offline, and consistent with each other and the worker."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from monitor.core.policy import bundled_catalog, parse_catalog
from monitor.observe.labels import label_space
from monitor.stream import config as worker_config
from tests.deploy.conftest import DEPLOY

K8S = DEPLOY / "k8s"
KUBERNETES_VERSION = "1.30.0"
SERVICEMONITOR_SCHEMA = json.loads((Path(__file__).parent / "servicemonitor.schema.json").read_text())


def documents() -> dict[str, dict[str, Any]]:
    """kind -> manifest, for every manifest listed in the kustomization."""
    listed = yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"]
    docs = [doc for name in listed for doc in yaml.safe_load_all((K8S / name).read_text()) if doc]
    kinds = {doc["kind"]: doc for doc in docs}
    assert len(kinds) == len(docs), "one manifest per kind"
    return kinds


def test_every_manifest_file_is_in_the_kustomization() -> None:
    listed = set(yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"])
    assert listed == {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}


@pytest.mark.parametrize("kind", ["ConfigMap", "Service", "StatefulSet", "PodDisruptionBudget"])
def test_builtin_kinds_validate_strictly_against_the_kubernetes_schema(kind: str) -> None:
    kubernetes_validate.validate(documents()[kind], KUBERNETES_VERSION, strict=True)


def test_strict_validation_rejects_an_unknown_field() -> None:
    statefulset = documents()["StatefulSet"]
    statefulset["spec"]["template"]["spec"]["terminationGracePeriod"] = 30  # misspelt
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(statefulset, KUBERNETES_VERSION, strict=True)


def test_servicemonitor_validates_against_the_crd_subset() -> None:
    """ServiceMonitor is a CRD, absent from the Kubernetes schemas: checked against our subset."""
    jsonschema.validate(documents()["ServiceMonitor"], SERVICEMONITOR_SCHEMA)
    broken = documents()["ServiceMonitor"]
    broken["spec"]["endpoints"][0]["interval"] = "15 seconds"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, SERVICEMONITOR_SCHEMA)


def test_selectors_ports_and_volumes_line_up() -> None:
    docs = documents()
    sts, service, monitor, pdb = docs["StatefulSet"], docs["Service"], docs["ServiceMonitor"], docs["PodDisruptionBudget"]
    pod_labels = sts["spec"]["template"]["metadata"]["labels"]
    container = sts["spec"]["template"]["spec"]["containers"][0]
    port_names = {port["name"] for port in container["ports"]}

    assert sts["spec"]["serviceName"] == service["metadata"]["name"]
    assert sts["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert {ep["port"] for ep in monitor["spec"]["endpoints"]} <= {p["name"] for p in service["spec"]["ports"]}
    assert {p["targetPort"] for p in service["spec"]["ports"]} <= port_names
    # The alert rules match job="sla-monitor": the operator names the job after the Service.
    assert service["metadata"]["name"] == "sla-monitor"

    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert container[probe]["httpGet"]["port"] in port_names

    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    claims = {c["metadata"]["name"] for c in sts["spec"]["volumeClaimTemplates"]}
    volumes = {v["name"]: v for v in sts["spec"]["template"]["spec"]["volumes"]}
    assert set(mounts) <= claims | set(volumes)
    assert volumes["policies"]["configMap"]["name"] == docs["ConfigMap"]["metadata"]["name"]

    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["MONITOR_STATE_DIR"] == mounts["state"] and "state" in claims
    assert env["MONITOR_POLICIES"] == f"{mounts['policies']}/catalog.toml"
    assert env["MONITOR_WEB_PORT"] == str(next(p["containerPort"] for p in container["ports"] if p["name"] == "http"))
    assert container["resources"]["requests"]["cpu"] and container["resources"]["requests"]["memory"]
    grace = sts["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert grace > float(env["MONITOR_SHUTDOWN_TIMEOUT_SECONDS"])
    assert sts["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True


def test_worker_env_names_are_settings_the_worker_reads(tmp_path: Path) -> None:
    container = documents()["StatefulSet"]["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e["value"] for e in container["env"]}
    known = {var for _, var, _ in worker_config._SETTINGS.values()} | {"MONITOR_LOG_FORMAT"}
    assert set(env) <= known, f"unknown settings: {sorted(set(env) - known)}"
    policies = tmp_path / "catalog.toml"
    policies.write_text(documents()["ConfigMap"]["data"]["catalog.toml"])
    local = {**env, "MONITOR_POLICIES": str(policies), "MONITOR_STATE_DIR": str(tmp_path / "state")}
    try:
        loaded = worker_config.config_from(None, local)
    except worker_config.ConfigError as exc:
        problems = [line for line in str(exc).splitlines()[1:] if "rocksdict" not in line]
        assert not problems, str(exc)  # only the optional rocksdb extra may be missing here
    else:
        assert loaded.table_store == "rocksdb"


def test_policy_configmap_matches_the_bundled_catalog() -> None:
    text = documents()["ConfigMap"]["data"]["catalog.toml"]
    shipped = parse_catalog(text, "deploy/k8s/configmap-policies.yaml")
    assert label_space(shipped) == label_space(bundled_catalog()), (
        "deploy/k8s/configmap-policies.yaml differs from monitor/policies/catalog.toml; "
        "copy the catalog into the ConfigMap (see README, Deployment)"
    )
