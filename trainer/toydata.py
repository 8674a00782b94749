"""A procedural stand-in dataset for trainer tests and demos: squares moving over a gradient.

Each clip has its own seeded start and velocity; the target shows a coloured square, the reference (a
motion-track-style control) a white square on black at the same places, at the reference downscale. Every
clip has the same caption, so only the reference tells where the square is: a LoRA that learns to follow the
control lowers the loss with the true reference and not with another clip's, which the control gain measures.
Rows follow the shard row format (docs/architecture.md "Rows") and are written with the real shard writer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from synthgen.controls import get_job
from synthgen.dataset.rows import ClipRow
from synthgen.dataset.testing import example_row
from synthgen.describe.spec import clip_rng

CAPTION = "A square moves across a dark gradient."


def _draw(
    frames: int,
    height: int,
    width: int,
    corners: np.ndarray,
    side: int,
    colour: np.ndarray,
    background: np.ndarray,
) -> np.ndarray:
    video = np.repeat(background[None], frames, axis=0).copy()
    for frame in range(frames):
        y, x = corners[frame]
        video[frame, y : y + side, x : x + side] = colour
    return video


def square_row(
    clip_index: int,
    *,
    control: str = "motion_track",
    width: int = 64,
    height: int = 64,
    frames: int = 9,
    fps: float = 24.0,
    reference_downscale: int = 1,
    dataset_seed: int = 0,
) -> ClipRow:
    """One clip row; equal arguments give equal arrays (``clip_rng(dataset_seed, clip_index)``)."""
    rng = clip_rng(dataset_seed, clip_index)
    side = max(8, min(width, height) // 3)
    start = rng.uniform(0, [height - side, width - side])
    velocity = rng.uniform(-1.0, 1.0, 2) * min(width, height) / max(frames, 2) / 2.0
    times = np.arange(frames)[:, None]
    path = start[None] + velocity[None] * times
    # Reflect at the borders so the square always stays whole in view.
    span = np.array([height - side, width - side], dtype=np.float64)
    path = span - np.abs(span - np.mod(path, 2 * span))
    corners = np.round(path).astype(int)
    ys, xs = np.mgrid[0:height, 0:width]
    background = np.stack(
        [xs * 60 // max(width - 1, 1), ys * 60 // max(height - 1, 1), np.full_like(xs, 30)], -1
    )
    target = _draw(
        frames, height, width, corners, side, np.array([230, 180, 40]), background.astype(np.uint8)
    )
    s = reference_downscale
    reference = _draw(
        frames,
        height // s,
        width // s,
        corners // s,
        max(1, side // s),
        np.array([255, 255, 255]),
        np.zeros((height // s, width // s, 3), dtype=np.uint8),
    )
    row = example_row(
        clip_index,
        dataset_seed=dataset_seed,
        dataset_name="squares",
        num_frames=frames,
        height=height,
        width=width,
        fps=fps,
    )
    # A job conditioned on audio gets the row's audio and no reference video (its roles, synthgen.controls).
    video_reference = get_job(control).trainer_roles.reference_video
    return row.replace(
        control_job=control,
        caption=CAPTION,
        video=target.astype(np.uint8),
        reference_video=reference.astype(np.uint8) if video_reference else None,
        controls={"tracks": reference.astype(np.uint8)} if video_reference else {},
        reference_downscale=reference_downscale,
    )


def write_squares(path: str | Path, num_clips: int, **kwargs: Any) -> Path:
    """Write ``num_clips`` square clips as a synthgen dataset at ``path`` (lossless video); returns the path."""
    from synthgen.dataset import VideoEncoding, write_dataset

    rows = (square_row(i, **kwargs) for i in range(num_clips))
    write_dataset(
        rows,
        path,
        num_clips=num_clips,
        clips_per_shard=max(1, num_clips),
        encoding=VideoEncoding(lossless=True),
        config={"toy": "squares", **{k: str(v) for k, v in kwargs.items()}},
    )
    return Path(path)
