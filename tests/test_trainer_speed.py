"""Speed defaults and objective-parity settings of synthgen-train: config keys, their CPU behaviour, wiring."""

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
from synthgen.trainer.ic import draw_sigma, ltx_trainer_sigma, masked_mse, shifted_logit_normal
from synthgen.trainer.speed import adapter_autocast, resolve_auto, resolve_compile


def test_packaged_defaults_are_fast_on_cuda_and_plain_on_cpu(tmp_path: Path) -> None:
    t = load_train_config({"data": {"path": str(tmp_path)}, "output_dir": str(tmp_path)}).train
    assert (t.compile, t.adapter_compute) == ("auto", "auto")
    assert (t.timestep_sampler, t.loss_average, t.reference_dropout_p) == (
        "shifted_logit_normal",
        "tokens",
        0.0,
    )
    assert t.save_attention and t.gradient_checkpointing
    assert resolve_auto(t.compile, torch.device("cuda")) and not resolve_auto(t.compile, torch.device("cpu"))
    assert resolve_auto(True, torch.device("cpu")) and not resolve_auto(False, torch.device("cuda"))


@pytest.mark.parametrize(
    ("value", "precision", "device", "expected"),
    [
        ("auto", "bfloat16", "cuda", True),
        ("auto", "float8", "cuda", True),
        ("auto", "int8_weights", "cuda", False),  # compiled int8 blocks: first step > 220 s measured
        ("auto", "bfloat16", "cpu", False),
        (True, "int8_weights", "cuda", True),  # an explicit true is obeyed
        (False, "bfloat16", "cuda", False),
    ],
)
def test_compile_auto_stays_off_over_int8_weights(
    value: object, precision: str, device: str, expected: bool
) -> None:
    assert resolve_compile(value, precision, torch.device(device)) is expected  # type: ignore[arg-type]


def test_low_vram_presets_leave_compilation_off_on_cuda(tmp_path: Path) -> None:
    for preset in ("low_vram_32g", "low_vram_24g"):
        t = load_train_config(
            {"data": {"path": str(tmp_path)}, "output_dir": str(tmp_path)}, overrides=[f"train={preset}"]
        ).train
        assert not resolve_compile(t.compile, t.base_precision, torch.device("cuda")), preset


@pytest.mark.parametrize(
    "override",
    [
        "train.compile=sometimes",
        "train.adapter_compute=float16",
        "train.timestep_sampler=uniform",
        "train.loss_average=sum",
        "train.reference_dropout_p=1.5",
    ],
)
def test_bad_speed_and_objective_values_are_refused_naming_the_key(tmp_path: Path, override: str) -> None:
    key = override.split("=")[0].split(".")[1]
    with pytest.raises(ConfigError, match=key):
        load_train_config(
            {"data": {"path": str(tmp_path)}, "output_dir": str(tmp_path)}, overrides=[override]
        )


def test_adapter_autocast_runs_bf16_matmuls_on_float32_master_weights() -> None:
    layer = torch.nn.Linear(8, 4)
    x = torch.randn(2, 8)
    with adapter_autocast("auto", torch.device("cpu")):
        assert layer(x).dtype == torch.float32  # auto is off on CPU: today's behaviour
    with adapter_autocast("bfloat16", torch.device("cpu")):
        out = layer(x)
    assert out.dtype == torch.bfloat16
    out.float().sum().backward()
    assert layer.weight.dtype == torch.float32 and layer.weight.grad is not None
    assert layer.weight.grad.dtype == torch.float32


@settings(max_examples=30, deadline=None)
@given(tokens=st.integers(1, 40_000), seed=st.integers(0, 2**31 - 1))
def test_ltx_trainer_sigma_stays_in_the_unit_interval(tokens: int, seed: int) -> None:
    sigma = ltx_trainer_sigma(64, tokens, torch.Generator().manual_seed(seed))
    assert sigma.shape == (64,) and bool(((sigma >= 0) & (sigma <= 1)).all())


