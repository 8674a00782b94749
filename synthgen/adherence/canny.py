"""canny adherence (union rows of style ``ltx_union_canny``): the video's edges against the reference's, and
against the labelled object boundaries where the row has the exact depth and instance-id passes.

The video's edges come from the very chain that made the reference (``synthgen.controls.signals.canny``
with the row's ``pairing.canny`` thresholds and detection size, at the reference's frames and size), so a
video that follows the control reproduces the reference pixel for pixel up to what its own pixels change.
Both edge maps are binarised alike: an edge pixel is one whose grey exceeds ``EDGE_GREY`` (the reference is
read back from a lossy MP4; the bilinear resize to the reference size leaves a 1-px edge at 64-255 grey).

Per reference frame, with the boundary-benchmark tolerance ``TOLERANCE_PX`` (Euclidean distance transform,
as the depth metric): precision = video edge pixels within it of a reference edge / video edge pixels,
recall = reference edge pixels within it of a video edge / reference edge pixels, F1 their harmonic mean; a
frame where neither map has an edge agrees fully (F1 1), one where only one has edges not at all (F1 0).
``f1`` is the mean over frames; ``precision`` and ``recall`` the means over the frames where they are defined.

Labelled boundaries (rows generated with ``render.dense_labels``, which carry ``depth_m`` and
``instance_ids`` at the target's size): the nearer pixel of every 4-neighbour pair whose inverse depths
differ by more than ``RELATIVE_JUMP`` of the larger (the depth metric's rule, on the exact depth: no grey
quantisation) or whose instance ids differ (a silhouette: the nearer side, both on equal depth). At the
reference's frames, a reference pixel is a boundary where any target pixel it covers is. Against the video's
edges: precision, recall and F1 at ``TOLERANCE_PX`` pooled over all frames, as the depth metric (``None``
without those labels).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from synthgen.adherence.edges import (
    RELATIVE_JUMP,
    TOLERANCE_PX,
    boundary_counts,
    f1_from_counts,
    mark_nearer,
    neighbour_pairs,
)
from synthgen.adherence.score import MetricValues, register_metric
from synthgen.controls.signals.canny import canny_video
from synthgen.controls.signals.resample import reference_frame_indices
from synthgen.dataset.rows import ClipRow
from synthgen.errors import DataError

EDGE_GREY = 32
"""A pixel of an edge map (uint8, white edges on black) is an edge where its grey exceeds this."""

__all__ = [
    "EDGE_GREY",
    "TOLERANCE_PX",
    "canny_adherence",
    "edge_f1_per_frame",
    "labelled_boundaries",
    "video_edges",
]


def edge_f1_per_frame(predicted: np.ndarray, labelled: np.ndarray) -> MetricValues:
    """Mean per-frame precision, recall and F1 at ``TOLERANCE_PX`` of bool (F, H, W) edge maps.

    A frame with no edge in either map has F1 1 and no precision or recall; with edges in one map only,
    F1 0 and the other number 0 or undefined. ``precision``/``recall``: means over the frames that define
    them (None if none does); ``f1``: mean over all frames."""
    predicted, labelled = np.asarray(predicted, bool), np.asarray(labelled, bool)
    if predicted.shape != labelled.shape or predicted.ndim != 3:
        raise ValueError(f"edge maps must be (F, H, W) of one shape, got {predicted.shape} {labelled.shape}")
    precisions: list[float] = []
    recalls: list[float] = []
    f1s: list[float] = []
    for pred, label in zip(predicted, labelled):
        values = f1_from_counts(*boundary_counts(pred, label))
        if values["precision"] is not None:
            precisions.append(values["precision"])
        if values["recall"] is not None:
            recalls.append(values["recall"])
        f1 = values["f1"]
        f1s.append(1.0 if f1 is None and not pred.any() and not label.any() else (f1 or 0.0))
    return {
        "precision": float(np.mean(precisions)) if precisions else None,
        "recall": float(np.mean(recalls)) if recalls else None,
        "f1": float(np.mean(f1s)) if f1s else None,
    }


def labelled_boundaries(depth_m: np.ndarray, instance_ids: np.ndarray) -> np.ndarray:
    """(H, W) bool: depth discontinuities and silhouettes of one frame's exact passes (module docstring).

    ``depth_m``: planar depth in metres, inf where nothing is hit; ``instance_ids``: the instance-id pass."""
    depth = np.asarray(depth_m, dtype=np.float64)
    ids = np.asarray(instance_ids)
    with np.errstate(divide="ignore"):
        inverse = np.where(np.isfinite(depth) & (depth > 0), 1.0 / depth, 0.0)
    marked = []
    for axis in (0, 1):
        a, b = neighbour_pairs(inverse, axis)
        id_a, id_b = neighbour_pairs(ids, axis)
        marked.append((np.abs(a - b) > RELATIVE_JUMP * np.maximum(a, b)) | (id_a != id_b))
    return mark_nearer(inverse, marked[0], marked[1])


def _pool_any(mask: np.ndarray, factor: int) -> np.ndarray:
    """(H, W) bool -> (H / factor, W / factor): a cell is set where any pixel it covers is."""
    if factor == 1:
        return mask
    height, width = mask.shape[0] // factor, mask.shape[1] // factor
    cells = mask[: height * factor, : width * factor].reshape(height, factor, width, factor)
    return np.asarray(cells.any(axis=(1, 3)))


def _canny_settings(row: ClipRow) -> Mapping[str, Any]:
    settings = row.pairing.get("canny")
    keys = ("low_threshold", "high_threshold", "detect_resolution_px")
    if not isinstance(settings, Mapping) or any(not isinstance(settings.get(k), int) for k in keys):
        raise DataError(
            f"clip {row.clip_id}: canny adherence needs pairing.canny with integer {', '.join(keys)} "
            "(the settings the reference was made with)"
        )
    return settings


def video_edges(row: ClipRow, video_uint8: np.ndarray) -> np.ndarray:
    """bool (F', h, w): the video's edges by the reference's own chain, at the reference's frames and size.

    ``video_uint8``: uint8 (F, H, W, 3) at the row's size (``score_video`` resizes it)."""
    settings = _canny_settings(row)
    reference = row.reference_video
    if reference is None:
        raise DataError(f"clip {row.clip_id}: canny adherence needs the reference video, which the row lacks")
    frames = video_uint8[reference_frame_indices(row.num_frames, row.reference_temporal_factor)]
    edges = canny_video(
        frames,
        reference.shape[2],
        reference.shape[1],
        low_threshold=settings["low_threshold"],
        high_threshold=settings["high_threshold"],
        detect_resolution_px=settings["detect_resolution_px"],
    )
    return edges[..., 0] > EDGE_GREY


@register_metric("canny")
def canny_adherence(row: ClipRow, video_uint8: np.ndarray) -> MetricValues:
    """Per-frame edge precision, recall and F1 at 2 px of the video's Canny edges against the reference's;
    ``boundary_*``: the same edges against the labelled depth discontinuities and silhouettes (pooled)."""
    predicted = video_edges(row, video_uint8)
    reference = np.asarray(row.reference_video)
    if predicted.shape != reference.shape[:3]:
        raise DataError(
            f"clip {row.clip_id}: reference video of shape {reference.shape} does not fit the row's "
            f"reference geometry {predicted.shape}"
        )
    labelled = reference.max(axis=3) > EDGE_GREY
    values = edge_f1_per_frame(predicted, labelled)
    values["num_reference_edge_px"] = float(labelled.sum())
    values.update(_boundary_values(row, predicted))
    return values


def _boundary_values(row: ClipRow, predicted: np.ndarray) -> MetricValues:
    depth, ids = row.labels.get("depth_m"), row.labels.get("instance_ids")
    if depth is None or ids is None:
        return {"boundary_precision": None, "boundary_recall": None, "boundary_f1": None}
    depth, ids = np.asarray(depth), np.asarray(ids)
    expected = (row.num_frames, row.height, row.width)
    if depth.shape != expected or ids.shape != expected:
        raise DataError(
            f"clip {row.clip_id}: labels depth_m {depth.shape} and instance_ids {ids.shape} must be {expected}"
        )
    totals = np.zeros(4, dtype=np.int64)
    frames = reference_frame_indices(row.num_frames, row.reference_temporal_factor)
    for edges, index in zip(predicted, frames):
        boundary = _pool_any(labelled_boundaries(depth[index], ids[index]), row.reference_downscale)
        totals += boundary_counts(edges, boundary[: edges.shape[0], : edges.shape[1]])
    values = f1_from_counts(*(int(v) for v in totals))
    return {f"boundary_{name}": value for name, value in values.items()}
