"""motion_track adherence: the labelled points tracked through the video, scored with TAP-Vid's metrics.

Each labelled track is queried at its first visible frame (TAP-Vid's "query first" mode) at its labelled
position and followed forward frame by frame with pyramidal Lucas-Kanade (``cv2.calcOpticalFlowPyrLK``). A
step is kept only if tracking the new position back lands within ``FB_MAX_ERROR_PX`` of the old one (the
forward-backward check); a point that fails is *lost* and held at its last position from then on.

Scoring follows TAP-Vid (Doersch et al., NeurIPS 2022, ``compute_tapvid_metrics``): positions are scaled to
a 256 x 256 frame; over every frame after the query frame where the labelled point is visible (in frame, in
front of the camera, not occluded), ``delta_x`` is the fraction of predictions within x px, and
``delta_avg`` their mean over x = 1, 2, 4, 8, 16. We add the median end-point error in the row's pixels and
the fraction of those points still tracked.

A labelled point is scored only where the row's own target video has texture around it at its query frame
(Shi-Tomasi: the smaller eigenvalue of the 5 x 5 structure tensor at least ``MIN_EIGENVALUE``): on flat
ground or sky no tracker can localise a point, on the target or on any other video, so such points would
only add noise. The choice depends on the row alone, so every video scored against it is scored on the same
points; ``num_untextured`` says how many were left out.
"""

from __future__ import annotations

import cv2
import numpy as np

from synthgen.adherence.score import MetricValues, register_metric, require_label, to_gray
from synthgen.controls.signals.tracks import visible_mask
from synthgen.dataset.rows import ClipRow
from synthgen.errors import DataError

TAPVID_THRESHOLDS_PX = (1, 2, 4, 8, 16)
"""TAP-Vid's position thresholds, in pixels of a 256 x 256 frame."""
TAPVID_SIZE_PX = 256
LK_WINDOW_PX = 9
"""Side of the Lucas-Kanade window at each pyramid level."""
LK_LEVELS = 3
FB_MAX_ERROR_PX = 1.0
"""A step whose backward track misses its start by more than this is a lost point."""
MIN_EIGENVALUE = 1e-4
"""Texture a query point needs in the target (``cv2.cornerMinEigenVal``, block 5, Sobel 3, uint8 luma)."""
_LK_CRITERIA = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 30, 0.01)


def query_frames(visible: np.ndarray) -> np.ndarray:
    """(P,) index of each track's first visible frame; -1 for a track never visible."""
    vis = np.asarray(visible, dtype=bool)
    first = np.argmax(vis, axis=0)
    return np.where(vis.any(axis=0), first, -1)


def textured(gray: np.ndarray, xy_px: np.ndarray, frame: np.ndarray) -> np.ndarray:
    """(P,) bool: the pixel under each point (corner convention) at its ``frame`` (-1: none) has texture."""
    height, width = gray.shape[1:]
    column = np.clip(np.floor(xy_px[:, 0]).astype(np.int64), 0, width - 1)
    row = np.clip(np.floor(xy_px[:, 1]).astype(np.int64), 0, height - 1)
    out = np.zeros(len(frame), dtype=bool)
    for index in np.unique(frame[frame >= 0]):
        eigen = cv2.cornerMinEigenVal(np.ascontiguousarray(gray[index]), blockSize=5, ksize=3)
        chosen = frame == index
        out[chosen] = eigen[row[chosen], column[chosen]] >= MIN_EIGENVALUE
    return out


