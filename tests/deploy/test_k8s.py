"""Kubernetes manifests: schema-valid offline, and consistent with each other and the worker."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from monitor.core.policy import bundled_catalog, parse_catalog
from monitor.notify import service as notify_service
from monitor.notify.contacts import parse_contacts
from monitor.notify.routing import parse_routing
from monitor.observe.labels import label_space
from monitor.stream import config as worker_config
from tests.deploy.conftest import DEPLOY

K8S = DEPLOY / "k8s"
REPO = DEPLOY.parent
KUBERNETES_VERSION = "1.30.0"
SERVICEMONITOR_SCHEMA = json.loads((Path(__file__).parent / "servicemonitor.schema.json").read_text())


def manifests() -> list[dict[str, Any]]:
    """Every manifest listed in the kustomization, in order."""
    listed = yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"]
    return [doc for name in listed for doc in yaml.safe_load_all((K8S / name).read_text()) if doc]


def documents() -> dict[str, dict[str, Any]]:
    """kind -> the worker's manifest of that kind (the one named sla-monitor, or the only one)."""
    found: dict[str, dict[str, Any]] = {}
    for doc in manifests():
        if doc["kind"] not in found or doc["metadata"]["name"] in {"sla-monitor", "sla-monitor-policies"}:
            found[doc["kind"]] = doc
    return found


def named(kind: str, name: str) -> dict[str, Any]:
    [doc] = [d for d in manifests() if d["kind"] == kind and d["metadata"]["name"] == name]
    return doc


def pod_specs() -> dict[str, dict[str, Any]]:
    """workload name -> pod spec, for the worker StatefulSet and the notifier Deployment."""
    return {d["metadata"]["name"]: d["spec"]["template"]["spec"] for d in manifests() if d["kind"] in {"StatefulSet", "Deployment"}}


