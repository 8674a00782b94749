"""Motion-track overlay video: coloured dots and fading trails drawn from exact 2D point tracks.

This is the sparse coloured-spline format that public LTX-2.3 motion-track IC-LoRAs take as reference.
Track p keeps one colour (``track_colors_rgb(p)``) for the whole clip. At reference frame j a track is drawn
only if it is *visible* there (in frame, in front of the camera, not occluded): a dot of ``point_radius_px``
at its position, and a trail of up to ``trail_length`` segments back through earlier frames, each segment
drawn only when both its ends are visible, fading linearly with age. Positions come straight from the float64
labels, divided by the reference downscale factor (exact in the corner pixel convention).
"""

from __future__ import annotations

import numpy as np

from synthgen.controls.signals.draw import draw_capsules, to_uint8, track_colors_rgb
from synthgen.errors import DataError


def visible_mask(in_frame: np.ndarray, behind_camera: np.ndarray, occluded: np.ndarray) -> np.ndarray:
    """(F, P) bool: the point is inside the image, in front of the camera and not hidden."""
    return np.asarray(in_frame, bool) & ~np.asarray(behind_camera, bool) & ~np.asarray(occluded, bool)


def select_tracks(visible: np.ndarray, num_tracks: int) -> np.ndarray:
    """Indices of up to ``num_tracks`` tracks, most-visible first (ties by index); never-visible ones dropped.

    Returned sorted ascending so drawing order and colours follow the original track ids.
    """
    counts = np.asarray(visible, bool).sum(axis=0)
    order = np.lexsort((np.arange(counts.size), -counts))
    chosen = order[counts[order] > 0][:num_tracks]
    return np.sort(chosen)


def draw_track_overlay(
    xy_px: np.ndarray,
    visible: np.ndarray,
    track_ids: np.ndarray,
    background_rgb: np.ndarray,
    *,
    trail_length: int,
    point_radius_px: float,
    line_width_px: float,
) -> np.ndarray:
    """Draw tracks over a background; returns uint8 (F, H, W, 3).

    ``xy_px`` (F, P, 2) float positions in the output image's pixel coordinates (corner convention);
    ``visible`` (F, P) bool; ``track_ids`` (P,) ints that pick each track's colour; ``background_rgb``
    (F, H, W, 3) uint8 or float in [0, 1]; ``trail_length`` in frames of this video (0 = dots only);
    radius and width in output pixels.
    """
    xy = np.asarray(xy_px, dtype=np.float64)
    vis = np.asarray(visible, dtype=bool)
    if xy.ndim != 3 or xy.shape[2] != 2 or vis.shape != xy.shape[:2]:
        raise DataError(
            f"tracks: xy_px shape {xy.shape} and visible shape {vis.shape} must be (F,P,2), (F,P)"
        )
    background = np.asarray(background_rgb)
    if background.dtype == np.uint8:
        background = background.astype(np.float64) / 255.0
    if background.shape[0] != xy.shape[0]:
        raise DataError(f"tracks: background has {background.shape[0]} frames, tracks have {xy.shape[0]}")
    vis &= np.isfinite(xy).all(axis=-1)
    colors = track_colors_rgb(np.asarray(track_ids))
    out = np.empty((*background.shape[:3], 3), dtype=np.uint8)
    for frame in range(xy.shape[0]):
        starts, ends, radii, rgb, opacity = [], [], [], [], []
        for age in range(1, min(trail_length, frame) + 1):
            newer, older = frame - age + 1, frame - age
            both = vis[newer] & vis[older]
            if not both.any():
                continue
            starts.append(xy[older, both])
            ends.append(xy[newer, both])
            radii.append(np.full(both.sum(), 0.5 * line_width_px))
            rgb.append(colors[both])
            opacity.append(np.full(both.sum(), 1.0 - (age - 1) / trail_length))
        now = vis[frame]
        starts.append(xy[frame, now])
        ends.append(xy[frame, now])
        radii.append(np.full(now.sum(), point_radius_px))
        rgb.append(colors[now])
        opacity.append(np.ones(now.sum()))
        canvas = draw_capsules(
            background[frame],
            np.concatenate(starts),
            np.concatenate(ends),
            np.concatenate(radii),
            np.concatenate(rgb),
            np.concatenate(opacity),
        )
        out[frame] = to_uint8(canvas)
    return out
