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
- ``cpu_quick``: the ``train=cpu_quick`` preset (CPU only);
- ``checkpoint_all``: the defaults without the memory budget (every block checkpointed);
- ``fp8``: the ``train=fp8`` preset (float8 matmuls for the frozen base linears, torchao);
- ``low_vram_32g``: the ``train=low_vram_32g`` preset, run under a hard 30 GiB cap
  (``torch.cuda.set_per_process_memory_fraction``) set before the model is built;
- ``low_vram_24g``: the ``train=low_vram_24g`` preset (every block's frozen weights offloaded to pinned host
  memory), under a hard 22 GiB cap;
- ``ltx_trainer`` (with ``--anchor-ltx PATH``): the anchor, Lightricks' ltx-trainer IC-LoRA step imported from a
  local checkout of ``Lightricks/LTX-2`` at PATH (``packages/ltx-core/src``, ``packages/ltx-trainer/src``; not
  copied here): ltx-core's ``LTXModel`` at the same config with random bf16 weights, ltx-trainer's
  ``FlexibleStrategy`` with its ``configs/v2v_ic_lora.yaml`` conditions (reference, first frame p=0.2), its
  timestep sampler, peft ``LoraConfig`` (r=32 on its v2v targets), ltx-core's gradient checkpointing,
  accelerate bf16 mixed precision, ``torch.optim.AdamW`` and gradient clipping, as ``LtxTrainer`` sets them
  up. Its text connector runs outside the timed step (our cache holds connector outputs too).

Each row runs in its own process (fresh model, memory and compile caches) on random bf16 weights
(``model=ltx-2.3-22b``): LoRA r=32 on the default targets, batch 1, 1024 text tokens, target 768x768x81 with
a full-size reference (12,672 video tokens).

GPU:  ``PYTHONPATH=. python benchmarks/train_step.py --anchor-ltx ../LTX-2 --json out.json``
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
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from synthgen.trainer.cache import CachedItem
from synthgen.trainer.config import load_train_config
from synthgen.trainer.ic import audio_num_latent_frames
from synthgen.trainer.model import LTX23_TRANSFORMER_CONFIG, TINY_TRANSFORMER_CONFIG
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
    "checkpoint_all": ["train.memory_budget_gib=0"],
    "fp8": ["train=fp8"],
    "low_vram_32g": ["train=low_vram_32g"],
    "low_vram_24g": ["train=low_vram_24g"],
}
# Rows run under a hard cap (torch.cuda.set_per_process_memory_fraction), GiB: they must fit their card.
ROW_CAP_GIB = {"low_vram_32g": 30.0, "low_vram_24g": 22.0}
ANCHOR_ROW = "ltx_trainer"


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
        cap = ROW_CAP_GIB.get(name)
        if cap is not None and runtime.device.type == "cuda":
            total = torch.cuda.get_device_properties(runtime.device).total_memory
            torch.cuda.set_per_process_memory_fraction(cap * 2**30 / total, torch.cuda.current_device())
        started = time.perf_counter()
        _progress(f"{name}: building the model", started)
        bundle = setup_model(settings, runtime)
        free_encoders(bundle, runtime)
        build = {"build_s": time.perf_counter() - started}
        _progress(f"{name}: model built", started)
        if runtime.device.type == "cuda":
            build["build_peak_gib"] = torch.cuda.max_memory_allocated(runtime.device) / 2**30
        cfg: Any = bundle.transformer.config
        items = synthetic_items(cfg, args)
        transformer = setup_adapter(bundle.transformer, settings)
        recipe = setup_training(
            settings, runtime, transformer, bundle.model_id, "synthetic", items, OutputPaths(Path(tmp))
        )
        timed = time_steps(lambda: train_step(recipe)[0], runtime.device, args)
        policy = recipe.checkpointing
        offload = recipe.offload
    t = settings.train
    return {
        "row": name,
        "overrides": ROWS[name] + list(args.override),
        "tokens": 2 * items[0].target[0].numel(),
        **timed,
        **build,
        "offloaded_blocks": 0 if offload is None else len(offload.order),
        "offload_host_gib": 0.0 if offload is None else offload.host_bytes() / 2**30,
        "uncheckpointed_blocks_used": None if policy is None else policy.uncheckpointed_blocks,
        "attention_blocks_used": None if policy is None else policy.attention_blocks,
        "budget_plan": recipe.budget_plan,
        "cap_gib": cap,
        "settings": {
            "compile": t.compile,
            "adapter_compute": t.adapter_compute,
            "gradient_checkpointing": t.gradient_checkpointing,
            "uncheckpointed_blocks": t.uncheckpointed_blocks,
            "save_attention": t.save_attention,
            "memory_budget_gib": t.memory_budget_gib,
            "skip_audio_branch": t.skip_audio_branch,
            "base_precision": t.base_precision,
            "optimizer": t.optimizer,
            "offload_blocks": t.offload_blocks,
        },
    }


