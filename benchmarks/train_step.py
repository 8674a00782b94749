"""IC-LoRA training step of the LTX-2.3 transformer shape: s/step, peak memory, FLOPs and MFU.

Random bf16 weights (``model.preset=ltx-2.3-22b``), LoRA r=32 on the video attn1/attn2 q/k/v/out and ff,
batch 1, 1024 text tokens, 84 audio tokens, target 768x768x81 with a full-size reference (12,672 video tokens)
and a reference downscaled by 2 (7,920 tokens). Two configurations run side by side on the same model:

- ``naive``: the obvious diffusers + peft loop (adapter via ``add_adapter``, every block checkpointed, text
  mask passed to attention, plain AdamW);
- ``optimised``: bf16 adapter weights, fused AdamW, no text mask when every text token is valid, blocks
  compiled with ``torch.compile``, attention outputs kept in checkpointed blocks, and as many leading blocks
  left un-checkpointed as the measured memory allows.

MFU = 3 x forward FLOPs (``torch.utils.flop_counter.FlopCounterMode``, attention included, recompute excluded)
/ median step time / bf16 8192^3 matmul rate measured in the same run.

Run on a GPU:  ``PYTHONPATH=. python benchmarks/train_step.py``
CPU smoke run: ``python benchmarks/train_step.py --preset tiny --device cpu --steps 2 --warmup 1``
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from synthgen.describe.compose import compose_packaged
from synthgen.trainer.lora import lora_parameters, resolve_target_modules
from synthgen.trainer.model import load_model
from synthgen.trainer.speed import configure_speed
from synthgen.trainer.step import Conditioning, ic_loss


@dataclass
class Case:
    """One input size: target and reference latent shapes."""

    name: str
    target_shape: tuple[int, int, int, int, int]
    reference_shape: tuple[int, int, int, int, int]
    downscale: int

    @property
    def tokens(self) -> int:
        t, r = self.target_shape, self.reference_shape
        return t[2] * t[3] * t[4] + r[2] * r[3] * r[4]

    def loss(
        self,
        transformer: torch.nn.Module,
        target: torch.Tensor,
        reference: torch.Tensor,
        cond: Conditioning,
        generator: torch.Generator,
    ) -> torch.Tensor:
        """The IC-LoRA loss of one step on this case's inputs (24 fps, no temporal reference factor)."""
        return ic_loss(
            transformer,
            target,
            reference,
            cond,
            fps=24.0,
            reference_downscale=self.downscale,
            reference_temporal_factor=1,
            generator=generator,
        )


def matmul_rate_tflops(device: torch.device, size: int = 8192, repeats: int = 20) -> float:
    """Median bf16 ``size^3`` matmul rate on random data, TFLOP/s (the MFU denominator)."""
    a = torch.randn(size, size, device=device, dtype=torch.bfloat16)
    b = torch.randn(size, size, device=device, dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    times = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        a @ b
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end) / 1e3)
    return 2 * size**3 / statistics.median(times) / 1e12


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def make_inputs(
    case: Case, args: argparse.Namespace, channels: int, text_dims: tuple[int, int], device: torch.device
):
    generator = torch.Generator(device=device).manual_seed(0)
    target = torch.randn(case.target_shape, generator=generator, device=device)
    reference = torch.randn(case.reference_shape, generator=generator, device=device)
    cond = Conditioning(
        text=torch.randn(1, args.text_tokens, text_dims[0], generator=generator, device=device),
        audio_text=torch.randn(1, args.text_tokens, text_dims[1], generator=generator, device=device),
        text_mask=torch.ones(1, args.text_tokens, device=device),
        audio_latents=torch.randn(
            1, args.audio_tokens, args.audio_channels, generator=generator, device=device
        ),
        audio_is_reference=False,
    )
    return target, reference, cond


