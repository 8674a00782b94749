"""Export a dataset for other trainers. ``ltx-trainer``: MP4/WAV files plus ``dataset.jsonl``.

Layout written by ``export_ltx_trainer`` (Lightricks/LTX-2 ``packages/ltx-trainer``,
docs/dataset-preparation.md)::

    OUT/dataset.jsonl             one line per clip: caption and the media columns of the clip's job
    OUT/videos/<clip_id>.mp4      the target (the shard's MP4 bytes, copied, not re-encoded)
    OUT/references/<clip_id>.mp4  the reference video the IC-LoRA is conditioned on
    OUT/audio/<clip_id>.wav       the clip's audio (24-bit PCM), when it has audio
    OUT/labels/<clip_id>.json     the label arrays as nested lists (not read by the trainer), per-pixel ones aside
    OUT/labels/<clip_id>.safetensors  the per-pixel labels (``render.dense_labels``) in their stored dtypes,
                                  unless ``dense_labels=False``
    OUT/synthgen_export.json      the reference factors, clip geometry and the process_dataset.py command

Upstream's ``process_videos.py`` takes the column set from the *first* line's keys and reads
``entry[column].strip()`` as a path relative to the file's folder on every line, so every line carries
exactly the same keys, each a string, never null. The keys of a row are its job's ``export_columns`` (the
roles whose field the row has): ``video``, ``reference_video`` for video references, ``audio`` for the
clip's audio (the condition of audio_to_video; the audio target of the others), ``reference_audio`` only
for audio-reference jobs. Upstream rescales references itself (``--reference-downscale-factor``) and drops
references with fewer frames than the target, so temporally subsampled references are refused, as are
mixed factors or mixed column sets (one line of error naming two clips) -- before anything is written.

Per-pixel labels (flow, occlusion, object coordinates, normals, depth, instance ids: docs/schema.md) are
(F, H, W, ...) arrays, about 1.75 MB per 128x128x25 clip in the shards and twenty times that as JSON text, so
they never go into JSON: they are written as one safetensors file per clip (float16 / float32 / bool /
uint16 as stored, readable with ``safetensors.numpy.load_file``), or left out with ``dense_labels=False``
(``synthgen export --no-dense-labels``).
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile
from safetensors.numpy import save as safetensors_bytes

from synthgen.controls import get_job
from synthgen.dataset.media import decode_audio
from synthgen.dataset.reader import open_dataset
from synthgen.dataset.rows import LABEL_PREFIX, column_of
from synthgen.dataset.schema import LABEL_DIMS
from synthgen.errors import DataError
from synthgen.fileio import (
    SAFE_NAME_PATTERN,
    atomic_write_bytes,
    atomic_write_text,
    check_output_dir,
    is_safe_name,
    safe_join,
)

ROLES = ("video", "reference_video", "audio", "reference_audio")
# Where each exportable ClipRow field goes: folder and file suffix.
_FILES = {"video": ("videos", ".mp4"), "reference_video": ("references", ".mp4"), "audio": ("audio", ".wav")}
# ltx-trainer's default video VAE: sides multiples of 32 (after the reference downscale), frames 8k + 1.
_VAE_SPATIAL, _VAE_TEMPORAL = 32, 8
_SCALARS = (
    "clip_id",
    "control_job",
    "width",
    "height",
    "num_frames",
    "fps",
    "reference_downscale",
    "reference_temporal_factor",
    "audio_sample_rate",
)
EXPORT_INFO = "synthgen_export.json"
# Label arrays with an image's height and width after the frame axis: never written as JSON.
DENSE_LABELS = frozenset(name for name, dims in LABEL_DIMS.items() if tuple(dims[1:3]) == ("H", "W"))


@dataclass(frozen=True)
class ExportPlan:
    """What every line of the export shares, checked over the whole dataset before anything is written."""

    columns: tuple[str, ...]
    reference_downscale: int | None
    sizes: tuple[tuple[int, int, int], ...]
    has_audio: bool
    num_clips: int


def row_roles(job: str, has_audio: bool) -> dict[str, str]:
    """Role -> ClipRow field of one row: its job's ``export_columns`` minus the audio roles of a silent clip."""
    export = get_job(job).export_columns
    roles = {role: getattr(export, role) for role in ROLES if getattr(export, role) is not None}
    return {role: field for role, field in roles.items() if field != "audio" or has_audio}


