"""Training data: shard rows -> (reference, target, caption, audio) -> resolution buckets -> encoder inputs.

The control job decides which row fields play which role (``ControlJob.trainer_roles`` in
``synthgen.controls``): the reference video or the audio conditions the target. Clips are resized (cover) and
centre-cropped to a bucket ``WxHxF`` (sides multiples of 32, frames 8k+1) and encoded with the video VAE
(and the audio VAE for audio-conditioned jobs) and the text path; ``synthgen.trainer.cache`` stores the
results once per clip.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from synthgen.controls import TrainerRoles, get_job, job_names
from synthgen.dataset.rows import ClipRow
from synthgen.errors import ConfigError, DataError

from .config import Bucket, require_dataset_folder
from .ic import audio_num_latent_frames
from .model import ModelBundle


@dataclass
class Example:
    """One clip's training roles as numpy arrays (uint8 video (F,H,W,3), float32 mono audio)."""

    clip_id: str
    caption: str
    fps: float
    target: np.ndarray
    reference: np.ndarray | None
    audio: np.ndarray | None
    audio_sample_rate: int | None
    reference_downscale: int
    reference_temporal_factor: int
    audio_is_reference: bool


def trainer_roles(control: str) -> TrainerRoles:
    """The roles of control job ``control`` (``data.control``); ConfigError naming ``data.control`` when no
    such job is registered."""
    if control not in job_names():
        raise ConfigError(f"data.control={control!r}: must be one of {list(job_names())}")
    return get_job(control).trainer_roles


def row_to_example(row: ClipRow, control: str, where: str) -> Example:
    """Map a dataset row to the roles of ``control``; a row of another job or without its inputs is an error."""
    roles = trainer_roles(control)
    if row.control_job != control:
        raise ConfigError(
            f"data.control={control!r}: {where} is a {row.control_job!r} clip (one control job per dataset)"
        )
    target = np.asarray(row.video)
    reference = None if row.reference_video is None else np.asarray(row.reference_video)
    if roles.reference_video and reference is None:
        raise DataError(f"{where}: control job {control!r} needs reference_video, which is empty")
    if roles.audio_reference and row.audio is None:
        raise DataError(f"{where}: control job {control!r} needs audio, which is empty")
    downscale, temporal = int(row.reference_downscale), int(row.reference_temporal_factor)
    if reference is not None and roles.reference_video:
        check_reference_ratio(target.shape, reference.shape, downscale, temporal, where)
    return Example(
        clip_id=row.clip_id,
        caption=row.caption,
        fps=float(row.fps),
        target=target,
        reference=reference if roles.reference_video else None,
        audio=None if row.audio is None else np.asarray(row.audio, dtype=np.float32),
        audio_sample_rate=None if row.audio_sample_rate is None else int(row.audio_sample_rate),
        reference_downscale=downscale,
        reference_temporal_factor=temporal,
        audio_is_reference=roles.audio_reference,
    )


def check_reference_ratio(
    target_shape: Sequence[int], reference_shape: Sequence[int], downscale: int, temporal: int, where: str
) -> None:
    """The reference must be the target shrunk by one integer factor (both sides) equal to the row's."""
    _, height, width = target_shape[:3]
    ref_frames, ref_height, ref_width = reference_shape[:3]
    if height % ref_height or width % ref_width or height // ref_height != width // ref_width:
        raise ConfigError(
            f"{where}: reference {ref_width}x{ref_height} vs target {width}x{height} is not one integer "
            "downscale factor for both sides"
        )
    if height // ref_height != downscale:
        raise ConfigError(
            f"{where}: reference_downscale={downscale} but the reference is {height // ref_height}x smaller"
        )
    expected_frames = (target_shape[0] - 1) // temporal + 1
    if ref_frames != expected_frames:
        raise ConfigError(
            f"{where}: reference has {ref_frames} frames; reference_temporal_factor={temporal} needs "
            f"{expected_frames}"
        )


def choose_bucket(buckets: Sequence[Bucket], example: Example, where: str) -> Bucket:
    """The fitting bucket (no upscaling, enough frames) closest in aspect ratio, then with most pixels."""
    frames, height, width = example.target.shape[:3]
    unit = 32 * example.reference_downscale
    fitting = [
        b
        for b in buckets
        if b.width <= width
        and b.height <= height
        and b.frames <= frames
        and b.width % unit == 0
        and b.height % unit == 0
        and (b.frames - 1) % (8 * example.reference_temporal_factor) == 0
    ]
    if not fitting:
        raise ConfigError(
            f"data.buckets={[str(b) for b in buckets]}: none fits {where} ({width}x{height}x{frames}, reference "
            f"downscale {example.reference_downscale}; a bucket may not exceed the clip and its sides must be "
            f"multiples of {unit})"
        )
    aspect = np.log(width / height)
    return min(
        fitting, key=lambda b: (abs(np.log(b.width / b.height) - aspect), -b.width * b.height * b.frames)
    )


