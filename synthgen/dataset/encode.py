"""Row encoding: a ``ClipRow`` -> MP4/FLAC bytes, Arrow label arrays and scalar columns (docs/schema.md).

The row's type guarantees its fields exist; this module checks their values (dtypes, shapes against
``num_frames``/``height``/``width``, sample rates, column names) because a wrong one would otherwise be
written silently and found only when a trainer decodes it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from synthgen.dataset import media
from synthgen.dataset.rows import (
    CONTROL_PREFIX,
    LABEL_PREFIX,
    PAIRING_COLUMN,
    SHAPES_COLUMN,
    TIMINGS_COLUMN,
    ClipRow,
)
from synthgen.dataset.schema import check_column_name, jsonable, label_dtype_ok, label_to_arrow
from synthgen.errors import DataError


@dataclass
class EncodedRow:
    """A row with media encoded and labels converted to Arrow, ready to append to a shard."""

    clip_index: int
    clip_id: str
    scalars: dict[str, Any]
    controls: dict[str, bytes]
    labels: dict[str, pa.Array]
    label_specs: dict[str, tuple[np.dtype, int]]
    nbytes: int

    def layout(self) -> tuple[tuple[str, ...], tuple[tuple[str, str, int], ...]]:
        """(control names, (label, dtype, ndim)...): rows of one dataset must agree on this."""
        specs = tuple((name, str(dtype), ndim) for name, (dtype, ndim) in sorted(self.label_specs.items()))
        return tuple(sorted(self.controls)), specs

    def table(self, schema: pa.Schema) -> pa.Table:
        """This row as a one-row Arrow table of ``schema`` (the shard's)."""
        arrays: list[pa.Array] = []
        for arrow_field in schema:
            name = arrow_field.name
            if name.startswith(CONTROL_PREFIX):
                arrays.append(pa.array([self.controls[name.removeprefix(CONTROL_PREFIX)]], type=pa.binary()))
            elif name.startswith(LABEL_PREFIX):
                arrays.append(self.labels[name.removeprefix(LABEL_PREFIX)])
            else:
                arrays.append(pa.array([self.scalars[name]], type=arrow_field.type))
        return pa.Table.from_arrays(arrays, schema=schema)


def encode_row(row: ClipRow, encoding: media.VideoEncoding) -> EncodedRow:
    """Check a pipeline row's values and encode its media and labels.

    Raises DataError naming the clip and the field on a wrong dtype, a shape that disagrees with
    ``num_frames``/``height``/``width``, audio without a sample rate or a bad control or label name.
    """
    where = f"row {row.clip_id}"
    num_frames, height, width = (_whole(row, name, where) for name in ("num_frames", "height", "width"))
    try:
        fps = float(row.fps)
    except (TypeError, ValueError):
        raise DataError(f"{where}: fps={row.fps!r} is not a number") from None
    video = np.asarray(row.video)
    if video.shape != (num_frames, height, width, 3) or video.dtype != np.uint8:
        raise DataError(
            f"{where}: video is {video.dtype} {video.shape}, expected uint8 ({num_frames}, {height}, {width}, 3)"
        )
    scalars: dict[str, Any] = {
        "clip_id": str(row.clip_id),
        "clip_index": _whole(row, "clip_index", where),
        "dataset_name": str(row.dataset_name),
        "dataset_seed": _whole(row, "dataset_seed", where),
        "scene": str(row.scene),
        "control_job": str(row.control_job),
        "spec_json": str(row.spec_json),
        "reference_spec_json": None if row.reference_spec_json is None else str(row.reference_spec_json),
        "caption": str(row.caption),
        "fps": fps,
        "num_frames": num_frames,
        "height": height,
        "width": width,
        "video": media.encode_video(video, fps, encoding, name=f"{where}: video"),
        "reference_downscale": _whole(row, "reference_downscale", where, minimum=1),
        "reference_temporal_factor": _whole(row, "reference_temporal_factor", where, minimum=1),
        PAIRING_COLUMN: json.dumps(jsonable(dict(row.pairing)), sort_keys=True),
        TIMINGS_COLUMN: json.dumps(jsonable(dict(row.timings_s)), sort_keys=True),
    }
    scalars.update(_encode_reference(row, fps, encoding, where))
    scalars.update(_encode_audio(row, where))
    controls = _encode_controls(row, fps, encoding, where)
    labels, label_specs, shapes = _encode_labels(row, where)
    scalars[SHAPES_COLUMN] = json.dumps(shapes, sort_keys=True)
    nbytes = sum(len(v) for v in controls.values()) + sum(
        len(scalars[k] or b"") for k in ("video", "reference_video", "audio")
    )
    nbytes += sum(a.nbytes for a in labels.values())
    return EncodedRow(
        scalars["clip_index"], scalars["clip_id"], scalars, controls, labels, label_specs, nbytes
    )


def _whole(row: ClipRow, name: str, where: str, *, minimum: int = 0) -> int:
    """Field ``name`` of ``row`` as an int >= ``minimum`` (numpy integers are accepted)."""
    value = getattr(row, name)
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise DataError(f"{where}: {name}={value!r} is not an integer") from None
    if number < minimum:
        raise DataError(f"{where}: {name}={number} must be >= {minimum}")
    return number


def _encode_reference(row: ClipRow, fps: float, encoding: media.VideoEncoding, where: str) -> dict[str, Any]:
    if row.reference_video is None:
        return {
            "reference_video": None,
            "reference_num_frames": None,
            "reference_height": None,
            "reference_width": None,
        }
    reference = np.asarray(row.reference_video)
    frames, height, width = (int(n) for n in reference.shape[:3])
    return {
        "reference_video": media.encode_video(reference, fps, encoding, name=f"{where}: reference_video"),
        "reference_num_frames": frames,
        "reference_height": height,
        "reference_width": width,
    }


def _encode_audio(row: ClipRow, where: str) -> dict[str, Any]:
    if row.audio is None:
        return {"audio": None, "audio_sample_rate": None, "audio_num_samples": None}
    if row.audio_sample_rate is None:
        raise DataError(f"{where}: audio given without audio_sample_rate")
    samples = np.asarray(row.audio)
    rate = _whole(row, "audio_sample_rate", where, minimum=1)
    return {
        "audio": media.encode_audio(samples, rate, name=f"{where}: audio"),
        "audio_sample_rate": rate,
        "audio_num_samples": int(samples.shape[0]),
    }


def _encode_controls(row: ClipRow, fps: float, encoding: media.VideoEncoding, where: str) -> dict[str, bytes]:
    controls: dict[str, bytes] = {}
    for name, frames in row.controls.items():
        check_column_name(name, f"{where}: control")
        controls[name] = media.encode_video(
            np.asarray(frames), fps, encoding, name=f"{where}: control {name}"
        )
    return controls


def _encode_labels(
    row: ClipRow, where: str
) -> tuple[dict[str, pa.Array], dict[str, tuple[np.dtype, int]], dict[str, list[int]]]:
    """(Arrow arrays, (dtype, ndim) and shape) of every label array, by name."""
    labels: dict[str, pa.Array] = {}
    label_specs: dict[str, tuple[np.dtype, int]] = {}
    shapes: dict[str, list[int]] = {}
    for name, value in row.labels.items():
        check_column_name(name, f"{where}: label")
        array = np.asarray(value)
        if not label_dtype_ok(array.dtype):
            raise DataError(
                f"{where}: label {name!r} has dtype {array.dtype}; must be a number or bool array"
            )
        if array.ndim == 0:
            array = array.reshape(1)
        labels[name] = label_to_arrow(array)
        label_specs[name] = (array.dtype, array.ndim)
        shapes[name] = [int(n) for n in array.shape]
    return labels, label_specs, shapes