def run_steps(
    step: Callable[[], float], steps: int, warmup: int, device: torch.device
) -> tuple[float, list[float], float]:
    """Median seconds per step after ``warmup`` steps, all step times, peak GiB during the timed steps."""
    for _ in range(warmup):
        step()
    sync(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        sync(device)
        times.append(time.perf_counter() - start)
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else float("nan")
    return statistics.median(times), times, peak


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--preset", default="ltx-2.3-22b", choices=["ltx-2.3-22b", "tiny"])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--height", type=int, default=768)
    parser.add_argument("--width", type=int, default=768)
    parser.add_argument("--frames", type=int, default=81)
    parser.add_argument("--text-tokens", type=int, default=1024)
    parser.add_argument("--audio-tokens", type=int, default=84)
    parser.add_argument("--rank", type=int, default=32)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--variants", default="naive,optimised")
    parser.add_argument("--cases", default="full,s2")
    parser.add_argument("--uncheckpointed", type=int, default=-1, help="-1: choose from measured memory")
    parser.add_argument("--memory-fraction", type=float, default=0.90)
    parser.add_argument("--save-attention", type=int, default=1)
    parser.add_argument("--compile", type=int, default=1)
    parser.add_argument("--json", default="")
    args = parser.parse_args(argv)

    device = torch.device(args.device)
    on_gpu = device.type == "cuda"
    dtype = torch.bfloat16 if on_gpu else torch.float32
    rate = matmul_rate_tflops(device) if on_gpu else float("nan")
    gpu_name = torch.cuda.get_device_name(device) if on_gpu else "cpu"
    print(
        f"device: {gpu_name}; torch {torch.__version__}; bf16 8192^3 matmul: {rate:.0f} TFLOP/s", flush=True
    )

    bundle = load_model(args.preset, device=device, dtype=dtype)
    transformer: Any = bundle.transformer
    transformer.train()
    cfg = transformer.config
    channels = cfg.in_channels
    args.audio_channels = cfg.audio_in_channels
    text_dims = (
        cfg.num_attention_heads * cfg.attention_head_dim,
        cfg.audio_num_attention_heads * cfg.audio_attention_head_dim,
    )
    params_b = sum(p.numel() for p in transformer.parameters()) / 1e9
    print(f"transformer: {params_b:.2f} B parameters, {cfg.num_layers} blocks", flush=True)

    # The obvious diffusers path: add_adapter with a peft LoraConfig.
    from peft import LoraConfig

    # The targets users train: lora.target_modules of the packaged conf/train.yaml.
    targets = resolve_target_modules(transformer, list(compose_packaged("train").lora.target_modules))
    transformer.add_adapter(LoraConfig(r=args.rank, lora_alpha=args.rank, target_modules=targets))
    lora_dtype = {p.dtype for p in lora_parameters(transformer)}
    print(f"LoRA: rank {args.rank}, {len(targets)} modules, peft default dtype {lora_dtype}", flush=True)

    spatial = cfg.vae_scale_factors[1]
    lat_f = (args.frames - 1) // cfg.vae_scale_factors[0] + 1
    lat_h, lat_w = args.height // spatial, args.width // spatial
    cases = {
        "full": Case(
            "full-size reference", (1, channels, lat_f, lat_h, lat_w), (1, channels, lat_f, lat_h, lat_w), 1
        ),
        "s2": Case(
            "reference s=2",
            (1, channels, lat_f, lat_h, lat_w),
            (1, channels, lat_f, lat_h // 2, lat_w // 2),
            2,
        ),
    }
    selected = [cases[name] for name in args.cases.split(",")]

    # Model FLOPs: one forward counted op by op (no recompute), times 3 for forward + backward.
    flops: dict[str, float] = {}
    for case in selected:
        target, reference, cond = make_inputs(case, args, channels, text_dims, device)
        generator = torch.Generator(device=device).manual_seed(1)
        counter = FlopCounterMode(display=False)
        with torch.no_grad(), counter:
            case.loss(transformer, target, reference, cond, generator)
        flops[case.name] = 3.0 * counter.get_total_flops()
        del target, reference, cond
    results: list[dict[str, Any]] = []

    def measure(variant: str, case: Case, drop_mask: bool, fused: bool) -> None:
        target, reference, cond = make_inputs(case, args, channels, text_dims, device)
        if drop_mask and bool(cond.text_mask is not None and cond.text_mask.all()):
            cond.text_mask = None
        params = lora_parameters(transformer)
        optimizer = (
            torch.optim.AdamW(params, lr=1e-4, fused=True) if fused else torch.optim.AdamW(params, lr=1e-4)
        )
        generator = torch.Generator(device=device).manual_seed(2)

        def step() -> float:
            optimizer.zero_grad(set_to_none=True)
            loss = case.loss(transformer, target, reference, cond, generator)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            return float(loss.detach())

        try:
            median_s, times, peak = run_steps(step, args.steps, args.warmup, device)
        except torch.OutOfMemoryError:
            print(f"{variant:10s} {case.name:20s} out of memory", flush=True)
            results.append({"variant": variant, "case": case.name, "oom": True})
            optimizer.zero_grad(set_to_none=True)
            torch.cuda.empty_cache()
            return
        mfu = flops[case.name] / median_s / (rate * 1e12) if on_gpu else float("nan")
        row = {
            "variant": variant,
            "case": case.name,
            "tokens": case.tokens,
            "s_per_step": median_s,
            "step_times_s": times,
            "peak_gib": peak,
            "flops": flops[case.name],
            "mfu": mfu,
            "matmul_tflops": rate,
            "device": gpu_name,
        }
        results.append(row)
        print(
            f"{variant:10s} {case.name:20s} tokens {case.tokens:6d}  {median_s:7.3f} s/step  "
            f"peak {peak:5.1f} GiB  {flops[case.name] / 1e12:7.1f} TFLOP/step  MFU {mfu:6.1%}",
            flush=True,
        )
        optimizer.zero_grad(set_to_none=True)

    variants = args.variants.split(",")
    if "naive" in variants:
        transformer.enable_gradient_checkpointing()
        for case in selected:
            measure("naive", case, drop_mask=False, fused=False)
    if "optimised" in variants:
        for param in lora_parameters(transformer):
            param.data = param.data.to(dtype)
        policy = configure_speed(
            transformer,
            gradient_checkpointing=True,
            uncheckpointed_blocks=0,
            save_attention=bool(args.save_attention),
            compile_blocks=bool(args.compile),
        )
        assert policy is not None
        for case in selected:
            keep = args.uncheckpointed
            if keep < 0 and on_gpu:
                keep = choose_uncheckpointed(transformer, policy, case, args, channels, text_dims, device)
            policy.uncheckpointed_blocks = max(keep, 0)
            print(
                f"optimised  {case.name}: {policy.uncheckpointed_blocks} of {cfg.num_layers} blocks "
                "un-checkpointed",
                flush=True,
            )
            measure("optimised", case, drop_mask=True, fused=on_gpu)

    print("\nvariant    case                   tokens   s/step  peak GiB   MFU")
    for row in results:
        if row.get("oom"):
            print(f"{row['variant']:10s} {row['case']:20s}   out of memory")
            continue
        print(
            f"{row['variant']:10s} {row['case']:20s} {row['tokens']:7d} {row['s_per_step']:8.3f} "
            f"{row['peak_gib']:9.1f} {row['mfu']:6.1%}"
        )
    by_key = {(r["variant"], r["case"]): r for r in results if not r.get("oom")}
    for case in selected:
        naive, fast = by_key.get(("naive", case.name)), by_key.get(("optimised", case.name))
        if naive and fast:
            print(
                f"speed-up {case.name}: {naive['s_per_step'] / fast['s_per_step']:.2f}x "
                f"(MFU {naive['mfu']:.1%} -> {fast['mfu']:.1%})"
            )
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=1)
    return 0


