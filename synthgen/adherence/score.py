"""``score_video``: a video scored against its row's exact labels by the metrics its control job names.

Each control job names its metrics in ``ControlJob.adherence`` (``synthgen/controls/<job>.py``); the metric
functions live here, in a registry keyed by those names, because they read decoded rows and use OpenCV, and
the controls room sits below both (a job holding the function itself would import against the data flow).
``tests/test_adherence.py`` checks that every registered job names registered metrics.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import cv2
import numpy as np

from synthgen.controls import get_job
from synthgen.dataset.rows import ClipRow
from synthgen.errors import DataError

MetricValues = dict[str, float | None]
"""One metric's numbers by name; None where the number is undefined for the clip (e.g. nothing visible)."""
Metric = Callable[[ClipRow, np.ndarray], MetricValues]
"""A metric: (row, video uint8 (F, H, W, 3) at the row's size) -> its numbers."""

_METRICS: dict[str, Metric] = {}


def register_metric(name: str) -> Callable[[Metric], Metric]:
    """Decorator: register a metric function under ``name`` (the name a job's ``adherence`` lists)."""

    def add(metric: Metric) -> Metric:
        _METRICS[name] = metric
        return metric

    return add


def metric_names() -> tuple[str, ...]:
    """Names of every registered metric, sorted."""
    _load_metrics()
    return tuple(sorted(_METRICS))


def _load_metrics() -> None:
    # The metric modules register themselves on import; imported here, not at the top, because each one
    # imports register_metric from this module.
    from synthgen.adherence import beats, camera, canny, edges, tracks  # noqa: F401


def job_metrics(row: ClipRow) -> tuple[str, ...]:
    """The metric names that score a row of ``row.control_job`` (a union row: its components' metrics)."""
    names = get_job(row.control_job).adherence
    if names is None:
        raise DataError(f"row {row.clip_id}: control job {row.control_job!r} has no adherence metric")
    if row.control_job == "union":
        components = row.pairing.get("components", [])
        return tuple(name for name in names if name in components)
    return tuple(names)


def prepare_video(row: ClipRow, video_uint8: np.ndarray) -> np.ndarray:
    """The video as uint8 (F, H, W, 3) at the row's size: frame count must match; other sizes are resized.

    DataError naming the clip, the shape and the rule otherwise.
    """
    video = np.asarray(video_uint8)
    if video.dtype != np.uint8 or video.ndim != 4 or video.shape[3] != 3:
        raise DataError(
            f"clip {row.clip_id}: video must be uint8 (F, H, W, 3), got {video.dtype} {video.shape}"
        )
    if video.shape[0] != row.num_frames:
        raise DataError(
            f"clip {row.clip_id}: video has {video.shape[0]} frames, the row {row.num_frames}; "
            "adherence compares frame i with label frame i"
        )
    if video.shape[1:3] == (row.height, row.width):
        return video
    # Labels are in the row's pixels; a video of another size is brought to it (area filter when shrinking).
    shrink = video.shape[1] * video.shape[2] > row.height * row.width
    interpolation = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
    return np.stack(
        [cv2.resize(frame, (row.width, row.height), interpolation=interpolation) for frame in video]
    )


def score_video(row: ClipRow, video_uint8: np.ndarray) -> dict[str, Any]:
    """Score a video against the exact labels of ``row`` with the metrics of its control job.

    ``video_uint8``: uint8 (F, H, W, 3) RGB with the row's frame count F; a video of another height/width
    is resized to the row's size first (labels are in the row's pixels). Returns a JSON-ready dict:
    ``{"clip_id", "control_job", "metrics": {<metric>: {<number>: float | None}}}`` (numbers and their
    definitions: docs/adherence.md). DataError (one line, naming the clip) for a video of the wrong shape or
    a row missing the labels a metric needs.
    """
    _load_metrics()
    video = prepare_video(row, video_uint8)
    metrics = {name: _METRICS[name](row, video) for name in job_metrics(row)}
    return {"clip_id": row.clip_id, "control_job": row.control_job, "metrics": metrics}


def require_label(row: ClipRow, name: str) -> np.ndarray:
    """``row.labels[name]``; DataError naming the clip and the label when the row lacks it."""
    value = row.labels.get(name)
    if value is None:
        raise DataError(f"clip {row.clip_id}: adherence needs label {name!r}, which the row lacks")
    return np.asarray(value)


def to_gray(video_uint8: np.ndarray) -> np.ndarray:
    """uint8 (F, H, W) luma of an RGB video (OpenCV's BT.601 weights)."""
    return np.stack([cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY) for frame in video_uint8])