def time_steps(step: Callable[[], float], device: torch.device, args: argparse.Namespace) -> dict[str, Any]:
    """``args.warmup`` untimed steps, then ``args.steps`` timed ones: median s/step, peak memory, losses."""
    started = time.perf_counter()
    for index in range(args.warmup):
        step()
        _sync(device)
        _progress(f"warm-up step {index + 1} done", started)
    _sync(device)
    warmup_s = time.perf_counter() - started
    warmup_peak = float("nan")
    if device.type == "cuda":
        warmup_peak = torch.cuda.max_memory_allocated(device) / 2**30
        torch.cuda.reset_peak_memory_stats(device)
    times, losses = [], []
    for _ in range(args.steps):
        start = time.perf_counter()
        loss = step()
        _sync(device)
        times.append(time.perf_counter() - start)
        losses.append(loss)
        _progress(f"timed step {len(times)}: {times[-1]:.3f} s", started)
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else float("nan")
    # The cap (set_per_process_memory_fraction) applies to what the caching allocator reserves.
    reserved = torch.cuda.max_memory_reserved(device) / 2**30 if device.type == "cuda" else float("nan")
    return {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "torch": torch.__version__,
        "s_per_step": statistics.median(times),
        "step_times_s": times,
        "warmup_s": warmup_s,
        "peak_gib": peak,
        "peak_reserved_gib": reserved,
        "warmup_peak_gib": warmup_peak,
        "losses": losses,
    }


# ltx-trainer's configs/v2v_ic_lora.yaml: LoRA, optimizer and conditions of its IC-LoRA example.
ANCHOR_TARGETS = [
    *(f"attn{i}.{p}" for i in (1, 2) for p in ("to_k", "to_q", "to_v", "to_out.0")),
    "ff.net.0.proj",
    "ff.net.2",
]
ANCHOR_LR = 2e-4


def ltx_core_config(cfg: dict[str, Any]) -> dict[str, Any]:
    """ltx-core's ``transformer`` config for one of our diffusers configs (LTX-2.3's switches, its widths)."""
    keys = (
        "num_attention_heads",
        "attention_head_dim",
        "in_channels",
        "out_channels",
        "num_layers",
        "cross_attention_dim",
        "audio_num_attention_heads",
        "audio_attention_head_dim",
        "audio_in_channels",
        "audio_out_channels",
        "audio_cross_attention_dim",
        "caption_channels",
        "norm_eps",
    )
    return {
        **{key: cfg[key] for key in keys},
        "caption_proj_before_connector": True,  # LTX-2.3: the text projection lives in the connectors
        "apply_gated_attention": True,
        "cross_attention_adaln": True,
        "rope_type": "split",
        "frequencies_precision": "float64",
        "positional_embedding_max_pos": [cfg["pos_embed_max_pos"], cfg["base_height"], cfg["base_width"]],
        # The values ltx-core checks, as LTX-2.3's checkpoint config states them.
        "dropout": 0.0,
        "attention_bias": True,
        "num_vector_embeds": None,
        "activation_fn": "gelu-approximate",
        "num_embeds_ada_norm": 1000,
        "use_linear_projection": False,
        "only_cross_attention": False,
        "cross_attention_norm": True,
        "double_self_attention": False,
        "upcast_attention": False,
        "standardization_norm": "rms_norm",
        "norm_elementwise_affine": False,
        "qk_norm": "rms_norm",
        "positional_embedding_type": "rope",
        "use_audio_video_cross_attention": True,
        "share_ff": False,
        "av_cross_ada_norm": True,
        "use_middle_indices_grid": True,
    }


