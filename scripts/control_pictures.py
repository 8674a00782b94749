"""Render the pictures of docs/controls.md: for each registered control job, one clip's target and reference.

    .venv/bin/python scripts/control_pictures.py                 # writes docs/img/control_<job>.png
    .venv/bin/python scripts/control_pictures.py --jobs camera_motion --set control.camera_video=ground_grid

Each job's clip comes from the packaged config with ``control=<job>`` (so the job's own group choices, e.g.
``scene=camera_set`` for camera_motion, apply) at 128x128, 25 frames, 16 spp; ``--set`` adds Hydra overrides.
Each picture shows five evenly spaced frames: the target on top, the reference below it, then any separate
control videos. A job whose reference is the soundtrack gets its waveform instead, with the labelled beats
(yellow) and the frames of motion events (blue).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from synthgen.controls import job_names
from synthgen.dataset.rows import ClipRow
from synthgen.describe.config import load_generate_config
from synthgen.pipeline.clip import make_row

SIZE = 128


def strip(video: np.ndarray, count: int = 5, size: int = SIZE) -> np.ndarray:
    """``count`` evenly spaced frames side by side, each resized to ``size`` x ``size``."""
    picks = np.linspace(0, len(video) - 1, count).round().astype(int)
    tiles = [np.asarray(Image.fromarray(video[i]).resize((size, size), Image.NEAREST)) for i in picks]
    return np.concatenate(tiles, axis=1)


def waveform(row: ClipRow, width: int, height: int = SIZE // 2) -> np.ndarray:
    """The soundtrack's waveform with beat times (yellow) and motion-event frames (blue)."""
    samples = np.asarray(row.audio, dtype=np.float64)
    image = Image.new("RGB", (width, height), (12, 12, 16))
    draw = ImageDraw.Draw(image)
    duration_s = (row.num_frames - 1) / row.fps
    columns = np.array_split(samples, width)
    for x, chunk in enumerate(columns):
        peak = float(np.abs(chunk).max()) if chunk.size else 0.0
        half = peak * (height / 2 - 2)
        draw.line([(x, height / 2 - half), (x, height / 2 + half)], fill=(150, 150, 160))
    for t in row.labels.get("beat_times_s", []):
        x = t / duration_s * (width - 1)
        draw.line([(x, 0), (x, height)], fill=(255, 200, 0))
    events = row.labels.get("binding_event_frames")
    if events is not None:
        for frame in np.flatnonzero(np.asarray(events).any(axis=0)):
            x = frame / (row.num_frames - 1) * (width - 1)
            draw.ellipse([(x - 2, height - 8), (x + 2, height - 4)], fill=(60, 140, 255))
    return np.asarray(image)


def picture(job: str, seed: int, overrides: list[str]) -> np.ndarray:
    """Target, reference (or waveform) and separate controls of clip 0 of a ``control=<job>`` dataset."""
    cfg = load_generate_config(
        {
            "dataset": {"name": f"pictures_{job}", "seed": seed, "num_clips": 1},
            "clip": {"width": SIZE, "height": SIZE, "num_frames": 25, "fps": 24},
            "render": {"samples": 16, "tracks_per_object": 24, "background_tracks": 16},
        },
        overrides=[f"control={job}", *overrides],
    )
    row = make_row(cfg, 0)
    rows = [strip(row.video)]
    if row.reference_video is not None:
        rows.append(strip(row.reference_video))
    else:
        rows.append(waveform(row, rows[0].shape[1]))
    rows += [strip(video) for video in row.controls.values() if len(video) > 1]
    return np.concatenate(rows, axis=0)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=Path("docs/img"))
    parser.add_argument("--seed", type=int, default=2)
    parser.add_argument("--jobs", nargs="*", default=list(job_names()), choices=job_names())
    parser.add_argument("--set", action="append", default=[], metavar="OVERRIDE", help="Hydra override")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for job in args.jobs:
        path = args.out / f"control_{job}.png"
        Image.fromarray(picture(job, args.seed, args.set)).save(path, optimize=True)
        print(f"{path}: {path.stat().st_size // 1024} KiB")


if __name__ == "__main__":
    main()
