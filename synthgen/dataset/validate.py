"""``synthgen validate``: check a dataset folder end to end and name the shard and row of every problem.

Checks: manifest hashes and sizes; no ``data/*.parquet`` the manifest does not list; Parquet page checksums;
schema version and columns of every shard; every video, control video and
audio stream decodes; decoded shapes agree with ``num_frames``/``height``/``width``; label shapes agree with
the documented dimensions (docs/schema.md) and with each other, and the box and per-pixel labels have their
documented element types; reference/target pair invariants
(downscale, temporal factor); audio length = num_frames / fps * sample_rate; every clip index appears exactly
once, as a row or as a recorded failure.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from synthgen.dataset.reader import decode_row
from synthgen.dataset.rows import CONTROL_PREFIX, LABEL_PREFIX, PAIRING_COLUMN, TIMINGS_COLUMN
from synthgen.dataset.schema import (
    AUDIO_COLUMN,
    BASE_FIELDS,
    LABEL_DIMS,
    LABEL_DTYPES,
    VIDEO_COLUMNS,
    check_schema,
)
from synthgen.dataset.store import DATA_DIR, MANIFEST_FILE, DatasetStore, file_sha256
from synthgen.errors import ConfigError, DataError
from synthgen.fileio import SAFE_NAME_PATTERN, is_safe_name, safe_join

_CAMERA_LABELS = ("camera_to_world_blender", "camera_from_world_cv", "intrinsics_px", "times_s")


@dataclass
class ValidationReport:
    """Outcome of ``validate_dataset``: rows and files checked, and one line per problem found."""

    path: str
    num_files: int = 0
    num_rows: int = 0
    num_failed: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no problem was found."""
        return not self.problems


def validate_dataset(
    path: str | Path, *, decode_media: bool = True, max_problems: int = 100
) -> ValidationReport:
    """Check the dataset folder at ``path``; returns a report listing every problem (one line each).

    When all shards are committed but ``_manifest.json`` is missing (a multi-job run whose last job was
    killed after its last shard), the manifest is merged first. ``decode_media=False`` skips decoding.
    """
    if isinstance(max_problems, bool) or not isinstance(max_problems, int) or max_problems < 1:
        raise ConfigError(f"max_problems={max_problems!r}: must be an integer >= 1")
    root = Path(path)
    report = ValidationReport(str(root))
    if not root.is_dir():
        raise DataError(f"{root}: not a folder")
    store = DatasetStore(root)
    plan = store.plan()
    manifest = store.manifest() or store.finalize()
    if manifest is None:
        missing = sorted(set(range(plan.num_shards)) - set(store.committed()))
        report.problems.append(
            f"{root}: incomplete, {len(missing)} of {plan.num_shards} shards not committed "
            f"(first: shard {missing[0]}); rerun synthgen-generate with the same config to finish it"
        )
        return report
    listed = {Path(str(entry["path"])).as_posix() for entry in manifest["files"]}
    for stray in sorted((root / DATA_DIR).glob("*.parquet")):
        if stray.relative_to(root).as_posix() not in listed:
            report.problems.append(
                f"{stray}: not listed in the manifest (a shard it lost, or a file that is not part of this "
                "dataset); readers skip it"
            )
    seen: Counter[int] = Counter()
    reference_schema: pa.Schema | None = None
    for entry in manifest["files"]:
        try:
            file_path = safe_join(root, str(entry["path"]), what=f"{root / MANIFEST_FILE}: files[].path")
        except DataError as err:
            report.problems.append(str(err))
            continue
        if not file_path.is_file():
            report.problems.append(f"{file_path}: listed in the manifest but missing")
            continue
        if file_path.stat().st_size != int(entry["bytes"]) or file_sha256(file_path) != entry["sha256"]:
            report.problems.append(
                f"{file_path}: size or sha256 differs from the manifest (changed or truncated)"
            )
            continue
        try:
            schema = _check_file(file_path, report, seen, decode_media, max_problems)
        except DataError as err:
            report.problems.append(str(err))
            continue
        report.num_files += 1
        if reference_schema is None:
            reference_schema = schema
        elif not schema.remove_metadata().equals(reference_schema.remove_metadata()):
            report.problems.append(f"{file_path}: columns differ from {manifest['files'][0]['path']}")
        if len(report.problems) >= max_problems:
            return report
    try:
        failures = [int(item["clip_index"]) for item in store.failures()]
    except DataError as err:
        report.problems.append(str(err))
        failures = []
    report.num_failed = len(failures)
    seen.update(failures)
    for clip_index, count in sorted(seen.items()):
        if count > 1:
            report.problems.append(f"{root}: clip_index {clip_index} appears {count} times")
    missing_clips = sorted(set(range(int(manifest["num_clips"]))) - set(seen))
    if missing_clips and not report.problems:
        report.problems.append(
            f"{root}: {len(missing_clips)} clips neither written nor recorded as failed (first: {missing_clips[0]})"
        )
    return report


def _check_file(
    file_path: Path, report: ValidationReport, seen: Counter[int], decode_media: bool, max_problems: int
) -> pa.Schema:
    try:
        parquet = pq.ParquetFile(file_path, page_checksum_verification=True)
        schema = parquet.schema_arrow
    except (pa.ArrowException, OSError) as err:
        raise DataError(f"{file_path}: unreadable Parquet ({str(err).splitlines()[0]})") from None
    check_schema(schema, str(file_path))
    row_offset = 0
    try:
        for batch in parquet.iter_batches(batch_size=1):
            for row in range(batch.num_rows):
                where = f"{file_path} row {row_offset + row}"
                report.num_rows += 1
                seen[int(batch.column("clip_index")[row].as_py())] += 1
                for problem in _check_row(batch, row, where, schema, decode_media):
                    report.problems.append(problem)
                if len(report.problems) >= max_problems:
                    return schema
            row_offset += batch.num_rows
    except (pa.ArrowException, OSError) as err:
        raise DataError(f"{file_path} row {row_offset}: unreadable ({str(err).splitlines()[0]})") from None
    return schema