def run_anchor(args: argparse.Namespace) -> dict[str, Any]:
    """ltx-trainer's IC-LoRA step from the checkout at ``args.anchor_ltx``, as ``LtxTrainer`` sets it up."""
    root = Path(args.anchor_ltx).resolve()
    for package in ("ltx-trainer", "ltx-core"):
        sys.path.insert(0, str(root / "packages" / package / "src"))
    from accelerate import Accelerator
    from ltx_trainer.timestep_samplers import ShiftedLogitNormalTimestepSampler
    from ltx_trainer.training_strategies import FlexibleStrategyConfig, get_training_strategy
    from peft import LoraConfig, get_peft_model

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    config = dict(LTX23_TRANSFORMER_CONFIG if args.model == "ltx-2.3-22b" else TINY_TRANSFORMER_CONFIG)
    model = anchor_model(config, device)
    model.set_gradient_checkpointing(True)
    lora = LoraConfig(
        r=32, lora_alpha=32, target_modules=ANCHOR_TARGETS, lora_dropout=0.0, init_lora_weights=True
    )
    model = get_peft_model(model, lora)
    accelerator = Accelerator(mixed_precision="bf16", cpu=device.type == "cpu")
    model = accelerator.prepare(model)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = accelerator.prepare(torch.optim.AdamW(params, lr=ANCHOR_LR))
    strategy = get_training_strategy(
        FlexibleStrategyConfig.model_validate(
            {
                "name": "flexible",
                "video": {
                    "is_generated": True,
                    "latents_dir": "latents",
                    "conditions": [
                        {"type": "reference", "latents_dir": "reference_latents", "probability": 1.0},
                        {"type": "first_frame", "probability": 0.2},
                    ],
                },
            }
        )
    )
    sampler = ShiftedLogitNormalTimestepSampler()
    batch = anchor_batch(config, args, device)
    model.train()

    def step() -> float:
        inputs = strategy.prepare_training_inputs(batch, sampler)
        video_pred, audio_pred = model(video=inputs.video, audio=inputs.audio, perturbations=None)
        loss = strategy.compute_loss(video_pred, audio_pred, inputs)
        accelerator.backward(loss.mean())
        accelerator.clip_grad_norm_(params, 1.0)
        optimizer.step()
        optimizer.zero_grad()
        return float(loss.detach().mean())

    return {
        "row": ANCHOR_ROW,
        "overrides": [f"--anchor-ltx {args.anchor_ltx}", f"ltx-trainer {_git_head(root)}"],
        "tokens": 2 * int(batch["video_latents"]["latents"][0, 0].numel()),
        **time_steps(step, device, args),
    }


def anchor_model(config: dict[str, Any], device: torch.device) -> Any:
    """ltx-core's ``LTXModel`` built on meta and materialised on ``device`` with random bf16 weights, as
    ``build_ltx23_random`` does for ours (N(0, 0.02) matrices and tables, zero biases)."""
    from ltx_core.model.transformer.model_configurator import LTXModelConfigurator

    with torch.device("meta"):
        model = LTXModelConfigurator.from_metadata({"config": {"transformer": ltx_core_config(config)}})
    model = model.to(torch.bfloat16).to_empty(device=device)
    generator = torch.Generator(device=device).manual_seed(0)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith("bias"):
                param.zero_()
            else:
                param.normal_(0.0, 0.02, generator=generator)
    return model.requires_grad_(False)


def anchor_batch(config: dict[str, Any], args: argparse.Namespace, device: torch.device) -> dict[str, Any]:
    """A batch in ltx-trainer's precomputed layout: target and full-size reference latents, connector
    outputs with every text token valid (its embeddings processor returns an int64 mask of ones)."""
    generator = torch.Generator().manual_seed(0)
    spatial, temporal = config["vae_scale_factors"][1], config["vae_scale_factors"][0]
    frames, height, width = (args.frames - 1) // temporal + 1, args.height // spatial, args.width // spatial
    shape = (1, config["in_channels"], frames, height, width)
    dims = {
        "num_frames": torch.tensor([frames]),
        "height": torch.tensor([height]),
        "width": torch.tensor([width]),
        "fps": torch.tensor([24.0]),
    }
    video_dim = config["num_attention_heads"] * config["attention_head_dim"]
    audio_dim = config["audio_num_attention_heads"] * config["audio_attention_head_dim"]
    return {
        "video_latents": {"latents": torch.randn(shape, generator=generator).to(device), **dims},
        "reference_latents": {"latents": torch.randn(shape, generator=generator).to(device), **dims},
        "conditions": {
            "video_prompt_embeds": torch.randn(1, args.text_tokens, video_dim, generator=generator).to(
                device, torch.bfloat16
            ),
            "audio_prompt_embeds": torch.randn(1, args.text_tokens, audio_dim, generator=generator).to(
                device, torch.bfloat16
            ),
            "prompt_attention_mask": torch.ones(1, args.text_tokens, dtype=torch.int64, device=device),
        },
    }


