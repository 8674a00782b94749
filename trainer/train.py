"""The IC-LoRA training recipe, top to bottom: setup, data, model, loop, checkpoint, export, evaluation.

``run(settings)`` does one stage (``cache``, ``train`` or ``eval``) and returns a report dict that is also
written to ``<output_dir>/report.json``. Outputs of ``train``: ``lora.safetensors`` (LTX/ComfyUI keys),
``checkpoints/last.pt`` (resumable state), ``tensorboard/`` logs and ``report.json`` with the control gain
on held-out clips before and after training.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from synthgen.errors import ConfigError
from synthgen.fileio import atomic_write_json

from .config import Settings
from .data import (
    atomic_torch_save,
    build_cache,
    cache_key,
    dataset_fingerprint,
    iter_rows,
    load_items,
    parse_bucket,
)
from .evaluate import conditioning_for, control_gain
from .lora import adapter_state_dict, add_lora, load_adapter_state, lora_parameters, save_lora
from .model import ModelBundle, load_model
from .speed import configure_speed
from .step import ic_loss

CHECKPOINT_NAME = "last.pt"


def resolve_device(name: str) -> torch.device:
    """``auto`` -> the first CUDA device if there is one, else CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(
            f"train.device={name!r}: not a torch device (auto, cpu, cuda, cuda:1 ...)"
        ) from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"train.device={name!r}: no CUDA device on this machine")
    return device


def lr_factor(step: int, *, warmup_steps: int, total_steps: int, decay: str) -> float:
    """Learning-rate multiplier at optimizer step ``step`` (0-based): linear warm-up, then decay to 0."""
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps
    if decay == "constant" or total_steps <= warmup_steps:
        return 1.0
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    if decay == "linear":
        return 1.0 - progress
    return 0.5 * (1.0 + math.cos(math.pi * progress))


def prepare_items(settings: Settings, bundle: ModelBundle) -> tuple[list[dict[str, Any]], str]:
    """Encode (or reuse) the latent cache of ``data.path``; returns the items and the cache key."""
    assert settings.data.path is not None
    buckets = [parse_bucket(b) for b in settings.data.buckets]
    fingerprint = dataset_fingerprint(settings.data.path)
    extra = {"max_text_tokens": bundle.max_text_tokens}
    key = cache_key(bundle.model_id, buckets, settings.data.control, fingerprint, extra)
    cache_dir = Path(settings.data.cache_dir) / key
    paths = build_cache(
        iter_rows(settings.data.path),
        bundle,
        cache_dir=cache_dir,
        control=settings.data.control,
        buckets=buckets,
        progress=settings.train.progress,
    )
    if settings.data.max_clips > 0:
        paths = paths[: settings.data.max_clips]
    return load_items(paths), key


