"""The dataset row: one clip as the pipeline makes it and the reader gives it back (``ClipRow``).

``synthgen.pipeline.clip.make_row`` builds a ``ClipRow`` with media as arrays; the shard writer encodes it
into the Parquet columns of docs/schema.md and ``synthgen.dataset.iter_rows`` decodes it back. Most fields
are stored under their own name; the rest map to columns as follows, and the helpers below are the one place
that spells those names:

    labels[name]    -> ``label_<name>``          (nested lists, one per axis; shape in ``array_shapes_json``)
    controls[name]  -> ``control_video_<name>``  (MP4)
    pairing         -> ``pairing_json``           timings_s -> ``timings_json``
    reference_video -> also ``reference_num_frames``/``_height``/``_width``; audio -> also ``audio_num_samples``

This module needs only numpy, so any room above ``dataset`` may import it without loading pyarrow.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import MISSING, dataclass, field, fields, replace
from typing import Any

import numpy as np

from synthgen.errors import DataError
from synthgen.fileio import SAFE_NAME_PATTERN, is_safe_name

LABEL_PREFIX = "label_"
CONTROL_PREFIX = "control_video_"
PAIRING_COLUMN = "pairing_json"
TIMINGS_COLUMN = "timings_json"
SHAPES_COLUMN = "array_shapes_json"


@dataclass(frozen=True, kw_only=True, eq=False)
class ClipRow:
    """One clip of a dataset: ids, spec, caption, media as arrays, exact labels and pairing facts.

    Media are numpy arrays here; only the shard writer encodes them (MP4, FLAC). Equality is identity (the
    fields hold arrays); compare fields with numpy.
    """

    clip_id: str
    """``<dataset_name>-<clip_index:06d>``."""
    clip_index: int
    """Index of the clip in its dataset; with ``dataset_seed`` it reproduces the clip."""
    dataset_name: str
    """``dataset.name`` of the generating config."""
    dataset_seed: int
    """``dataset.seed``: clip ``i``'s generator is ``SeedSequence([dataset_seed, i])``."""
    scene: str
    """Name of the scene recipe."""
    control_job: str
    """The control job the row was made for (``motion_track``, ``camera_motion``, ...)."""
    spec_json: str
    """The target's ``ClipSpec`` as canonical JSON."""
    reference_spec_json: str | None = None
    """The paired reference scene's spec (``camera_motion``), else None."""
    caption: str
    """Text prompt of the target."""
    fps: float
    """Frames per second; frame i is at t = i / fps seconds."""
    num_frames: int
    """F, frames of the target (8k+1)."""
    height: int
    """H, target height in pixels (a multiple of 32)."""
    width: int
    """W, target width in pixels (a multiple of 32)."""
    video: np.ndarray
    """The target: uint8 (F, H, W, 3) sRGB."""
    reference_video: np.ndarray | None = None
    """The reference the trainer consumes (combined, for ``union``): uint8 (F', H', W', 3), or None."""
    controls: Mapping[str, np.ndarray] = field(default_factory=dict)
    """Every separate control video by name: uint8 (F', H', W', 3) each."""
    reference_downscale: int = 1
    """Reference side = target side / downscale."""
    reference_temporal_factor: int = 1
    """Reference frames = (F - 1) / factor + 1."""
    audio: np.ndarray | None = None
    """Mono mix, float32 (n,) in [-1, 1] with n = F / fps * audio_sample_rate, or None for silent clips."""
    audio_sample_rate: int | None = None
    """Hz of ``audio``; None exactly when ``audio`` is None."""
    labels: Mapping[str, np.ndarray] = field(default_factory=dict)
    """Label arrays by name (camera, poses, tracks, beats, job facts); names, shapes, units in docs/schema.md."""
    pairing: Mapping[str, Any] = field(default_factory=dict)
    """JSON-able facts: what reference and target share (``shared``) and what differs (``differs``)."""
    timings_s: Mapping[str, float] = field(default_factory=dict)
    """Seconds per pipeline stage (differs between runs; everything else is reproducible)."""

    def __post_init__(self) -> None:
        # Clip ids and dataset names become file names (export, preview, adherence): a row from a hostile
        # shard must not name a path.
        for name in ("clip_id", "dataset_name"):
            if not is_safe_name(getattr(self, name)):
                raise DataError(
                    f"row {self.clip_index}: {name}={getattr(self, name)!r} does not match {SAFE_NAME_PATTERN}"
                )

    def replace(self, **changes: Any) -> ClipRow:
        """A copy with ``changes`` applied (the row is frozen)."""
        return replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        """The fields as a dict (shallow: arrays are shared, not copied)."""
        return {name: getattr(self, name) for name in ROW_FIELDS}

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> ClipRow:
        """A row from a dict with the field names as keys; DataError naming the clip and the first missing or
        unknown key."""
        where = f"row {values.get('clip_id', values.get('clip_index', '?'))}"
        unknown = sorted(set(values) - set(ROW_FIELDS))
        if unknown:
            raise DataError(f"{where}: unknown key {unknown[0]!r} (a row has {', '.join(ROW_FIELDS)})")
        missing = [name for name in REQUIRED_FIELDS if values.get(name) is None]
        if missing:
            raise DataError(f"{where}: missing key {missing[0]!r}")
        return cls(
            **{name: value for name, value in values.items() if value is not None or name in _NULLABLE}
        )

    @classmethod
    def from_columns(cls, columns: Mapping[str, Any]) -> ClipRow:
        """A row from the decoded columns of one shard row (as ``open_dataset`` yields them with all columns)."""
        where = f"row {columns.get('clip_id', '?')}"
        missing = [name for name in stored_columns() if name not in columns]
        if missing:
            raise DataError(f"{where}: no column {missing[0]!r}; a ClipRow needs every column")
        values = {name: columns[name] for name in ROW_FIELDS if name in columns}
        values["labels"] = {
            name.removeprefix(LABEL_PREFIX): value
            for name, value in columns.items()
            if name.startswith(LABEL_PREFIX)
        }
        values["controls"] = {
            name.removeprefix(CONTROL_PREFIX): value
            for name, value in columns.items()
            if name.startswith(CONTROL_PREFIX)
        }
        values["pairing"] = json.loads(columns[PAIRING_COLUMN])
        values["timings_s"] = json.loads(columns[TIMINGS_COLUMN])
        return cls(**values)


