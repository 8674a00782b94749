"""In-context (IC) LoRA training maths: token packing, positions, timesteps, targets and the masked loss.

Conventions (the LTX-2 trainer's): latents are ``[B, C, F, H, W]`` in the VAE's normalised space; tokens are
packed frame-major then row then column (diffusers ``_pack_latents`` with patch size 1). Noise level
``sigma`` is in [0, 1] with ``x_sigma = (1 - sigma) * x0 + sigma * noise``; the model is trained to predict
the velocity ``noise - x0``; the transformer's ``timestep`` input is ``sigma * 1000``. Reference tokens are
clean (sigma 0), appended after the target tokens and placed at the target's positions: their H/W pixel
coordinates are multiplied by the reference downscale factor and their time coordinates by the temporal
factor, so a reference frame lands on the time of the target frame it was taken from.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

# LTX-2's timestep shift: the log-SNR shift grows linearly from 0.95 at 1024 tokens to 2.05 at 4096
# (the values of LTX's scheduler config, base_shift / max_shift).
SHIFT_BASE_TOKENS = 1024
SHIFT_MAX_TOKENS = 4096
SHIFT_BASE = 0.95
SHIFT_MAX = 2.05
TIMESTEP_SCALE = 1000.0


def pack_latents(latents: torch.Tensor) -> torch.Tensor:
    """``[B, C, F, H, W]`` -> ``[B, F*H*W, C]`` tokens, frame-major (patch size 1)."""
    batch, channels = latents.shape[:2]
    return latents.reshape(batch, channels, -1).transpose(1, 2)


def unpack_latents(tokens: torch.Tensor, frames: int, height: int, width: int) -> torch.Tensor:
    """Inverse of :func:`pack_latents`: ``[B, F*H*W, C]`` -> ``[B, C, F, H, W]``."""
    batch, _, channels = tokens.shape
    return tokens.transpose(1, 2).reshape(batch, channels, frames, height, width)


def video_coords(
    latent_frames: int,
    latent_height: int,
    latent_width: int,
    *,
    fps: float,
    spatial_scale: int = 32,
    temporal_scale: int = 8,
    causal_offset: int = 1,
    downscale: int = 1,
    temporal_factor: int = 1,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """Pixel-space ``[start, end)`` bounds of every latent token: ``[1, 3, N, 2]`` (time in s, y px, x px).

    Matches ``LTX2AudioVideoRotaryPosEmbed.prepare_video_coords`` for ``downscale == temporal_factor == 1``;
    otherwise the bounds are those of the reference token mapped into target space (y, x times ``downscale``,
    frame index times ``temporal_factor``).
    """
    grid = torch.meshgrid(
        torch.arange(latent_frames, dtype=torch.float32, device=device),
        torch.arange(latent_height, dtype=torch.float32, device=device),
        torch.arange(latent_width, dtype=torch.float32, device=device),
        indexing="ij",
    )
    start = torch.stack(grid, dim=0).flatten(1)  # [3, N]
    bounds = torch.stack([start, start + 1.0], dim=-1)  # [3, N, 2] in latent units
    scale = torch.tensor([temporal_scale, spatial_scale, spatial_scale], dtype=torch.float32, device=device)
    pixel = bounds * scale.view(3, 1, 1)
    # The causal VAE encodes the first pixel frame alone: shift by (offset - stride) and clamp at 0, as LTX does.
    pixel[0] = (pixel[0] + causal_offset - temporal_scale).clamp(min=0.0)
    pixel[0] = pixel[0] * temporal_factor / fps
    pixel[1:] = pixel[1:] * downscale
    return pixel.unsqueeze(0)


def audio_coords(
    latent_frames: int,
    *,
    scale_factor: int = 4,
    hop_length: int = 160,
    sample_rate: int = 16000,
    causal_offset: int = 1,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """``[start, end)`` seconds of each audio latent frame: ``[1, 1, T, 2]`` (as LTX's audio RoPE expects)."""
    index = torch.arange(latent_frames, dtype=torch.float32, device=device)
    start = ((index * scale_factor + causal_offset - scale_factor).clamp(min=0.0)) * hop_length / sample_rate
    end = (
        (((index + 1) * scale_factor + causal_offset - scale_factor).clamp(min=0.0))
        * hop_length
        / sample_rate
    )
    return torch.stack([start, end], dim=-1)[None, None]


def timestep_shift(num_tokens: int) -> float:
    """Log-SNR shift ``mu`` for a sequence of ``num_tokens`` target tokens (linear in tokens, as LTX-2)."""
    slope = (SHIFT_MAX - SHIFT_BASE) / (SHIFT_MAX_TOKENS - SHIFT_BASE_TOKENS)
    return SHIFT_BASE + slope * (num_tokens - SHIFT_BASE_TOKENS)


def shifted_logit_normal(
    batch_size: int, num_tokens: int, generator: torch.Generator, *, std: float = 1.0
) -> torch.Tensor:
    """Draw ``sigma`` in (0, 1): ``sigmoid(mu + std * N(0, 1))`` with ``mu = timestep_shift(num_tokens)``.

    Longer sequences need more noise to destroy the same information, so their sigmas move towards 1.
    """
    normal = torch.randn(batch_size, generator=generator, device=generator.device)
    return torch.sigmoid(timestep_shift(num_tokens) + std * normal)


# ltx-trainer's stretch bounds: the 0.5th and 99.9th percentiles of the standard normal.
_LOW_PERCENTILE, _HIGH_PERCENTILE = -2.5758, 3.0902
TIMESTEP_SAMPLERS = ("shifted_logit_normal", "ltx_trainer")


def ltx_trainer_sigma(
    batch_size: int,
    num_tokens: int,
    generator: torch.Generator,
    *,
    std: float = 1.0,
    eps: float = 1e-3,
    uniform_p: float = 0.1,
) -> torch.Tensor:
    """ltx-trainer's ``ShiftedLogitNormalTimestepSampler``: the shifted logit-normal stretched so its 0.5th..99.9th
    percentiles cover [0, 1] (values below ``eps`` reflected around it), replaced by ``U(eps, 1)`` with
    probability ``uniform_p`` so long sequences still see low noise levels."""
    mu = timestep_shift(num_tokens)
    device = generator.device
    raw = torch.sigmoid(torch.randn(batch_size, generator=generator, device=device) * std + mu)
    low = torch.sigmoid(torch.tensor(mu + _LOW_PERCENTILE * std, device=device))
    high = torch.sigmoid(torch.tensor(mu + _HIGH_PERCENTILE * std, device=device))
    stretched = (raw - low) / (high - low)
    stretched = torch.where(stretched >= eps, stretched, 2 * eps - stretched).clamp(0.0, 1.0)
    uniform = (1 - eps) * torch.rand(batch_size, generator=generator, device=device) + eps
    pick = torch.rand(batch_size, generator=generator, device=device)
    return torch.where(pick > uniform_p, stretched, uniform)


def draw_sigma(sampler: str, batch_size: int, num_tokens: int, generator: torch.Generator) -> torch.Tensor:
    """``sigma`` ``[B]`` from ``train.timestep_sampler`` (one of :data:`TIMESTEP_SAMPLERS`)."""
    if sampler == "ltx_trainer":
        return ltx_trainer_sigma(batch_size, num_tokens, generator)
    if sampler == "shifted_logit_normal":
        return shifted_logit_normal(batch_size, num_tokens, generator)
    raise ValueError(f"timestep sampler {sampler!r}: not one of {TIMESTEP_SAMPLERS}")


@dataclass
class ICBatch:
    """One forward's inputs for the transformer and what the loss needs.

    ``hidden_states`` ``[B, N_t + N_r, C]``: noised target tokens then clean reference tokens;
    ``timestep`` ``[B, N_t + N_r]`` (``sigma * 1000`` per token, 0 on clean tokens); ``sigma`` ``[B]``;
    ``coords`` ``[B, 3, N_t + N_r, 2]``; ``velocity`` ``[B, N_t, C]`` the target ``noise - x0``;
    ``loss_mask`` ``[B, N_t]`` 1 where the loss counts (target tokens not used as a clean first frame).
    """

    hidden_states: torch.Tensor
    timestep: torch.Tensor
    sigma: torch.Tensor
    coords: torch.Tensor
    velocity: torch.Tensor
    loss_mask: torch.Tensor
    num_target_tokens: int


def build_ic_batch(
    target_latents: torch.Tensor,
    reference_latents: torch.Tensor | None,
    *,
    fps: float,
    reference_downscale: int,
    reference_temporal_factor: int,
    generator: torch.Generator,
    first_frame_conditioning_p: float = 0.1,
    sigma: torch.Tensor | None = None,
    noise: torch.Tensor | None = None,
    sampler: str = "shifted_logit_normal",
) -> ICBatch:
    """Noise the target, append the clean reference and lay out per-token timesteps and positions.

    ``target_latents`` ``[B, C, F, H, W]``; ``reference_latents`` ``[B, C, F', H/s, W/s]`` or None (audio-only
    references). ``sigma`` ``[B]`` and ``noise`` (like ``target_latents``) may be given for fixed evaluation;
    otherwise they are drawn from ``generator`` (``sigma`` by ``sampler``, see :func:`draw_sigma`). With probability ``first_frame_conditioning_p`` a sample's
    first latent frame is left clean (sigma 0) and excluded from the loss, as LTX's trainer does.
    """
    batch, _, frames, height, width = target_latents.shape
    device = target_latents.device
    num_target = frames * height * width
    if sigma is None:
        sigma = draw_sigma(sampler, batch, num_target, generator)
    sigma = sigma.to(device=device, dtype=torch.float32)
    if noise is None:
        noise = torch.randn(
            target_latents.shape, generator=generator, device=generator.device, dtype=torch.float32
        ).to(device)
    x0 = pack_latents(target_latents.float())
    noise_tokens = pack_latents(noise.float())

    token_sigma = sigma[:, None].expand(batch, num_target).clone()
    loss_mask = torch.ones(batch, num_target, device=device)
    if first_frame_conditioning_p > 0.0:
        draws = torch.rand(batch, generator=generator, device=generator.device).to(device)
        conditioned = draws < first_frame_conditioning_p
        first = height * width
        token_sigma[conditioned, :first] = 0.0
        loss_mask[conditioned, :first] = 0.0

    noised = (1.0 - token_sigma[..., None]) * x0 + token_sigma[..., None] * noise_tokens
    coords = video_coords(frames, height, width, fps=fps, device=device).expand(batch, -1, -1, -1)
    hidden = noised
    timestep = token_sigma * TIMESTEP_SCALE
    if reference_latents is not None:
        _, _, ref_frames, ref_height, ref_width = reference_latents.shape
        if ref_height * reference_downscale != height or ref_width * reference_downscale != width:
            raise ValueError(
                f"reference latents {ref_height}x{ref_width} x downscale {reference_downscale} != target "
                f"latents {height}x{width}"
            )
        ref_tokens = pack_latents(reference_latents.float())
        ref_coords = video_coords(
            ref_frames,
            ref_height,
            ref_width,
            fps=fps,
            downscale=reference_downscale,
            temporal_factor=reference_temporal_factor,
            device=device,
        ).expand(batch, -1, -1, -1)
        hidden = torch.cat([noised, ref_tokens], dim=1)
        coords = torch.cat([coords, ref_coords], dim=2)
        timestep = torch.cat([timestep, torch.zeros(batch, ref_tokens.shape[1], device=device)], dim=1)
    return ICBatch(
        hidden_states=hidden,
        timestep=timestep,
        sigma=sigma,
        coords=coords,
        velocity=noise_tokens - x0,
        loss_mask=loss_mask,
        num_target_tokens=num_target,
    )


def masked_mse(
    prediction: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, *, per_sample: bool = False
) -> torch.Tensor:
    """Mean squared error over the tokens where ``mask`` is 1 (``[B, N, C]``, ``[B, N, C]``, ``[B, N]``).

    The mean is per element of the counted tokens, so the value does not depend on how many are masked out.
    ``per_sample``: each sample's mean first, then the mean over samples (ltx-trainer's averaging), so a
    sample with a clean first frame weighs as much as one without.
    """
    squared = (prediction.float() - target.float()).pow(2).mean(dim=-1)
    if per_sample:
        return ((squared * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)).mean()
    count = mask.sum().clamp(min=1.0)
    return (squared * mask).sum() / count


def audio_num_latent_frames(
    num_samples: int, sample_rate: int, *, hop_length: int = 160, scale: int = 4
) -> int:
    """Audio latent frames for ``num_samples`` at ``sample_rate`` after resampling to 16 kHz (~25 per second)."""
    seconds = num_samples / sample_rate
    return max(1, round(seconds * 16000 / hop_length / scale))
