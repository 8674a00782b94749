"""IC-LoRA maths: token packing, positions, timesteps, noising and the masked loss."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from synthgen.trainer import ic
from synthgen.trainer.model import TINY_TRANSFORMER_CONFIG

pytestmark = pytest.mark.filterwarnings("ignore")


@pytest.fixture(scope="module")
def rope() -> Any:
    from diffusers import LTX2VideoTransformer3DModel

    with torch.device("meta"):
        model = LTX2VideoTransformer3DModel(**TINY_TRANSFORMER_CONFIG)
    return model


@given(
    batch=st.integers(1, 2),
    channels=st.integers(1, 5),
    frames=st.integers(1, 4),
    height=st.integers(1, 4),
    width=st.integers(1, 4),
)
@settings(max_examples=25, deadline=None)
def test_pack_then_unpack_returns_the_latents(
    batch: int, channels: int, frames: int, height: int, width: int
) -> None:
    latents = torch.randn(batch, channels, frames, height, width)
    tokens = ic.pack_latents(latents)
    assert tokens.shape == (batch, frames * height * width, channels)
    assert torch.equal(ic.unpack_latents(tokens, frames, height, width), latents)


@given(
    frames=st.integers(1, 4),
    height=st.integers(1, 5),
    width=st.integers(1, 5),
    fps=st.sampled_from([24.0, 25.0, 30.0]),
)
@settings(max_examples=20, deadline=None)
def test_target_coords_equal_diffusers_prepare_video_coords(
    rope: Any, frames: int, height: int, width: int, fps: float
) -> None:
    expected = rope.rope.prepare_video_coords(1, frames, height, width, torch.device("cpu"), fps=fps)
    assert torch.allclose(ic.video_coords(frames, height, width, fps=fps), expected)


@given(downscale=st.sampled_from([1, 2, 4]), frames=st.integers(1, 3), cells=st.integers(1, 3))
@settings(max_examples=20, deadline=None)
def test_reference_token_starts_where_its_target_region_starts(
    downscale: int, frames: int, cells: int
) -> None:
    target = ic.video_coords(frames, cells * downscale, cells * downscale, fps=24.0)[0]
    reference = ic.video_coords(frames, cells, cells, fps=24.0, downscale=downscale)[0]
    target_grid = target[:, :, 0].reshape(3, frames, cells * downscale, cells * downscale)
    ref_grid = reference[:, :, 0].reshape(3, frames, cells, cells)
    # Reference cell (i, j) covers target cells (i*s .. i*s+s-1, j*s ..): same top-left pixel position.
    assert torch.equal(ref_grid[1:], target_grid[1:, :, ::downscale, ::downscale])
    span = reference[1:, :, 1] - reference[1:, :, 0]
    assert torch.all(span == 32 * downscale)


@pytest.mark.parametrize("factor", [1, 2])
def test_temporal_factor_puts_reference_frames_at_their_target_times(factor: int) -> None:
    fps = 24.0
    starts = ic.video_coords(4, 1, 1, fps=fps, temporal_factor=factor)[0, 0, :, 0]
    # Latent frame k >= 1 starts at reference pixel frame 8k - 7, taken at target frame factor * (8k - 7).
    expected = torch.tensor([0.0] + [factor * (8 * k - 7) / fps for k in range(1, 4)])
    assert torch.allclose(starts, expected)


def test_audio_coords_equal_diffusers_prepare_audio_coords(rope: Any) -> None:
    expected = rope.audio_rope.prepare_audio_coords(1, 37, torch.device("cpu"))
    assert torch.allclose(ic.audio_coords(37), expected)


@given(a=st.integers(1, 100_000), b=st.integers(1, 100_000))
def test_timestep_shift_grows_with_token_count(a: int, b: int) -> None:
    low, high = sorted((a, b))
    assert ic.timestep_shift(low) <= ic.timestep_shift(high)


def test_shift_values_at_ltx_reference_token_counts() -> None:
    assert ic.timestep_shift(1024) == pytest.approx(0.95)
    assert ic.timestep_shift(4096) == pytest.approx(2.05)


@pytest.mark.parametrize("tokens", [256, 4096, 12672])
def test_shifted_logit_normal_median_is_sigmoid_of_shift(tokens: int) -> None:
    generator = torch.Generator().manual_seed(0)
    sigmas = ic.shifted_logit_normal(20_000, tokens, generator)
    assert torch.all((sigmas > 0) & (sigmas < 1))
    expected = 1.0 / (1.0 + math.exp(-ic.timestep_shift(tokens)))
    assert float(sigmas.median()) == pytest.approx(expected, abs=0.02)


def _batch(
    p: float = 0.0, sigma: float | None = 0.3
) -> tuple[ic.ICBatch, torch.Tensor, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    target = torch.randn(2, 4, 3, 2, 2)
    reference = torch.randn(2, 4, 3, 1, 1)
    noise = torch.randn_like(target)
    batch = ic.build_ic_batch(
        target,
        reference,
        fps=24.0,
        reference_downscale=2,
        reference_temporal_factor=1,
        generator=generator,
        first_frame_conditioning_p=p,
        sigma=None if sigma is None else torch.full((2,), sigma),
        noise=noise,
    )
    return batch, target, reference, noise


def test_reference_tokens_are_clean_with_timestep_zero() -> None:
    batch, _, reference, _ = _batch()
    n = batch.num_target_tokens
    assert torch.equal(batch.hidden_states[:, n:], ic.pack_latents(reference))
    assert torch.all(batch.timestep[:, n:] == 0)
    assert torch.allclose(batch.timestep[:, :n], torch.full((2, n), 300.0))


def test_target_tokens_interpolate_data_and_noise_and_velocity_is_noise_minus_data() -> None:
    batch, target, _, noise = _batch(sigma=0.3)
    x0, eps = ic.pack_latents(target), ic.pack_latents(noise)
    n = batch.num_target_tokens
    assert torch.allclose(batch.hidden_states[:, :n], 0.7 * x0 + 0.3 * eps, atol=1e-6)
    assert torch.allclose(batch.velocity, eps - x0)


def test_reference_coords_follow_target_coords() -> None:
    batch, _, _, _ = _batch()
    assert batch.coords.shape == (2, 3, 3 * 2 * 2 + 3 * 1 * 1, 2)


def test_first_frame_conditioning_keeps_first_frame_clean_and_out_of_the_loss() -> None:
    batch, target, _, _ = _batch(p=1.0)
    first = 2 * 2
    assert torch.all(batch.timestep[:, :first] == 0)
    assert torch.all(batch.loss_mask[:, :first] == 0)
    assert torch.all(batch.loss_mask[:, first:] == 1)
    assert torch.equal(batch.hidden_states[:, :first], ic.pack_latents(target)[:, :first])


def test_mismatched_reference_size_is_rejected() -> None:
    with pytest.raises(ValueError, match="downscale"):
        ic.build_ic_batch(
            torch.randn(1, 4, 2, 4, 4),
            torch.randn(1, 4, 2, 3, 3),
            fps=24.0,
            reference_downscale=1,
            reference_temporal_factor=1,
            generator=torch.Generator().manual_seed(0),
        )


@given(tokens=st.integers(2, 12), masked=st.integers(1, 11), seed=st.integers(0, 1000))
@settings(max_examples=30, deadline=None)
def test_masked_mse_ignores_predictions_of_masked_tokens(tokens: int, masked: int, seed: int) -> None:
    masked = min(masked, tokens - 1)
    generator = torch.Generator().manual_seed(seed)
    prediction = torch.randn(1, tokens, 3, generator=generator)
    target = torch.randn(1, tokens, 3, generator=generator)
    mask = torch.ones(1, tokens)
    mask[:, :masked] = 0
    changed = prediction.clone()
    changed[:, :masked] += 100.0
    assert torch.allclose(ic.masked_mse(prediction, target, mask), ic.masked_mse(changed, target, mask))
    expected = (prediction[:, masked:] - target[:, masked:]).pow(2).mean()
    assert torch.allclose(ic.masked_mse(prediction, target, mask), expected, atol=1e-6)


def test_audio_latent_frames_are_25_per_second() -> None:
    assert ic.audio_num_latent_frames(48000 * 4, 48000) == 100
    assert ic.audio_num_latent_frames(round(81 / 24 * 16000), 16000) == 84
