"""Shard schema v1: the Arrow columns of a synthgen dataset, and row <-> Arrow conversion of labels.

One row per clip. Fixed columns are listed in ``BASE_FIELDS``; each dataset adds one binary column per
control video (``control_video_<name>``) and one nested-list column per label array (``label_<name>``, a list
nested once per array dimension, e.g. ``list<list<list<double>>>`` for (F,4,4)). The exact shape of every
label array is also stored in ``array_shapes_json`` so empty dimensions (a clip with no objects) survive.
The full column reference is docs/schema.md.
"""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np
import pyarrow as pa

from synthgen.dataset.rows import CONTROL_PREFIX, LABEL_PREFIX, PAIRING_COLUMN, SHAPES_COLUMN, TIMINGS_COLUMN
from synthgen.errors import DataError

SHARD_SCHEMA_VERSION = 1

# File-level metadata keys (bytes in Parquet; decoded to str by the reader).
META_SCHEMA_VERSION = "synthgen.schema_version"
META_SYNTHGEN_VERSION = "synthgen.version"
META_CONFIG_HASH = "synthgen.config_hash"
META_VIDEO_ENCODING = "synthgen.video_encoding"
META_DATASET_NAME = "synthgen.dataset_name"

VIDEO_COLUMNS = ("video", "reference_video")
AUDIO_COLUMN = "audio"

BASE_FIELDS: tuple[pa.Field, ...] = (
    pa.field("clip_id", pa.string(), nullable=False),
    pa.field("clip_index", pa.int64(), nullable=False),
    pa.field("dataset_name", pa.string(), nullable=False),
    pa.field("dataset_seed", pa.int64(), nullable=False),
    pa.field("scene", pa.string(), nullable=False),
    pa.field("control_job", pa.string(), nullable=False),
    pa.field("spec_json", pa.string(), nullable=False),
    pa.field("reference_spec_json", pa.string()),
    pa.field("caption", pa.string(), nullable=False),
    pa.field("fps", pa.float64(), nullable=False),
    pa.field("num_frames", pa.int32(), nullable=False),
    pa.field("height", pa.int32(), nullable=False),
    pa.field("width", pa.int32(), nullable=False),
    pa.field("video", pa.binary(), nullable=False),
    pa.field("reference_video", pa.binary()),
    pa.field("reference_num_frames", pa.int32()),
    pa.field("reference_height", pa.int32()),
    pa.field("reference_width", pa.int32()),
    pa.field("reference_downscale", pa.int32(), nullable=False),
    pa.field("reference_temporal_factor", pa.int32(), nullable=False),
    pa.field("audio", pa.binary()),
    pa.field("audio_sample_rate", pa.int32()),
    pa.field("audio_num_samples", pa.int64()),
    pa.field(PAIRING_COLUMN, pa.string(), nullable=False),
    pa.field(TIMINGS_COLUMN, pa.string(), nullable=False),
    pa.field(SHAPES_COLUMN, pa.string(), nullable=False),
)
BASE_COLUMNS: tuple[str, ...] = tuple(field.name for field in BASE_FIELDS)

# Documented label arrays: dimension symbols are F frames, N objects, P track points, B beats,
# D downbeats, H and W the target's height and width. Other names are allowed; these are checked by
# ``synthgen validate``.
LABEL_DIMS: dict[str, tuple[str | int, ...]] = {
    "times_s": ("F",),
    "camera_to_world_blender": ("F", 4, 4),
    "camera_from_world_cv": ("F", 4, 4),
    "intrinsics_px": ("F", 3, 3),
    "focal_length_mm": ("F",),
    "object_ids": ("N",),
    "world_from_local": ("N", "F", 4, 4),
    "position_m": ("N", "F", 3),
    "velocity_m_per_s": ("N", "F", 3),
    "emission": ("N", "F"),
    "color_rgb": ("N", "F", 3),
    "tracks_object_id": ("P",),
    "tracks_xy_px": ("F", "P", 2),
    "tracks_depth_m": ("F", "P"),
    "tracks_world_m": ("F", "P", 3),
    "tracks_in_frame": ("F", "P"),
    "tracks_behind_camera": ("F", "P"),
    "tracks_occluded": ("F", "P"),
    "tracks_local_m": ("P", 3),
    "tracks_raycast_depth_m": ("F", "P"),
    "tracks_buffer_depth_m": ("F", "P"),
    "beat_times_s": ("B",),
    "beat_samples": ("B",),
    "beat_frames": ("B",),
    "bar_index": ("B",),
    "downbeat_times_s": ("D",),
    "beat_phase": ("F",),
    "audio_energy": ("F",),
    "bpm": (1,),
    "overlay_track_index": ("K",),
    "depth_range_m": (2,),
    "reference_object_ids": ("N'",),
    "reference_position_m": ("N'", "F", 3),
    "binding_target_ids": ("B'",),
    "binding_source_frames": ("B'", "F"),
    "binding_event_frames": ("B'", "F"),
    "box_bounds_local": ("N", 2, 3),
    "boxes_3d_world_m": ("N", "F", 8, 3),
    "boxes_projected_xyxy_px": ("N", "F", 4),
    "boxes_visible_xyxy_px": ("N", "F", 4),
    "flow_forward_px": ("F", "H", "W", 2),
    "flow_backward_px": ("F", "H", "W", 2),
    "flow_forward_occluded": ("F", "H", "W"),
    "flow_backward_occluded": ("F", "H", "W"),
    "object_coordinates": ("F", "H", "W", 3),
    "normals_world": ("F", "H", "W", 3),
    "depth_m": ("F", "H", "W"),
    "instance_ids": ("F", "H", "W"),
}

