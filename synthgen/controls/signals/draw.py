"""Antialiased, sub-pixel exact drawing of dots and line segments into float RGB images (numpy only).

Pixel convention: (0, 0) is the top-left *corner* of the top-left pixel, x to the right, y down, so the
centre of pixel (row i, column j) is at (j + 0.5, i + 0.5). Every primitive is a capsule (the set of points
within ``radius_px`` of a segment; a dot is a segment of length 0). Its coverage of a pixel falls from 1 to 0
with a smoothstep over an edge ``EDGE_WIDTH_PX`` wide centred on the radius, evaluated at the pixel centre.
The profile is symmetric about the segment and smooth enough that sampling it on the pixel grid barely
aliases: the coverage-weighted centroid of a dot of radius >= 1 px lands within 0.03 px of its centre, also
after uint8 quantisation (a hard 1-px ramp is off by up to 0.05 px).

Overlapping primitives are composited order-independently: coverage ``A = 1 - prod(1 - a_i)`` and colour
``sum(a_i c_i) / sum(a_i)``, so the result does not depend on the order primitives are listed in.
"""

from __future__ import annotations

import math

import numpy as np

GOLDEN_RATIO_CONJUGATE = 0.6180339887498949
# Measured: a 1.5 px smoothstep edge gives 3-10x smaller centroid error than 1 px or 2 px linear ramps.
EDGE_WIDTH_PX = 1.5


def track_colors_rgb(track_ids: np.ndarray) -> np.ndarray:
    """Stable, well-separated colours for integer track ids: float64 (P, 3) in [0, 1].

    Hue is ``frac(0.1 + id * 0.618...)`` (golden-ratio spacing), saturation 0.85, value 1; the colour of an
    id never depends on which other tracks are drawn.
    """
    ids = np.asarray(track_ids, dtype=np.float64)
    hue = np.mod(0.1 + ids * GOLDEN_RATIO_CONJUGATE, 1.0)
    return hsv_to_rgb(hue, np.full_like(hue, 0.85), np.ones_like(hue))


def hsv_to_rgb(hue: np.ndarray, saturation: np.ndarray, value: np.ndarray) -> np.ndarray:
    """HSV in [0, 1] -> RGB in [0, 1], vectorised: (...,) x3 -> (..., 3)."""
    h6 = np.mod(hue, 1.0) * 6.0
    sector = np.floor(h6).astype(np.int64) % 6
    frac = h6 - np.floor(h6)
    p = value * (1.0 - saturation)
    q = value * (1.0 - saturation * frac)
    t = value * (1.0 - saturation * (1.0 - frac))
    choices_r = [value, q, p, p, t, value]
    choices_g = [t, value, value, q, p, p]
    choices_b = [p, p, t, value, value, q]
    r = np.choose(sector, choices_r)
    g = np.choose(sector, choices_g)
    b = np.choose(sector, choices_b)
    return np.stack([r, g, b], axis=-1)


def capsule_coverage(
    px_x: np.ndarray, px_y: np.ndarray, start_xy_px: np.ndarray, end_xy_px: np.ndarray, radius_px: np.ndarray
) -> np.ndarray:
    """Coverage in [0, 1] of pixels centred at (px_x, px_y) by capsules; arrays broadcast together.

    ``start_xy_px``/``end_xy_px`` have a trailing axis of 2 (x, y), the other arguments broadcast against
    the leading axes. With ``d`` the distance from the pixel centre to the segment and
    ``a = clip((radius + EDGE_WIDTH_PX / 2 - d) / EDGE_WIDTH_PX, 0, 1)``, coverage is ``a^2 (3 - 2a)``.
    """
    ax, ay = start_xy_px[..., 0], start_xy_px[..., 1]
    dx, dy = end_xy_px[..., 0] - ax, end_xy_px[..., 1] - ay
    length_sq = dx * dx + dy * dy
    rel_x, rel_y = px_x - ax, px_y - ay
    with np.errstate(invalid="ignore", divide="ignore"):
        along = np.where(
            length_sq > 0.0, (rel_x * dx + rel_y * dy) / np.where(length_sq > 0, length_sq, 1), 0.0
        )
    along = np.clip(along, 0.0, 1.0)
    dist = np.hypot(rel_x - along * dx, rel_y - along * dy)
    ramp = np.clip((radius_px + 0.5 * EDGE_WIDTH_PX - dist) / EDGE_WIDTH_PX, 0.0, 1.0)
    return ramp * ramp * (3.0 - 2.0 * ramp)


