"""HDR environment maps for world lighting: Blender's bundled set or a user folder of ``.exr``/``.hdr`` files.

A folder is named by ``scene.params.hdri_dir``: ``builtin`` means the photographic environments the bpy wheel
ships (``datafiles/studiolights/world``), found from the installed ``bpy`` package without importing it, so
sampling stays Blender-free. A clip's spec records the folder, the file name and the file's sha256; the
renderer resolves the file from those and refuses it when its bytes no longer match.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path

from synthgen.errors import ConfigError, DataError

BUILTIN = "builtin"
HDRI_SUFFIXES = (".exr", ".hdr")
# OpenEXR's magic number and Radiance RGBE's "#?" signature: a file without them is not an HDR image.
_MAGIC = {".exr": b"\x76\x2f\x31\x01", ".hdr": b"#?"}


@dataclass(frozen=True)
class Hdri:
    """One environment map: its bare file name (inside its folder) and the sha256 of its bytes."""

    name: str
    sha256: str


def builtin_hdri_dir() -> Path:
    """The bpy wheel's ``datafiles/studiolights/world`` folder; ConfigError when bpy is not installed."""
    spec = importlib.util.find_spec("bpy")
    if spec is None or spec.origin is None:
        raise ConfigError(
            f"scene.params.hdri_dir={BUILTIN!r}: needs the bpy package (pip install 'synthgen[render]')"
        )
    found = sorted(Path(spec.origin).parent.glob("*/datafiles/studiolights/world"))
    if not found:
        raise ConfigError(
            f"scene.params.hdri_dir={BUILTIN!r}: no datafiles/studiolights/world under {Path(spec.origin).parent}"
        )
    return found[-1]


def hdri_folder(hdri_dir: str) -> Path:
    """The folder ``hdri_dir`` names (``builtin`` or a path)."""
    return builtin_hdri_dir() if hdri_dir == BUILTIN else Path(hdri_dir).expanduser()


def list_hdris(hdri_dir: str) -> tuple[Hdri, ...]:
    """The folder's HDR files sorted by name (so sampling ignores directory order), each with its sha256.

    Raises a one-line ``ConfigError`` naming the folder when it is missing or holds no ``.exr``/``.hdr``
    file, or naming the file when one cannot be read or is not an HDR image.
    """
    folder = hdri_folder(hdri_dir)
    if not folder.is_dir():
        raise ConfigError(f"scene.params.hdri_dir={hdri_dir!r}: folder {str(folder)!r} not found")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in HDRI_SUFFIXES and p.is_file())
    if not files:
        raise ConfigError(f"scene.params.hdri_dir={hdri_dir!r}: no .exr/.hdr files in {str(folder)!r}")
    return tuple(Hdri(p.name, _checked_sha256(p, hdri_dir)) for p in files)


def _checked_sha256(path: Path, hdri_dir: str) -> str:
    try:
        stat = path.stat()
        return _sha256(str(path), stat.st_mtime_ns, stat.st_size)
    except OSError as err:
        raise ConfigError(
            f"scene.params.hdri_dir={hdri_dir!r}: cannot read {str(path)!r} ({err.strerror})"
        ) from None
    except ValueError as err:
        raise ConfigError(f"scene.params.hdri_dir={hdri_dir!r}: {str(path)!r} {err}") from None


@functools.lru_cache(maxsize=1024)
def _sha256(path: str, mtime_ns: int, size: int) -> str:
    """sha256 of the file, checked for its format's signature; cached per (path, mtime, size) because
    every clip's sampling lists the folder again."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        head = handle.read(1 << 20)
        magic = _MAGIC[Path(path).suffix.lower()]
        if not head.startswith(magic):
            raise ValueError(f"is not an {Path(path).suffix.lower()} image (bad signature)")
        while head:
            digest.update(head)
            head = handle.read(1 << 20)
    return digest.hexdigest()


def resolve_hdri(hdri_dir: str, name: str, sha256: str) -> Path:
    """The file a spec's world names, checked against its recorded sha256.

    Raises ``DataError`` naming the file when it is missing or its bytes differ from the spec's.
    """
    path = hdri_folder(hdri_dir) / name
    try:
        actual = _sha256(str(path), path.stat().st_mtime_ns, path.stat().st_size)
    except (OSError, ValueError) as err:
        raise DataError(
            f"world.hdri_file={str(path)!r}: cannot read the spec's environment map ({err})"
        ) from None
    if actual != sha256:
        raise DataError(
            f"world.hdri_sha256: {str(path)!r} has sha256 {actual[:12]}..., the spec recorded {sha256[:12]}...; "
            "the environment map changed since the spec was made"
        )
    return path
