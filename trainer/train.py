"""The IC-LoRA training recipe, top to bottom: setup, train, save, evaluate.

``run(settings)`` does one stage (``cache``, ``train`` or ``eval``) and returns a report dict that is also
written to ``<output_dir>/report.json``. The pieces, in the order ``run`` calls them:

- setup: the device (and the data-parallel rank when launched by accelerate/torchrun), the model bundle,
  the latent cache, the adapter; for training also the optimizer, schedule and random generators, resumed
  from ``checkpoints/last.safetensors`` when it exists;
- train: the loop, one optimizer step per :func:`train_step`, a checkpoint every ``train.checkpoint_every``
  steps; the first non-finite loss stops the run with a one-line error and writes no LoRA;
- save: the checkpoint, the exported LoRA (LTX/ComfyUI keys) and the report;
- evaluate: the control gain on held-out clips, before and after training.

Outputs of ``train``: ``lora.safetensors``, ``checkpoints/last.safetensors``, ``tensorboard/`` logs and
``report.json``.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from synthgen.errors import ConfigError
from synthgen.fileio import atomic_write_json

from .cache import CachedItem, build_cache, cache_key, dataset_fingerprint, load_items
from .checkpoint import CHECKPOINT_NAME, Checkpoint, load_checkpoint, save_checkpoint
from .config import Settings, check_output_dir, parse_bucket
from .data import iter_rows
from .evaluate import conditioning_for, control_gain
from .lora import (
    adapter_state_dict,
    add_lora,
    init_from_lora,
    load_adapter_state,
    lora_metadata,
    lora_parameters,
    save_lora,
)
from .model import LTX23_TRANSFORMER_CONFIG, ModelBundle, load_model
from .offload import BlockOffload, block_to_host, offloaded_indices
from .speed import (
    BlockCheckpointing,
    BudgetMeasurement,
    adapter_autocast,
    check_base_precision,
    configure_speed,
    make_optimizer,
    move_except_blocks,
    plan_within_budget,
    quantize_base,
    quantize_block,
    resolve_auto,
    resolve_compile,
)
from .step import ic_loss


def run(settings: Settings, *, stop_after: int = 0) -> dict[str, Any]:
    """Run ``settings.stage``; ``stop_after`` > 0 ends the loop after that many steps of this process
    (a checkpoint is written, as when a time-limited job is preempted). Returns the report."""
    # The CLI's check, for library callers too: never write into a non-empty folder that is not ours.
    check_output_dir(settings)
    paths = OutputPaths(Path(settings.output_dir))
    if settings.stage == "eval" and not paths.checkpoint.exists():
        raise ConfigError(
            f"stage=eval: no checkpoint at {paths.checkpoint}; train with this output_dir first "
            "(a training run's report.json has the base model's control gain as eval_before)"
        )
    runtime = setup_runtime(settings)
    bundle = setup_model(settings, runtime)
    items, data_key = prepare_items(settings, bundle)
    validator = setup_validation(settings, bundle, runtime)
    free_encoders(bundle, runtime)
    report: dict[str, Any] = {"stage": settings.stage, "cache_key": data_key, "clips": len(items)}
    if settings.stage == "cache":
        return write_report(report, paths.report)

    train_items, eval_items = split_items(items, settings.data.eval_clips)
    transformer = setup_adapter(bundle.transformer, settings)
    if settings.stage == "eval":
        load_adapter_state(
            transformer, load_checkpoint(paths.checkpoint).adapter, source=str(paths.checkpoint)
        )
        report["eval"] = evaluate(transformer, eval_items, settings, runtime.device)
        return write_report(report, paths.report)

    recipe = setup_training(settings, runtime, transformer, bundle.model_id, data_key, train_items, paths)
    if recipe.state.eval_before is None and eval_items and runtime.main_process:
        recipe.state.eval_before = evaluate(transformer, eval_items, settings, runtime.device)
    if validator is not None and recipe.state.step == 0:
        report["validation_before"] = validator.run(0)
    recipe.wrap_for_data_parallel()
    train(recipe, stop_after=stop_after, on_step=None if validator is None else validator.on_step)
    report.update(
        {"steps": recipe.state.step, "losses": recipe.state.losses, "eval_before": recipe.state.eval_before}
    )
    if not save_outputs(recipe, report):
        return report
    if eval_items:
        report["eval_after"] = evaluate(transformer, eval_items, settings, runtime.device)
    if validator is not None:
        report["validation_after"] = validator.final(recipe.state.step)
    return write_report(report, paths.report)


# ------------------------------------------------------------------------------------------------ setup


@dataclass(frozen=True)
class OutputPaths:
    """Where a run writes, under ``output_dir``."""

    root: Path

    @property
    def checkpoint(self) -> Path:
        return self.root / "checkpoints" / CHECKPOINT_NAME

    @property
    def report(self) -> Path:
        return self.root / "report.json"

    @property
    def lora(self) -> Path:
        return self.root / "lora.safetensors"


@dataclass(frozen=True)
class Runtime:
    """Where this process runs: its device and dtype, and its rank when launched for data parallelism."""

    device: torch.device
    dtype: torch.dtype
    accelerator: Any | None
    rank: int

    @property
    def main_process(self) -> bool:
        return self.rank == 0


def setup_runtime(settings: Settings) -> Runtime:
    """Device, threads, determinism and (under accelerate/torchrun) the data-parallel process group."""
    device = resolve_device(settings.train.device)
    if settings.train.cpu_threads > 0:
        torch.set_num_threads(settings.train.cpu_threads)
    accelerator = None
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        # Launched by accelerate/torchrun: data parallel (DDP, gloo on CPU), each rank its own batches.
        from accelerate import Accelerator

        accelerator = Accelerator(cpu=device.type == "cpu")
        device = accelerator.device
    if settings.train.deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    rank = accelerator.process_index if accelerator is not None else 0
    return Runtime(device=device, dtype=dtype, accelerator=accelerator, rank=rank)


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


def setup_model(settings: Settings, runtime: Runtime) -> ModelBundle:
    """The transformer in the runtime's dtype (its block linears as ``train.base_precision`` says, the frozen
    weights of ``train.offload_blocks`` blocks in host memory), and the encoders on its device (for the cache).

    With 8-bit weights or offloaded blocks on CUDA the bfloat16 transformer never has to fit the GPU whole: the
    random 22B preset is materialised, quantised and offloaded block by block on the GPU; loaded weights are
    read on the CPU and then moved, quantised and offloaded block by block.
    """
    t, device = settings.train, runtime.device
    check_base_precision(t.base_precision, device)
    offload = device.type == "cuda" and t.offload_blocks > 0
    by_block = device.type == "cuda" and (t.base_precision in ("int8_weights", "float8_weights") or offload)
    random_by_block = by_block and settings.model.preset == "ltx-2.3-22b" and t.base_precision != "float8"

    def prepare(num_blocks: int) -> Callable[[int, torch.nn.Module], None]:
        offloaded = set(offloaded_indices(num_blocks, t.offload_blocks)) if offload else set()

        def one(index: int, block: torch.nn.Module) -> None:
            quantize_block(block, t.base_precision, f"transformer_blocks.{index}.")
            if index in offloaded:
                block_to_host(block)

        return one

    bundle = load_model(
        settings.model.preset,
        path=settings.model.path,
        components_path=settings.model.components_path,
        checkpoint=settings.model.checkpoint,
        gemma=settings.model.gemma,
        device="cpu" if by_block and not random_by_block else device,
        dtype=runtime.dtype,
        seed=settings.model.seed,
        prepare_block=prepare(int(LTX23_TRANSFORMER_CONFIG["num_layers"])) if random_by_block else None,
    )
    transformer: Any = bundle.transformer
    if random_by_block:
        move_except_blocks(transformer, device)
    else:
        quantize_base(
            transformer, t.base_precision, device, after=prepare(len(transformer.transformer_blocks))
        )
    for encoder in (bundle.vae, bundle.audio_vae, bundle.text_encoder, bundle.connectors):
        if encoder is not None:
            encoder.to(device)
    return bundle


def prepare_items(settings: Settings, bundle: ModelBundle) -> tuple[list[CachedItem], str]:
    """Encode (or reuse) the latent cache of ``data.path``; returns the items and the cache key."""
    assert settings.data.path is not None
    buckets = [parse_bucket(b) for b in settings.data.buckets]
    fingerprint = dataset_fingerprint(settings.data.path)
    extra = {"max_text_tokens": bundle.max_text_tokens}
    key = cache_key(bundle.model_id, buckets, settings.data.control, fingerprint, extra)
    paths = build_cache(
        iter_rows(settings.data.path),
        bundle,
        cache_dir=Path(settings.data.cache_dir) / key,
        control=settings.data.control,
        buckets=buckets,
        progress=settings.train.progress,
    )
    if settings.data.max_clips > 0:
        paths = paths[: settings.data.max_clips]
    return load_items(paths), key


def setup_validation(settings: Settings, bundle: ModelBundle, runtime: Runtime) -> Any:
    """``train.validation`` (``synthgen.trainer.validation``): on the main process of a training run, a
    validator that keeps the encoders for generating held-out clips; None when off."""
    if settings.stage != "train" or not runtime.main_process:
        return None
    from .validation import make_validator

    return make_validator(settings, bundle, runtime.device)


def free_encoders(bundle: ModelBundle, runtime: Runtime) -> None:
    """Encoders are done once the cache exists; free their memory before training."""
    bundle.vae = bundle.audio_vae = bundle.text_encoder = bundle.connectors = None
    if runtime.device.type == "cuda":
        torch.cuda.empty_cache()


def split_items(items: list[CachedItem], eval_clips: int) -> tuple[list[CachedItem], list[CachedItem]]:
    """The last ``eval_clips`` items are held out; at least one item must remain for training."""
    if eval_clips >= len(items):
        raise ConfigError(f"data.eval_clips={eval_clips}: the dataset has only {len(items)} clips")
    cut = len(items) - eval_clips
    return items[:cut], items[cut:]


def setup_adapter(transformer: torch.nn.Module, settings: Settings) -> torch.nn.Module:
    """Inject the LoRA (float32 weights, B = 0, A seeded by ``train.seed``); the base is frozen."""
    add_lora(
        transformer,
        rank=settings.lora.rank,
        alpha=settings.lora.alpha,
        dropout=settings.lora.dropout,
        target_modules=settings.lora.targets_for(settings.data.control),
        dtype=torch.float32,
        seed=settings.train.seed,
        # The compute device (that of the layers outside the blocks): offloaded blocks' weights are on the host.
        device=_compute_device(transformer),
    )
    if settings.lora.init_from is not None:
        init_from_lora(
            transformer, settings.lora.init_from, rank=settings.lora.rank, alpha=settings.lora.alpha
        )
    return transformer


def _compute_device(transformer: Any) -> torch.device:
    device: torch.device = transformer.proj_out.weight.device
    return device


@dataclass
class TrainState:
    """What changes from step to step, and what a checkpoint saves to continue bit for bit."""

    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    generator: torch.Generator  # noise, sigmas and first-frame draws
    rng: np.random.Generator  # batch sampling
    step: int = 0
    losses: list[float] = field(default_factory=list)
    eval_before: dict[str, Any] | None = None


@dataclass
class Recipe:
    """Everything the loop and the savers read: settings, runtime, model, data and state."""

    settings: Settings
    runtime: Runtime
    transformer: torch.nn.Module
    model: torch.nn.Module  # the transformer, wrapped by DDP when data parallel
    params: list[torch.nn.Parameter]
    train_items: list[CachedItem]
    groups: list[list[int]]
    audio_channels: int  # of the transformer's audio stream (noise for video-only jobs)
    identity: dict[str, Any]
    paths: OutputPaths
    state: TrainState
    checkpointing: BlockCheckpointing | None = None  # the block checkpointing policy (None = off)
    offload: BlockOffload | None = None  # train.offload_blocks: blocks whose frozen weights live on the host
    skip_audio_branch: bool = False  # video-only jobs: cross-modal attention off (train.skip_audio_branch)
    budget_plan: dict[str, Any] | None = None  # what train.memory_budget_gib measured and chose

    def wrap_for_data_parallel(self) -> None:
        """Under accelerate, wrap the model (DDP) and the optimizer; a no-op in a single process."""
        if self.runtime.accelerator is not None:
            self.model, self.state.optimizer = self.runtime.accelerator.prepare(
                self.transformer, self.state.optimizer
            )


def setup_training(
    settings: Settings,
    runtime: Runtime,
    transformer: torch.nn.Module,
    model_id: str,
    data_key: str,
    train_items: list[CachedItem],
    paths: OutputPaths,
) -> Recipe:
    """Speed settings, AdamW over the adapter, warm-up + decay schedule, seeded generators; resumed from
    the checkpoint when ``train.resume`` and one exists."""
    t = settings.train
    policy = configure_speed(
        transformer,
        gradient_checkpointing=t.gradient_checkpointing,
        uncheckpointed_blocks=t.uncheckpointed_blocks,
        save_attention=t.save_attention,
        compile_blocks=resolve_compile(t.compile, t.base_precision, runtime.device),
    )
    offload = None
    if t.offload_blocks > 0 and runtime.device.type == "cuda":
        blocks: Any = getattr(transformer, "transformer_blocks")  # noqa: B009
        offload = BlockOffload(blocks, offloaded_indices(len(blocks), t.offload_blocks), runtime.device)
    if policy is not None and t.memory_budget_gib > 0 and runtime.device.type == "cuda":
        # The first step measures (block 0 kept, 1 attention kept, 2 plain); settle_memory_budget decides.
        policy.measuring = True
    transformer.train()
    config: Any = transformer.config
    params = lora_parameters(transformer)
    optimizer = make_optimizer(
        t.optimizer, params, lr=t.lr, weight_decay=t.weight_decay, device=runtime.device
    )
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda step: lr_factor(step, warmup_steps=t.warmup_steps, total_steps=t.steps, decay=t.decay),
    )
    state = TrainState(
        optimizer=optimizer,
        scheduler=schedule,
        generator=torch.Generator(device=runtime.device).manual_seed(t.seed * 1009 + runtime.rank),
        rng=np.random.Generator(np.random.PCG64([t.seed, runtime.rank])),
    )
    recipe = Recipe(
        settings=settings,
        runtime=runtime,
        transformer=transformer,
        model=transformer,
        params=params,
        train_items=train_items,
        groups=shape_groups(train_items),
        audio_channels=int(config.audio_in_channels),
        identity=run_identity(settings, model_id, data_key),
        paths=paths,
        state=state,
        checkpointing=policy,
        offload=offload,
        skip_audio_branch=resolve_auto(t.skip_audio_branch, runtime.device),
    )
    if t.resume and paths.checkpoint.exists():
        resume(recipe, load_checkpoint(paths.checkpoint))
    return recipe


def resume(recipe: Recipe, checkpoint: Checkpoint) -> None:
    """Continue from ``checkpoint``: same identity required, then adapter, optimizer, schedule, generators."""
    path = recipe.paths.checkpoint
    check_identity(checkpoint.identity, recipe.identity, path)
    load_adapter_state(recipe.transformer, checkpoint.adapter, source=str(path))
    state = recipe.state
    load_optimizer_state(state.optimizer, checkpoint.optimizer)
    state.scheduler.load_state_dict(checkpoint.scheduler)
    state.generator.set_state(checkpoint.generator)
    state.rng.bit_generator.state = checkpoint.rng
    state.step, state.losses, state.eval_before = checkpoint.step, checkpoint.losses, checkpoint.eval_before


def optimizer_state_for_file(optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """The optimizer's ``state_dict`` with plain tensors and numbers only: torchao's 8-bit AdamW keeps its
    moments as quantised tensor subclasses (stored dequantised, float32) and its learning rate as a tensor."""
    saved = optimizer.state_dict()
    groups = [
        {k: float(v) if isinstance(v, torch.Tensor) else v for k, v in g.items()}
        for g in saved["param_groups"]
    ]
    state = {
        index: {k: _plain(v) if isinstance(v, torch.Tensor) else v for k, v in values.items()}
        for index, values in saved["state"].items()
    }
    return {"state": state, "param_groups": groups}


def _numbers(value: Any) -> Any:
    """``value`` with 0-d tensors (torchao's tensor learning rates in a schedule's state) as floats."""
    if isinstance(value, torch.Tensor) and value.ndim == 0:
        return float(value)
    if isinstance(value, dict):
        return {k: _numbers(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_numbers(v) for v in value)
    return value


def _plain(value: torch.Tensor) -> torch.Tensor:
    dequantize = getattr(value, "dequantize", None)
    return dequantize().float() if type(value) is not torch.Tensor and dequantize is not None else value


def load_optimizer_state(optimizer: torch.optim.Optimizer, saved: dict[str, Any]) -> None:
    """Inverse of :func:`optimizer_state_for_file`: torchao's 8-bit AdamW gets its tensor learning rate and its
    quantised moments back (re-quantised from the stored float32 values)."""
    optimizer.load_state_dict(saved)
    new_buffer = getattr(optimizer, "_new_buffer", None)
    if new_buffer is None:
        return
    for group in optimizer.param_groups:
        group["lr"] = torch.tensor(float(group["lr"]))
        for param in group["params"]:
            values = optimizer.state[param]
            for key, signed in (("exp_avg", True), ("exp_avg_sq", False), ("max_exp_avg_sq", False)):
                if key in values and type(values[key]) is torch.Tensor:
                    buffer = new_buffer(param, signed)
                    buffer.copy_(values[key].to(param.device))
                    values[key] = buffer


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


def run_identity(settings: Settings, model_id: str, data_key: str) -> dict[str, Any]:
    """What a checkpoint must agree on to be resumed by this run."""
    lora, t = settings.lora, settings.train
    return {
        "model": model_id,
        "data": data_key,
        "lora.rank": lora.rank,
        "lora.alpha": lora.alpha,
        "lora.dropout": lora.dropout,
        "lora.target_modules": list(lora.targets_for(settings.data.control)),
        "train.steps": t.steps,
        "train.lr": t.lr,
        "train.batch_size": t.batch_size,
        "train.grad_accum": t.grad_accum,
        "train.seed": t.seed,
        "train.warmup_steps": t.warmup_steps,
        "train.decay": t.decay,
        "train.weight_decay": t.weight_decay,
        "train.max_grad_norm": t.max_grad_norm,
        "train.first_frame_conditioning_p": t.first_frame_conditioning_p,
    }


def check_identity(saved: dict[str, Any], current: dict[str, Any], path: Path) -> None:
    """ConfigError naming the first setting where a checkpoint differs from this run."""
    for key, value in current.items():
        if saved.get(key) != value:
            raise ConfigError(
                f"train.resume: {path} was made with {key}={saved.get(key)!r}, this run has {key}={value!r} "
                "(use another output_dir or train.resume=false)"
            )


# ------------------------------------------------------------------------------------------------ train


def train(recipe: Recipe, *, stop_after: int = 0, on_step: Callable[[int], object] | None = None) -> None:
    """Step until ``train.steps`` (or ``stop_after`` steps of this process), logging and checkpointing;
    ``on_step(step)`` runs after each optimizer step (validation)."""
    from torch.utils.tensorboard import SummaryWriter
    from tqdm import tqdm

    t, state, main = recipe.settings.train, recipe.state, recipe.runtime.main_process
    log_dir = recipe.paths.root / "tensorboard" / f"rank{recipe.runtime.rank}"
    writer = SummaryWriter(log_dir=str(log_dir), purge_step=state.step)
    bar = tqdm(
        total=t.steps, initial=state.step, desc="train", unit="step", disable=not (t.progress and main)
    )
    steps_this_run = 0
    try:
        while state.step < t.steps:
            started = time.perf_counter()
            loss, grad_norm = train_step(recipe)
            state.losses.append(loss)
            state.step += 1
            steps_this_run += 1
            seconds, lr = time.perf_counter() - started, state.scheduler.get_last_lr()[0]
            if state.step % t.log_every == 0:
                for name, value in (
                    ("loss", loss),
                    ("lr", lr),
                    ("grad_norm", grad_norm),
                    ("s_per_step", seconds),
                ):
                    writer.add_scalar(f"train/{name}", value, state.step)
            bar.set_postfix(loss=f"{loss:.4f}", lr=f"{lr:.2e}", s_step=f"{seconds:.2f}")
            bar.update(1)
            preempted = 0 < stop_after <= steps_this_run
            if state.step % t.checkpoint_every == 0 or state.step == t.steps or preempted:
                write_checkpoint(recipe)
            if on_step is not None:
                on_step(state.step)
            if preempted:
                break
    finally:
        bar.close()
        writer.flush()
        writer.close()


def train_step(recipe: Recipe) -> tuple[float, float]:
    """One optimizer step over ``train.grad_accum`` micro-batches; returns (mean loss, gradient norm).

    A non-finite loss or gradient stops the run before the optimizer touches the adapter (ConfigError).
    """
    t, state, device = recipe.settings.train, recipe.state, recipe.runtime.device
    # Dropout (if any) draws from torch's global RNG: seed it per step so resumed runs match.
    torch.manual_seed(t.seed * 1_000_003 + state.step)
    measuring = recipe.checkpointing is not None and recipe.checkpointing.measuring
    if measuring:
        torch.cuda.reset_peak_memory_stats(device)
        allocated_before = torch.cuda.memory_allocated(device)
    total = 0.0
    for _ in range(t.grad_accum):
        batch = sample_batch(recipe.train_items, recipe.groups, t.batch_size, state.rng)
        with adapter_autocast(t.adapter_compute, device):
            loss = ic_loss(
                recipe.model,
                torch.stack([it.target for it in batch]).to(device),
                _drop_reference(_stack_references(batch, device), t.reference_dropout_p, state.generator),
                conditioning_for(batch, device, state.generator, recipe.audio_channels),
                fps=float(batch[0].fps),
                reference_downscale=batch[0].reference_downscale,
                reference_temporal_factor=batch[0].reference_temporal_factor,
                generator=state.generator,
                first_frame_conditioning_p=t.first_frame_conditioning_p,
                sampler=t.timestep_sampler,
                per_sample=t.loss_average == "per_sample",
                skip_audio_branch=recipe.skip_audio_branch,
            )
        scaled = loss / t.grad_accum
        if recipe.runtime.accelerator is not None:
            recipe.runtime.accelerator.backward(scaled)
        else:
            scaled.backward()
        total += float(loss.detach()) / t.grad_accum
    grad_norm = float(torch.nn.utils.clip_grad_norm_(recipe.params, t.max_grad_norm))
    # The gradient norm is the same on every data-parallel rank (gradients are all-reduced), so every rank
    # stops at the same step.
    if not (math.isfinite(total) and math.isfinite(grad_norm)):
        raise ConfigError(
            f"train.lr={t.lr}: step {state.step + 1} has loss {total:.4g} and gradient norm {grad_norm:.4g} (not "
            f"finite): the run diverged; lower train.lr or lora.alpha ({recipe.settings.lora.alpha:g}); no LoRA "
            "was written"
        )
    state.optimizer.step()
    state.scheduler.step()
    state.optimizer.zero_grad(set_to_none=True)
    if measuring:
        settle_memory_budget(recipe, allocated_before)
    return total, grad_norm


def settle_memory_budget(recipe: Recipe, allocated_before: int) -> None:
    """After the measuring step: un-checkpointed blocks and blocks keeping attention outputs, as many as
    ``train.memory_budget_gib`` allows (``speed.plan_within_budget``), from the memory this step measured."""
    policy, device, t = recipe.checkpointing, recipe.runtime.device, recipe.settings.train
    assert policy is not None
    policy.measuring = False
    kept = policy.kept_bytes
    measured = BudgetMeasurement(
        peak_bytes=torch.cuda.max_memory_allocated(device),
        step_growth_bytes=torch.cuda.memory_allocated(device) - allocated_before,
        kept_block_bytes=kept.get(0, 0) - kept.get(2, 0),
        attention_block_bytes=kept.get(1, 0) - kept.get(2, 0),
    )
    policy.uncheckpointed_blocks, policy.attention_blocks = plan_within_budget(
        measured, t.memory_budget_gib * 2**30, len(policy.index), save_attention=t.save_attention
    )
    recipe.budget_plan = {
        "uncheckpointed_blocks": policy.uncheckpointed_blocks,
        "attention_blocks": policy.attention_blocks,
        **{f"{key}_gib": value / 2**30 for key, value in vars(measured).items()},
    }


def _drop_reference(
    reference: torch.Tensor | None, probability: float, generator: torch.Generator
) -> torch.Tensor | None:
    """``train.reference_dropout_p``: the micro-batch trains without its video reference with this probability
    (drawn only when > 0, so runs without dropout keep their random streams)."""
    if reference is None or probability <= 0.0:
        return reference
    draw = float(torch.rand(1, generator=generator, device=generator.device))
    return None if draw < probability else reference


def _stack_references(batch: list[CachedItem], device: torch.device) -> torch.Tensor | None:
    references = [it.reference for it in batch]
    if references[0] is None:
        return None
    return torch.stack([r for r in references if r is not None]).to(device)


def shape_groups(items: list[CachedItem]) -> list[list[int]]:
    """Indices of items whose tensors have equal shapes (a batch is drawn from one group)."""
    groups: dict[tuple[Any, ...], list[int]] = {}
    for i, item in enumerate(items):
        ref = None if item.reference is None else tuple(item.reference.shape)
        groups.setdefault((tuple(item.target.shape), ref, item.audio_frames), []).append(i)
    return list(groups.values())


def sample_batch(
    items: list[CachedItem], groups: list[list[int]], batch_size: int, rng: np.random.Generator
) -> list[CachedItem]:
    """``batch_size`` items of one shape group (group chosen by size, items without replacement if possible)."""
    sizes = np.array([len(g) for g in groups], dtype=np.float64)
    group = groups[int(rng.choice(len(groups), p=sizes / sizes.sum()))]
    picks = rng.choice(len(group), size=batch_size, replace=len(group) < batch_size)
    return [items[group[int(p)]] for p in picks]


# ------------------------------------------------------------------------------------------------- save


def write_checkpoint(recipe: Recipe) -> None:
    """``checkpoints/last.safetensors`` from the main process (the others hold the same adapter)."""
    if not recipe.runtime.main_process:
        return
    state = recipe.state
    checkpoint = Checkpoint(
        step=state.step,
        losses=state.losses,
        eval_before=state.eval_before,
        adapter=adapter_state_dict(recipe.transformer),
        optimizer=optimizer_state_for_file(state.optimizer),
        scheduler=_numbers(state.scheduler.state_dict()),
        generator=state.generator.get_state(),
        rng=dict(state.rng.bit_generator.state),
        identity=recipe.identity,
        settings=recipe.settings.to_dict(),
    )
    save_checkpoint(checkpoint, recipe.paths.checkpoint)


def save_outputs(recipe: Recipe, report: dict[str, Any]) -> bool:
    """Per-rank reports under data parallelism; then, on the main process of a finished run, the LoRA.

    Returns whether this process goes on to evaluate and write ``report.json``.
    """
    settings, runtime, step = recipe.settings, recipe.runtime, recipe.state.step
    if runtime.accelerator is not None:
        report.update(
            rank=runtime.rank,
            world_size=runtime.accelerator.num_processes,
            adapter_sha256=adapter_digest(recipe.transformer),
        )
        atomic_write_json(
            recipe.paths.root / "ranks" / f"rank{runtime.rank}.json", report, indent=1, sort_keys=True
        )
        runtime.accelerator.wait_for_everyone()
    if step < settings.train.steps or not runtime.main_process:
        report["stopped_at"] = step
        return False
    first = recipe.train_items[0]
    # Continuing an existing LoRA keeps its metadata; this run's facts replace the keys they share.
    init_from = settings.lora.init_from
    metadata = {
        **(lora_metadata(init_from) if init_from is not None else {}),
        **({"init_from": Path(init_from).name} if init_from is not None else {}),
        "reference_downscale_factor": first.reference_downscale,
        "reference_temporal_factor": first.reference_temporal_factor,
        # The names ltx-trainer writes and ltx-pipelines reads (one factor per dataset: cache.check_same_factors).
        "reference_spatial_scale_factor": first.reference_downscale,
        "reference_temporal_scale_factor": first.reference_temporal_factor,
        "control_job": settings.data.control,
        "base_model": recipe.identity["model"],
        "target_modules": json.dumps(list(settings.lora.targets_for(settings.data.control))),
        "steps": step,
    }
    path = save_lora(
        recipe.transformer,
        recipe.paths.lora,
        rank=settings.lora.rank,
        alpha=settings.lora.alpha,
        metadata=metadata,
    )
    report["lora"] = str(path)
    return True


def write_report(report: dict[str, Any], path: Path) -> dict[str, Any]:
    """Write ``report.json`` atomically; returns the report."""
    atomic_write_json(path, report, indent=1, sort_keys=True)
    return report


def adapter_digest(model: torch.nn.Module) -> str:
    """SHA-256 of the adapter weights' bytes (equal on every data-parallel rank when in sync)."""
    digest = hashlib.sha256()
    for name, value in sorted(adapter_state_dict(model).items()):
        digest.update(name.encode())
        digest.update(value.float().contiguous().numpy().tobytes())
    return digest.hexdigest()


# --------------------------------------------------------------------------------------------- evaluate


def evaluate(
    transformer: torch.nn.Module, items: list[CachedItem], settings: Settings, device: torch.device
) -> dict[str, Any]:
    """The control gain on held-out ``items`` with the fixed noise of ``eval.*`` (``synthgen.trainer.evaluate``)."""
    e = settings.eval
    return control_gain(
        transformer, items, sigmas=list(e.sigmas), noise_draws=e.noise_draws, seed=e.seed, device=device
    )