ROW_FIELDS: tuple[str, ...] = tuple(item.name for item in fields(ClipRow))
"""Every field of a ``ClipRow``, in order."""
_NULLABLE = frozenset({"reference_spec_json", "reference_video", "audio", "audio_sample_rate"})
REQUIRED_FIELDS: tuple[str, ...] = tuple(
    item.name for item in fields(ClipRow) if item.default is MISSING and item.default_factory is MISSING
)
"""Fields without a default: a row must give them."""
_AS_COLUMN = {"pairing": PAIRING_COLUMN, "timings_s": TIMINGS_COLUMN}
_MANY_COLUMNS = {"labels": LABEL_PREFIX, "controls": CONTROL_PREFIX}


def label_column(name: str) -> str:
    """The Parquet column of label array ``name``: ``label_<name>``."""
    return LABEL_PREFIX + name


def control_column(name: str) -> str:
    """The Parquet column of control video ``name``: ``control_video_<name>``."""
    return CONTROL_PREFIX + name


def column_of(name: str) -> str:
    """The Parquet column that stores field ``name`` of a ``ClipRow``.

    Raises KeyError for a name that is no field, and for ``labels``/``controls`` (one column per entry:
    ``label_column``, ``control_column``).
    """
    if name in _MANY_COLUMNS:
        raise KeyError(f"ClipRow.{name} is stored as one column per entry ({_MANY_COLUMNS[name]}<name>)")
    if name not in ROW_FIELDS:
        raise KeyError(f"{name!r} is not a ClipRow field ({', '.join(ROW_FIELDS)})")
    return _AS_COLUMN.get(name, name)


def columns_of(names: Iterable[str]) -> list[str]:
    """``column_of`` of each name: the columns to read for those fields (``open_dataset(columns=...)``)."""
    return [column_of(name) for name in names]


def stored_columns() -> tuple[str, ...]:
    """The columns every shard has that hold ``ClipRow`` fields (not the per-label/per-control ones)."""
    return tuple(column_of(name) for name in ROW_FIELDS if name not in _MANY_COLUMNS)
