"""`monitor`: one command list, `--version`, and each command's --help showing that command."""

from __future__ import annotations

import subprocess
import sys

import pytest

import monitor
from monitor.cli import COMMANDS, main, version


def run(*args: str) -> subprocess.CompletedProcess[str]:
    """`python -m monitor ...` as a user runs it."""
    return subprocess.run([sys.executable, "-m", "monitor", *args], capture_output=True, text=True, timeout=60)


def test_version_is_the_package_version() -> None:
    result = run("--version")
    assert result.returncode == 0
    assert result.stdout == f"monitor (sla-monitor) {monitor.__version__}\n"
    assert version() == monitor.__version__


def test_usage_lists_every_command_within_80_columns(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    usage = capsys.readouterr().out
    assert all(f"\n  {name} " in usage for name in COMMANDS)
    assert "--version" in usage
    assert all(len(line) <= 80 for line in usage.splitlines())


def test_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["wrker"]) == 2
    assert "unknown command 'wrker'" in capsys.readouterr().err


@pytest.mark.parametrize("name", list(COMMANDS))
def test_each_command_has_its_own_help(name: str) -> None:
    for args in ([name, "--help"], ["help", name]):
        result = run(*args)
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith(f"usage: monitor {name}"), result.stdout[:200]
        assert "Traceback" not in result.stderr


#: flags only the worker takes: no other command's help may list them
WORKER_ONLY = ["--tick-seconds", "--peers", "--table-store", "--transactional-id", "--hold-seconds", "--max-batch-records"]


@pytest.mark.parametrize(("name", "must", "must_not"), [
    ("worker", WORKER_ONLY + ["--broker", "--connect-timeout"], []),
    ("run", ["--duration", "--policies", "--broker", "--log-level"], WORKER_ONLY + ["--web-port", "--connect-timeout"]),
    ("demo", ["--duration", "--policies", "--broker", "--topic-case-created"],
     WORKER_ONLY + ["--log-level", "--topic-breaches", "--web-port"]),
    ("topics", ["--partitions", "--broker", "--topic-changelog"], WORKER_ONLY + ["--policies", "--web-port"]),
    ("notify", ["--routing", "--broker", "--connect-timeout"], WORKER_ONLY + ["--policies", "--topic-case-created"]),
    ("simulate", ["--until", "--policies", "--hold-seconds"], [f for f in WORKER_ONLY if f != "--hold-seconds"] + ["--broker"]),
    ("policies", ["--policies"], WORKER_ONLY + ["--broker"]),
])
def test_each_help_lists_only_that_commands_options(name: str, must: list[str], must_not: list[str]) -> None:
    text = run(name, "--help").stdout
    assert [flag for flag in must if flag not in text] == []
    assert [flag for flag in must_not if flag in text] == []
