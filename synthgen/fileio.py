"""Atomic file writes shared by every room: readers (and a rerun after a crash) never see half a file."""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from pathlib import Path
from typing import Any


def temp_path_for(path: Path) -> Path:
    """A unique hidden temporary name beside ``path`` (``.<name>.<uuid>.tmp``), never matched by the
    ``*.parquet`` / ``*.json`` globs readers use."""
    return path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` (parent folders created) via a temporary name, fsync and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path_for(path)
    # O_EXCL + O_NOFOLLOW: a file or symlink planted at the temporary name is refused, never written through.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_text(path: str | Path, text: str) -> None:
    """``atomic_write_bytes`` of ``text`` encoded as UTF-8."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj: Any, **dumps_kwargs: Any) -> None:
    """``atomic_write_text`` of ``json.dumps(obj, **dumps_kwargs)``."""
    atomic_write_text(path, json.dumps(obj, **dumps_kwargs))


def json_sha256(value: Any) -> str:
    """Hex sha256 of ``value`` as canonical JSON (sorted keys, no spaces; non-JSON leaves as ``str``): equal
    content gives an equal hash. The one definition behind every config hash."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()
