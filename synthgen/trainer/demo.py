"""A short, complete IC-LoRA run on the procedural squares dataset, showing the held-out control gain rise.

Two steps, so the shards can be written and encoded on a CPU machine and trained on a GPU machine that has
no video decoder installed (training reads only the latent cache)::

    python -m synthgen.trainer.demo prepare outputs/demo_squares             # shards + latent cache (CPU)
    python -m synthgen.trainer.demo train outputs/demo_squares --device cuda  # train, evaluate, print

The numbers this prints on an H100 are in docs/bench_train.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from synthgen.trainer.config import settings_from_dict
from synthgen.trainer.train import run

SIZE = 128
FRAMES = 17
CLIPS = 40


def demo_settings(root: Path, stage: str, device: str, steps: int) -> dict[str, Any]:
    """The demo's trainer config (tiny model, 128x128x17 clips, 8 held-out clips)."""
    return {
        "stage": stage,
        "output_dir": str(root / ("run" if stage == "train" else "cache_report")),
        "data": {
            "path": str(root / "squares"),
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


def main(argv: list[str] | None = None) -> int:
    """Command line of the demo; returns the exit code."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("stage", choices=["prepare", "train"])
    parser.add_argument("root", type=Path)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--steps", type=int, default=1500)
    args = parser.parse_args(argv)
    if args.stage == "prepare":
        from synthgen.trainer.toydata import write_squares

        if not (args.root / "squares").exists():
            write_squares(args.root / "squares", CLIPS, width=SIZE, height=SIZE, frames=FRAMES)
        report = run(settings_from_dict(demo_settings(args.root, "cache", args.device, args.steps)))
        print(f"cached {report['clips']} clips under {args.root / 'cache' / report['cache_key']}")
        return 0
    started = time.perf_counter()
    report = run(settings_from_dict(demo_settings(args.root, "train", args.device, args.steps)))
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
