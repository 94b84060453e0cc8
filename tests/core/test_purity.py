"""The core is sans-I/O: importing it (and the simulator) pulls in no Kafka, asyncio, HTTP or metrics."""

from __future__ import annotations

import json
import subprocess
import sys

FORBIDDEN = ("asyncio", "aiokafka", "aiohttp", "prometheus_client", "structlog", "monitor.stream", "monitor.observe")


def test_core_imports_no_io_framework() -> None:
    code = (
        "import sys, json; import monitor.core.case, monitor.core.policy, monitor.core.events, "
        "monitor.core.calendar, monitor.simulate; "
        f"print(json.dumps([m for m in {FORBIDDEN!r} if m in sys.modules]))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(result.stdout) == []
