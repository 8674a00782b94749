"""The latent cache: every clip encoded once, stored as safetensors, read by training and evaluation.

Storage protocol. A cache folder is named by :func:`cache_key`, a hash of everything that shapes its
contents (format, model, encoders, buckets, control job, the shards' bytes), so a changed setting never
reuses stale latents. It holds one ``<position>.safetensors`` per clip: the tensors of a
:class:`CachedItem` plus its other fields as JSON under the metadata key ``synthgen.cache_item``. Items are
written atomically and kept when present, so an interrupted encode resumes; ``index.json`` is written last
and marks a complete cache. Nothing is ever unpickled: a file that is not an item of this format stops the
run with a one-line DataError naming it. ``CACHE_FORMAT`` is part of the key, so caches of an older format
(pickled ``.pt`` items) are never read, only rebuilt beside them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from synthgen.dataset.rows import ClipRow
from synthgen.dataset.store import DatasetStore
from synthgen.errors import ConfigError, DataError
from synthgen.fileio import atomic_write_json

from . import tensorfile
from .config import Bucket, require_dataset_folder
from .data import (
    Example,
    choose_bucket,
    encode_audio,
    encode_text,
    encode_video,
    fit_video,
    row_to_example,
)
from .ic import audio_num_latent_frames
from .model import ModelBundle

CACHE_FORMAT = 2
ITEM_KEY = "synthgen.cache_item"
ITEM_NAME = re.compile(r"^\d{6}\.safetensors$")
TENSOR_FIELDS = ("target", "reference", "audio", "text", "audio_text", "text_mask")


@dataclass(frozen=True)
class CachedItem:
    """Everything one training step needs for one clip, as CPU tensors.

    ``target`` ``[C, F', H', W']`` and ``reference`` (or None) are normalised video latents; ``audio`` is the
    packed audio latents ``[T, C_audio]`` when the audio is the reference (else None); ``audio_frames`` is T
    for the clip's length at 16 kHz; ``text`` ``[L, D_video]``, ``audio_text`` ``[L, D_audio]`` and
    ``text_mask`` ``[L]`` are the text path's outputs.
    """

    clip_id: str
    bucket: str
    fps: float
    target: torch.Tensor
    reference: torch.Tensor | None
    audio: torch.Tensor | None
    audio_frames: int
    text: torch.Tensor
    audio_text: torch.Tensor
    text_mask: torch.Tensor
    reference_downscale: int
    reference_temporal_factor: int
    audio_is_reference: bool


def save_item(item: CachedItem, path: Path) -> None:
    """Write ``item`` atomically as safetensors (tensors) + JSON metadata (the other fields)."""
    # Not dataclasses.asdict: it would deep-copy every tensor.
    fields = {f.name: getattr(item, f.name) for f in dataclasses.fields(item)}
    tensors = {name: fields.pop(name) for name in TENSOR_FIELDS}
    tensorfile.write_json_state(
        path,
        {k: v for k, v in tensors.items() if v is not None},
        ITEM_KEY,
        {"format": CACHE_FORMAT, **fields},
    )


def load_item(path: Path) -> CachedItem:
    """Read one cached item; a file of another format or content is a DataError naming it."""
    tensors, state = tensorfile.read_json_state(path, ITEM_KEY, "latent-cache item")
    if state.get("format") != CACHE_FORMAT:
        raise DataError(f"{path}: latent-cache item of another format; delete the cache folder to rebuild it")
    try:
        return CachedItem(
            clip_id=str(state["clip_id"]),
            bucket=str(state["bucket"]),
            fps=float(state["fps"]),
            target=tensors["target"],
            reference=tensors.get("reference"),
            audio=tensors.get("audio"),
            audio_frames=int(state["audio_frames"]),
            text=tensors["text"],
            audio_text=tensors["audio_text"],
            text_mask=tensors["text_mask"],
            reference_downscale=int(state["reference_downscale"]),
            reference_temporal_factor=int(state["reference_temporal_factor"]),
            audio_is_reference=bool(state["audio_is_reference"]),
        )
    except (KeyError, TypeError, ValueError) as err:
        raise DataError(f"{path}: latent-cache item without a valid {err} entry") from None


def load_items(paths: Sequence[Path]) -> list[CachedItem]:
    """Read cached items into memory (latents are small: a 768x768x81 clip is 128x11x24x24 floats)."""
    return [load_item(p) for p in paths]


def dataset_fingerprint(path: str | Path) -> str:
    """Hash of the shards' content: the manifest's per-file sha256 list, else the bytes of every .parquet."""
    root = require_dataset_folder(path)
    manifest = DatasetStore(root).manifest()
    digest = hashlib.sha256()
    if manifest is not None:
        for entry in sorted(manifest["files"], key=lambda e: str(e["path"])):
            digest.update(f"{entry['path']}:{entry['sha256']}\n".encode())
        return digest.hexdigest()
    parquet = sorted(root.rglob("*.parquet"))
    if not parquet:
        raise DataError(f"data.path={str(path)!r}: no shards (.parquet files) found")
    for file in parquet:
        digest.update(str(file.relative_to(root)).encode())
        with open(file, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def cache_key(
    model_id: str, buckets: Sequence[Bucket], control: str, fingerprint: str, extra: dict[str, Any]
) -> str:
    """The cache folder name: a hash of every input that shapes the cached tensors."""
    body = json.dumps(
        {
            "format": CACHE_FORMAT,
            "model": model_id,
            "buckets": [str(b) for b in buckets],
            "control": control,
            "data": fingerprint,
            **extra,
        },
        sort_keys=True,
    )
    return hashlib.sha256(body.encode()).hexdigest()[:20]


def _listed_items(cache_dir: Path) -> list[Path]:
    """The items ``index.json`` lists; a name that is not ``NNNNNN.safetensors`` (a path) is refused."""
    index_file = cache_dir / "index.json"
    try:
        listed = json.loads(index_file.read_text(encoding="utf-8"))["items"]
    except (json.JSONDecodeError, KeyError, TypeError):
        raise DataError(
            f"{index_file}: not a latent-cache index; delete the cache folder to rebuild it"
        ) from None
    for name in listed:
        if not isinstance(name, str) or not ITEM_NAME.match(name):
            raise DataError(f"{index_file}: item name {name!r} is not NNNNNN.safetensors")
    return [cache_dir / name for name in listed]


def build_cache(
    rows: Iterable[ClipRow],
    bundle: ModelBundle,
    *,
    cache_dir: Path,
    control: str,
    buckets: Sequence[Bucket],
    progress: bool = False,
) -> list[Path]:
    """Encode every row once into ``cache_dir``; returns the item paths in row order.

    Present items are kept (resume); ``index.json`` is written last. On an error, the folders this call
    created are removed again when nothing was written into them (never a folder it did not create).
    """
    if (cache_dir / "index.json").exists():
        return _listed_items(cache_dir)
    if bundle.vae is None or bundle.text_encoder is None:
        raise ConfigError(
            "model.preset: this model has no encoders; point data.cache_dir at a complete cache"
        )
    created = [folder for folder in (cache_dir, *cache_dir.parents) if not folder.exists()]
    cache_dir.mkdir(parents=True, exist_ok=True)
    try:
        names = _encode_rows(rows, bundle, cache_dir, control, buckets, progress)
    except BaseException:
        remove_empty_folders(created)
        raise
    atomic_write_json(cache_dir / "index.json", {"items": names, "control": control})
    return [cache_dir / name for name in names]


def remove_empty_folders(folders: Sequence[Path]) -> None:
    """Remove ``folders`` (deepest first) while they are empty; stop at the first that is not."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            return


def _encode_rows(
    rows: Iterable[ClipRow],
    bundle: ModelBundle,
    cache_dir: Path,
    control: str,
    buckets: Sequence[Bucket],
    progress: bool,
) -> list[str]:
    """Encode the rows not cached yet into ``cache_dir``; the item names of every row, in row order."""
    names: list[str] = []
    iterator: Iterable[ClipRow] = rows
    if progress:
        from tqdm import tqdm

        iterator = tqdm(rows, desc="encode", unit="clip")
    first: Example | None = None
    for position, row in enumerate(iterator):
        where = f"row {position} ({row.clip_id})"
        example = row_to_example(row, control, where)
        first = first or example
        check_same_factors(first, example)
        name = f"{position:06d}.safetensors"
        names.append(name)
        if (cache_dir / name).exists():
            continue
        save_item(encode_example(example, bundle, choose_bucket(buckets, example, where)), cache_dir / name)
    if not names:
        raise DataError(f"data.path: the dataset has no rows for control job {control!r}")
    return names


def check_same_factors(first: Example, example: Example) -> None:
    """One reference scale per dataset: the LoRA's metadata (``reference_downscale_factor``,
    ``reference_temporal_scale_factor``) holds one value that inference applies to every reference."""
    a = (first.reference_downscale, first.reference_temporal_factor)
    b = (example.reference_downscale, example.reference_temporal_factor)
    if a != b:
        raise DataError(
            f"data.path: clips {first.clip_id!r} (reference_downscale={a[0]}, reference_temporal_factor={a[1]}) "
            f"and {example.clip_id!r} (reference_downscale={b[0]}, reference_temporal_factor={b[1]}) differ; "
            "a LoRA records one reference scale: train on clips generated with one setting"
        )


def encode_example(example: Example, bundle: ModelBundle, bucket: Bucket) -> CachedItem:
    """Encode one clip's roles at ``bucket``: video latents, audio latents if the audio is the reference, text."""
    assert bundle.vae is not None
    target = encode_video(bundle.vae, fit_video(example.target, bucket.width, bucket.height, bucket.frames))
    reference = None
    if example.reference is not None:
        s, tf = example.reference_downscale, example.reference_temporal_factor
        ref_frames = (bucket.frames - 1) // tf + 1
        pixels = fit_video(example.reference, bucket.width // s, bucket.height // s, ref_frames)
        reference = encode_video(bundle.vae, pixels)
    audio_latents = None
    if example.audio_is_reference:
        if bundle.audio_vae is None:
            raise ConfigError("model: control job audio_to_video needs an audio VAE (audio_vae/ subfolder)")
        assert example.audio is not None and example.audio_sample_rate is not None
        audio_latents = encode_audio(
            bundle.audio_vae, example.audio, example.audio_sample_rate, bucket.frames, example.fps
        )
    text, audio_text, mask = encode_text(bundle, [example.caption])
    return CachedItem(
        clip_id=example.clip_id,
        bucket=str(bucket),
        fps=example.fps,
        target=target,
        reference=reference,
        audio=audio_latents,
        audio_frames=audio_num_latent_frames(round(bucket.frames / example.fps * 16000), 16000),
        text=text[0],
        audio_text=audio_text[0],
        text_mask=mask[0],
        reference_downscale=example.reference_downscale,
        reference_temporal_factor=example.reference_temporal_factor,
        audio_is_reference=example.audio_is_reference,
    )
