"""Depth control video: planar depth in metres -> normalised inverse depth, grey uint8.

Mapping (documented in docs/controls.md): with near and far in metres,
``v = (1/z - 1/far) / (1/near - 1/far)`` clipped to [0, 1], stored as ``round(255 v)`` in all three
channels; near is white, far and background (z = inf, nothing hit) are black. ``inverse_percentile`` takes
near and far as percentiles of the finite depths of the *whole clip* (one mapping per clip, so brightness
never flickers between frames); ``inverse_fixed`` uses configured metres, identical for every clip;
``disparity_minmax`` is the global min-max normalisation of disparity over the whole clip that
Video-Depth-Anything's ComfyUI node applies to its relative disparity ("gray" output, the depth annotator
the official LTX-2.3 union-control workflow ships): near is the clip's nearest depth, far its farthest, or
infinity (disparity 0) when any pixel is background.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from synthgen.controls.signals.resample import downscale_box, reference_frame_indices
from synthgen.errors import DataError

DepthMapping = Literal["inverse_percentile", "inverse_fixed", "disparity_minmax"]


def depth_range_m(
    depth_m: np.ndarray,
    mapping: DepthMapping,
    *,
    near_percentile: float,
    far_percentile: float,
    near_m: float,
    far_m: float,
) -> tuple[float, float]:
    """The (near_m, far_m) used to normalise ``depth_m`` (F, H, W) planar depth in metres.

    A clip with no finite depth (only background) falls back to the fixed range.
    """
    if mapping == "inverse_fixed":
        return float(near_m), float(far_m)
    hit = np.isfinite(depth_m) & (np.asarray(depth_m) > 0)
    finite = np.asarray(depth_m)[hit]
    if finite.size == 0:
        return float(near_m), float(far_m)
    if mapping == "disparity_minmax":
        near, far = float(finite.min()), float(finite.max()) if hit.all() else np.inf
        return near, (far if far > near else near * 1.01 + 1e-6)
    near, far = np.percentile(finite, [near_percentile, far_percentile])
    if far <= near:  # a flat wall at one distance: widen so the mapping stays defined
        far = near * 1.01 + 1e-6
    return float(near), float(far)


def inverse_depth_unit(depth_m: np.ndarray, near_m: float, far_m: float) -> np.ndarray:
    """Normalised inverse depth in [0, 1] (1 at near_m and closer, 0 at far_m, beyond, and at inf);
    ``far_m`` may be infinite (plain disparity over 1 / near_m)."""
    if not 0.0 < near_m < far_m:
        raise DataError(f"depth range near_m={near_m}, far_m={far_m}: needs 0 < near_m < far_m")
    depth = np.asarray(depth_m, dtype=np.float64)
    with np.errstate(divide="ignore"):
        inverse = np.where(np.isfinite(depth) & (depth > 0), 1.0 / np.where(depth > 0, depth, 1.0), 0.0)
    return np.clip((inverse - 1.0 / far_m) / (1.0 / near_m - 1.0 / far_m), 0.0, 1.0)


def depth_video(
    depth_m: np.ndarray, near_m: float, far_m: float, downscale: int = 1, temporal_factor: int = 1
) -> np.ndarray:
    """uint8 (F', H/s, W/s, 3) grey depth video at the reference geometry (box-averaged in mapped units)."""
    kept = np.asarray(depth_m)[reference_frame_indices(depth_m.shape[0], temporal_factor)]
    unit = downscale_box(inverse_depth_unit(kept, near_m, far_m), downscale)
    grey = np.floor(unit * 255.0 + 0.5).astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=-1)
