"""`monitor run` / `monitor demo` flags: nonsense rates and scales are refused up front."""

from __future__ import annotations

import pytest

from monitor.local import demo_main
from monitor.local import main as run_main


@pytest.mark.parametrize("flags", [["--rate", "0"], ["--rate", "-1"], ["--scale", "0"], ["--scale", "-600"],
                                   ["--duration", "0"], ["--rate", "nan"]])
@pytest.mark.parametrize("entry", [run_main, demo_main])
def test_non_positive_rate_scale_or_duration_is_a_usage_error(entry, flags: list[str],  # type: ignore[no-untyped-def]
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_BROKER", "127.0.0.1:1")   # never reached: parsing fails first
    with pytest.raises(SystemExit) as exit_info:
        entry(flags)
    assert exit_info.value.code == 2