def choose_uncheckpointed(
    transformer: Any,
    policy: Any,
    case: Case,
    args: argparse.Namespace,
    channels: int,
    text_dims: tuple[int, int],
    device: torch.device,
    probe: int = 2,
) -> int:
    """Leading blocks to leave un-checkpointed: measure peak memory with 0 and ``probe`` of them, extrapolate."""
    target, reference, cond = make_inputs(case, args, channels, text_dims, device)
    cond.text_mask = None
    generator = torch.Generator(device=device).manual_seed(3)
    peaks = []
    for keep in (0, probe):
        policy.uncheckpointed_blocks = keep
        torch.cuda.reset_peak_memory_stats(device)
        loss = case.loss(transformer, target, reference, cond, generator)
        loss.backward()
        for param in lora_parameters(transformer):
            param.grad = None
        sync(device)
        peaks.append(torch.cuda.max_memory_allocated(device))
    per_block = max((peaks[1] - peaks[0]) / probe, 1.0)
    budget = args.memory_fraction * torch.cuda.get_device_properties(device).total_memory - peaks[0]
    # Optimizer state and allocator fragmentation need room beyond the probe's peak.
    keep = int(budget // per_block)
    print(
        f"memory probe {case.name}: peak {peaks[0] / 2**30:.1f} GiB all checkpointed, "
        f"{per_block / 2**30:.2f} GiB per un-checkpointed block",
        flush=True,
    )
    return max(0, min(keep, transformer.config.num_layers))


if __name__ == "__main__":
    sys.exit(main())
