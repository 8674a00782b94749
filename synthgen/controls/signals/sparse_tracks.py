"""The official LTX-2.3 motion-track reference format (``LTXVDrawTracks`` in Lightricks' ComfyUI-LTXVideo).

The official motion-track IC-LoRA was trained on references in this format, so a dataset meant for it (or
for continuing its training) must draw exactly this (docs/controls.md, "Reference styles"):

- a black frame at a *render* resolution whose short side is ``RENDER_SHORT_SIDE_PX`` (long side
  ``int(long * 1080 / short)``, the aspect kept), point positions scaled by ``render / output`` per axis;
- for frame t, every visible point of the last ``MAX_TRAIL_FRAMES`` frames (t - 50 .. t) of every track is
  stamped as a filled disc: the pixels whose integer offset (dx, dy) from the rounded centre satisfy
  ``dx^2 + dy^2 <= r^2``; stamped oldest first, so the newest point wins where discs overlap;
- recency ``ratio = 1 - age / 50`` sets the radius ``2 + 6 * ratio`` render pixels and the colour
  (``age_colors_rgb``): blue -> green -> yellow -> red, piecewise linear in thirds; colour says age, not
  which track;
- the render frame is resized to the output size bilinearly (half-pixel centres, no antialiasing), and the
  channels are written in **BGR** order (the node's own convention; the LoRA learnt it so).

Positions here are in *pixel-index* coordinates of the output image (the editor's ``{x, y}``: pixel (0, 0)
is centred at 0). ``corner_to_render_px`` maps synthgen's corner-convention positions so the disc lands where
the exact point is after the resize. Output is uint8, rounded half up from the node's float image.
"""

from __future__ import annotations

import numpy as np

from synthgen.errors import DataError

RENDER_SHORT_SIDE_PX = 1080
MIN_RADIUS_PX = 2.0
MAX_RADIUS_PX = 8.0
MAX_TRAIL_FRAMES = 50
# Stamp window: offsets -9..9 cover the largest disc (radius 8) with the node's margin.
_HALF_WINDOW = int(MAX_RADIUS_PX) + 1


def render_size(width: int, height: int) -> tuple[int, int]:
    """(render width, render height): the short side becomes 1080 px, the long side ``int(long * 1080 / short)``."""
    if width < 1 or height < 1:
        raise DataError(f"sparse tracks: output size {width}x{height} must be positive")
    if height <= width:
        return int(width * RENDER_SHORT_SIDE_PX / height), RENDER_SHORT_SIDE_PX
    return RENDER_SHORT_SIDE_PX, int(height * RENDER_SHORT_SIDE_PX / width)


def age_colors_rgb(ratio: np.ndarray) -> np.ndarray:
    """Recency ratio in [0, 1] (1 = current frame) -> float RGB (..., 3): blue -> green -> yellow -> red."""
    r = np.asarray(ratio, dtype=np.float64)
    low, mid = r <= 1.0 / 3.0, (r > 1.0 / 3.0) & (r <= 2.0 / 3.0)
    high = r > 2.0 / 3.0
    red = np.where(mid, (r - 1.0 / 3.0) * 3.0, np.where(high, 1.0, 0.0))
    green = np.where(low, r * 3.0, np.where(mid, 1.0, 1.0 - (r - 2.0 / 3.0) * 3.0))
    blue = np.where(low, 1.0 - r * 3.0, 0.0)
    return np.stack([red, green, blue], axis=-1)


def _stamp_frame(
    centres: np.ndarray, radii_sq: np.ndarray, colors: np.ndarray, rows: np.ndarray, cols: np.ndarray
) -> np.ndarray:
    """Discs stamped in the given order (later wins) on a black frame, evaluated only at render ``rows`` x
    ``cols`` (sorted unique indices, the pixels the resize reads); returns float (len(rows), len(cols), 3)."""
    canvas = np.zeros((rows.size, cols.size, 3))
    if centres.shape[0] == 0:
        return canvas
    height, width = int(rows[-1]) + 1, int(cols[-1]) + 1
    row_slot = np.full(height + 2 * _HALF_WINDOW + 1, -1)
    col_slot = np.full(width + 2 * _HALF_WINDOW + 1, -1)
    row_slot[rows + _HALF_WINDOW] = np.arange(rows.size)
    col_slot[cols + _HALF_WINDOW] = np.arange(cols.size)
    offsets = np.arange(-_HALF_WINDOW, _HALF_WINDOW + 1)
    cx = np.rint(centres[:, 0]).astype(np.int64)
    cy = np.rint(centres[:, 1]).astype(np.int64)
    inside = offsets[None, :, None] ** 2 + offsets[None, None, :] ** 2 <= radii_sq[:, None, None]
    fy = cy[:, None, None] + offsets[None, :, None] + _HALF_WINDOW
    fx = cx[:, None, None] + offsets[None, None, :] + _HALF_WINDOW
    inside &= (fy >= 0) & (fy < row_slot.size) & (fx >= 0) & (fx < col_slot.size)
    slot_r = row_slot[np.clip(fy, 0, row_slot.size - 1)]
    slot_c = col_slot[np.clip(fx, 0, col_slot.size - 1)]
    inside &= (slot_r >= 0) & (slot_c >= 0)
    which = np.broadcast_to(np.arange(centres.shape[0])[:, None, None], inside.shape)[inside]
    flat = (slot_r * cols.size + slot_c)[inside]
    winner = np.full(rows.size * cols.size, -1)
    np.maximum.at(winner, flat, which)  # the newest disc (highest index) wins, as in painter's order
    hit = winner >= 0
    canvas.reshape(-1, 3)[hit] = colors[winner[hit]]
    return canvas