def test_ltx_trainer_sigma_is_stretched_and_mixed_with_uniform() -> None:
    n, tokens = 20_000, 12_672
    ours = shifted_logit_normal(n, tokens, torch.Generator().manual_seed(0))
    theirs = draw_sigma("ltx_trainer", n, tokens, torch.Generator().manual_seed(0))
    # At 12,672 tokens our draw sits near 1; the stretch and the 10 % uniform mix reach low noise levels.
    assert float((ours < 0.5).float().mean()) < 0.01
    assert 0.04 < float((theirs < 0.5).float().mean()) < 0.2
    uniform = ltx_trainer_sigma(n, tokens, torch.Generator().manual_seed(1), uniform_p=1.0)
    assert abs(float(uniform.mean()) - 0.5) < 0.02
    with pytest.raises(ValueError, match="timestep sampler"):
        draw_sigma("uniform", 1, tokens, torch.Generator())


def test_per_sample_loss_weighs_each_clip_equally() -> None:
    prediction = torch.zeros(2, 4, 1)
    target = torch.tensor([[1.0, 1.0, 1.0, 1.0], [3.0, 3.0, 3.0, 3.0]])[..., None]
    mask = torch.tensor([[1.0, 1.0, 1.0, 1.0], [1.0, 0.0, 0.0, 0.0]])
    assert float(masked_mse(prediction, target, mask)) == pytest.approx((4 * 1 + 9) / 5)
    assert float(masked_mse(prediction, target, mask, per_sample=True)) == pytest.approx((1 + 9) / 2)


def test_reference_dropout_draws_only_when_asked() -> None:
    reference, generator = torch.ones(1, 2), torch.Generator().manual_seed(3)
    state = generator.get_state()
    assert train_module._drop_reference(reference, 0.0, generator) is reference
    assert torch.equal(generator.get_state(), state)  # runs without dropout keep their random streams
    assert train_module._drop_reference(reference, 1.0, generator) is None
    assert train_module._drop_reference(None, 1.0, generator) is None


def _items(cfg: Any, count: int = 2) -> list[CachedItem]:
    g = torch.Generator().manual_seed(0)
    shape = (cfg.in_channels, 2, 2, 2)
    dims = (
        cfg.num_attention_heads * cfg.attention_head_dim,
        cfg.audio_num_attention_heads * cfg.audio_attention_head_dim,
    )
    return [
        CachedItem(
            f"c{i}",
            "64x64x9",
            24.0,
            torch.randn(shape, generator=g),
            torch.randn(shape, generator=g),
            None,
            4,
            torch.randn(8, dims[0], generator=g),
            torch.randn(8, dims[1], generator=g),
            torch.ones(8),
            1,
            1,
            False,
        )
        for i in range(count)
    ]


def test_train_step_passes_the_objective_settings_to_the_loss(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings_ = load_train_config(
        {"data": {"path": str(tmp_path)}, "output_dir": str(tmp_path)},
        overrides=[
            "train=cpu_quick",
            "train.batch_size=1",
            "train.timestep_sampler=ltx_trainer",
            "train.loss_average=per_sample",
            "train.reference_dropout_p=1.0",
            "lora.rank=2",
            "lora.alpha=2",
        ],
    )
    runtime = train_module.setup_runtime(settings_)
    bundle = train_module.setup_model(settings_, runtime)
    transformer = train_module.setup_adapter(bundle.transformer, settings_)
    recipe = train_module.setup_training(
        settings_,
        runtime,
        transformer,
        bundle.model_id,
        "k",
        _items(transformer.config),
        train_module.OutputPaths(tmp_path),
    )
    seen: dict[str, Any] = {}
    real = train_module.ic_loss

    def recording(*args: Any, **kwargs: Any) -> torch.Tensor:
        seen.update(kwargs, reference=args[2])
        return real(*args, **kwargs)

    monkeypatch.setattr(train_module, "ic_loss", recording)
    loss, _ = train_module.train_step(recipe)
    assert seen["sampler"] == "ltx_trainer" and seen["per_sample"] is True
    assert seen["reference"] is None and torch.isfinite(torch.tensor(loss))
