"""Memory budget, audio-branch skip and the fp8 / low-VRAM presets of synthgen-train: maths and CPU wiring."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from synthgen.errors import ConfigError
from synthgen.trainer import train as train_module
from synthgen.trainer.cache import CachedItem
from synthgen.trainer.config import load_train_config
from synthgen.trainer.ic import build_ic_batch
from synthgen.trainer.model import build_tiny
from synthgen.trainer.speed import BlockCheckpointing, BudgetMeasurement, plan_within_budget, quantize_base
from synthgen.trainer.step import Conditioning, predict

GIB = 2**30


def _settings(tmp_path: Path, *overrides: str) -> Any:
    return load_train_config(
        {"data": {"path": str(tmp_path)}, "output_dir": str(tmp_path)}, overrides=overrides
    )


def _predicted_peak(m: BudgetMeasurement, kept: int, attention: int) -> float:
    """The model plan_within_budget promises to respect: every block plain, plus each block's extra."""
    k, a = max(0, m.kept_block_bytes), min(max(0, m.attention_block_bytes), max(0, m.kept_block_bytes))
    base = m.peak_bytes + max(0, m.step_growth_bytes) - k - a
    return base + kept * k + attention * a


@settings(max_examples=200, deadline=None)
@given(
    peak=st.integers(20 * GIB, 80 * GIB),
    growth=st.integers(0, 4 * GIB),
    kept=st.integers(1, 6 * GIB),
    attention_share=st.floats(0.0, 1.0),
    budget=st.floats(10 * GIB, 140 * GIB),
    blocks=st.integers(1, 64),
)
def test_budget_plan_fits_and_cannot_take_one_more_block(
    peak: int, growth: int, kept: int, attention_share: float, budget: float, blocks: int
) -> None:
    measured = BudgetMeasurement(peak, growth, kept, int(kept * attention_share))
    uncheckpointed, attention = plan_within_budget(measured, budget, blocks)
    assert 0 <= uncheckpointed <= blocks and 0 <= attention <= blocks - uncheckpointed
    if (uncheckpointed, attention) == (0, 0) and _predicted_peak(measured, 0, 0) > budget:
        return  # even every block checkpointed plainly is over budget: nothing to spend
    assert _predicted_peak(measured, uncheckpointed, attention) <= budget
    # Maximal: attention outputs first in every block, then whole blocks, until one more would not fit.
    if uncheckpointed == 0 and attention < blocks and measured.attention_block_bytes > 0:
        assert _predicted_peak(measured, 0, attention + 1) > budget
    if (
        attention + uncheckpointed == blocks
        and uncheckpointed < blocks
        and kept > measured.attention_block_bytes
    ):
        assert _predicted_peak(measured, uncheckpointed + 1, attention - 1) > budget