def bilinear_taps(size_in: int, size_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Source indices (i0, i1) and weight of i1 for a bilinear resize with half-pixel centres, no antialias.

    Output pixel o reads ``src = (o + 0.5) * in / out - 0.5`` clamped below at 0 (the torch
    ``interpolate(mode="bilinear", align_corners=False)`` rule).
    """
    src = np.maximum((np.arange(size_out) + 0.5) * (size_in / size_out) - 0.5, 0.0)
    i0 = np.minimum(np.floor(src).astype(np.int64), size_in - 1)
    i1 = np.minimum(i0 + 1, size_in - 1)
    return i0, i1, src - i0


def _recency(oldest_age: int) -> tuple[np.ndarray, np.ndarray]:
    """Recency ratio and squared radius of ages ``oldest_age`` .. 0 (oldest first), in float32 like the node
    so that a disc's edge pixel (an exact tie at radius 5 or 8) is decided the same way."""
    ages = np.arange(oldest_age, -1, -1).astype(np.float32)
    ratio = np.float32(1.0) - ages / np.float32(MAX_TRAIL_FRAMES)
    radius = np.float32(MIN_RADIUS_PX) + np.float32(MAX_RADIUS_PX - MIN_RADIUS_PX) * ratio
    return ratio.astype(np.float64), (radius * radius).astype(np.float64)


def draw_sparse_tracks(xy_px: np.ndarray, visible: np.ndarray, width: int, height: int) -> np.ndarray:
    """The official sparse-track video: uint8 (F, height, width, 3), channels **BGR**.

    ``xy_px`` (F, P, 2) float positions in the output image's pixel-index coordinates (the editor's);
    ``visible`` (F, P) bool: a point is drawn (now and in the 50 following frames' trails) only where True.
    """
    xy = np.asarray(xy_px, dtype=np.float64)
    vis = np.asarray(visible, dtype=bool)
    if xy.ndim != 3 or xy.shape[2] != 2 or vis.shape != xy.shape[:2]:
        raise DataError(f"sparse tracks: xy_px {xy.shape} and visible {vis.shape} must be (F,P,2), (F,P)")
    vis = vis & np.isfinite(xy).all(axis=-1)
    render_w, render_h = render_size(width, height)
    # float32 like the node, so rounding of the stamped centre agrees bit for bit
    scale = np.array([render_w / width, render_h / height], dtype=np.float64)
    render_xy = (np.where(vis[..., None], xy, 0.0) * scale).astype(np.float32).astype(np.float64)
    r0, r1, wy = bilinear_taps(render_h, height)
    c0, c1, wx = bilinear_taps(render_w, width)
    rows, cols = np.unique(np.concatenate([r0, r1])), np.unique(np.concatenate([c0, c1]))
    ri0, ri1 = np.searchsorted(rows, r0), np.searchsorted(rows, r1)
    ci0, ci1 = np.searchsorted(cols, c0), np.searchsorted(cols, c1)
    out = np.empty((xy.shape[0], height, width, 3), dtype=np.uint8)
    for frame in range(xy.shape[0]):
        first = max(0, frame - MAX_TRAIL_FRAMES)
        ratio, radius_sq = _recency(frame - first)
        keep = vis[first : frame + 1]  # (window, P), oldest frame first
        stamp = _stamp_frame(
            render_xy[first : frame + 1][keep],
            np.broadcast_to(radius_sq[:, None], keep.shape)[keep],
            np.broadcast_to(age_colors_rgb(ratio)[:, None, :], (*keep.shape, 3))[keep],
            rows,
            cols,
        )
        top = stamp[ri0] * (1.0 - wy)[:, None, None] + stamp[ri1] * wy[:, None, None]
        image = top[:, ci0] * (1.0 - wx)[None, :, None] + top[:, ci1] * wx[None, :, None]
        out[frame] = np.floor(np.clip(image[..., ::-1], 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    return out


def corner_to_index_px(xy_corner_px: np.ndarray, width: int, height: int) -> np.ndarray:
    """synthgen corner-convention positions -> the pixel-index coordinates ``draw_sparse_tracks`` takes,
    chosen so that after the render-and-resize the disc's centre is at the exact position.

    A render pixel k is centred at corner coordinate (k + 0.5) / s at the output (s = render / output), so
    the render centre for corner position x is x * s - 0.5 and the index coordinate is x - 0.5 / s.
    """
    render_w, render_h = render_size(width, height)
    scale = np.array([render_w / width, render_h / height])
    return np.asarray(xy_corner_px, dtype=np.float64) - 0.5 / scale
