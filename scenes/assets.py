"""Asset libraries: folders of mesh files (``.glb .gltf .obj .blend .usd .usda .usdc .usdz``) sampled per clip.

``scene.params.assets`` names one folder, a list of folders (drawn evenly) or a mapping folder -> weight.
Every file under a folder (subfolders included) is a candidate, listed in sorted order so sampling never
depends on the filesystem. A sampled object records the folder, the file's path relative to it and the
file's sha256 (``ObjectSpec.asset_dir / asset_path / asset_sha256``): the spec says exactly which bytes
were rendered, and the renderer resolves the path inside the folder only and refuses changed bytes.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from synthgen.errors import ConfigError, DataError
from synthgen.fileio import safe_join

ASSET_SUFFIXES = (".glb", ".gltf", ".obj", ".blend", ".usd", ".usda", ".usdc", ".usdz")


@dataclass(frozen=True)
class Asset:
    """One library file: its ``folder``, its ``name`` (path relative to the folder, '/'-separated), sha256."""

    folder: str
    name: str
    sha256: str


@dataclass(frozen=True)
class AssetLibrary:
    """Folders with their draw probabilities and the sorted file names found in each."""

    folders: tuple[str, ...]
    probabilities: tuple[float, ...]
    names: tuple[tuple[str, ...], ...]

    def sample(self, rng: np.random.Generator) -> Asset:
        """A folder by weight, then a file in it uniformly (two draws)."""
        folder_index = int(rng.choice(len(self.folders), p=np.asarray(self.probabilities)))
        names = self.names[folder_index]
        name = names[int(rng.integers(len(names)))]
        folder = self.folders[folder_index]
        return Asset(folder, name, file_sha256(safe_join(folder, name, what="asset_path")))


def asset_library(value: object, what: str = "scene.params.assets") -> AssetLibrary | None:
    """The library ``value`` describes (None for null / empty); ConfigError naming ``what`` for a missing
    folder, a folder without asset files, or weights that are not >= 0 with a positive sum."""
    if value is None or value == "" or value == [] or value == {}:
        return None
    if isinstance(value, str):
        pairs = [(value, 1.0)]
    elif isinstance(value, list | tuple):
        pairs = [(item, 1.0) for item in value]
    elif isinstance(value, Mapping):
        pairs = list(value.items())
    else:
        raise ConfigError(f"{what}={value!r}: give a folder, a list of folders or a mapping folder -> weight")
    try:
        weights = np.asarray([float(weight) for _, weight in pairs])
    except (TypeError, ValueError):
        raise ConfigError(f"{what}={value!r}: weights must be numbers") from None
    if not np.all(np.isfinite(weights)) or np.any(weights < 0.0) or weights.sum() <= 0.0:
        raise ConfigError(f"{what}={value!r}: weights must be >= 0 and not all 0")
    folders = tuple(str(Path(str(folder)).expanduser()) for folder, _ in pairs)
    names = tuple(list_asset_files(folder, what) for folder in folders)
    return AssetLibrary(folders, tuple(float(w) for w in weights / weights.sum()), names)


def list_asset_files(folder: str, what: str = "scene.params.assets") -> tuple[str, ...]:
    """Sorted relative names of the asset files under ``folder``; ConfigError when there are none."""
    root = Path(folder)
    if not root.is_dir():
        raise ConfigError(f"{what}: folder {folder!r} not found")
    resolved_root = root.resolve()
    names = sorted(
        path.relative_to(root).as_posix()
        for path in root.rglob("*")
        if path.suffix.lower() in ASSET_SUFFIXES
        and path.is_file()
        and path.resolve().is_relative_to(resolved_root)  # a symlink leading out is not part of it
    )
    if not names:
        raise ConfigError(f"{what}: folder {folder!r} holds no {'/'.join(ASSET_SUFFIXES)} files")
    return tuple(names)


def resolve_asset(asset_dir: str, asset_path: str, sha256: str) -> Path:
    """The file a spec's object names, inside ``asset_dir``, checked against its recorded sha256.

    DataError naming the file when the path leaves the folder, is missing, or its bytes changed.
    """
    path = safe_join(asset_dir, asset_path, what="asset_path")
    try:
        actual = file_sha256(path)
    except OSError as err:
        raise DataError(f"asset_path={str(path)!r}: cannot read the spec's asset ({err})") from None
    if actual != sha256:
        raise DataError(
            f"asset_sha256: {str(path)!r} has sha256 {actual[:12]}..., the spec recorded {sha256[:12]}...; "
            "the asset changed since the spec was made"
        )
    return path


def file_sha256(path: Path) -> str:
    """sha256 hex of a file (cached by path, modification time and size)."""
    stat = path.stat()
    return _sha256(str(path), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=4096)
def _sha256(path: str, mtime_ns: int, size: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
