"""Expected failures of every command end in a short message and exit 2, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
UNREACHABLE = "127.0.0.1:1"   # never contacted: each case fails before it would connect

CASES = {
    "simulate-missing-file": (["simulate", "no-such-events.jsonl"], {}),
    "policies-bad-file": (["policies", "--policies", "{bad}"], {}),
    "topics-bad-spec": (["topics", "apply", "--spec", "{bad}", "--broker", UNREACHABLE], {}),
    "topics-missing-spec": (["topics", "apply", "--spec", "no-such.toml", "--broker", UNREACHABLE], {}),
    "worker-bad-policies": (["worker", "--policies", "{bad}", "--broker", UNREACHABLE], {}),
    "worker-bad-connect-timeout": (["worker", "--broker", UNREACHABLE], {"MONITOR_CONNECT_TIMEOUT_SECONDS": "soon"}),
    "worker-bad-broker": (["worker", "--broker", "not a host"], {}),
    "run-bad-policies": (["run", "--policies", "{bad}", "--duration", "1"], {}),
    "run-no-broker-binary": (["run", "--duration", "1"], {"TANSU_BIN": "/no/such/tansu"}),
    "demo-bad-policies": (["demo", "--policies", "{bad}", "--broker", UNREACHABLE, "--duration", "1"], {}),
    "notify-bad-routing": (["notify", "--routing", "{bad}"], {}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_expected_failure_is_one_message_and_exit_2(case: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("{this is not toml\n")
    args, extra_env = CASES[case]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KAFKA_", "MONITOR_"))}
    result = subprocess.run([sys.executable, "-m", "monitor", *[a.replace("{bad}", str(bad)) for a in args]],
                            env={**env, **extra_env}, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and result.stderr.strip(), result.stderr
    assert len(result.stderr.splitlines()) <= 4, result.stderr
