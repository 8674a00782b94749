"""Tensor files without pickle: safetensors with the header in canonical (sorted) order.

Checkpoints, latent-cache items and exported LoRAs are all safetensors files: named tensors plus string
metadata, where structured state is one JSON document under a single metadata key. Nothing here unpickles,
so a planted or corrupt file fails to load with a one-line DataError and never runs code (a cache is meant to
be shared). The header is rewritten with sorted keys because safetensors orders metadata by a hash map,
which would make two identical runs write different bytes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save

from synthgen.errors import DataError
from synthgen.fileio import atomic_write_bytes


def to_bytes(tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> bytes:
    """The safetensors bytes of ``tensors`` and string ``metadata``, identical for identical inputs."""
    raw = save({k: v.contiguous() for k, v in tensors.items()}, metadata=metadata)
    size = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + size])
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # the data section starts 8-byte aligned
    return len(text).to_bytes(8, "little") + text + raw[8 + size :]


def write(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> None:
    """Write a safetensors file atomically (``synthgen.fileio``): never half-written."""
    atomic_write_bytes(path, to_bytes(tensors, metadata))


def read(path: Path, what: str) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Tensors (on CPU) and metadata of a safetensors file; ``what`` names it in the DataError of a bad file."""
    try:
        with safe_open(str(path), framework="pt", device="cpu") as handle:
            metadata = dict(handle.metadata() or {})
            tensors = {name: handle.get_tensor(name) for name in handle.keys()}
    except (SafetensorError, OSError, ValueError) as err:
        cause = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise DataError(f"{path}: not a readable {what} ({cause}); delete it to start over") from None
    return tensors, metadata


def write_json_state(path: Path, tensors: dict[str, torch.Tensor], key: str, state: dict[str, Any]) -> None:
    """Tensors plus one JSON document ``state`` stored under metadata ``key``."""
    write(path, tensors, {key: json.dumps(state, sort_keys=True, separators=(",", ":"))})


def read_json_state(path: Path, key: str, what: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Inverse of :func:`write_json_state`; a file without ``key`` (not ours) is a DataError."""
    tensors, metadata = read(path, what)
    try:
        state = json.loads(metadata[key])
    except (KeyError, json.JSONDecodeError):
        raise DataError(
            f"{path}: not a synthgen {what} (no {key!r} metadata); delete it to start over"
        ) from None
    if not isinstance(state, dict):
        raise DataError(f"{path}: not a synthgen {what} ({key!r} is not a JSON object)")
    return tensors, state