def fit_video(video: np.ndarray, width: int, height: int, frames: int) -> torch.Tensor:
    """Resize to cover ``width`` x ``height`` (bilinear, antialiased), centre-crop, keep the first ``frames``.

    Returns float32 ``[3, frames, height, width]`` in [-1, 1] (the VAE's input range).
    """
    clip = torch.from_numpy(np.ascontiguousarray(video[:frames])).permute(0, 3, 1, 2).float() / 127.5 - 1.0
    _, _, src_h, src_w = clip.shape
    scale = max(width / src_w, height / src_h)
    new_h, new_w = max(height, round(src_h * scale)), max(width, round(src_w * scale))
    if (new_h, new_w) != (src_h, src_w):
        clip = F.interpolate(clip, size=(new_h, new_w), mode="bilinear", antialias=True, align_corners=False)
    top, left = (new_h - height) // 2, (new_w - width) // 2
    clip = clip[:, :, top : top + height, left : left + width]
    return clip.permute(1, 0, 2, 3).contiguous()


# ------------------------------------------------------------------------------------------ encoders


@torch.no_grad()
def encode_video(vae: Any, pixels: torch.Tensor) -> torch.Tensor:
    """``[3, F, H, W]`` in [-1, 1] -> normalised latents ``[C, (F-1)/8+1, H/32, W/32]`` (float32, CPU)."""
    param = next(vae.parameters())
    latents = vae.encode(pixels[None].to(param.device, param.dtype)).latent_dist.mode()
    mean = vae.latents_mean.view(1, -1, 1, 1, 1).to(latents)
    std = vae.latents_std.view(1, -1, 1, 1, 1).to(latents)
    scaling = float(getattr(vae.config, "scaling_factor", 1.0))
    return ((latents - mean) * scaling / std)[0].float().cpu()


@torch.no_grad()
def encode_audio(
    audio_vae: Any, audio: np.ndarray, sample_rate: int, num_frames: int, fps: float
) -> torch.Tensor:
    """Audio -> packed normalised latents ``[T, C * M']`` with T = clip seconds x 25 (LTX audio latents)."""
    from synthgen.audio import ltx_audio_features

    param = next(audio_vae.parameters())
    features = torch.from_numpy(ltx_audio_features(audio, sample_rate))[None]  # [1, 2, T, 64] log-mel
    latents = audio_vae.encode(features.to(param.device, param.dtype)).latent_dist.mode().float()
    packed = latents.transpose(1, 2).flatten(2, 3)[0]  # [T, C*M]
    if audio_vae.latents_mean.numel() == packed.shape[-1]:
        packed = (packed - audio_vae.latents_mean.to(packed)) / audio_vae.latents_std.to(packed)
    wanted = audio_num_latent_frames(round(num_frames / fps * sample_rate), sample_rate)
    if packed.shape[0] < wanted:
        packed = torch.cat([packed, packed[-1:].expand(wanted - packed.shape[0], -1)])
    return packed[:wanted].cpu()


@torch.no_grad()
def encode_text(bundle: ModelBundle, captions: list[str]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Captions -> (video embeddings ``[B, L, Dv]``, audio embeddings ``[B, L, Da]``, mask ``[B, L]``).

    The LTX-2 text path: Gemma-3 hidden states of every layer, stacked, through the connectors.
    """
    assert bundle.text_encoder is not None and bundle.connectors is not None and bundle.tokenizer is not None
    tokenizer = bundle.tokenizer
    tokenizer.padding_side = "left"  # Gemma prompts are left-padded in the LTX-2 pipelines
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokens = tokenizer(
        [c.strip() for c in captions],
        padding="max_length",
        max_length=bundle.max_text_tokens,
        truncation=True,
        add_special_tokens=True,
        return_tensors="pt",
    )
    device = next(bundle.text_encoder.parameters()).device
    ids, mask = tokens.input_ids.to(device), tokens.attention_mask.to(device)
    out = bundle.text_encoder(input_ids=ids, attention_mask=mask, output_hidden_states=True)
    stacked = torch.stack(out.hidden_states, dim=-1).flatten(2, 3)
    conn_dtype = next(bundle.connectors.parameters()).dtype
    video, audio, conn_mask = bundle.connectors(stacked.to(conn_dtype), mask, padding_side="left")
    return video.float().cpu(), audio.float().cpu(), conn_mask.float().cpu()


# ---------------------------------------------------------------------------------------------- rows


def iter_rows(path: str | Path) -> Iterator[ClipRow]:
    """Stream the rows of the synthgen dataset at ``path`` as decoded ``ClipRow``s, every shard checked
    against the manifest's sha256 first (a changed shard raises DataError before anything is cached)."""
    from synthgen.dataset.reader import iter_rows as read_rows

    require_dataset_folder(path)
    yield from read_rows(str(path), verify="sha256")
