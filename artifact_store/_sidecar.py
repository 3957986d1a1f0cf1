"""Digest records for the local store, kept beside the data in a hidden directory.

Each artifact's sha256 is written to ``<root>/.kubepipe/meta/<h[:2]>/<h>.json``, where
``h`` is the sha256 of the key. Hashing the key keeps record names short and flat
whatever the key, and keeps them out of the way of listings. A record also stores the
inode, size and mtime of the file it describes: if a crash lands between publishing
the data and publishing its record, the mismatch is noticed and the digest is
recomputed once, instead of a stale digest being served.
"""

from __future__ import annotations

import hashlib
import json
import os
from contextlib import suppress
from dataclasses import asdict, dataclass
from pathlib import Path

from artifact_store._atomic import RESERVED_PREFIX, atomic_target

META_DIR = f"{RESERVED_PREFIX}/meta"


@dataclass(frozen=True)
class DigestRecord:
    """A sha256 plus the identity of the exact file it was computed from."""

    key: str
    sha256: str
    size: int
    inode: int
    mtime_ns: int

    @classmethod
    def for_file(cls, key: str, sha256: str, stat: os.stat_result) -> DigestRecord:
        """Tie a digest to the file whose stat is given."""
        return cls(key, sha256, stat.st_size, stat.st_ino, stat.st_mtime_ns)

    def describes(self, key: str, stat: os.stat_result) -> bool:
        """Whether this record is still about the file now at ``key``."""
        return (
            self.key == key
            and self.size == stat.st_size
            and self.inode == stat.st_ino
            and self.mtime_ns == stat.st_mtime_ns
        )


class SidecarIndex:
    """Reads and writes digest records under one store root."""

    def __init__(self, root: Path) -> None:
        self._meta_root = root / META_DIR

    def record_path(self, key: str) -> Path:
        """Where the record for ``key`` lives."""
        name = hashlib.sha256(key.encode("utf-8")).hexdigest()
        return self._meta_root / name[:2] / f"{name}.json"

    def read(self, key: str) -> DigestRecord | None:
        """Return the record for ``key``, or None if absent or unreadable (torn by a crash)."""
        try:
            raw = json.loads(self.record_path(key).read_text(encoding="utf-8"))
            return DigestRecord(**raw)
        except (OSError, ValueError, TypeError):
            return None

    def write(self, record: DigestRecord) -> None:
        """Publish a record atomically.

        Not fsynced: a record lost or torn by a power cut is detected by ``read`` or
        ``describes`` and rebuilt from the data, so durability would buy nothing.
        """
        path = self.record_path(record.key)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_target(path, durable=False) as pending:
            pending.file.write(json.dumps(asdict(record), sort_keys=True).encode("utf-8"))

    def remove(self, key: str) -> None:
        """Drop the record for ``key`` if there is one."""
        with suppress(FileNotFoundError):
            os.unlink(self.record_path(key))