# Element types ``synthgen validate`` insists on where a reader could not otherwise rely on them: the
# per-pixel labels are stored compactly (docs/schema.md, "Per-pixel labels").
LABEL_DTYPES: dict[str, str] = {
    "box_bounds_local": "float64",
    "boxes_3d_world_m": "float64",
    "boxes_projected_xyxy_px": "float64",
    "boxes_visible_xyxy_px": "float64",
    "flow_forward_px": "float16",
    "flow_backward_px": "float16",
    "flow_forward_occluded": "bool",
    "flow_backward_occluded": "bool",
    "object_coordinates": "float16",
    "normals_world": "float16",
    "depth_m": "float32",
    "instance_ids": "uint16",
}

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_LABEL_DTYPES = {"float64", "float32", "float16", "int64", "int32", "int16", "uint16", "uint8", "bool"}


def check_column_name(name: str, what: str) -> None:
    """Raise DataError unless ``name`` is a lower_snake identifier (it becomes part of a column name)."""
    if not _NAME.match(name):
        raise DataError(f"{what} name {name!r}: must match [a-z][a-z0-9_]*")


def label_type(dtype: np.dtype, ndim: int) -> pa.DataType:
    """Arrow type of a label array: its element type nested in ``ndim`` lists."""
    arrow: pa.DataType = pa.from_numpy_dtype(dtype)
    for _ in range(ndim):
        arrow = pa.list_(arrow)
    return arrow


def label_dtype_ok(dtype: np.dtype) -> bool:
    """Whether a label array of ``dtype`` may be stored (numbers and bools only)."""
    return str(dtype) in _LABEL_DTYPES


def label_to_arrow(array: np.ndarray) -> pa.Array:
    """A one-element Arrow array holding ``array`` as nested lists (one level per dimension)."""
    flat = pa.array(np.ascontiguousarray(array).reshape(-1), type=pa.from_numpy_dtype(array.dtype))
    nested: pa.Array = flat
    for depth in range(array.ndim - 1, -1, -1):
        outer = int(np.prod(array.shape[:depth], dtype=np.int64))
        step = int(array.shape[depth])
        offsets = pa.array(np.arange(outer + 1, dtype=np.int32) * step, type=pa.int32())
        nested = pa.ListArray.from_arrays(offsets, nested)
    return nested


def label_from_arrow(column: pa.Array, row: int, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """The numpy array stored in row ``row`` of a nested-list label ``column``, reshaped to ``shape``."""
    values: pa.Array = column.slice(row, 1)
    for _ in range(len(shape)):
        values = values.flatten()
    return values.to_numpy(zero_copy_only=False).astype(dtype, copy=False).reshape(shape)


def dataset_schema(
    controls: list[str], labels: dict[str, tuple[np.dtype, int]], metadata: dict[str, str]
) -> pa.Schema:
    """The Arrow schema of a dataset with the given control names and label (dtype, ndim) pairs."""
    fields = list(BASE_FIELDS)
    fields += [pa.field(CONTROL_PREFIX + name, pa.binary(), nullable=False) for name in sorted(controls)]
    for name in sorted(labels):
        dtype, ndim = labels[name]
        meta = {"dims": json.dumps(LABEL_DIMS.get(name)), "dtype": str(dtype)}
        fields.append(pa.field(LABEL_PREFIX + name, label_type(dtype, ndim), nullable=False, metadata=meta))
    return pa.schema(fields, metadata={key.encode(): value.encode() for key, value in metadata.items()})


def file_metadata(schema: pa.Schema) -> dict[str, str]:
    """The synthgen key/value metadata of a shard schema as str -> str."""
    raw = schema.metadata or {}
    return {key.decode(): value.decode() for key, value in raw.items() if key.startswith(b"synthgen.")}


def check_schema(schema: pa.Schema, where: str) -> None:
    """Raise DataError naming ``where`` if ``schema`` is not a synthgen v1 shard schema."""
    meta = file_metadata(schema)
    version = meta.get(META_SCHEMA_VERSION)
    if version is None:
        raise DataError(f"{where}: no {META_SCHEMA_VERSION} in file metadata (not a synthgen shard)")
    if version != str(SHARD_SCHEMA_VERSION):
        raise DataError(
            f"{where}: schema version {version} != {SHARD_SCHEMA_VERSION} (this synthgen reads v1)"
        )
    missing = [name for name in BASE_COLUMNS if name not in schema.names]
    if missing:
        raise DataError(
            f"{where}: missing column {missing[0]!r}"
            + (f" (+{len(missing) - 1} more)" if len(missing) > 1 else "")
        )
    for field in BASE_FIELDS:
        actual = schema.field(field.name).type
        if actual != field.type:
            raise DataError(f"{where}: column {field.name!r} has type {actual}, expected {field.type}")


def jsonable(value: Any) -> Any:
    """``value`` with numpy scalars and arrays turned into JSON-native types (for pairing/timings)."""
    if isinstance(value, dict):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value
