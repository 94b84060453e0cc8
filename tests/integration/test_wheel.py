"""A built wheel installed into a fresh virtualenv runs `monitor run` with the packaged topic specs.

This is what a user gets from `pip install .` or from a wheel on an index: no checkout next to
the package, so topics/ must travel inside it (setup.py copies it to monitor/_topics).
"""

from __future__ import annotations

import filecmp
import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]


def _run(args: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload]


def test_wheel_in_a_fresh_venv_runs_the_main_job_with_packaged_topics(tmp_path: Path, broker) -> None:  # type: ignore[no-untyped-def]
    built = _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path / "dist"), str(REPO)],
                 timeout=300)
    assert built.returncode == 0, built.stderr[-3000:]
    wheel = next((tmp_path / "dist").glob("sla_monitor-*.whl"))

    venv.EnvBuilder(with_pip=True).create(tmp_path / "venv")
    bin_dir = tmp_path / "venv" / "bin"
    installed = _run([str(bin_dir / "python"), "-m", "pip", "install", "-q", f"{wheel}[local]"], timeout=400)  # monitor run's broker
    assert installed.returncode == 0, installed.stderr[-3000:]

    # far from the checkout, with nothing pointing back at it
    env = {k: v for k, v in os.environ.items()
           if k not in {"KAFKA_BROKER", "PYTHONPATH", "VIRTUAL_ENV"} and not k.startswith("MONITOR_")}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    where = _run([str(bin_dir / "python"), "-c", "from monitor.runtime.topics import topics_dir; print(topics_dir())"],
                 cwd=tmp_path, env=env, timeout=60)
    packaged = Path(where.stdout.strip())
    assert packaged.is_relative_to(tmp_path / "venv"), where
    for name in ["topics.toml", *(f"schemas/{p.name}" for p in (REPO / "topics" / "schemas").glob("*.json"))]:
        assert filecmp.cmp(packaged / name, REPO / "topics" / name, shallow=False), name

    result = _run([str(bin_dir / "monitor"), "run", "--duration", "8"], cwd=tmp_path, env=env, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert "topics: created   case-created" in result.stderr
    assert "demo:" in result.stderr

    # `topics apply` against a given broker, with the packaged specs (unique names: the broker is shared)
    names = {f"MONITOR_TOPIC_{role.upper()}": f"wheel-{tmp_path.name}.{role}" for role in
             ("case_created", "case_updated", "near_breaches", "breaches", "status", "dead_letter", "changelog")}
    applied = _run([str(bin_dir / "monitor"), "topics", "apply"], cwd=tmp_path, timeout=120,
                   env={**env, **names, "KAFKA_BROKER": broker.bootstrap})
    assert applied.returncode == 0, applied.stderr
    created = {line.split()[1] for line in applied.stdout.splitlines() if line.startswith("created ")}
    assert set(names.values()) <= created, applied.stdout

    # `notify --check` with the packaged example routing and contacts
    example = packaged.parent / "notify"
    secrets = {name: "x" for name in ("SLA_SLACK_EMEA_TEAM_URL", "SLA_SLACK_AMERICAS_TEAM_URL", "SLA_SLACK_APAC_TEAM_URL",
                                      "SLA_WEBHOOK_SECRET", "SLA_SLACK_ESCALATIONS_URL", "SLA_PAGERDUTY_ROUTING_KEY",
                                      "SLA_SMTP_USERNAME", "SLA_SMTP_PASSWORD")}
    checked = _run([str(bin_dir / "monitor"), "notify", "--check", "--routing", str(example / "example-routing.toml"),
                    "--contacts", str(example / "example-contacts.toml")], cwd=tmp_path, env={**env, **secrets}, timeout=60)
    assert checked.returncode == 0, checked.stderr
    assert "rules" in checked.stdout