def plan_export(path: str) -> ExportPlan:
    """Read the scalar columns of every row and check the export can be one upstream dataset file."""
    first: tuple[str, tuple[str, ...]] | None = None
    factors: dict[int, str] = {}
    sizes: set[tuple[int, int, int]] = set()
    count, has_audio = 0, False
    for row in open_dataset(path, columns=[column_of(name) for name in _SCALARS]):
        clip_id = row[column_of("clip_id")]
        audio = row[column_of("audio_sample_rate")] is not None
        roles = row_roles(row[column_of("control_job")], audio)
        columns = tuple(sorted([*roles, "caption"]))
        if first is None:
            first = (clip_id, columns)
        elif columns != first[1]:
            raise DataError(
                f"{path}: clip {first[0]} exports columns {list(first[1])} but clip {clip_id} {list(columns)}; "
                "ltx-trainer takes the columns from the first line (export one job and audio setting at a time)"
            )
        if row[column_of("reference_temporal_factor")] != 1 and "reference_video" in roles:
            raise DataError(
                f"{path}: clip {clip_id} reference_temporal_factor={row[column_of('reference_temporal_factor')]}: "
                "ltx-trainer needs full-rate references (it subsamples them itself with "
                "--reference-temporal-scale-factor); regenerate with clip.reference_temporal_factor=1"
            )
        if "reference_video" in roles:
            factors.setdefault(int(row[column_of("reference_downscale")]), clip_id)
            if len(factors) > 1:
                (a, clip_a), (b, clip_b) = list(factors.items())[:2]
                raise DataError(
                    f"{path}: clip {clip_a} has reference_downscale={a} but clip {clip_b} {b}; "
                    "ltx-trainer takes one --reference-downscale-factor per dataset"
                )
        sizes.add(
            (int(row[column_of("width")]), int(row[column_of("height")]), int(row[column_of("num_frames")]))
        )
        count, has_audio = count + 1, has_audio or audio
    if first is None:
        raise DataError(f"{path}: no clips to export")
    downscale = next(iter(factors)) if factors else None
    if downscale is not None and downscale > 1 and len(sizes) > 1:
        raise DataError(
            f"{path}: clips of {len(sizes)} sizes with reference_downscale={downscale}; ltx-trainer allows a "
            "single resolution bucket with --reference-downscale-factor > 1"
        )
    return ExportPlan(first[1], downscale, tuple(sorted(sizes)), has_audio, count)