def test_budget_plan_keeps_no_attention_when_save_attention_is_off() -> None:
    measured = BudgetMeasurement(40 * GIB, GIB, 3 * GIB, GIB // 5)
    assert plan_within_budget(measured, 100 * GIB, 48, save_attention=False) == (20, 0)
    assert plan_within_budget(measured, 30 * GIB, 48) == (0, 0)


def test_checkpointing_policy_modes_follow_the_plan() -> None:
    policy = BlockCheckpointing(torch.nn.ModuleList(torch.nn.Identity() for _ in range(5)), 1, True)
    policy.uncheckpointed_blocks, policy.attention_blocks = 1, 2
    assert [policy.mode(i) for i in range(5)] == ["kept", "attention", "attention", "plain", "plain"]
    assert BlockCheckpointing(torch.nn.ModuleList([torch.nn.Identity()]), 0, False).mode(0) == "plain"


def test_cpu_runs_keep_their_checkpointing_and_audio_branch(tmp_path: Path) -> None:
    s = _settings(tmp_path, "train.device=cpu", "lora.rank=2", "lora.alpha=2")
    assert s.train.memory_budget_gib > 0 and s.train.skip_audio_branch == "auto"
    runtime = train_module.setup_runtime(s)
    bundle = train_module.setup_model(s, runtime)
    transformer = train_module.setup_adapter(bundle.transformer, s)
    recipe = train_module.setup_training(
        s,
        runtime,
        transformer,
        bundle.model_id,
        "k",
        [_item(transformer.config)],
        train_module.OutputPaths(tmp_path),
    )
    assert recipe.checkpointing is not None and not recipe.checkpointing.measuring
    assert recipe.checkpointing.uncheckpointed_blocks == 0 and not recipe.skip_audio_branch


def _item(cfg: Any) -> CachedItem:
    g = torch.Generator().manual_seed(0)
    shape = (cfg.in_channels, 2, 2, 2)
    return CachedItem(
        "c0",
        "64x64x9",
        24.0,
        torch.randn(shape, generator=g),
        torch.randn(shape, generator=g),
        None,
        4,
        torch.randn(8, cfg.num_attention_heads * cfg.attention_head_dim, generator=g),
        torch.randn(8, cfg.audio_num_attention_heads * cfg.audio_attention_head_dim, generator=g),
        torch.ones(8),
        1,
        1,
        False,
    )


def _prediction(
    transformer: Any, audio: torch.Tensor, *, skip: bool, reference: bool = False
) -> torch.Tensor:
    cfg = transformer.config
    g = torch.Generator().manual_seed(1)
    latents = torch.randn(1, cfg.in_channels, 2, 2, 2, generator=g)
    batch = build_ic_batch(
        latents,
        latents.clone(),
        fps=24.0,
        reference_downscale=1,
        reference_temporal_factor=1,
        generator=g,
        sigma=torch.tensor([0.5]),
    )
    width = cfg.num_attention_heads * cfg.attention_head_dim
    audio_width = cfg.audio_num_attention_heads * cfg.audio_attention_head_dim
    cond = Conditioning(
        text=torch.ones(1, 8, width),
        audio_text=torch.ones(1, 8, audio_width),
        text_mask=None,
        audio_latents=audio,
        audio_is_reference=reference,
    )
    with torch.no_grad():
        return predict(transformer, batch, cond, fps=24.0, skip_audio_branch=skip)


def test_skipping_the_audio_branch_makes_video_independent_of_the_stand_in_audio() -> None:
    transformer = build_tiny(0).transformer.eval()
    channels = transformer.config.audio_in_channels
    noise_a, noise_b = torch.randn(1, 4, channels), 5 * torch.randn(1, 4, channels)
    assert torch.equal(
        _prediction(transformer, noise_a, skip=True), _prediction(transformer, noise_b, skip=True)
    )
    assert not torch.allclose(
        _prediction(transformer, noise_a, skip=False), _prediction(transformer, noise_b, skip=False)
    )
    # An audio reference (audio_to_video) is a control input: the video keeps attending to it.
    assert not torch.allclose(
        _prediction(transformer, noise_a, skip=True, reference=True),
        _prediction(transformer, noise_b, skip=True, reference=True),
    )


def test_fp8_preset_is_refused_on_cpu_with_one_line(tmp_path: Path) -> None:
    s = _settings(tmp_path, "train=fp8", "train.device=cpu")
    assert s.train.base_precision == "float8" and s.train.optimizer == "adamw"
    runtime = train_module.setup_runtime(s)
    with pytest.raises(ConfigError, match=r"train.base_precision=float8: .*on cpu") as err:
        train_module.setup_model(s, runtime)
    assert "\n" not in str(err.value)


def test_low_vram_preset_trains_a_step_with_8bit_weights_and_8bit_adamw(tmp_path: Path) -> None:
    pytest.importorskip("torchao")
    s = _settings(tmp_path, "train=low_vram_32g", "train.device=cpu", "train.batch_size=1", "lora.rank=2")
    t = s.train
    assert (t.base_precision, t.optimizer, t.memory_budget_gib, t.save_attention) == (
        "int8_weights",
        "adamw8bit",
        0.0,
        False,
    )
    runtime = train_module.setup_runtime(s)
    bundle = train_module.setup_model(s, runtime)
    linear = bundle.transformer.transformer_blocks[0].attn1.to_q
    assert type(linear.weight).__name__ == "Int8Tensor"
    transformer = train_module.setup_adapter(bundle.transformer, s)
    recipe = train_module.setup_training(
        s,
        runtime,
        transformer,
        bundle.model_id,
        "k",
        [_item(transformer.config)],
        train_module.OutputPaths(tmp_path),
    )
    assert type(recipe.state.optimizer).__name__ == "AdamW8bit"
    before = [p.detach().clone() for p in recipe.params]
    loss, grad_norm = train_module.train_step(recipe)
    assert torch.isfinite(torch.tensor([loss, grad_norm])).all()
    assert any(not torch.equal(a, b) for a, b in zip(before, recipe.params, strict=True))


def test_quantize_base_leaves_adapters_and_other_linears_alone() -> None:
    pytest.importorskip("torchao")
    transformer = build_tiny(0).transformer
    changed = quantize_base(transformer, "float8_weights", torch.device("cpu"))
    kinds = {
        n: type(m.weight).__name__ for n, m in transformer.named_modules() if isinstance(m, torch.nn.Linear)
    }
    assert changed == sum(k != "Parameter" for k in kinds.values()) > 0
    assert all(k == "Parameter" for n, k in kinds.items() if not n.startswith("transformer_blocks."))
    assert quantize_base(transformer, "bfloat16", torch.device("cpu")) == 0


def test_audio_to_video_jobs_adapt_the_audio_to_video_attention_by_default(tmp_path: Path) -> None:
    from synthgen.trainer.lora import add_lora

    lora = _settings(tmp_path).lora
    assert lora.targets_for("motion_track") == lora.target_modules
    a2v = lora.targets_for("audio_to_video")
    assert a2v[: len(lora.target_modules)] == lora.target_modules and len(a2v) == len(lora.target_modules) + 1
    adapted = add_lora(build_tiny(0).transformer, rank=2, alpha=2.0, target_modules=a2v)
    assert any(".audio_to_video_attn.to_q" in name for name in adapted)
    assert not any(
        "audio_to_video_attn" in name
        for name in add_lora(build_tiny(0).transformer, rank=2, alpha=2.0, target_modules=lora.target_modules)
    )


def test_bad_control_target_pattern_is_refused_naming_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"lora\.control_targets"):
        _settings(tmp_path, "lora.control_targets.audio_to_video=['a(b']")