def _check_row(
    batch: pa.RecordBatch, row: int, where: str, schema: pa.Schema, decode_media: bool
) -> list[str]:
    columns = [name for name in schema.names if decode_media or not _is_media(name)]
    try:
        clip = decode_row(batch, row, columns, where, schema)
    except DataError as err:
        return [str(err)]
    problems = [
        f"{where}: {name}={clip[name]!r} does not match {SAFE_NAME_PATTERN} (names become file names)"
        for name in ("clip_id", "dataset_name")
        if not is_safe_name(clip.get(name))
    ]
    if problems:
        return problems
    where = f"{where} ({clip['clip_id']})"
    for arrow_field in BASE_FIELDS:
        if not arrow_field.nullable and clip.get(arrow_field.name, "") is None:
            problems.append(f"{where}: {arrow_field.name} is null")
    frames, height, width = clip["num_frames"], clip["height"], clip["width"]
    for key in ("spec_json", PAIRING_COLUMN, TIMINGS_COLUMN):
        try:
            json.loads(clip[key])
        except (TypeError, ValueError):
            problems.append(f"{where}: {key} is not valid JSON")
    pairing = json.loads(clip[PAIRING_COLUMN]) if not problems else {}
    if (
        isinstance(pairing, dict)
        and isinstance(pairing.get("shared"), list)
        and isinstance(pairing.get("differs"), list)
    ):
        both = set(map(str, pairing["shared"])) & set(map(str, pairing["differs"]))
        if both:
            problems.append(f"{where}: pairing lists {sorted(both)} as both shared and differing")
    downscale, temporal = clip["reference_downscale"], clip["reference_temporal_factor"]
    if downscale < 1 or temporal < 1:
        problems.append(
            f"{where}: reference_downscale={downscale}, reference_temporal_factor={temporal}; both must be >= 1"
        )
    elif clip["reference_num_frames"] is not None:
        expected = ((frames - 1) // temporal + 1, height // downscale, width // downscale)
        actual = (clip["reference_num_frames"], clip["reference_height"], clip["reference_width"])
        if actual != expected:
            problems.append(
                f"{where}: reference is {actual} (frames, height, width), expected {expected} from the target "
                f"and reference_downscale={downscale}, reference_temporal_factor={temporal}"
            )
    if decode_media:
        problems += _check_video(clip["video"], (frames, height, width), "video", where)
        if clip["reference_video"] is not None:
            dims = (clip["reference_num_frames"], clip["reference_height"], clip["reference_width"])
            problems += _check_video(clip["reference_video"], dims, "reference_video", where)
        for name in (n for n in columns if n.startswith(CONTROL_PREFIX)):
            if clip[name].shape[0] not in (frames, clip["reference_num_frames"]):
                problems.append(f"{where}: {name} has {clip[name].shape[0]} frames, target has {frames}")
        if clip["audio"] is not None:
            rate = clip["audio_sample_rate"]
            expected_samples = round(frames / clip["fps"] * rate)
            if not clip["audio"].shape[0] == clip["audio_num_samples"] == expected_samples:
                problems.append(
                    f"{where}: audio has {clip['audio'].shape[0]} samples (column says {clip['audio_num_samples']}), "
                    f"num_frames/fps*sample_rate = {expected_samples}"
                )
    problems += _check_labels(clip, columns, (frames, height, width), where)
    return problems


def _is_media(name: str) -> bool:
    return name in VIDEO_COLUMNS or name == AUDIO_COLUMN or name.startswith(CONTROL_PREFIX)


def _check_video(frames_rgb: np.ndarray, dims: tuple[int, int, int], name: str, where: str) -> list[str]:
    if tuple(frames_rgb.shape[:3]) != tuple(dims):
        return [f"{where}: {name} decodes to {frames_rgb.shape[:3]} (frames, height, width), row says {dims}"]
    return []


def _check_labels(
    clip: dict[str, Any], columns: list[str], frame_size: tuple[int, int, int], where: str
) -> list[str]:
    problems: list[str] = []
    frames, height, width = frame_size
    sizes: dict[str, tuple[int, str]] = {
        "F": (frames, "num_frames"),
        "H": (height, "height"),
        "W": (width, "width"),
    }
    for column in columns:
        if not column.startswith(LABEL_PREFIX):
            continue
        name = column.removeprefix(LABEL_PREFIX)
        array = clip[column]
        dims = LABEL_DIMS.get(name)
        if name in _CAMERA_LABELS and not np.all(np.isfinite(array)):
            problems.append(f"{where}: {column} has non-finite values")
        if name in LABEL_DTYPES and str(array.dtype) != LABEL_DTYPES[name]:
            problems.append(f"{where}: {column} has dtype {array.dtype}, expected {LABEL_DTYPES[name]}")
        if dims is None:
            continue
        if array.ndim != len(dims):
            problems.append(
                f"{where}: {column} has shape {array.shape}, expected ({', '.join(map(str, dims))})"
            )
            continue
        for axis, (symbol, size) in enumerate(zip(dims, array.shape)):
            if isinstance(symbol, int):
                if size != symbol:
                    problems.append(f"{where}: {column} axis {axis} is {size}, expected {symbol}")
            elif symbol in sizes and sizes[symbol][0] != size:
                other_size, other = sizes[symbol]
                problems.append(
                    f"{where}: {column} axis {axis} ({symbol}) is {size}, but {other} says {other_size}"
                )
            else:
                sizes.setdefault(symbol, (size, column))
    return problems