def split_items(
    items: list[dict[str, Any]], eval_clips: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The last ``eval_clips`` items are held out; at least one item must remain for training."""
    if eval_clips >= len(items):
        raise ConfigError(f"data.eval_clips={eval_clips}: the dataset has only {len(items)} clips")
    cut = len(items) - eval_clips
    return items[:cut], items[cut:]


def _shape_groups(items: list[dict[str, Any]]) -> list[list[int]]:
    groups: dict[tuple[Any, ...], list[int]] = {}
    for i, item in enumerate(items):
        ref = item["reference"]
        key = (tuple(item["target"].shape), None if ref is None else tuple(ref.shape), item["audio_frames"])
        groups.setdefault(key, []).append(i)
    return list(groups.values())


def sample_batch(
    items: list[dict[str, Any]], groups: list[list[int]], batch_size: int, rng: np.random.Generator
) -> list[dict[str, Any]]:
    """``batch_size`` items of one shape group (group chosen by size, items without replacement if possible)."""
    sizes = np.array([len(g) for g in groups], dtype=np.float64)
    group = groups[int(rng.choice(len(groups), p=sizes / sizes.sum()))]
    picks = rng.choice(len(group), size=batch_size, replace=len(group) < batch_size)
    return [items[group[int(p)]] for p in picks]


def _write_report(obj: Any, path: Path) -> None:
    atomic_write_json(path, obj, indent=1, sort_keys=True)


def adapter_digest(model: torch.nn.Module) -> str:
    """SHA-256 of the adapter weights' bytes (equal on every data-parallel rank when in sync)."""
    import hashlib

    digest = hashlib.sha256()
    for name, value in sorted(adapter_state_dict(model).items()):
        digest.update(name.encode())
        digest.update(value.float().contiguous().numpy().tobytes())
    return digest.hexdigest()


def run_identity(settings: Settings, model_id: str, data_key: str) -> dict[str, Any]:
    """What a checkpoint must agree on to be resumed by this run."""
    return {
        "model": model_id,
        "data": data_key,
        "lora.rank": settings.lora.rank,
        "lora.alpha": settings.lora.alpha,
        "lora.dropout": settings.lora.dropout,
        "lora.target_modules": list(settings.lora.target_modules),
        "train.steps": settings.train.steps,
        "train.lr": settings.train.lr,
        "train.batch_size": settings.train.batch_size,
        "train.grad_accum": settings.train.grad_accum,
        "train.seed": settings.train.seed,
        "train.warmup_steps": settings.train.warmup_steps,
        "train.decay": settings.train.decay,
        "train.weight_decay": settings.train.weight_decay,
        "train.max_grad_norm": settings.train.max_grad_norm,
        "train.first_frame_conditioning_p": settings.train.first_frame_conditioning_p,
    }


def check_identity(saved: dict[str, Any], current: dict[str, Any], path: Path) -> None:
    """ConfigError naming the first setting where a checkpoint differs from this run."""
    for key, value in current.items():
        if saved.get(key) != value:
            raise ConfigError(
                f"train.resume: {path} was made with {key}={saved.get(key)!r}, this run has {key}={value!r} "
                "(use another output_dir or train.resume=false)"
            )


def run(settings: Settings, *, stop_after: int = 0) -> dict[str, Any]:
    """Run ``settings.stage``; ``stop_after`` > 0 ends the loop after that many steps of this process
    (a checkpoint is written, as when a time-limited job is preempted). Returns the report."""
    output_dir = Path(settings.output_dir)
    checkpoint_path = output_dir / "checkpoints" / CHECKPOINT_NAME
    if settings.stage == "eval" and not checkpoint_path.exists():
        raise ConfigError(
            f"stage=eval: no checkpoint at {checkpoint_path}; train with this output_dir first "
            "(a training run's report.json has the base model's control gain as eval_before)"
        )
    device = resolve_device(settings.train.device)
    if settings.train.cpu_threads > 0:
        torch.set_num_threads(settings.train.cpu_threads)
    accelerator = None
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        # Launched by accelerate/torchrun: data parallel (DDP, gloo on CPU), each rank its own batches.
        from accelerate import Accelerator

        accelerator = Accelerator(cpu=device.type == "cpu")
        device = accelerator.device
    rank = accelerator.process_index if accelerator is not None else 0
    main_process = rank == 0
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    if settings.train.deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
    bundle = load_model(
        settings.model.preset,
        path=settings.model.path,
        components_path=settings.model.components_path,
        device=device,
        dtype=dtype,
        seed=settings.model.seed,
    )
    for encoder in (bundle.vae, bundle.audio_vae, bundle.text_encoder, bundle.connectors):
        if encoder is not None:
            encoder.to(device)
    items, data_key = prepare_items(settings, bundle)
    # Encoders are done once the cache exists; free their memory before training.
    bundle.vae = bundle.audio_vae = bundle.text_encoder = bundle.connectors = None
    if device.type == "cuda":
        torch.cuda.empty_cache()
    report: dict[str, Any] = {"stage": settings.stage, "cache_key": data_key, "clips": len(items)}
    if settings.stage == "cache":
        _write_report(report, output_dir / "report.json")
        return report

    train_items, eval_items = split_items(items, settings.data.eval_clips)
    transformer = bundle.transformer
    add_lora(
        transformer,
        rank=settings.lora.rank,
        alpha=settings.lora.alpha,
        dropout=settings.lora.dropout,
        target_modules=settings.lora.target_modules,
        dtype=torch.float32,
        seed=settings.train.seed,
    )
    evaluate = dict(
        sigmas=list(settings.eval.sigmas),
        noise_draws=settings.eval.noise_draws,
        seed=settings.eval.seed,
        device=device,
    )
    if settings.stage == "eval":
        state = torch.load(checkpoint_path, map_location="cpu", weights_only=False)
        load_adapter_state(transformer, state["adapter"], source=str(checkpoint_path))
        report["eval"] = control_gain(transformer, eval_items, **evaluate)  # type: ignore[arg-type]
        _write_report(report, output_dir / "report.json")
        return report

    configure_speed(
        transformer,
        gradient_checkpointing=settings.train.gradient_checkpointing,
        uncheckpointed_blocks=settings.train.uncheckpointed_blocks,
        save_attention=settings.train.save_attention,
        compile_blocks=settings.train.compile,
    )
    transformer.train()
    params = lora_parameters(transformer)
    optimizer = torch.optim.AdamW(
        params,
        lr=settings.train.lr,
        weight_decay=settings.train.weight_decay,
        fused=device.type == "cuda",
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda step: lr_factor(
            step,
            warmup_steps=settings.train.warmup_steps,
            total_steps=settings.train.steps,
            decay=settings.train.decay,
        ),
    )
    generator = torch.Generator(device=device).manual_seed(settings.train.seed * 1009 + rank)
    rng = np.random.Generator(np.random.PCG64([settings.train.seed, rank]))
    identity = run_identity(settings, bundle.model_id, data_key)
    losses: list[float] = []
    start_step = 0
    eval_before: dict[str, Any] | None = None
    if settings.train.resume and checkpoint_path.exists():
        state = torch.load(checkpoint_path, map_location="cpu", weights_only=False)
        check_identity(state["identity"], identity, checkpoint_path)
        load_adapter_state(transformer, state["adapter"], source=str(checkpoint_path))
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        generator.set_state(state["generator"])
        rng.bit_generator.state = state["rng"]
        losses = list(state["losses"])
        start_step = int(state["step"])
        eval_before = state.get("eval_before")
    if eval_before is None and eval_items and main_process:
        eval_before = control_gain(transformer, eval_items, **evaluate)  # type: ignore[arg-type]
    model: torch.nn.Module = transformer
    if accelerator is not None:
        model, optimizer = accelerator.prepare(transformer, optimizer)

    def save_checkpoint(step: int) -> None:
        if not main_process:
            return
        atomic_torch_save(
            {
                "identity": identity,
                "step": step,
                "adapter": adapter_state_dict(transformer),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "generator": generator.get_state(),
                "rng": rng.bit_generator.state,
                "losses": losses,
                "eval_before": eval_before,
                "settings": settings.to_dict(),
            },
            checkpoint_path,
        )

    from torch.utils.tensorboard import SummaryWriter
    from tqdm import tqdm

    writer = SummaryWriter(log_dir=str(output_dir / "tensorboard" / f"rank{rank}"), purge_step=start_step)
    groups = _shape_groups(train_items)
    audio_channels = int(transformer.config.audio_in_channels)
    bar = tqdm(
        total=settings.train.steps,
        initial=start_step,
        desc="train",
        unit="step",
        disable=not (settings.train.progress and main_process),
    )
    step = start_step
    steps_this_run = 0
    try:
        while step < settings.train.steps:
            started = time.perf_counter()
            # Dropout (if any) draws from torch's global RNG: seed it per step so resumed runs match.
            torch.manual_seed(settings.train.seed * 1_000_003 + step)
            total = 0.0
            for _ in range(settings.train.grad_accum):
                batch = sample_batch(train_items, groups, settings.train.batch_size, rng)
                loss = ic_loss(
                    model,
                    torch.stack([it["target"] for it in batch]).to(device),
                    None
                    if batch[0]["reference"] is None
                    else torch.stack([it["reference"] for it in batch]).to(device),
                    conditioning_for(batch, device, generator, audio_channels),
                    fps=float(batch[0]["fps"]),
                    reference_downscale=int(batch[0]["reference_downscale"]),
                    reference_temporal_factor=int(batch[0]["reference_temporal_factor"]),
                    generator=generator,
                    first_frame_conditioning_p=settings.train.first_frame_conditioning_p,
                )
                scaled = loss / settings.train.grad_accum
                if accelerator is not None:
                    accelerator.backward(scaled)
                else:
                    scaled.backward()
                total += float(loss.detach()) / settings.train.grad_accum
            grad_norm = torch.nn.utils.clip_grad_norm_(params, settings.train.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            losses.append(total)
            step += 1
            steps_this_run += 1
            seconds = time.perf_counter() - started
            lr = scheduler.get_last_lr()[0]
            if step % settings.train.log_every == 0:
                writer.add_scalar("train/loss", total, step)
                writer.add_scalar("train/lr", lr, step)
                writer.add_scalar("train/grad_norm", float(grad_norm), step)
                writer.add_scalar("train/s_per_step", seconds, step)
            bar.set_postfix(loss=f"{total:.4f}", lr=f"{lr:.2e}", s_step=f"{seconds:.2f}")
            bar.update(1)
            preempted = stop_after > 0 and steps_this_run >= stop_after
            if step % settings.train.checkpoint_every == 0 or step == settings.train.steps or preempted:
                save_checkpoint(step)
            if preempted:
                break
    finally:
        bar.close()
        writer.flush()
        writer.close()

    report.update({"steps": step, "losses": losses, "eval_before": eval_before})
    if accelerator is not None:
        report["rank"] = rank
        report["world_size"] = accelerator.num_processes
        report["adapter_sha256"] = adapter_digest(transformer)
        _write_report(report, output_dir / "ranks" / f"rank{rank}.json")
        accelerator.wait_for_everyone()
    if step < settings.train.steps or not main_process:
        report["stopped_at"] = step
        return report
    metadata = {
        "reference_downscale_factor": int(train_items[0]["reference_downscale"]),
        "reference_temporal_factor": int(train_items[0]["reference_temporal_factor"]),
        "control_job": settings.data.control,
        "base_model": bundle.model_id,
        "target_modules": json.dumps(settings.lora.target_modules),
        "steps": step,
    }
    lora_path = save_lora(
        transformer,
        output_dir / "lora.safetensors",
        rank=settings.lora.rank,
        alpha=settings.lora.alpha,
        metadata=metadata,  # type: ignore[arg-type]
    )
    report["lora"] = str(lora_path)
    if eval_items:
        report["eval_after"] = control_gain(transformer, eval_items, **evaluate)  # type: ignore[arg-type]
    _write_report(report, output_dir / "report.json")
    return report