def lk_step(
    previous: np.ndarray, current: np.ndarray, points_cv: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """New positions of ``points_cv`` (n, 2) from ``previous`` to ``current`` and whether each passed the
    forward-backward check."""
    window = (LK_WINDOW_PX, LK_WINDOW_PX)
    start = points_cv.astype(np.float32).reshape(-1, 1, 2)
    forward, ok_forward, _ = cv2.calcOpticalFlowPyrLK(
        previous, current, start, None, winSize=window, maxLevel=LK_LEVELS, criteria=_LK_CRITERIA
    )  # type: ignore[call-overload]  # the stubs do not allow nextPts=None, the documented "no guess"
    backward, ok_backward, _ = cv2.calcOpticalFlowPyrLK(
        current, previous, forward, None, winSize=window, maxLevel=LK_LEVELS, criteria=_LK_CRITERIA
    )  # type: ignore[call-overload]
    error = np.linalg.norm(backward.reshape(-1, 2) - start.reshape(-1, 2), axis=1)
    ok = ok_forward.ravel().astype(bool) & ok_backward.ravel().astype(bool) & (error <= FB_MAX_ERROR_PX)
    return forward.reshape(-1, 2).astype(np.float64), ok


def track_points(
    gray: np.ndarray, start_xy_px: np.ndarray, start_frame: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Follow points forward through a video.

    ``gray`` uint8 (F, H, W); ``start_xy_px`` (P, 2) positions in the corner convention (pixel (0, 0) is
    the top-left corner) at frame ``start_frame`` (P,) (-1: never started). Returns (F, P, 2) positions
    (NaN before the start; a lost point holds its last position) and (F, P) bool: tracked at that frame.
    """
    num_frames, count = gray.shape[0], start_xy_px.shape[0]
    xy = np.full((num_frames, count, 2), np.nan)
    tracked = np.zeros((num_frames, count), dtype=bool)
    # OpenCV puts pixel centres at integer coordinates; the labels put them at +0.5.
    position = np.asarray(start_xy_px, dtype=np.float64) - 0.5
    alive = np.zeros(count, dtype=bool)
    for frame in range(num_frames):
        if frame > 0 and alive.any():
            moved, ok = lk_step(gray[frame - 1], gray[frame], position[alive])
            index = np.flatnonzero(alive)
            position[index[ok]] = moved[ok]
            alive[index[~ok]] = False
        starting = start_frame == frame
        position[starting] = np.asarray(start_xy_px, dtype=np.float64)[starting] - 0.5
        alive |= starting
        started = (start_frame >= 0) & (start_frame <= frame)
        xy[frame, started] = position[started] + 0.5
        tracked[frame] = alive
    return xy, tracked


def tapvid_position_metrics(
    pred_xy_px: np.ndarray,
    label_xy_px: np.ndarray,
    visible: np.ndarray,
    query_frame: np.ndarray,
    height: int,
    width: int,
) -> MetricValues:
    """TAP-Vid position accuracy of predicted against labelled tracks (module docstring).

    ``pred_xy_px``, ``label_xy_px`` (F, P, 2) in pixels of a ``height`` x ``width`` frame; ``visible``
    (F, P) bool; ``query_frame`` (P,). Scored: visible points on frames after their query frame. Returns
    ``delta_<x>`` per threshold, ``delta_avg``, ``median_epe_px`` (row pixels) and ``num_points``
    (None values when nothing is scored).
    """
    frames = np.arange(label_xy_px.shape[0])[:, None]
    scored = np.asarray(visible, bool) & (frames > np.asarray(query_frame)[None, :]) & (query_frame >= 0)
    to_256 = np.array([TAPVID_SIZE_PX / width, TAPVID_SIZE_PX / height])
    distance_256 = np.linalg.norm((pred_xy_px - label_xy_px) * to_256, axis=-1)[scored]
    distance_px = np.linalg.norm(pred_xy_px - label_xy_px, axis=-1)[scored]
    values: MetricValues = {"num_points": float(distance_256.size)}
    if distance_256.size == 0:
        values.update({f"delta_{x}": None for x in TAPVID_THRESHOLDS_PX})
        values.update({"delta_avg": None, "median_epe_px": None})
        return values
    # NaN predictions (never started) count as misses: NaN < x is False.
    fractions = [float(np.mean(distance_256 < x)) for x in TAPVID_THRESHOLDS_PX]
    values.update({f"delta_{x}": f for x, f in zip(TAPVID_THRESHOLDS_PX, fractions)})
    values["delta_avg"] = float(np.mean(fractions))
    values["median_epe_px"] = float(np.median(np.where(np.isnan(distance_px), np.inf, distance_px)))
    return values


@register_metric("motion_track")
def motion_track_adherence(row: ClipRow, video_uint8: np.ndarray) -> MetricValues:
    """TAP-Vid ``delta_avg`` (and per threshold), median end-point error and tracked fraction of the row's
    tracks (the ones drawn in the reference overlay when the row names them) through the video."""
    label_xy = require_label(row, "tracks_xy_px").astype(np.float64)
    visible = visible_mask(
        require_label(row, "tracks_in_frame"),
        require_label(row, "tracks_behind_camera"),
        require_label(row, "tracks_occluded"),
    )
    drawn = row.labels.get("overlay_track_index")
    if drawn is not None:
        label_xy, visible = label_xy[:, np.asarray(drawn)], visible[:, np.asarray(drawn)]
    queries = query_frames(visible)
    start_xy = label_xy[np.maximum(queries, 0), np.arange(queries.size)]
    untextured = (queries >= 0) & ~textured(to_gray(row.video), start_xy, queries)
    queries = np.where(untextured, -1, queries)
    pred_xy, tracked = track_points(to_gray(video_uint8), start_xy, queries)
    values = tapvid_position_metrics(pred_xy, label_xy, visible, queries, row.height, row.width)
    frames = np.arange(visible.shape[0])[:, None]
    scored = visible & (frames > queries[None, :]) & (queries >= 0)
    values["tracked_fraction"] = float(tracked[scored].mean()) if scored.any() else None
    values["num_tracks"] = float((queries >= 0).sum())
    values["num_untextured"] = float(untextured.sum())
    return values


def tracks_adherence(label_xy_px: np.ndarray, visible: np.ndarray, video_uint8: np.ndarray) -> MetricValues:
    """The numbers of ``motion_track_adherence`` for tracks that come without a clip (a JSON track file drawn
    in an editor): ``label_xy_px`` (F, P, 2) in the video's pixels (corner convention), ``visible`` (F, P); points outside the frame are not scored.

    With no target video to choose textured points from, every track is scored (``num_untextured`` is 0);
    points on flat regions of the generated video are hard to follow, so the numbers are a lower bound.
    """
    video = np.asarray(video_uint8)
    if video.ndim != 4 or video.shape[0] != label_xy_px.shape[0]:
        raise DataError(
            f"tracks: video shape {video.shape} does not match {label_xy_px.shape[0]} frames of tracks"
        )
    height, width = video.shape[1:3]
    x, y = np.nan_to_num(label_xy_px[..., 0], nan=-1.0), np.nan_to_num(label_xy_px[..., 1], nan=-1.0)
    vis = np.asarray(visible, dtype=bool) & (x >= 0) & (x < width) & (y >= 0) & (y < height)
    queries = query_frames(vis)
    start_xy = np.nan_to_num(label_xy_px[np.maximum(queries, 0), np.arange(queries.size)])
    pred_xy, tracked = track_points(to_gray(video), start_xy, queries)
    label = np.nan_to_num(label_xy_px)
    values = tapvid_position_metrics(pred_xy, label, vis, queries, height, width)
    frames = np.arange(vis.shape[0])[:, None]
    scored = vis & (frames > queries[None, :]) & (queries >= 0)
    values["tracked_fraction"] = float(tracked[scored].mean()) if scored.any() else None
    values["num_tracks"] = float((queries >= 0).sum())
    values["num_untextured"] = 0.0
    return values
