"""Held-out evaluation: the control gain of an IC-LoRA.

For each held-out clip, the velocity loss is measured at fixed noise levels with fixed noise, once with the
clip's own reference and once with another clip's reference (same shape). The control gain is
``mean(loss with the mismatched reference) / mean(loss with the true reference) - 1``: 0 when the model
ignores the reference, larger the more the prediction depends on the right control input.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import torch

from .step import Conditioning, ic_loss

if TYPE_CHECKING:
    from .cache import CachedItem


def conditioning_for(
    items: list[CachedItem], device: torch.device, generator: torch.Generator, audio_channels: int
) -> Conditioning:
    """Stack the text/audio inputs of ``items`` (one bucket); video-only jobs get noise as the audio stream."""
    text = torch.stack([it.text for it in items]).to(device)
    audio_text = torch.stack([it.audio_text for it in items]).to(device)
    mask = torch.stack([it.text_mask for it in items]).to(device)
    is_reference = items[0].audio_is_reference
    if is_reference:
        audio = torch.stack([it.audio for it in items if it.audio is not None]).to(device)
    else:
        shape = (len(items), items[0].audio_frames, audio_channels)
        audio = torch.randn(shape, generator=generator, device=generator.device).to(device)
    # All-ones masks are dropped so attention can use the fused kernels (the result is identical).
    return Conditioning(text, audio_text, None if bool(mask.all()) else mask, audio, is_reference)


def _shape_key(item: CachedItem) -> tuple[Any, ...]:
    ref = item.reference
    audio = item.audio
    return (
        tuple(item.target.shape),
        None if ref is None else tuple(ref.shape),
        None if audio is None else tuple(audio.shape),
    )


def mismatched_partner(index: int, items: list[CachedItem]) -> int | None:
    """The next item (cyclically) whose inputs have the same shapes as ``items[index]``'s, or None."""
    key = _shape_key(items[index])
    for offset in range(1, len(items)):
        other = (index + offset) % len(items)
        if _shape_key(items[other]) == key:
            return other
    return None


@torch.no_grad()
def control_gain(
    transformer: torch.nn.Module,
    items: list[CachedItem],
    *,
    sigmas: list[float],
    noise_draws: int,
    seed: int,
    device: torch.device,
) -> dict[str, Any]:
    """Fixed-noise losses with true and mismatched references on ``items``; see the module docstring.

    Returns ``{"loss_true", "loss_mismatched", "control_gain", "clips"}`` (losses are means over clips,
    noise levels and noise draws).
    """
    was_training = transformer.training
    transformer.eval()
    cfg: Any = transformer.config
    true_losses: list[float] = []
    mismatched_losses: list[float] = []
    clips = 0
    for index, item in enumerate(items):
        partner = mismatched_partner(index, items)
        if partner is None:
            continue
        clips += 1
        other = items[partner]
        for draw in range(noise_draws):
            for level, sigma_value in enumerate(sigmas):
                for which, losses in ((item, true_losses), (other, mismatched_losses)):
                    generator = torch.Generator(device=device).manual_seed(
                        seed * 1_000_003 + index * 1009 + draw * 101 + level
                    )
                    noise = torch.randn(
                        (1, *item.target.shape), generator=generator, device=device, dtype=torch.float32
                    )
                    control = dataclasses.replace(
                        item,
                        reference=which.reference,
                        audio=which.audio if item.audio_is_reference else item.audio,
                    )
                    cond = conditioning_for([control], device, generator, cfg.audio_in_channels)
                    reference = control.reference
                    loss = ic_loss(
                        transformer,
                        item.target[None].to(device),
                        None if reference is None else reference[None].to(device),
                        cond,
                        fps=float(item.fps),
                        reference_downscale=item.reference_downscale,
                        reference_temporal_factor=item.reference_temporal_factor,
                        generator=generator,
                        first_frame_conditioning_p=0.0,
                        sigma=torch.tensor([sigma_value], device=device),
                        noise=noise,
                    )
                    losses.append(float(loss))
    transformer.train(was_training)
    if not true_losses:
        return {
            "loss_true": float("nan"),
            "loss_mismatched": float("nan"),
            "control_gain": float("nan"),
            "clips": 0,
        }
    loss_true = sum(true_losses) / len(true_losses)
    loss_mismatched = sum(mismatched_losses) / len(mismatched_losses)
    return {
        "loss_true": loss_true,
        "loss_mismatched": loss_mismatched,
        "control_gain": loss_mismatched / loss_true - 1.0,
        "clips": clips,
    }
