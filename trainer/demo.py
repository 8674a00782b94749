"""A short, complete IC-LoRA run on the procedural squares dataset, showing the held-out control gain rise.

Two steps, so the shards can be written and encoded on a CPU machine and trained on a GPU machine that has
no video decoder installed (training reads only the latent cache)::

    python -m synthgen.trainer.demo prepare outputs/demo_squares             # shards + latent cache (CPU)
    python -m synthgen.trainer.demo train outputs/demo_squares --device cuda  # train, evaluate, print

``--source synthgen`` (on both steps) uses Blender-rendered motion-track clips from ``synthgen.pipeline.job``
instead of the procedural squares.

The numbers this prints on an H100 are in docs/bench_train.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from .config import load_train_config
from .train import run

SIZE = 128
FRAMES = 17
CLIPS = 40


def demo_settings(
    root: Path, stage: str, device: str, steps: int, source: str = "squares", control: str = "motion_track"
) -> dict[str, Any]:
    """The demo's trainer config (tiny model, 128x128x17 clips, 8 held-out clips)."""
    folder = source if source == "squares" else f"synthgen_{control}"
    return {
        "stage": stage,
        "output_dir": str(root / (f"run_{folder}" if stage == "train" else f"cache_report_{folder}")),
        "data": {
            "path": str(root / folder),
            "control": control,
            "cache_dir": str(root / "cache"),
            "buckets": [f"{SIZE}x{SIZE}x{FRAMES}"],
            "eval_clips": 8,
        },
        "lora": {"rank": 16, "alpha": 16},
        "train": {
            "device": device,
            "cpu_threads": 1 if device == "cpu" else 0,
            "steps": steps,
            "lr": 3e-3,
            "batch_size": 8,
            "warmup_steps": 20,
            "checkpoint_every": 500,
            "gradient_checkpointing": False,
            "save_attention": False,
            "progress": False,
        },
    }


def synthgen_dataset_config(path: Path, control: str) -> dict[str, Any]:
    """Values for a dataset of CLIPS Blender-rendered clips at the demo's size (one shard), merged onto the
    packaged config with ``control=<control>`` selected (``load_generate_config(values, overrides=...)``)."""
    job: dict[str, Any] = {}
    if control == "motion_track":
        # Thick, long tracks: the tiny model's 32x-downsampling VAE must still see them.
        job.update(num_tracks=32, trail_length=8, point_radius_px=4.0, line_width_px=3.0, background="black")
    return {
        "dataset": {"name": f"demo_{control}", "seed": 0, "num_clips": CLIPS},
        "output_dir": str(path),
        "clip": {"width": SIZE, "height": SIZE, "num_frames": FRAMES, "fps": 24},
        "render": {"samples": 4, "tracks_per_object": 24, "background_tracks": 8},
        # The path kinds of the documented runs (docs/bench_train.md), before bezier and piecewise paths.
        "motion": {"kinds": ["linear", "catmull_rom", "circle", "lissajous", "random_smooth"]},
        "camera": {"moves": ["static"], "handheld_probability": 0.0, "composite_probability": 0.0},
        "control": job,
    }


def main(argv: list[str] | None = None) -> int:
    """Command line of the demo; returns the exit code."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("stage", choices=["prepare", "train"])
    parser.add_argument("root", type=Path)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument(
        "--source",
        choices=["squares", "synthgen"],
        default="squares",
        help="squares: procedural moving squares; synthgen: Blender-rendered clips (synthgen.generate_dataset)",
    )
    parser.add_argument("--control", choices=["motion_track", "depth"], default="motion_track")
    args = parser.parse_args(argv)
    if args.stage == "prepare":
        if args.source == "squares" and not (args.root / "squares").exists():
            from .toydata import write_squares

            write_squares(args.root / "squares", CLIPS, width=SIZE, height=SIZE, frames=FRAMES)
        if args.source == "synthgen":
            from synthgen import generate_dataset, load_generate_config

            config = synthgen_dataset_config(args.root / f"synthgen_{args.control}", args.control)
            generate_dataset(
                load_generate_config(config, overrides=[f"control={args.control}"]), progress=False
            )
        settings = demo_settings(args.root, "cache", args.device, args.steps, args.source, args.control)
        report = run(load_train_config(settings))
        print(f"cached {report['clips']} clips under {args.root / 'cache' / report['cache_key']}")
        return 0
    started = time.perf_counter()
    settings = demo_settings(args.root, "train", args.device, args.steps, args.source, args.control)
    report = run(load_train_config(settings))
    losses = report["losses"]
    chunk = max(1, len(losses) // 10)
    means = [
        round(sum(losses[i : i + chunk]) / len(losses[i : i + chunk]), 3)
        for i in range(0, len(losses), chunk)
    ]
    print(f"wall {time.perf_counter() - started:.1f} s, {report['steps']} steps")
    print(f"train loss, mean of each {chunk} steps: {means}")
    for key in ("eval_before", "eval_after"):
        ev = report[key]
        print(
            f"{key}: loss true ref {ev['loss_true']:.4f}, mismatched ref {ev['loss_mismatched']:.4f}, "
            f"control gain {ev['control_gain']:+.4f} ({ev['clips']} held-out clips)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
