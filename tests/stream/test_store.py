"""The case stores behave alike: memory dict and RocksDB."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.stream.store import open_store

KINDS = ["memory"]
try:
    import rocksdict  # noqa: F401
    KINDS.append("rocksdb")
except ImportError:  # optional extra: pip install 'sla-monitor[rocksdb]'
    pass


@pytest.mark.parametrize("kind", KINDS)
def test_store_semantics(kind: str, tmp_path: Path) -> None:
    store = open_store(kind, tmp_path, "group", 3)
    assert len(store) == 0 and store.get("C-1") is None
    store["C-1"] = b"one"
    store["C-2"] = b"two"
    store["C-1"] = b"uno"
    assert len(store) == 2 and "C-1" in store and "C-9" not in store
    assert store.get("C-1") == b"uno"
    assert sorted(store.items()) == [("C-1", b"uno"), ("C-2", b"two")]
    assert sorted(store.values()) == [b"two", b"uno"]
    assert store.pop("C-2") == b"two" and store.pop("C-2") is None
    assert len(store) == 1
    store.close()


def test_rocksdb_store_starts_empty_and_leaves_nothing_behind(tmp_path: Path) -> None:
    if "rocksdb" not in KINDS:
        pytest.skip("rocksdict not installed")
    first = open_store("rocksdb", tmp_path, "group", 0)
    first["C-1"] = b"x"
    first.close()
    assert not (tmp_path / "group" / "partition-0").exists()
    again = open_store("rocksdb", tmp_path, "group", 0)
    assert len(again) == 0 and again.get("C-1") is None
    again.close()