def resolution_bucket(width: int, height: int, num_frames: int, downscale: int) -> str:
    """The largest ltx-trainer bucket ``WxHxF`` inside a clip (upstream resizes, centre-crops and keeps the
    first F frames): sides multiples of 32 x the reference downscale, F = 8k + 1."""
    step = _VAE_SPATIAL * downscale
    side_w, side_h = max(step, width // step * step), max(step, height // step * step)
    frames = (num_frames - 1) // _VAE_TEMPORAL * _VAE_TEMPORAL + 1
    return f"{side_w}x{side_h}x{frames}"


def process_dataset_command(jsonl: Path, plan: ExportPlan) -> str:
    """The ``process_dataset.py`` command line (run from ltx-trainer's folder) that caches this export."""
    downscale = plan.reference_downscale or 1
    buckets = ";".join(resolution_bucket(w, h, f, downscale) for w, h, f in plan.sizes)
    parts = [
        "uv run python scripts/process_dataset.py",
        str(jsonl),
        f'--resolution-buckets "{buckets}"',
        "--model-path /path/to/ltx-2.3-22b-dev.safetensors",
        "--text-encoder-path /path/to/gemma-root",
    ]
    if plan.reference_downscale is not None:
        parts += [f"--reference-downscale-factor {downscale}", "--reference-temporal-scale-factor 1"]
    if not plan.has_audio:
        parts.append("--skip-audio")
    return " ".join(parts)


def export_ltx_trainer(
    path: str, out_dir: str | Path, *, overwrite: bool = False, dense_labels: bool = True
) -> Path:
    """Write the dataset at ``path`` in the LTX-2 trainer's input layout under ``out_dir``; returns the
    path of ``dataset.jsonl``. Media bytes are copied from the shards (no re-encoding). A dataset that cannot
    be one upstream file (``plan_export``), or a shard whose bytes differ from the manifest (sha256), raises
    DataError before anything is written. An ``out_dir`` holding anything but an earlier export is refused
    (ConfigError) unless ``overwrite``; a clip id that is no safe file name is a DataError. Per-pixel
    labels go to ``labels/<clip_id>.safetensors`` (``dense_labels``) or are left out, never into JSON."""
    plan = plan_export(path)
    out = check_output_dir(out_dir, "out", overwrite=overwrite, ours=_is_export_folder)
    for folder in ("videos", "references", "audio", "labels"):
        (out / folder).mkdir(parents=True, exist_ok=True)
    lines: list[str] = []
    # Every shard's sha256 is checked against the manifest before the first file is written.
    for columns in open_dataset(path, decode_media=False, verify="sha256"):
        lines.append(json.dumps(_export_row(path, out, columns, dense_labels)))
    # Every file is written atomically, the index last: an interrupted export leaves no half-written file.
    jsonl = out / "dataset.jsonl"
    info = _export_info(path, jsonl, plan, dense_labels)
    atomic_write_text(out / EXPORT_INFO, json.dumps(info, indent=2) + "\n")
    atomic_write_text(jsonl, "".join(line + "\n" for line in lines))
    return jsonl


def _export_row(path: str, out: Path, columns: Mapping[str, Any], dense_labels: bool) -> dict[str, str]:
    """Write one clip's media and labels; returns its ``dataset.jsonl`` entry (strings only)."""
    clip_id = columns[column_of("clip_id")]
    if not is_safe_name(clip_id):
        raise DataError(
            f"{path}: clip_id={clip_id!r} is no safe file name ({SAFE_NAME_PATTERN}); not exported"
        )
    roles = row_roles(columns[column_of("control_job")], columns[column_of("audio")] is not None)
    written: dict[str, str] = {}
    entry: dict[str, str] = {}
    for role, field in roles.items():
        if columns[column_of(field)] is None:
            raise DataError(f"clip {clip_id}: row field {field!r} is empty; ltx-trainer needs it as {role!r}")
        if field not in written:
            written[field] = _write_media(out, field, clip_id, columns[column_of(field)])
        entry[role] = written[field]
    entry["caption"] = columns[column_of("caption")]
    labels = {
        name.removeprefix(LABEL_PREFIX): value
        for name, value in columns.items()
        if name.startswith(LABEL_PREFIX) and value is not None
    }
    small = {name: value.tolist() for name, value in labels.items() if name not in DENSE_LABELS}
    atomic_write_text(safe_join(out, f"labels/{clip_id}.json", what="clip_id"), json.dumps(small))
    dense = {name: np.ascontiguousarray(value) for name, value in labels.items() if name in DENSE_LABELS}
    dense_file = safe_join(out, f"labels/{clip_id}.safetensors", what="clip_id")
    if dense and dense_labels:
        atomic_write_bytes(dense_file, safetensors_bytes(dense, metadata={"clip_id": clip_id}))
    elif dense_file.exists():
        dense_file.unlink()  # from an earlier export of the same folder with them: it would describe other data
    return entry


def _is_export_folder(out: Path) -> bool:
    return {p.name for p in out.iterdir()} <= {
        "dataset.jsonl",
        EXPORT_INFO,
        *(folder for folder, _ in _FILES.values()),
        "labels",
    }


def _export_info(path: str, jsonl: Path, plan: ExportPlan, dense_labels: bool) -> dict[str, Any]:
    """``synthgen_export.json``: what upstream's flags must say about this export."""
    return {
        "format": "ltx-trainer",
        "source": path,
        "num_clips": plan.num_clips,
        "columns": list(plan.columns),
        "reference_downscale_factor": plan.reference_downscale,
        "reference_temporal_scale_factor": 1 if plan.reference_downscale is not None else None,
        "clip_sizes_wxhxf": [f"{w}x{h}x{f}" for w, h, f in plan.sizes],
        "has_audio": plan.has_audio,
        "dense_labels": "labels/<clip_id>.safetensors" if dense_labels else "not exported",
        "process_dataset_command": process_dataset_command(jsonl, plan),
    }


def _write_media(out: Path, field: str, clip_id: str, data: bytes) -> str:
    """Write one clip's stored media of ``field`` (MP4 bytes copied, FLAC audio as 24-bit WAV); returns the
    path relative to ``out``."""
    if field not in _FILES:
        raise DataError(f"export: row field {field!r} is no exportable media (have {', '.join(_FILES)})")
    folder, suffix = _FILES[field]
    relative = f"{folder}/{clip_id}{suffix}"
    if suffix == ".wav":
        samples, rate = decode_audio(data, name=f"{clip_id}: {field}")
        wav = io.BytesIO()
        soundfile.write(wav, samples, rate, format="WAV", subtype="PCM_24")
        data = wav.getvalue()
    atomic_write_bytes(safe_join(out, relative, what="clip_id"), data)
    return relative
