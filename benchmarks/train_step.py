"""``synthgen-train``'s own training step at the LTX-2.3 shape: s/step and peak memory, one row per setting.

Every row is the app's code path: the settings are ``conf/train.yaml`` composed with the row's Hydra
overrides (``load_train_config``), the model, adapter, optimizer, checkpointing policy and compilation are
set up by ``synthgen.trainer.train``'s own ``setup_runtime`` / ``setup_model`` / ``setup_adapter`` /
``setup_training``, and each timed step is ``synthgen.trainer.train.train_step`` (sampling, IC batch, loss,
backward, clipping, AdamW, schedule). Only the data is synthetic: two cached items of the chosen shape
(random latents and text embeddings, all text tokens valid, a video-only job) stand in for a latent cache.

Rows (``--rows``):

- ``default``: the app's defaults, no overrides;
- ``plain``: the defaults as they were before the CUDA speed defaults (``train.compile=false
  train.adapter_compute=float32``);
- ``cpu_quick``: the ``train=cpu_quick`` preset (CPU only).

Each row runs in its own process (fresh model, memory and compile caches) on random bf16 weights
(``model=ltx-2.3-22b``): LoRA r=32 on the default targets, batch 1, 1024 text tokens, target 768x768x81 with
a full-size reference (12,672 video tokens).

GPU:  ``PYTHONPATH=. python benchmarks/train_step.py --json out.json``
CPU smoke run: ``python benchmarks/train_step.py --model tiny --height 64 --width 64 --frames 9 \\
--rows default,cpu_quick --steps 2 --warmup 1``
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from synthgen.trainer.cache import CachedItem
from synthgen.trainer.config import load_train_config
from synthgen.trainer.ic import audio_num_latent_frames
from synthgen.trainer.train import (
    OutputPaths,
    free_encoders,
    setup_adapter,
    setup_model,
    setup_runtime,
    setup_training,
    train_step,
)

ROWS: dict[str, list[str]] = {
    "default": [],
    "plain": ["train.compile=false", "train.adapter_compute=float32"],
    "cpu_quick": ["train=cpu_quick"],
}


def synthetic_items(cfg: Any, args: argparse.Namespace, count: int = 2) -> list[CachedItem]:
    """``count`` cache items of one shape: random latents, a full-size reference and all-valid text."""
    generator = torch.Generator().manual_seed(0)
    spatial, temporal = cfg.vae_scale_factors[1], cfg.vae_scale_factors[0]
    shape = (
        cfg.in_channels,
        (args.frames - 1) // temporal + 1,
        args.height // spatial,
        args.width // spatial,
    )
    video_dim = cfg.num_attention_heads * cfg.attention_head_dim
    audio_dim = cfg.audio_num_attention_heads * cfg.audio_attention_head_dim
    fps = 24.0
    items = []
    for i in range(count):
        items.append(
            CachedItem(
                clip_id=f"bench{i}",
                bucket=f"{args.width}x{args.height}x{args.frames}",
                fps=fps,
                target=torch.randn(shape, generator=generator),
                reference=torch.randn(shape, generator=generator),
                audio=None,
                audio_frames=audio_num_latent_frames(round(args.frames / fps * 16000), 16000),
                text=torch.randn(args.text_tokens, video_dim, generator=generator),
                audio_text=torch.randn(args.text_tokens, audio_dim, generator=generator),
                text_mask=torch.ones(args.text_tokens),
                reference_downscale=1,
                reference_temporal_factor=1,
                audio_is_reference=False,
            )
        )
    return items


def run_row(name: str, args: argparse.Namespace) -> dict[str, Any]:
    """One row in this process: the app's setup from its config, then ``train_step`` timed."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_train_config(
            {"data": {"path": tmp}, "output_dir": tmp, "train": {"resume": False, "progress": False}},
            overrides=[f"model={args.model}", *ROWS[name], *args.override],
        )
        runtime = setup_runtime(settings)
        bundle = setup_model(settings, runtime)
        free_encoders(bundle, runtime)
        cfg: Any = bundle.transformer.config
        items = synthetic_items(cfg, args)
        transformer = setup_adapter(bundle.transformer, settings)
        recipe = setup_training(
            settings, runtime, transformer, bundle.model_id, "synthetic", items, OutputPaths(Path(tmp))
        )
        device = runtime.device
        started = time.perf_counter()
        for _ in range(args.warmup):
            train_step(recipe)
        _sync(device)
        warmup_s = time.perf_counter() - started
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        times, losses = [], []
        for _ in range(args.steps):
            start = time.perf_counter()
            loss, _ = train_step(recipe)
            _sync(device)
            times.append(time.perf_counter() - start)
            losses.append(loss)
        peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else float("nan")
    t = settings.train
    return {
        "row": name,
        "overrides": ROWS[name] + list(args.override),
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "torch": torch.__version__,
        "tokens": 2 * items[0].target[0].numel(),
        "s_per_step": statistics.median(times),
        "step_times_s": times,
        "warmup_s": warmup_s,
        "peak_gib": peak,
        "losses": losses,
        "settings": {
            "compile": t.compile,
            "adapter_compute": t.adapter_compute,
            "gradient_checkpointing": t.gradient_checkpointing,
            "uncheckpointed_blocks": t.uncheckpointed_blocks,
            "save_attention": t.save_attention,
        },
    }


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="ltx-2.3-22b", choices=["ltx-2.3-22b", "tiny"])
    parser.add_argument("--rows", default="default,plain", help=f"comma-separated, of {list(ROWS)}")
    parser.add_argument("--override", action="append", default=[], help="extra Hydra override, every row")
    parser.add_argument("--height", type=int, default=768)
    parser.add_argument("--width", type=int, default=768)
    parser.add_argument("--frames", type=int, default=81)
    parser.add_argument("--text-tokens", type=int, default=1024)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--json", default="")
    parser.add_argument("--one-row", default="", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one_row:
        print("ROW " + json.dumps(run_row(args.one_row, args)), flush=True)
        return 0

    results = []
    for name in args.rows.split(","):
        if name not in ROWS:
            parser.error(f"--rows: {name!r} is not one of {list(ROWS)}")
        results.append(_row_in_subprocess(name, argv if argv is not None else sys.argv[1:]))
    print(f"\n{'row':10s} {'s/step':>8s} {'peak GiB':>9s}  overrides")
    for row in results:
        if "error" in row:
            print(f"{row['row']:10s} failed: {row['error']}")
            continue
        print(
            f"{row['row']:10s} {row['s_per_step']:8.3f} {row['peak_gib']:9.1f}  {' '.join(row['overrides'])}"
        )
    timed = {r["row"]: r for r in results if "error" not in r}
    if "default" in timed and "plain" in timed:
        ratio = timed["plain"]["s_per_step"] / timed["default"]["s_per_step"]
        print(f"default vs plain: {ratio:.2f}x")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=1)
    return 0


def _row_in_subprocess(name: str, argv: list[str]) -> dict[str, Any]:
    """Run one row in a fresh interpreter; its result is the line starting with ``ROW``."""
    command = [sys.executable, __file__, *argv, "--one-row", name]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    for line in done.stdout.splitlines():
        if line.startswith("ROW "):
            return dict(json.loads(line[4:]))
    tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
    print(done.stderr[-3000:], file=sys.stderr)
    return {"row": name, "error": tail}


if __name__ == "__main__":
    sys.exit(main())
