"""LoRA injection, export in LTX/ComfyUI layout and loading through diffusers' LTX-2 LoRA loader."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from diffusers import LTX2VideoTransformer3DModel
from diffusers.loaders.lora_pipeline import LTX2LoraLoaderMixin

from synthgen.describe.compose import compose_packaged
from synthgen.errors import ConfigError
from synthgen.trainer.ic import build_ic_batch
from synthgen.trainer.lora import (
    adapter_state_dict,
    add_lora,
    export_state_dict,
    load_adapter_state,
    lora_parameters,
    read_lora,
    save_lora,
)
from synthgen.trainer.model import TINY_TRANSFORMER_CONFIG
from synthgen.trainer.step import Conditioning, predict

pytestmark = pytest.mark.filterwarnings("ignore")
# What users train: lora.target_modules of the packaged conf/train.yaml.
TARGETS = list(compose_packaged("train").lora.target_modules)


def tiny_transformer(seed: int = 0) -> Any:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model: Any = LTX2VideoTransformer3DModel(**TINY_TRANSFORMER_CONFIG)
    return model.eval()


def tiny_prediction(model: torch.nn.Module) -> torch.Tensor:
    generator = torch.Generator().manual_seed(3)
    batch = build_ic_batch(
        torch.randn(1, 16, 2, 2, 2, generator=generator),
        torch.randn(1, 16, 2, 1, 1, generator=generator),
        fps=24.0,
        reference_downscale=2,
        reference_temporal_factor=1,
        generator=generator,
        sigma=torch.tensor([0.5]),
    )
    cond = Conditioning(
        text=torch.randn(1, 6, 32, generator=generator),
        audio_text=torch.randn(1, 6, 16, generator=generator),
        text_mask=None,
        audio_latents=torch.randn(1, 5, 128, generator=generator),
        audio_is_reference=False,
    )
    with torch.no_grad():
        return predict(model, batch, cond, fps=24.0)


def randomise_lora(model: torch.nn.Module, seed: int = 5) -> None:
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in lora_parameters(model):
            param.copy_(torch.randn(param.shape, generator=generator) * 0.1)


def test_new_adapter_leaves_the_output_unchanged() -> None:
    model = tiny_transformer()
    before = tiny_prediction(model)
    add_lora(model, rank=4, alpha=8, target_modules=TARGETS)
    assert torch.allclose(tiny_prediction(model), before)


def test_only_adapter_weights_are_trainable() -> None:
    model = tiny_transformer()
    add_lora(model, rank=4, alpha=4, target_modules=TARGETS)
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all(".lora_A." in n or ".lora_B." in n for n in trainable)


def test_packaged_targets_are_video_attention_and_ff_of_every_block() -> None:
    model = tiny_transformer()
    names = add_lora(model, rank=2, alpha=2, target_modules=TARGETS)
    per_block = {n.split(".", 2)[2] for n in names}
    assert per_block == {
        f"{attn}.{proj}" for attn in ("attn1", "attn2") for proj in ("to_q", "to_k", "to_v", "to_out.0")
    } | {"ff.net.0.proj", "ff.net.2"}
    assert len(names) == 10 * TINY_TRANSFORMER_CONFIG["num_layers"]


def test_target_module_matching_nothing_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"^lora.target_modules: .*attn9.* matches no linear layer") as err:
        add_lora(
            tiny_transformer(), rank=2, alpha=2, target_modules=[r"transformer_blocks\.\d+\.attn9\.to_q"]
        )
    assert "\n" not in str(err.value)


def test_export_uses_ltx_keys_without_alpha() -> None:
    model = tiny_transformer()
    add_lora(model, rank=4, alpha=8, target_modules=TARGETS)
    keys = export_state_dict(model, rank=4, alpha=8)
    assert "diffusion_model.transformer_blocks.0.attn1.to_q.lora_A.weight" in keys
    assert "diffusion_model.transformer_blocks.1.ff.net.2.lora_B.weight" in keys
    assert all(
        k.startswith("diffusion_model.") and k.endswith((".lora_A.weight", ".lora_B.weight")) for k in keys
    )
    assert not any("alpha" in k for k in keys)


@pytest.mark.parametrize(("rank", "alpha"), [(4, 4.0), (4, 16.0), (8, 2.0)])
def test_export_folds_alpha_over_rank_into_b(rank: int, alpha: float) -> None:
    model = tiny_transformer()
    add_lora(model, rank=rank, alpha=alpha, target_modules=TARGETS)
    randomise_lora(model)
    raw = adapter_state_dict(model)
    exported = export_state_dict(model, rank=rank, alpha=alpha)
    name = "transformer_blocks.0.attn1.to_q"
    delta = (alpha / rank) * raw[f"{name}.lora_B.weight"] @ raw[f"{name}.lora_A.weight"]
    folded = (
        exported[f"diffusion_model.{name}.lora_B.weight"].float()
        @ exported[f"diffusion_model.{name}.lora_A.weight"].float()
    )
    assert torch.allclose(folded, delta, atol=2e-2 * float(delta.abs().max()))


def test_saved_lora_has_reference_downscale_metadata(tmp_path: Path) -> None:
    from safetensors import safe_open

    model = tiny_transformer()
    add_lora(model, rank=2, alpha=2, target_modules=TARGETS)
    path = save_lora(
        model, tmp_path / "x.safetensors", rank=2, alpha=2, metadata={"reference_downscale_factor": 2}
    )
    with safe_open(str(path), "pt") as handle:
        meta = handle.metadata()
    assert meta["reference_downscale_factor"] == "2"
    assert not list(tmp_path.glob(".tmp-*"))


def test_exported_lora_loads_through_ltx2_loader_and_reproduces_the_adapter(tmp_path: Path) -> None:
    trained = tiny_transformer()
    add_lora(trained, rank=4, alpha=16, target_modules=TARGETS)
    randomise_lora(trained)
    path = save_lora(trained, tmp_path / "ic.safetensors", rank=4, alpha=16, metadata={})
    fresh = tiny_transformer()
    base = tiny_prediction(fresh)
    state_dict, metadata = LTX2LoraLoaderMixin.lora_state_dict(str(path), return_lora_metadata=True)
    LTX2LoraLoaderMixin.load_lora_into_transformer(
        {k: v for k, v in state_dict.items() if k.startswith("transformer.")},
        transformer=fresh,
        metadata=metadata,
    )
    loaded = tiny_prediction(fresh.float())
    expected = tiny_prediction(trained)
    assert not torch.allclose(loaded, base, atol=1e-3)
    assert torch.allclose(loaded, expected, atol=5e-2 * float(expected.abs().max()))


def test_checkpoint_of_another_rank_is_a_config_error() -> None:
    model = tiny_transformer()
    add_lora(model, rank=4, alpha=4, target_modules=TARGETS)
    other = tiny_transformer()
    add_lora(other, rank=8, alpha=8, target_modules=TARGETS)
    with pytest.raises(ConfigError, match=r"lora\.rank differs"):
        load_adapter_state(model, adapter_state_dict(other), source="ckpt.pt")


def test_read_lora_returns_what_was_written(tmp_path: Path) -> None:
    model = tiny_transformer()
    add_lora(model, rank=2, alpha=2, target_modules=TARGETS)
    randomise_lora(model)
    path = save_lora(model, tmp_path / "a.safetensors", rank=2, alpha=2, metadata={})
    written = export_state_dict(model, rank=2, alpha=2)
    read = read_lora(path)
    assert read.keys() == written.keys()
    assert all(torch.equal(read[k], written[k]) for k in read)


def test_saving_the_same_adapter_twice_writes_identical_bytes(tmp_path: Path) -> None:
    model = tiny_transformer()
    add_lora(model, rank=2, alpha=2, target_modules=TARGETS)
    randomise_lora(model)
    metadata: dict[str, str | int | float] = {f"key_{i}": i for i in range(12)}
    first = save_lora(model, tmp_path / "a.safetensors", rank=2, alpha=2, metadata=metadata)
    second = save_lora(
        model, tmp_path / "b.safetensors", rank=2, alpha=2, metadata=dict(reversed(metadata.items()))
    )
    assert first.read_bytes() == second.read_bytes()
