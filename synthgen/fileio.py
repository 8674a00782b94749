"""Atomic file writes shared by every room: readers (and a rerun after a crash) never see half a file."""

from __future__ import annotations

import hashlib
import json
import os
import re
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from synthgen.errors import ConfigError, DataError


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


# Names that become file or folder names (dataset names, clip ids): letters, digits, '_', '.', '-', starting
# with a letter or digit, so no name is '.', '..', hidden, an option or a path.
SAFE_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$"
_SAFE_NAME = re.compile(SAFE_NAME_PATTERN)


def is_safe_name(name: object) -> bool:
    """Whether ``name`` is a string matching ``SAFE_NAME_PATTERN`` (usable as one file name anywhere)."""
    return isinstance(name, str) and _SAFE_NAME.fullmatch(name) is not None


def check_relative_path(relative: object, *, what: str) -> str:
    """``relative`` when it is a plain relative POSIX path (no ``..``, not absolute, no backslash or NUL);
    DataError naming ``what`` otherwise. A lexical check, for paths on any filesystem."""
    text = relative if isinstance(relative, str) else ""
    parts = text.split("/")
    if not text or text.startswith("/") or ".." in parts or "\\" in text or "\0" in text:
        raise DataError(f"{what}={relative!r}: not a relative path inside its folder")
    return text


def safe_join(root: str | os.PathLike[str], relative: str, *, what: str) -> Path:
    """``root / relative`` for a ``relative`` path read from data (a manifest entry, a name built from a
    clip id); DataError naming ``what`` when it is absolute, holds ``..`` or otherwise leaves ``root``."""
    root_path = Path(root)
    check_relative_path(relative, what=what)
    joined = root_path / relative
    # Symlinks inside root could still lead out: compare the resolved paths.
    if not joined.resolve().is_relative_to(root_path.resolve()):
        raise DataError(f"{what}={relative!r}: leads outside {root_path}")
    return joined


def check_output_dir(
    path: str | os.PathLike[str],
    field: str,
    *,
    overwrite: bool,
    ours: Callable[[Path], bool],
    own_folder: bool = True,
) -> Path:
    """The folder ``path`` a command may write into: absent, empty, ``ours(path)`` (a folder this tool
    wrote), or any folder when ``overwrite``. ConfigError naming ``field`` when it is a file, not writable
    (``/proc``), or a non-empty folder of something else, and (``own_folder``) when it names the current or
    a parent folder; nothing is created or changed here."""
    folder = Path(path)
    if not str(path).strip() or (own_folder and (str(path).strip() == "." or folder.name in ("", ".", ".."))):
        raise ConfigError(
            f"{field}={str(path)!r}: name a folder of its own (not the current or a parent folder)"
        )
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"{field}={str(path)!r}: is a file, not a folder")
    if _unwritable(folder):
        raise ConfigError(f"{field}={str(path)!r}: cannot write there")
    if folder.is_dir() and not overwrite and any(folder.iterdir()) and not ours(folder):
        raise ConfigError(
            f"{field}={str(path)!r}: a non-empty folder that this tool did not write; use another folder "
            "or overwrite=true / --overwrite"
        )
    return folder


def _unwritable(folder: Path) -> bool:
    """Whether nothing may be created in ``folder`` (or its nearest existing parent): that is a file, has no
    write permission, or lies on a kernel filesystem (``/proc``, ``/sys``) where writes have side effects."""
    existing = next((p for p in (folder, *folder.parents) if p.exists()), Path("."))
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        return True
    return folder.resolve().parts[1:2] in (("proc",), ("sys",))


def check_output_file(path: str | os.PathLike[str], field: str, *, overwrite: bool) -> Path:
    """The file ``path`` a command may write: its folder (created when missing, as atomic writes do) can be
    written, and it is no folder and does not exist yet unless ``overwrite``. ConfigError naming ``field``
    otherwise; nothing is written."""
    target = Path(path)
    if target.is_dir():
        raise ConfigError(f"{field}={str(path)!r}: is a folder, not a file")
    if _unwritable(target.parent):
        raise ConfigError(f"{field}={str(path)!r}: cannot write there")
    if target.exists() and not overwrite:
        raise ConfigError(f"{field}={str(path)!r}: exists; use --overwrite to replace it")
    return target
