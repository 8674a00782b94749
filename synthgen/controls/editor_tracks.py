"""Tracks drawn by hand in ComfyUI's ``LTXVSparseTrackEditor`` -> track arrays and a reference video.

The editor's output (its ``tracks`` string, also what ``LTXVDrawTracks`` reads) is JSON: a list of tracks,
each a list of ``{"x": float, "y": float}``, one point per frame, in pixel-index coordinates of the image
the tracks were drawn on (pixel (0, 0) centred at 0). Like the node, a list item may itself be a JSON
string and lists may be nested; every innermost list of points is one track. A track shorter than the
longest has no point (is not visible) in the frames after its end.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from synthgen.controls.motion_track import MotionTrackParams
from synthgen.controls.signals.sparse_tracks import draw_sparse_tracks
from synthgen.controls.signals.tracks import draw_track_overlay
from synthgen.errors import DataError


@dataclass(frozen=True)
class EditorTracks:
    """Tracks from the editor's JSON: ``xy_px`` float64 (F, P, 2) in pixel-index coordinates (NaN where a
    track has ended), ``visible`` bool (F, P)."""

    xy_px: np.ndarray
    visible: np.ndarray


def _point_lists(parsed: Any, name: str) -> list[list[Any]]:
    """Every innermost list whose first item is a point, depth first in document order."""
    found: list[list[Any]] = []
    stack = [parsed]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item = json.loads(item)
            except json.JSONDecodeError as err:
                raise DataError(f"{name}: a string inside the track list is not JSON ({err.msg})") from None
        if isinstance(item, list) and item:
            if isinstance(item[0], dict):
                found.append(item)
            else:
                stack.extend(reversed(item))
    return found


def parse_editor_tracks(text: str, *, name: str = "tracks") -> EditorTracks:
    """Parse the editor's JSON ``text``; a one-line DataError names ``name``, the track, the point and the rule."""
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as err:
        raise DataError(f"{name}: not JSON ({err.msg} at line {err.lineno} column {err.colno})") from None
    tracks = _point_lists(parsed, name)
    if not tracks:
        raise DataError(f"{name}: no track found (need a list of lists of {{x, y}} points)")
    frames = max(len(track) for track in tracks)
    xy = np.full((frames, len(tracks), 2), np.nan)
    for index, track in enumerate(tracks):
        for frame, point in enumerate(track):
            try:
                xy[frame, index] = (float(point["x"]), float(point["y"]))
            except (KeyError, TypeError, ValueError):
                raise DataError(
                    f"{name}: track {index} point {frame}={point!r}: need an object with numbers x and y"
                ) from None
    if not np.isfinite(xy[~np.isnan(xy).all(axis=-1)]).all():
        raise DataError(f"{name}: a point has an infinite or NaN coordinate")
    return EditorTracks(xy_px=xy, visible=~np.isnan(xy).any(axis=-1))


def editor_tracks_video(
    tracks: EditorTracks,
    params: MotionTrackParams,
    width: int,
    height: int,
    *,
    source_size: tuple[int, int] | None = None,
    num_frames: int | None = None,
) -> np.ndarray:
    """The reference video uint8 (F, height, width, 3) of ``tracks`` in ``params.style``.

    ``source_size`` (width, height) of the image the tracks were drawn on, when it differs from the output
    (positions are scaled per axis; the official style's disc size follows the output's short side anyway);
    ``num_frames`` cuts the tracks or pads them with invisible frames. ``synthgen_tracks`` draws on black
    with ``params``' sizes, each track its own colour; ``ltx_sparse_tracks`` is the official format (BGR).
    """
    xy, visible = tracks.xy_px, tracks.visible
    if num_frames is not None:
        if num_frames < 1:
            raise DataError(f"num_frames={num_frames}: must be at least 1")
        pad = max(0, num_frames - xy.shape[0])
        xy = np.concatenate([xy, np.full((pad, *xy.shape[1:]), np.nan)])[:num_frames]
        visible = np.concatenate([visible, np.zeros((pad, visible.shape[1]), bool)])[:num_frames]
    if source_size is not None:
        xy = xy * (np.array([width, height], dtype=np.float64) / np.asarray(source_size, dtype=np.float64))
    if params.style == "ltx_sparse_tracks":
        return draw_sparse_tracks(np.nan_to_num(xy), visible, width, height)
    # synthgen's drawing uses corner coordinates: an index coordinate's pixel centre is at +0.5
    return draw_track_overlay(
        np.nan_to_num(xy + 0.5),
        visible,
        np.arange(xy.shape[1]),
        np.zeros((xy.shape[0], height, width, 3), dtype=np.uint8),
        trail_length=params.trail_length,
        point_radius_px=params.point_radius_px,
        line_width_px=params.line_width_px,
    )