def test_every_manifest_file_is_in_the_kustomization() -> None:
    listed = set(yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"])
    assert listed == {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    names = [(d["kind"], d["metadata"]["name"]) for d in manifests()]
    assert len(names) == len(set(names))


BUILTIN_KINDS = {"Namespace", "ConfigMap", "Service", "StatefulSet", "Deployment", "PodDisruptionBudget", "NetworkPolicy"}


def test_builtin_kinds_validate_strictly_against_the_kubernetes_schema() -> None:
    checked = set()
    for doc in manifests():
        if doc["kind"] in BUILTIN_KINDS:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
            checked.add(doc["kind"])
    assert checked == BUILTIN_KINDS


def test_strict_validation_rejects_an_unknown_field() -> None:
    statefulset = documents()["StatefulSet"]
    statefulset["spec"]["template"]["spec"]["terminationGracePeriod"] = 30  # misspelt
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(statefulset, KUBERNETES_VERSION, strict=True)


def test_servicemonitors_validate_against_the_crd_subset() -> None:
    """ServiceMonitor is a CRD, absent from the Kubernetes schemas: checked against our subset."""
    monitors = [d for d in manifests() if d["kind"] == "ServiceMonitor"]
    assert {m["metadata"]["name"] for m in monitors} == {"sla-monitor", "sla-notify"}
    for monitor in monitors:
        jsonschema.validate(monitor, SERVICEMONITOR_SCHEMA)
    broken = documents()["ServiceMonitor"]
    broken["spec"]["endpoints"][0]["interval"] = "15 seconds"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, SERVICEMONITOR_SCHEMA)


def test_selectors_ports_and_volumes_line_up() -> None:
    docs = documents()
    sts, service, monitor, pdb = docs["StatefulSet"], named("Service", "sla-monitor"), named("ServiceMonitor", "sla-monitor"), \
        named("PodDisruptionBudget", "sla-monitor")
    pod_labels = sts["spec"]["template"]["metadata"]["labels"]
    container = sts["spec"]["template"]["spec"]["containers"][0]
    port_names = {port["name"] for port in container["ports"]}

    assert sts["spec"]["serviceName"] == service["metadata"]["name"]
    assert service["spec"]["clusterIP"] == "None"  # headless: one address per pod, for the peers
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
    volumes = {v["name"]: v for v in sts["spec"]["template"]["spec"]["volumes"]}
    assert set(mounts) <= set(volumes)
    assert volumes["policies"]["configMap"]["name"] == docs["ConfigMap"]["metadata"]["name"]

    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["MONITOR_STATE_DIR"] == mounts["state"]
    assert env["MONITOR_POLICIES"] == f"{mounts['policies']}/catalog.toml"
    assert env["MONITOR_WEB_PORT"] == str(next(p["containerPort"] for p in container["ports"] if p["name"] == "http"))
    assert container["resources"]["requests"]["cpu"] and container["resources"]["requests"]["memory"]
    grace = sts["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert grace > float(env["MONITOR_SHUTDOWN_TIMEOUT_SECONDS"])
    assert sts["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True


def test_no_persistent_volumes_the_table_is_rebuilt_from_the_changelog() -> None:
    """Decision by measurement (docs/operations.md): the RocksDB directory is scratch, on an emptyDir."""
    sts = documents()["StatefulSet"]
    assert "volumeClaimTemplates" not in sts["spec"]
    volumes = {v["name"]: v for v in sts["spec"]["template"]["spec"]["volumes"]}
    assert "emptyDir" in volumes["state"]
    assert not any(d["kind"] == "PersistentVolumeClaim" for d in manifests())


def test_peers_come_from_the_headless_service_not_a_list() -> None:
    container = documents()["StatefulSet"]["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    service = named("Service", "sla-monitor")
    assert env["MONITOR_PEERS"] == f"dns+http://{service['metadata']['name']}:{service['spec']['ports'][0]['port']}"
    assert service["spec"]["publishNotReadyAddresses"] is True


def test_pdbs_let_drains_evict_unhealthy_pods() -> None:
    pdbs = [d for d in manifests() if d["kind"] == "PodDisruptionBudget"]
    assert {p["metadata"]["name"] for p in pdbs} == {"sla-monitor", "sla-notify"}
    for pdb in pdbs:
        assert pdb["spec"]["unhealthyPodEvictionPolicy"] == "AlwaysAllow"
        assert pdb["spec"]["maxUnavailable"] == 1


def test_pods_are_hardened_and_get_no_service_account_token() -> None:
    for name, spec in pod_specs().items():
        assert spec["automountServiceAccountToken"] is False, name
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        for container in spec["containers"]:
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True and context["allowPrivilegeEscalation"] is False, name
            assert context["capabilities"]["drop"] == ["ALL"], name


def test_kafka_sasl_tls_secrets_are_wired_optionally_into_both_workloads() -> None:
    for name, spec in pod_specs().items():
        container = spec["containers"][0]
        refs = {e["secretRef"]["name"]: e["secretRef"].get("optional", False) for e in container["envFrom"]}
        assert refs["sla-monitor-kafka"] is True, name
        volumes = {v["name"]: v for v in spec["volumes"]}
        assert volumes["kafka-tls"]["secret"] == {"secretName": "sla-monitor-kafka-tls", "optional": True}, name
        mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
        assert mounts["kafka-tls"] == "/etc/sla-monitor/kafka-tls"
    kafka_vars = {"KAFKA_SECURITY_PROTOCOL", "KAFKA_SASL_MECHANISM", "KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD", "KAFKA_SSL_CAFILE"}
    assert kafka_vars <= worker_config.environment_variables() and kafka_vars <= notify_service.environment_variables()


def test_kustomization_sets_namespace_and_the_image_of_every_container() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert kustomization["namespace"] == named("Namespace", "sla-monitor")["metadata"]["name"]
    images = {i["name"]: i for i in kustomization["images"]}
    for name, spec in pod_specs().items():
        for container in spec["containers"]:
            assert container["image"] in images, f"{name}: image {container['image']!r} is not set by kustomize images:"
    assert all(i["newTag"] and i["newName"] for i in images.values())


def test_kubectl_kustomize_builds_with_namespace_and_images() -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl not installed (the kustomization is also checked without it above)")
    built = subprocess.run([kubectl, "kustomize", str(K8S)], capture_output=True, text=True, timeout=120)
    assert built.returncode == 0, built.stderr
    docs = [d for d in yaml.safe_load_all(built.stdout) if d]
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    image = kustomization["images"][0]
    for doc in docs:
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == kustomization["namespace"], doc["metadata"]["name"]
        if doc["kind"] in {"StatefulSet", "Deployment"}:
            assert doc["spec"]["template"]["spec"]["containers"][0]["image"] == f"{image['newName']}:{image['newTag']}"
            assert doc["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/part-of"] == "sla-monitor"


def test_network_policies_select_the_pods_and_open_their_ports() -> None:
    policies = {d["metadata"]["name"]: d for d in manifests() if d["kind"] == "NetworkPolicy"}
    workloads = {d["metadata"]["name"]: d for d in manifests() if d["kind"] in {"StatefulSet", "Deployment"}}
    assert set(policies) == set(workloads) == {"sla-monitor", "sla-notify"}
    for name, policy in policies.items():
        template = workloads[name]["spec"]["template"]
        assert policy["spec"]["podSelector"]["matchLabels"].items() <= template["metadata"]["labels"].items()
        assert set(policy["spec"]["policyTypes"]) == {"Ingress", "Egress"}
        http = next(p["containerPort"] for p in template["spec"]["containers"][0]["ports"] if p["name"] == "http")
        assert {p["port"] for rule in policy["spec"]["ingress"] for p in rule["ports"]} == {http}
        egress_ports = {p["port"] for rule in policy["spec"]["egress"] for p in rule.get("ports", [])}
        assert {53, 9092} <= egress_ports, name
    # peers: workers may reach each other's HTTP port
    assert any(rule.get("to", [{}])[0].get("podSelector", {}).get("matchLabels") == {"app.kubernetes.io/name": "sla-monitor"}
               for rule in policies["sla-monitor"]["spec"]["egress"])


def test_notifier_is_deployed_scraped_and_configured_like_the_cli_expects() -> None:
    deployment, service, monitor = named("Deployment", "sla-notify"), named("Service", "sla-notify"), named("ServiceMonitor", "sla-notify")
    pod = deployment["spec"]["template"]
    container = pod["spec"]["containers"][0]
    assert container["args"] == ["notify"]
    env = {e["name"]: e["value"] for e in container["env"]}
    known = notify_service.environment_variables()
    assert set(env) <= known, f"settings the notifier does not read: {sorted(set(env) - known)}"
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert env["MONITOR_NOTIFY_ROUTING"] == f"{mounts['routing']}/routing.toml"
    assert env["MONITOR_NOTIFY_CONTACTS"] == f"{mounts['routing']}/contacts.toml"
    http = next(p for p in container["ports"] if p["name"] == "http")
    assert env["MONITOR_NOTIFY_WEB_PORT"] == str(http["containerPort"])
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert pod["spec"]["terminationGracePeriodSeconds"] > float(env["MONITOR_NOTIFY_SHUTDOWN_TIMEOUT_SECONDS"])
    refs = {e["secretRef"]["name"]: e["secretRef"].get("optional", False) for e in container["envFrom"]}
    assert refs["sla-notify-channels"] is False  # the routing file's *_env variables: required
    assert deployment["spec"]["replicas"] >= 2
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    # the notifier alerts match job="sla-notify": the operator names the job after the Service
    assert service["metadata"]["name"] == "sla-notify"
    rules = (DEPLOY / "prometheus" / "alerts.yml").read_text()
    assert 'job="sla-notify"' in rules


def test_notifier_routing_configmap_is_the_validated_example() -> None:
    data = named("ConfigMap", "sla-notify-routing")["data"]
    assert data["routing.toml"] == (REPO / "monitor/notify/example-routing.toml").read_text()
    assert data["contacts.toml"] == (REPO / "monitor/notify/example-contacts.toml").read_text()
    routing = parse_routing(tomllib.loads(data["routing.toml"]), "configmap-notify.yaml")
    parse_contacts(tomllib.loads(data["contacts.toml"]))
    assert routing.rules


PROMETHEUSRULE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"},
        "kind": {"const": "PrometheusRule"},
        "metadata": {"type": "object", "required": ["name"]},
        "spec": {"type": "object", "required": ["groups"], "additionalProperties": False, "properties": {"groups": {
            "type": "array", "items": {"type": "object", "required": ["name", "rules"], "additionalProperties": False, "properties": {
                "name": {"type": "string"}, "interval": {"type": "string"},
                "rules": {"type": "array", "items": {"type": "object", "required": ["expr"], "additionalProperties": False,
                                                     "oneOf": [{"required": ["alert"]}, {"required": ["record"]}],
                                                     "properties": {"alert": {"type": "string"}, "record": {"type": "string"},
                                                                    "expr": {"type": "string"}, "for": {"type": "string"},
                                                                    "labels": {"type": "object"}, "annotations": {"type": "object"}}}},
            }},
        }}},
    },
}


def test_prometheusrule_is_generated_from_alerts_yml_and_agrees_with_it() -> None:
    generator = DEPLOY / "prometheus" / "prometheusrule.py"
    checked = subprocess.run([sys.executable, str(generator), "--check"], capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stderr
    rule = named("PrometheusRule", "sla-monitor")
    jsonschema.validate(rule, PROMETHEUSRULE_SCHEMA)
    assert rule["spec"]["groups"] == yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())["groups"]


def test_prometheusrule_check_fails_when_alerts_yml_changes(tmp_path: Path) -> None:
    """The agreement test can fail: a copy of the generator next to an edited alerts.yml is out of date."""
    copy = tmp_path / "prometheus"
    shutil.copytree(DEPLOY / "prometheus", copy)
    (tmp_path / "k8s").mkdir()
    shutil.copy(K8S / "prometheusrule.yaml", tmp_path / "k8s" / "prometheusrule.yaml")
    alerts = copy / "alerts.yml"
    alerts.write_text(alerts.read_text().replace("for: 10m", "for: 11m", 1))
    result = subprocess.run([sys.executable, str(copy / "prometheusrule.py"), "--check"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "out of date" in result.stderr
    base = subprocess.run([sys.executable, str(copy / "prometheusrule.py"), "--runbook-base", "https://wiki.example/runbook.md"],
                          capture_output=True, text=True, timeout=60)
    assert base.returncode == 0
    regenerated = yaml.safe_load((tmp_path / "k8s" / "prometheusrule.yaml").read_text())
    urls = [r["annotations"]["runbook_url"] for g in regenerated["spec"]["groups"] for r in g["rules"] if "alert" in r]
    assert urls and all(u.startswith("https://wiki.example/runbook.md#") for u in urls)


def test_worker_env_names_are_settings_the_worker_reads(tmp_path: Path) -> None:
    container = documents()["StatefulSet"]["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e["value"] for e in container["env"]}
    known = worker_config.environment_variables()
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
        "copy the catalog into the ConfigMap (see docs/operations.md, Deployment)"
    )