def draw_capsules(
    canvas_rgb: np.ndarray,
    start_xy_px: np.ndarray,
    end_xy_px: np.ndarray,
    radius_px: np.ndarray | float,
    colors_rgb: np.ndarray,
    opacity: np.ndarray | float = 1.0,
) -> np.ndarray:
    """Composite capsules over a float image; returns a new float64 (H, W, 3) image in [0, 1].

    ``canvas_rgb`` (H, W, 3) float in [0, 1]; ``start_xy_px``, ``end_xy_px`` (E, 2) in pixel coordinates
    (corner convention, see module docstring); ``radius_px`` and ``opacity`` scalars or (E,);
    ``colors_rgb`` (E, 3) in [0, 1]. Primitives partly or wholly outside the image are clipped.
    """
    canvas = np.asarray(canvas_rgb, dtype=np.float64)
    height, width = canvas.shape[:2]
    starts = np.asarray(start_xy_px, dtype=np.float64).reshape(-1, 2)
    ends = np.asarray(end_xy_px, dtype=np.float64).reshape(-1, 2)
    count = starts.shape[0]
    radii = np.broadcast_to(np.asarray(radius_px, dtype=np.float64), (count,))
    alphas = np.broadcast_to(np.asarray(opacity, dtype=np.float64), (count,))
    colors = np.broadcast_to(np.asarray(colors_rgb, dtype=np.float64), (count, 3))
    if count == 0:
        return canvas.copy()

    reach = radii + EDGE_WIDTH_PX
    x0 = np.floor(np.minimum(starts[:, 0], ends[:, 0]) - reach).astype(np.int64)
    y0 = np.floor(np.minimum(starts[:, 1], ends[:, 1]) - reach).astype(np.int64)
    x1 = np.ceil(np.maximum(starts[:, 0], ends[:, 0]) + reach).astype(np.int64)
    y1 = np.ceil(np.maximum(starts[:, 1], ends[:, 1]) + reach).astype(np.int64)
    onscreen = (x1 > 0) & (y1 > 0) & (x0 < width) & (y0 < height) & (alphas > 0)
    extent = np.maximum(x1 - x0, y1 - y0)

    num_px = height * width
    sum_alpha = np.zeros(num_px)
    sum_alpha_rgb = np.zeros((num_px, 3))
    sum_log_clear = np.zeros(num_px)
    # Primitives are bucketed by patch size (powers of two) so each bucket is one vectorised pass.
    bucket = np.ceil(np.log2(np.maximum(extent, 2))).astype(np.int64)
    for level in np.unique(bucket[onscreen]):
        members = np.flatnonzero(onscreen & (bucket == level))
        size = int(2**level)
        offsets = np.arange(size)
        cols = x0[members, None] + offsets  # (E, S)
        rows = y0[members, None] + offsets
        cov = (
            capsule_coverage(
                cols[:, None, :] + 0.5,
                rows[:, :, None] + 0.5,
                starts[members, None, None, :],
                ends[members, None, None, :],
                radii[members, None, None],
            )
            * alphas[members, None, None]
        )
        inside = (cols[:, None, :] >= 0) & (cols[:, None, :] < width) & (rows[:, :, None] >= 0)
        inside &= rows[:, :, None] < height
        keep = inside & (cov > 0)
        flat = (rows[:, :, None] * width + cols[:, None, :])[keep]
        cov_kept = cov[keep]
        color_kept = np.broadcast_to(colors[members, None, None, :], (*cov.shape, 3))[keep]
        sum_alpha += np.bincount(flat, weights=cov_kept, minlength=num_px)
        for channel in range(3):
            sum_alpha_rgb[:, channel] += np.bincount(
                flat, weights=cov_kept * color_kept[:, channel], minlength=num_px
            )
        sum_log_clear += np.bincount(
            flat, weights=np.log(np.maximum(1.0 - cov_kept, 1e-12)), minlength=num_px
        )

    coverage = (1.0 - np.exp(sum_log_clear)).reshape(height, width, 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_rgb = np.where(
            sum_alpha[:, None] > 0, sum_alpha_rgb / np.maximum(sum_alpha, 1e-300)[:, None], 0.0
        )
    return canvas * (1.0 - coverage) + mean_rgb.reshape(height, width, 3) * coverage


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Float image in [0, 1] -> uint8 with round-half-up (values outside [0, 1] are clipped)."""
    return np.floor(np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def intensity_centroid_xy_px(image: np.ndarray, center_xy_px: np.ndarray, window_px: float) -> np.ndarray:
    """Intensity-weighted centroid (x, y) in pixel coordinates of the window around ``center_xy_px``.

    ``image`` (H, W) or (H, W, C) (channels summed); pixels whose centres lie within ``window_px`` (in x and
    y) of the centre are used. Returns NaN when the window holds no intensity.
    """
    plane = np.asarray(image, dtype=np.float64)
    if plane.ndim == 3:
        plane = plane.sum(axis=-1)
    height, width = plane.shape
    cx, cy = float(center_xy_px[0]), float(center_xy_px[1])
    c0, c1 = max(0, math.floor(cx - window_px)), min(width, math.ceil(cx + window_px))
    r0, r1 = max(0, math.floor(cy - window_px)), min(height, math.ceil(cy + window_px))
    patch = plane[r0:r1, c0:c1]
    total = patch.sum()
    if total <= 0:
        return np.array([np.nan, np.nan])
    xs = np.arange(c0, c1) + 0.5
    ys = np.arange(r0, r1) + 0.5
    return np.array([(patch.sum(axis=0) * xs).sum() / total, (patch.sum(axis=1) * ys).sum() / total])
