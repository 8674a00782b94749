"""Quality guard of synthgen-train's speed and memory options: do they train the same thing?

The tiny-preset demo run (``synthgen.trainer.demo``: procedural squares, motion-track references, 128x128x17,
LoRA r=16, batch 8) is trained once per option and seed, and each run's final training loss (mean of its last
10 % of steps) and held-out control gain are printed beside the plain run's. The spread of the plain run over
seeds is the noise an option's difference is read against.

Options (Hydra overrides on the demo's settings) that run on the CPU; the CUDA-only ones (compile, bf16
adapter matmuls, float8) need ``--device cuda``:

- ``plain``: the demo as it is;
- ``skip_audio``: ``train.skip_audio_branch=true``;
- ``int8_weights``: ``train.base_precision=int8_weights``;
- ``adamw8bit``: ``train.optimizer=adamw8bit``;
- ``plain_r128`` / ``adamw8bit_r128``: the same at LoRA r=128, where every adapter tensor is large enough
  for torchao's 8-bit moments (at r=16 it keeps them all float32, and ``adamw8bit`` equals ``plain``).

``python benchmarks/train_quality.py outputs/quality --steps 400 --seeds 0,1,2``
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from synthgen.trainer.config import load_train_config
from synthgen.trainer.demo import CLIPS, FRAMES, SIZE, demo_settings
from synthgen.trainer.toydata import write_squares
from synthgen.trainer.train import run

OPTIONS: dict[str, list[str]] = {
    "plain": [],
    "skip_audio": ["train.skip_audio_branch=true"],
    "int8_weights": ["train.base_precision=int8_weights"],
    "adamw8bit": ["train.optimizer=adamw8bit"],
    "fp8": ["train=fp8"],
    # torchao's AdamW8bit keeps tensors under 4,096 elements in float32 (as bitsandbytes does): at r=16 every
    # adapter of the tiny model is that small. At r=128 every one has >= 4,096 (128 x 32 on the width-32
    # video stream), so the 8-bit moments are in use; compare against plain_r128.
    "plain_r128": ["lora.rank=128", "lora.alpha=128"],
    "adamw8bit_r128": ["lora.rank=128", "lora.alpha=128", "train.optimizer=adamw8bit"],
}


def _get(settings: Any, dotted: str) -> Any:
    value = settings
    for key in dotted.split("."):
        value = getattr(value, key)
    return value


def one_run(root: Path, option: str, seed: int, args: argparse.Namespace) -> dict[str, float]:
    """Train the demo with ``option`` and ``seed``; the final loss and the held-out control gain after."""
    values = demo_settings(root, "train", args.device, args.steps)
    values["output_dir"] = str(root / f"run_{option}_seed{seed}")
    values["train"].update(seed=seed, resume=False)
    values["overwrite"] = True
    for override in OPTIONS[option]:  # values merge over overrides: let the option's keys through
        *parents, leaf = override.split("=", 1)[0].split(".")
        node = values
        for key in parents:
            node = node.get(key, {})
        node.pop(leaf, None)
    settings = load_train_config(values, overrides=[*OPTIONS[option], "eval.noise_draws=1"])
    for override in OPTIONS[option]:
        key, _, wanted = override.partition("=")
        if "." in key and str(_get(settings, key)) not in (wanted, f"{wanted}.0"):
            raise SystemExit(f"option {option}: {key} is {_get(settings, key)}, not {wanted}")
    report: dict[str, Any] = run(settings)
    losses = report["losses"]
    tail = losses[-max(1, len(losses) // 10) :]
    return {"final_loss": sum(tail) / len(tail), "control_gain": report["eval_after"]["control_gain"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("root", type=Path)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--options", default="plain,skip_audio,int8_weights,adamw8bit")
    args = parser.parse_args(argv)
    if not (args.root / "squares").exists():
        write_squares(args.root / "squares", CLIPS, width=SIZE, height=SIZE, frames=FRAMES)
    seeds = [int(s) for s in args.seeds.split(",")]
    print(f"{'option':14s} {'final loss (per seed)':>34s} {'control gain (per seed)':>36s}")
    for option in args.options.split(","):
        rows = []
        for seed in seeds:
            started = time.perf_counter()
            rows.append(one_run(args.root, option, seed, args))
            print(  # per run, so a run cut short still leaves its finished rows
                f"{option} seed {seed}: final loss {rows[-1]['final_loss']:.4f}, control gain "
                f"{rows[-1]['control_gain']:+.4f}, {time.perf_counter() - started:.1f} s",
                file=sys.stderr,
                flush=True,
            )
        losses, gains = [r["final_loss"] for r in rows], [r["control_gain"] for r in rows]
        print(
            f"{option:14s} {' '.join(f'{x:.4f}' for x in losses):>26s} mean {statistics.mean(losses):.4f}"
            f" {' '.join(f'{g:+.4f}' for g in gains):>28s} mean {statistics.mean(gains):+.4f}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
