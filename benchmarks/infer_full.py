"""``synthgen-infer``'s generation path at the full LTX-2.3 shape: seconds per video and peak GPU memory.

The transformer is LTX-2.3's (18.99 B parameters, ``build_ltx23_random``: random bf16 weights), the video
VAE, audio VAE and vocoder are diffusers' default (LTX-2 size) configurations with random weights, and the
text path is a Gemma-3 of the real width (3840) cut to 2 layers with LTX-2.3-shaped connectors (it runs once
per video; the denoising loop is what costs). One 768x768x81 video with a full-size reference (downscale 1)
goes through ``synthgen.trainer.infer.generate_clip`` with ``conf/infer/default.yaml``'s sampling settings
(30 steps, classifier-free guidance 3, STG 1), after a one-step warm-up.

GPU:  ``PYTHONPATH=/tmp/site python benchmarks/infer_full.py --json out.json``
CPU smoke run of the same code on the tiny model: ``python benchmarks/infer_full.py --preset tiny``
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import numpy as np
import torch

from synthgen.describe.compose import compose_packaged
from synthgen.trainer.infer import ClipJob, Sampling, build_pipeline, generate_clip
from synthgen.trainer.model import ModelBundle, build_ltx23_random, build_tiny, build_tiny_text_encoder


def full_bundle(device: torch.device) -> ModelBundle:
    """The LTX-2.3 transformer with full-size VAEs, vocoder and a 2-layer Gemma-3 of the real width."""
    from diffusers import AutoencoderKLLTX2Audio, AutoencoderKLLTX2Video
    from diffusers.pipelines.ltx2.connectors import LTX2TextConnectors
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    bundle = build_ltx23_random(device, torch.bfloat16)
    _, tokenizer = build_tiny_text_encoder()
    tokenizer.model_max_length = 1024
    # diffusers' and transformers' model classes are typed as Any here (mypy does not see nn.Module in them).
    video_vae: Any = AutoencoderKLLTX2Video
    audio_vae: Any = AutoencoderKLLTX2Audio
    gemma: Any = Gemma3ForCausalLM
    with torch.device(device):
        bundle.vae = video_vae().to(torch.bfloat16).eval()
        bundle.audio_vae = audio_vae().to(torch.bfloat16).eval()
        text = Gemma3TextConfig(
            vocab_size=259, hidden_size=3840, intermediate_size=15360, num_hidden_layers=2,
            num_attention_heads=16, num_key_value_heads=8, head_dim=256, pad_token_id=0, bos_token_id=1,
            eos_token_id=2,
        )  # fmt: skip
        bundle.text_encoder = gemma(text).to(torch.bfloat16).eval()
        bundle.connectors = LTX2TextConnectors(
            caption_channels=3840, text_proj_in_factor=3, per_modality_projections=True, rope_type="split",
            video_connector_num_attention_heads=32, video_connector_attention_head_dim=128,
            audio_connector_num_attention_heads=32, audio_connector_attention_head_dim=64,
            video_connector_num_learnable_registers=None, audio_connector_num_learnable_registers=None,
            video_gated_attn=True, audio_gated_attn=True, proj_bias=True,
        ).to(torch.bfloat16).eval()  # fmt: skip
    bundle.tokenizer = tokenizer
    bundle.max_text_tokens = 1024
    return bundle


def vocoder_for_full(device: torch.device) -> Any:
    from diffusers.pipelines.ltx2.vocoder import LTX2Vocoder

    return LTX2Vocoder().to(device=device, dtype=torch.bfloat16).eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=["ltx-2.3", "tiny"], default="ltx-2.3")
    parser.add_argument("--size", type=int, default=768)
    parser.add_argument("--frames", type=int, default=81)
    parser.add_argument("--steps", type=int, default=0, help="0 = conf/infer/default.yaml's")
    parser.add_argument("--json", default="")
    args = parser.parse_args()
    defaults = compose_packaged("infer", ["infer=default"]).infer
    steps = args.steps or int(defaults.num_inference_steps)
    device = torch.device("cuda" if args.preset != "tiny" else "cpu")
    started = time.perf_counter()
    if args.preset == "tiny":
        bundle, size, frames = build_tiny(0), 64, 9
        pipe = build_pipeline(bundle, None, device)
    else:
        bundle, size, frames = full_bundle(device), args.size, args.frames
        pipe = build_pipeline_full(bundle, device)
    build_s = time.perf_counter() - started
    rng = np.random.default_rng(0)
    job = ClipJob(
        clip_id="bench", prompt="A red cube and a blue sphere move across a grey floor; the camera is still.",
        width=size, height=size, frames=frames, fps=24.0,
        reference=rng.integers(0, 256, (frames, size, size, 3), dtype=np.uint8), row=None,
    )  # fmt: skip
    sampling = Sampling(steps, float(defaults.guidance_scale), float(defaults.stg_scale), "", True)
    warm = Sampling(1, sampling.guidance_scale, sampling.stg_scale, "", False)
    generate_clip(pipe, job, seed=0, downscale=1, sampling=warm, max_text_tokens=bundle.max_text_tokens)
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    video, _, _ = generate_clip(pipe, job, seed=0, downscale=1, sampling=sampling, max_text_tokens=1024)
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - started
    result = {
        "preset": args.preset,
        "target": f"{size}x{size}x{frames}",
        "reference_downscale": 1,
        "steps": steps,
        "guidance_scale": sampling.guidance_scale,
        "stg_scale": sampling.stg_scale,
        "s_per_video": round(seconds, 2),
        "s_per_step": round(seconds / steps, 3),
        "build_s": round(build_s, 1),
        "peak_gib": round(torch.cuda.max_memory_allocated() / 2**30, 1) if device.type == "cuda" else None,
        "device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
        "torch": torch.__version__,
        "video_shape": list(video.shape),
    }
    print(json.dumps(result))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(result, handle, indent=1)


def build_pipeline_full(bundle: ModelBundle, device: torch.device) -> Any:
    """The pipeline over the full-size bundle with a full-size random vocoder (no model folder to read)."""
    from diffusers import FlowMatchEulerDiscreteScheduler, LTX2InContextPipeline

    return LTX2InContextPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(),
        vae=bundle.vae,
        audio_vae=bundle.audio_vae,
        text_encoder=bundle.text_encoder,
        tokenizer=bundle.tokenizer,
        connectors=bundle.connectors,
        transformer=bundle.transformer,
        vocoder=vocoder_for_full(device),
    )


if __name__ == "__main__":
    main()