def _git_head(root: Path) -> str:
    """The checkout's commit (``unknown commit`` for a copy without its ``.git``)."""
    if not (root / ".git").exists():
        return "unknown commit"
    done = subprocess.run(
        ["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    )
    return done.stdout.strip() or "unknown commit"


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
    parser.add_argument("--json", default="", help="write the rows here (after each row)")
    parser.add_argument(
        "--anchor-ltx", default="", help="a Lightricks/LTX-2 checkout: adds the ltx_trainer row"
    )
    parser.add_argument("--one-row", default="", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one_row:
        row = run_anchor(args) if args.one_row == ANCHOR_ROW else run_row(args.one_row, args)
        print("ROW " + json.dumps(row), flush=True)
        return 0

    names = args.rows.split(",")
    for name in names:
        if name not in ROWS:
            parser.error(f"--rows: {name!r} is not one of {list(ROWS)}")
    if args.anchor_ltx:
        if not (Path(args.anchor_ltx) / "packages" / "ltx-trainer" / "src" / "ltx_trainer").is_dir():
            parser.error(
                f"--anchor-ltx {args.anchor_ltx}: not a Lightricks/LTX-2 checkout (no packages/ltx-trainer)"
            )
        names.insert(0, ANCHOR_ROW)
    results = []
    for name in names:
        results.append(_row_in_subprocess(name, argv if argv is not None else sys.argv[1:]))
        if args.json:
            with open(args.json, "w") as handle:
                json.dump(results, handle, indent=1)
    print_table(results)
    return 0


def print_table(results: list[dict[str, Any]]) -> None:
    """One line per row; each synthgen row's speed-up over the anchor (and over ``plain``) where timed."""
    timed = {r["row"]: r for r in results if "error" not in r}
    print(f"\n{'row':14s} {'s/step':>8s} {'peak GiB':>9s} {'vs ltx':>7s}  overrides")
    for row in results:
        if "error" in row:
            print(f"{row['row']:14s} failed: {row['error']}")
            continue
        anchor = timed.get(ANCHOR_ROW)
        ratio = f"{anchor['s_per_step'] / row['s_per_step']:6.2f}x" if anchor else "      -"
        print(
            f"{row['row']:14s} {row['s_per_step']:8.3f} {row['peak_gib']:9.1f} {ratio}  {' '.join(row['overrides'])}"
        )
    if "default" in timed and ANCHOR_ROW in timed:
        default, anchor = timed["default"], timed[ANCHOR_ROW]
        print(
            f"default vs ltx-trainer: {anchor['s_per_step'] / default['s_per_step']:.2f}x faster, peak "
            f"{default['peak_gib']:.1f} GiB vs {anchor['peak_gib']:.1f} GiB"
        )
    if "default" in timed and "plain" in timed:
        print(f"default vs plain: {timed['plain']['s_per_step'] / timed['default']['s_per_step']:.2f}x")


def _row_in_subprocess(name: str, argv: list[str]) -> dict[str, Any]:
    """Run one row in a fresh interpreter; its result is the line starting with ``ROW``. Its stderr (the
    phase timings of :func:`_progress`, errors) goes straight through, so a row stopped by an outer time
    limit still shows how far it got."""
    command = [sys.executable, __file__, *argv, "--one-row", name]
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=False)
    for line in done.stdout.splitlines():
        if line.startswith("ROW "):
            return dict(json.loads(line[4:]))
    return {"row": name, "error": f"exit status {done.returncode} (its stderr is above)"}


def _progress(message: str, started: float) -> None:
    print(f"[{time.perf_counter() - started:7.1f} s] {message}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
