"""Paths of the deploy/ tree and a helper that finds a binary or skips with the install hint."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"

#: binary -> Debian package that provides it.
PACKAGES = {
    "promtool": "prometheus",
    "prometheus": "prometheus",
    "amtool": "prometheus-alertmanager",
    "docker-compose": "docker-compose",
}


def require_binary(name: str) -> str:
    """Path of `name`, or skip the test naming the apt package to install."""
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} not installed: apt-get install -y --no-install-recommends {PACKAGES[name]}")
    return path
