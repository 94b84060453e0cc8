"""docs/policy.md: its full custom-contract example is a valid policy file that means what the text says."""

from __future__ import annotations

import re
from pathlib import Path

from monitor import policies_cli
from monitor.core.policy import parse_catalog

DOC = Path(__file__).parents[2] / "docs" / "policy.md"


def example() -> str:
    text = DOC.read_text(encoding="utf-8")
    found = re.search(r"<!-- example:custom-contract -->\n```toml\n(.*?)```", text, re.S)
    assert found, "docs/policy.md lost its custom-contract example"
    return found.group(1)


def test_the_documented_contract_is_valid_and_resolves_as_described(tmp_path: Path) -> None:
    catalog = parse_catalog(example(), "acme.toml")
    p1 = catalog.rule("gold", "P1", "emea", "first_response")
    p2 = catalog.rule("gold", "P2", "emea", "first_response")
    p3 = catalog.rule("gold", "P3", "emea", "first_response")
    p4 = catalog.rule("gold", "P4", "americas", "first_response")
    assert p1 is not None and p2 is not None and p3 is not None and p4 is not None
    assert (p1.calendar, p1.thresholds) == ("round-the-clock", (0.75, 1.0, 1.5, 3.0))
    assert catalog.rule("gold", "P1", "americas", "first_response").calendar == "24x7"  # type: ignore[union-attr]
    assert (p2.thresholds, [lv.offset for lv in p2.levels]) == ((0.5, 0.875, 1.0, 1.25, 2.0), [None, "-30m", None, "+1h", "+4h"])
    assert p3.target_seconds == 16 * 3600 and p3.escalations[0].offset == "+2h"  # the plan's default level
    assert p4.target_seconds == 30 * 3600 and p4.escalations == ()  # americas 08:00-18:00, cell says none
    assert catalog.canonical_plan("gold-2025") == "gold"
    path = tmp_path / "acme.toml"
    path.write_text(example())
    assert policies_cli.main(["--check", str(path)]) == 0
