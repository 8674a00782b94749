"""Seeded stand-in rows of the shard row format, for tests and benchmarks of the storage layer.

These ``ClipRow``s have the right dtypes and shapes (docs/architecture.md "Rows") but no rendered scene: a
bright square moves over a gradient, labels are random. They exercise the writer, reader, validator, resume
logic and exporters without Blender. Real datasets come from ``synthgen.pipeline.clip.make_row``.

``python -m synthgen.dataset.testing OUT --num-clips N`` runs one generation job on such rows (used by the
kill-and-resume trials).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from synthgen.dataset.rows import ClipRow
from synthgen.describe.spec import clip_rng


def example_row(
    clip_index: int,
    *,
    dataset_seed: int = 0,
    dataset_name: str = "example",
    num_frames: int = 9,
    height: int = 64,
    width: int = 64,
    fps: float = 24.0,
    num_objects: int = 2,
    num_points: int = 6,
    audio_sample_rate: int | None = 16000,
    with_reference: bool = True,
) -> ClipRow:
    """A deterministic row for ``clip_index``: equal arguments give equal arrays (``clip_rng`` seeded)."""
    rng = clip_rng(dataset_seed, clip_index)
    ys, xs = np.mgrid[0:height, 0:width]
    base = np.stack([xs * 255 // max(width - 1, 1), ys * 255 // max(height - 1, 1), np.full_like(xs, 64)], -1)
    video = np.repeat(base[None].astype(np.uint8), num_frames, axis=0)
    start = rng.integers(0, [height // 2, width // 2])
    side = max(4, height // 8)
    for frame in range(num_frames):
        y, x = (start + frame) % [height - side, width - side]
        video[frame, y : y + side, x : x + side] = rng.integers(128, 256, 3, dtype=np.uint8)
    tracks = rng.uniform(0.0, [width, height], size=(num_frames, num_points, 2))
    labels: dict[str, np.ndarray] = {
        "times_s": np.arange(num_frames, dtype=np.float64) / fps,
        "camera_to_world_blender": np.repeat(np.eye(4)[None], num_frames, 0)
        + rng.normal(0, 1e-3, (num_frames, 4, 4)),
        "camera_from_world_cv": np.repeat(np.eye(4)[None], num_frames, 0),
        "intrinsics_px": np.repeat(np.diag([50.0, 50.0, 1.0])[None], num_frames, 0),
        "object_ids": np.arange(1, num_objects + 1, dtype=np.int32),
        "position_m": rng.normal(size=(num_objects, num_frames, 3)),
        "tracks_object_id": rng.integers(0, num_objects + 1, num_points).astype(np.int32),
        "tracks_xy_px": tracks,
        "tracks_occluded": rng.random((num_frames, num_points)) < 0.2,
        "tracks_in_frame": np.ones((num_frames, num_points), dtype=bool),
        "beat_times_s": np.sort(rng.uniform(0.0, (num_frames - 1) / fps, 3)),
    }
    camera_path = np.cumsum(rng.normal(0, 0.1, (num_frames, 3)), axis=0)
    labels["camera_to_world_blender"][:, :3, 3] = camera_path
    spec = {"dataset_seed": dataset_seed, "clip_index": clip_index, "example": True}
    audio = None
    if audio_sample_rate is not None:
        num_samples = round(num_frames * audio_sample_rate / fps)
        t = np.arange(num_samples) / audio_sample_rate
        audio = (0.25 * np.sin(2 * np.pi * 220.0 * t)).astype(np.float32)
    return ClipRow(
        clip_id=f"{dataset_name}-{clip_index:06d}",
        clip_index=clip_index,
        dataset_name=dataset_name,
        dataset_seed=dataset_seed,
        scene="example",
        control_job="motion_track",
        spec_json=json.dumps(spec, sort_keys=True),
        reference_spec_json=None,
        caption=f"A bright square slides across a gradient (clip {clip_index}).",
        fps=fps,
        num_frames=num_frames,
        height=height,
        width=width,
        video=video,
        reference_video=255 - video if with_reference else None,
        controls={"tracks": 255 - video} if with_reference else {},
        reference_downscale=1,
        reference_temporal_factor=1,
        audio=audio,
        audio_sample_rate=audio_sample_rate if audio is not None else None,
        labels=labels,
        pairing={"shared": ["camera", "objects"], "differs": ["appearance"]},
        timings_s={"example": 0.0},
    )


def main(argv: list[str] | None = None) -> int:
    """Run one generation job on example rows (for kill-and-resume and concurrency trials); prints its
    summary line."""
    from synthgen.dataset.media import VideoEncoding
    from synthgen.pipeline.job import RunSettings, run_job

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", type=Path)
    parser.add_argument("--num-clips", type=int, default=12)
    parser.add_argument("--clips-per-shard", type=int, default=3)
    parser.add_argument("--max-bytes", type=int, default=1 << 30)
    parser.add_argument("--job-index", type=int, default=0)
    parser.add_argument("--job-count", type=int, default=1)
    parser.add_argument(
        "--delay-s", type=float, default=0.0, help="sleep per clip, stands in for render time"
    )
    args = parser.parse_args(argv)
    settings = RunSettings(
        output_dir=args.out,
        dataset_name="example",
        num_clips=args.num_clips,
        clips_per_shard=args.clips_per_shard,
        max_bytes=args.max_bytes,
        encoding=VideoEncoding(lossless=True),
        job_index=args.job_index,
        job_count=args.job_count,
        config_hash="example",
        config={"example": True},
    )

    def make_row(clip_index: int) -> ClipRow:
        time.sleep(args.delay_s)
        return example_row(clip_index)

    print(run_job(settings, make_row, progress=False).line())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
