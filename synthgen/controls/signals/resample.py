"""Reference-video geometry: spatial box downscale by s in {1, 2, 4} and temporal subsampling by t in {1, 2}.

A reference at spatial factor s has sides W/s x H/s; pixel coordinates scale exactly as x' = x / s because
the pixel grid is corner-anchored. A reference at temporal factor t keeps target frames 0, t, 2t, ..., so
reference frame j is at the time of target frame j * t and there are (F - 1) / t + 1 of them.
"""

from __future__ import annotations

import numpy as np

from synthgen.errors import DataError


def reference_shape(
    num_frames: int, height: int, width: int, downscale: int, temporal_factor: int
) -> tuple[int, int, int]:
    """(frames, height, width) of the reference for a target of the given size."""
    if height % downscale or width % downscale:
        raise DataError(f"target size {width}x{height}: not divisible by reference_downscale={downscale}")
    if (num_frames - 1) % temporal_factor:
        raise DataError(
            f"target num_frames={num_frames}: (num_frames - 1) not divisible by "
            f"reference_temporal_factor={temporal_factor}"
        )
    return (num_frames - 1) // temporal_factor + 1, height // downscale, width // downscale


def reference_frame_indices(num_frames: int, temporal_factor: int) -> np.ndarray:
    """Target frame index of each reference frame: 0, t, 2t, ..., num_frames - 1."""
    return np.arange(0, num_frames, temporal_factor, dtype=np.int64)


def downscale_box(video: np.ndarray, factor: int) -> np.ndarray:
    """Average non-overlapping factor x factor blocks of (F, H, W[, C]); float in, float64 out."""
    array = np.asarray(video, dtype=np.float64)
    if factor == 1:
        return array
    frames, height, width = array.shape[:3]
    if height % factor or width % factor:
        raise DataError(f"video size {width}x{height}: not divisible by downscale factor {factor}")
    shaped = array.reshape(frames, height // factor, factor, width // factor, factor, *array.shape[3:])
    return shaped.mean(axis=(2, 4))


def to_reference(video_uint8: np.ndarray, downscale: int, temporal_factor: int) -> np.ndarray:
    """uint8 (F, H, W, 3) target-sized video -> the reference geometry, box-filtered, rounded to uint8."""
    kept = np.asarray(video_uint8)[reference_frame_indices(video_uint8.shape[0], temporal_factor)]
    if downscale == 1:
        return np.ascontiguousarray(kept, dtype=np.uint8)
    return np.floor(downscale_box(kept, downscale) + 0.5).astype(np.uint8)
