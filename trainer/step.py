"""One IC-LoRA forward and loss on prepared latents: the part shared by training, evaluation and benchmarks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from .ic import TIMESTEP_SCALE, ICBatch, audio_coords, build_ic_batch, masked_mse


@dataclass
class Conditioning:
    """Text and audio inputs of one batch (already on the device).

    ``text`` ``[B, L, D_video]`` and ``audio_text`` ``[B, L, D_audio]`` are the connector outputs;
    ``text_mask`` ``[B, L]`` (1 = token) or None when every token is valid. ``audio_latents``
    ``[B, T, C_audio]`` are packed audio latents; ``audio_is_reference`` says whether they are a clean
    control input (timestep 0) or stand-in noise at sigma 1 for video-only jobs.
    """

    text: torch.Tensor
    audio_text: torch.Tensor
    text_mask: torch.Tensor | None
    audio_latents: torch.Tensor
    audio_is_reference: bool


def predict(
    transformer: torch.nn.Module,
    batch: ICBatch,
    cond: Conditioning,
    *,
    fps: float,
    skip_audio_branch: bool = False,
) -> torch.Tensor:
    """The transformer's velocity prediction for the target tokens, ``[B, N_target, C]``.

    ``skip_audio_branch`` (``train.skip_audio_branch``) turns off the audio-to-video and video-to-audio
    cross-attention of every block when the audio is stand-in noise (a video-only job): the video tokens then
    do not attend to it, as in ltx-trainer's video-only IC-LoRA training (its audio modality is absent), and
    the blocks skip the a2v projections over every video token. An audio reference keeps them on.
    """
    # A DDP/FSDP wrapper forwards calls but not attributes: read the config from the wrapped model.
    model: Any = getattr(transformer, "module", transformer)
    dtype = next(p for p in model.parameters()).dtype
    size = batch.hidden_states.shape[0]
    device = batch.hidden_states.device
    audio_sigma = (
        torch.zeros(size, device=device) if cond.audio_is_reference else torch.ones(size, device=device)
    )
    cfg = model.config
    a_coords = audio_coords(
        cond.audio_latents.shape[1],
        scale_factor=cfg.audio_scale_factor,
        hop_length=cfg.audio_hop_length,
        sample_rate=cfg.audio_sampling_rate,
        device=device,
    ).expand(size, -1, -1, -1)
    video_out, _ = transformer(
        hidden_states=batch.hidden_states.to(dtype),
        audio_hidden_states=cond.audio_latents.to(dtype),
        encoder_hidden_states=cond.text.to(dtype),
        audio_encoder_hidden_states=cond.audio_text.to(dtype),
        timestep=batch.timestep,
        audio_timestep=audio_sigma * TIMESTEP_SCALE,
        sigma=batch.sigma * TIMESTEP_SCALE,
        audio_sigma=audio_sigma * TIMESTEP_SCALE,
        encoder_attention_mask=cond.text_mask,
        audio_encoder_attention_mask=cond.text_mask,
        fps=fps,
        video_coords=batch.coords,
        audio_coords=a_coords,
        use_cross_timestep=True,
        isolate_modalities=skip_audio_branch and not cond.audio_is_reference,
        return_dict=False,
    )
    return video_out[:, : batch.num_target_tokens]


def ic_loss(
    transformer: torch.nn.Module,
    target_latents: torch.Tensor,
    reference_latents: torch.Tensor | None,
    cond: Conditioning,
    *,
    fps: float,
    reference_downscale: int,
    reference_temporal_factor: int,
    generator: torch.Generator,
    first_frame_conditioning_p: float = 0.0,
    sigma: torch.Tensor | None = None,
    noise: torch.Tensor | None = None,
    sampler: str = "shifted_logit_normal",
    per_sample: bool = False,
    skip_audio_branch: bool = False,
) -> torch.Tensor:
    """Masked velocity MSE of one IC step (see :func:`synthgen.trainer.ic.build_ic_batch`; ``sampler``,
    ``per_sample`` and ``skip_audio_branch`` are ``train.timestep_sampler``,
    ``train.loss_average == "per_sample"`` and ``train.skip_audio_branch`` resolved for the device)."""
    batch = build_ic_batch(
        target_latents,
        reference_latents,
        fps=fps,
        reference_downscale=reference_downscale,
        reference_temporal_factor=reference_temporal_factor,
        generator=generator,
        first_frame_conditioning_p=first_frame_conditioning_p,
        sigma=sigma,
        noise=noise,
        sampler=sampler,
    )
    prediction = predict(transformer, batch, cond, fps=fps, skip_audio_branch=skip_audio_branch)
    return masked_mse(prediction, batch.velocity, batch.loss_mask, per_sample=per_sample)
