"""depth adherence: image edges of the video against the labelled depth discontinuities; and a union's
first frame against the video's.

The depth labels are the row's grey inverse-depth video (the ``depth`` control of a union row, else the
reference of a depth row) with its range ``depth_range_m``: grey v maps back to inverse depth
``w = v / 255 (1/near - 1/far) + 1/far`` exactly as it was drawn (synthgen.controls.signals.depth). A pixel
is a *depth discontinuity* where a 4-neighbour's inverse depth differs by more than ``RELATIVE_JUMP`` of the
larger one (and by at least ``MIN_STEP_GREY`` grey levels, above quantisation); the nearer side is marked,
where the occluding contour is. Image edges are Canny edges of the video's luma after a 3x3 Gaussian blur.

Edges are compared at the reference geometry (the video is area-downscaled and subsampled in time like the
reference) with the boundary-benchmark tolerance of ``TOLERANCE_PX``: precision = image-edge pixels within
it of a discontinuity, recall = discontinuity pixels within it of an image edge, over all frames; F1 their
harmonic mean.
"""

from __future__ import annotations

import cv2
import numpy as np

from synthgen.adherence.score import MetricValues, register_metric, require_label, to_gray
from synthgen.controls.signals.resample import reference_frame_indices
from synthgen.dataset.rows import ClipRow
from synthgen.errors import DataError

TOLERANCE_PX = 2.0
RELATIVE_JUMP = 0.1
MIN_STEP_GREY = 3
CANNY_LOW, CANNY_HIGH = 50, 100


def depth_discontinuities(depth_grey: np.ndarray, near_m: float, far_m: float) -> np.ndarray:
    """(H, W) bool: the nearer pixel of every 4-neighbour pair across a depth jump (module docstring)."""
    grey = np.asarray(depth_grey, dtype=np.float64)
    inverse = grey / 255.0 * (1.0 / near_m - 1.0 / far_m) + 1.0 / far_m
    jumps = []
    for axis in (0, 1):
        a, b = neighbour_pairs(inverse, axis)
        step = np.abs(np.diff(grey, axis=axis))
        jumps.append((np.abs(a - b) > RELATIVE_JUMP * np.maximum(a, b)) & (step >= MIN_STEP_GREY))
    return mark_nearer(inverse, jumps[0], jumps[1])


def neighbour_pairs(values: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """The first and second members of every 4-neighbour pair along ``axis``."""
    length = values.shape[axis]
    return values.take(range(length - 1), axis=axis), values.take(range(1, length), axis=axis)


def mark_nearer(inverse: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """(H, W) bool: for every marked pair, the member with the larger inverse depth (both on a tie).

    ``rows`` (H-1, W) marks vertical pairs (pixel, the one below), ``cols`` (H, W-1) horizontal pairs
    (pixel, the one to its right); ``inverse`` (H, W) is the inverse depth (0 for nothing hit)."""
    edges = np.zeros(inverse.shape, dtype=bool)
    for axis, jump in ((0, rows), (1, cols)):
        a, b = neighbour_pairs(inverse, axis)
        pad_after = [(0, 0), (0, 0)]
        pad_after[axis] = (0, 1)
        pad_before = [(0, 0), (0, 0)]
        pad_before[axis] = (1, 0)
        edges |= np.pad(jump & (a >= b), pad_after)  # the first pixel of the pair is nearer
        edges |= np.pad(jump & (b >= a), pad_before)
    return edges


def image_edges(gray: np.ndarray) -> np.ndarray:
    """(H, W) bool Canny edges of a uint8 luma frame."""
    return cv2.Canny(cv2.GaussianBlur(gray, (3, 3), 0), CANNY_LOW, CANNY_HIGH) > 0


def near(edges: np.ndarray) -> np.ndarray:
    """(H, W) bool: within ``TOLERANCE_PX`` (Euclidean) of a pixel of ``edges``."""
    if not edges.any():
        return np.zeros(edges.shape, dtype=bool)
    distance = cv2.distanceTransform((~edges).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    return distance <= TOLERANCE_PX


def boundary_counts(predicted: np.ndarray, labelled: np.ndarray) -> tuple[int, int, int, int]:
    """(predicted pixels near a labelled one, predicted pixels, labelled near a predicted, labelled)."""
    return (
        int((predicted & near(labelled)).sum()),
        int(predicted.sum()),
        int((labelled & near(predicted)).sum()),
        int(labelled.sum()),
    )


def f1_from_counts(hit_p: int, total_p: int, hit_l: int, total_l: int) -> MetricValues:
    """Precision, recall and F1 from boundary counts (None where a denominator is 0)."""
    precision = hit_p / total_p if total_p else None
    recall = hit_l / total_l if total_l else None
    if precision is None or recall is None:
        return {"precision": precision, "recall": recall, "f1": None}
    f1 = 0.0 if precision + recall == 0 else 2.0 * precision * recall / (precision + recall)
    return {"precision": precision, "recall": recall, "f1": f1}


def _at_reference(row: ClipRow, video_uint8: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """The video's luma at the reference's frames and size."""
    frames = video_uint8[reference_frame_indices(row.num_frames, row.reference_temporal_factor)]
    size = (reference.shape[2], reference.shape[1])
    return to_gray(np.stack([cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in frames]))


@register_metric("depth")
def depth_adherence(row: ClipRow, video_uint8: np.ndarray) -> MetricValues:
    """Precision, recall and F1 at 2 px of the video's Canny edges against the labelled depth
    discontinuities, with the discontinuity pixel count."""
    depth = row.controls.get("depth", row.reference_video if row.control_job == "depth" else None)
    if depth is None:
        raise DataError(f"clip {row.clip_id}: adherence needs the depth video, which the row lacks")
    near_m, far_m = (float(v) for v in require_label(row, "depth_range_m"))
    gray = _at_reference(row, video_uint8, depth)
    totals = np.zeros(4, dtype=np.int64)
    for depth_frame, frame in zip(depth, gray):
        labelled = depth_discontinuities(depth_frame[..., 0], near_m, far_m)
        totals += boundary_counts(image_edges(frame), labelled)
    values = f1_from_counts(*(int(v) for v in totals))
    values["num_discontinuity_px"] = float(totals[3])
    return values


@register_metric("first_frame")
def first_frame_adherence(row: ClipRow, video_uint8: np.ndarray) -> MetricValues:
    """PSNR (dB, of 255) and mean absolute error of the video's first frame against the row's first-frame
    control, at the control's size."""
    control = row.controls.get("first_frame")
    if control is None:
        raise DataError(f"clip {row.clip_id}: adherence needs the first_frame control, which the row lacks")
    first = np.asarray(control)[0].astype(np.float64)
    size = (first.shape[1], first.shape[0])
    frame = cv2.resize(video_uint8[0], size, interpolation=cv2.INTER_AREA).astype(np.float64)
    mse = float(np.mean((frame - first) ** 2))
    psnr = float("inf") if mse == 0 else 10.0 * np.log10(255.0**2 / mse)
    return {"psnr_db": min(psnr, 100.0), "mean_abs_error": float(np.mean(np.abs(frame - first)))}