def test_8bit_adamw_state_survives_a_checkpoint_and_resume(tmp_path: Path) -> None:
    pytest.importorskip("torchao")
    s = _settings(tmp_path, "train=low_vram_32g", "train.device=cpu", "train.batch_size=1", "lora.rank=2")
    runtime = train_module.setup_runtime(s)

    def recipe() -> Any:
        bundle = train_module.setup_model(s, runtime)
        transformer = train_module.setup_adapter(bundle.transformer, s)
        return train_module.setup_training(
            s, runtime, transformer, "m", "k", [_item(transformer.config)], train_module.OutputPaths(tmp_path)
        )

    first = recipe()
    train_module.train_step(first)
    first.state.step = 1
    train_module.write_checkpoint(first)
    resumed = recipe()
    assert resumed.state.step == 1
    moments = [v["exp_avg"] for v in resumed.state.optimizer.state.values()]
    original = [v["exp_avg"] for v in first.state.optimizer.state.values()]
    # torchao keeps small moments as plain tensors and large ones 8-bit: each comes back as it was saved.
    assert moments and [type(m) for m in moments] == [type(m) for m in original]
    saved = train_module.optimizer_state_for_file(first.state.optimizer)["state"]
    loaded = train_module.optimizer_state_for_file(resumed.state.optimizer)["state"]
    assert all(torch.allclose(saved[i]["exp_avg"], loaded[i]["exp_avg"], atol=1e-6) for i in saved)
    loss, _ = train_module.train_step(resumed)
    assert torch.isfinite(torch.tensor(loss))
