"""Where a partition's case table lives: a dict in memory, or RocksDB on local disk.

Either way the compacted changelog topic is the source of truth: a store is filled from it when
its partition is assigned and dropped when the partition is revoked. RocksDB moves the encoded
states off the Python heap (lower resident memory for very large tables); it is not kept across
restarts, so recovery time is the same.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Protocol


class CaseStore(Protocol):
    """case_id -> encoded CaseState."""

    def get(self, case_id: str) -> bytes | None:
        """The encoded state, or None."""

    def __setitem__(self, case_id: str, raw: bytes) -> None: ...

    def pop(self, case_id: str, default: None = None) -> bytes | None:
        """Remove and return the encoded state (None when absent)."""

    def __contains__(self, case_id: object) -> bool: ...

    def __len__(self) -> int: ...

    def items(self) -> Iterable[tuple[str, bytes]]:
        """Every (case_id, encoded state)."""

    def values(self) -> Iterable[bytes]:
        """Every encoded state."""

    def close(self) -> None:
        """Release the store (its contents are gone)."""


class MemoryStore(dict[str, bytes]):
    """The case table as a plain dict."""

    def pop(self, case_id: str, default: None = None) -> bytes | None:  # type: ignore[override]
        """Remove and return the encoded state (None when absent)."""
        return super().pop(case_id, default)

    def close(self) -> None:
        """Forget everything."""
        self.clear()


class RocksStore:
    """The case table in a RocksDB directory (rocksdict, raw bytes mode), wiped on open and close."""

    def __init__(self, path: Path) -> None:
        from rocksdict import Options, Rdict

        shutil.rmtree(path, ignore_errors=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = Rdict(str(path), options=Options(raw_mode=True))
        self._count = 0

    def get(self, case_id: str) -> bytes | None:
        """The encoded state, or None."""
        raw = self._db.get(case_id.encode())
        return raw if isinstance(raw, bytes) else None

    def __setitem__(self, case_id: str, raw: bytes) -> None:
        key = case_id.encode()
        if key not in self._db:
            self._count += 1
        self._db[key] = raw

    def pop(self, case_id: str, default: None = None) -> bytes | None:
        """Remove and return the encoded state (None when absent)."""
        key = case_id.encode()
        raw = self._db.get(key)
        if raw is not None:
            del self._db[key]
            self._count -= 1
        return raw if isinstance(raw, bytes) else None

    def __contains__(self, case_id: object) -> bool:
        return isinstance(case_id, str) and case_id.encode() in self._db

    def __len__(self) -> int:
        return self._count

    def items(self) -> Iterator[tuple[str, bytes]]:
        """Every (case_id, encoded state), in key order."""
        for key, value in self._db.items():
            assert isinstance(key, bytes) and isinstance(value, bytes)   # raw mode: bytes only
            yield key.decode(), value

    def values(self) -> Iterator[bytes]:
        """Every encoded state, in key order."""
        yield from self._db.values()

    def close(self) -> None:
        """Close and delete the directory."""
        self._db.close()
        shutil.rmtree(self.path, ignore_errors=True)


def open_store(kind: str, state_dir: Path, group_id: str, partition: int) -> CaseStore:
    """A fresh, empty store of `kind` ('memory' or 'rocksdb') for one partition."""
    if kind == "rocksdb":
        return RocksStore(state_dir / group_id / f"partition-{partition}")
    return MemoryStore()
