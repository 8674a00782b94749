"""Our LoRA files read by Lightricks' own code from the registry (ltx-core, ltx-pipelines), not copies of it.

A tiny ltx-core ``LTXModel`` with the LTX-2.3 switches of our tiny preset (gated attention, prompt modulation,
split RoPE) has exactly the linear layers of our tiny ``LTX2VideoTransformer3DModel`` under ltx-core's names.
It is saved as ltx-core checkpoints are (``model.diffusion_model.<name>`` keys, a ``config`` JSON in the
metadata) and built through ltx-core's ``SingleGPUModelBuilder`` with our ``lora.safetensors`` fused in.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from diffusers import LTX2VideoTransformer3DModel
from ltx_core.loader import LTXV_LORA_COMFY_RENAMING_MAP, SingleGPUModelBuilder
from ltx_core.model.transformer.model_configurator import LTXV_MODEL_COMFY_RENAMING_MAP, LTXModelConfigurator
from ltx_pipelines.ic_lora import _read_lora_reference_downscale_factor
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from synthgen.errors import ConfigError, DataError
from synthgen.trainer import cache
from synthgen.trainer.config import load_train_config, parse_bucket
from synthgen.trainer.lora import (
    LTX_CORE_TOP_LEVEL,
    add_lora,
    diffusers_name,
    ltx_core_name,
    resolve_target_modules,
)
from synthgen.trainer.model import TINY_TRANSFORMER_CONFIG, build_tiny
from synthgen.trainer.toydata import square_row, write_squares
from synthgen.trainer.train import run

pytestmark = pytest.mark.filterwarnings("ignore")

# ltx-core's configuration of our tiny preset; the keys ltx-core checks by value are the LTX-2.3 ones.
TINY_LTX_CORE_CONFIG: dict[str, Any] = {
    "transformer": {
        "num_attention_heads": 2,
        "attention_head_dim": 16,
        "in_channels": 16,
        "out_channels": 16,
        "num_layers": 2,
        "cross_attention_dim": 32,
        "audio_num_attention_heads": 2,
        "audio_attention_head_dim": 8,
        "audio_in_channels": 128,
        "audio_out_channels": 128,
        "audio_cross_attention_dim": 16,
        "caption_channels": 32,
        "caption_proj_before_connector": True,  # LTX-2.3: the text projection lives in the connectors
        "apply_gated_attention": True,
        "cross_attention_adaln": True,
        "rope_type": "split",
        "frequencies_precision": "float64",
        "dropout": 0.0,
        "attention_bias": True,
        "num_vector_embeds": None,
        "activation_fn": "gelu-approximate",
        "num_embeds_ada_norm": 1000,
        "use_linear_projection": False,
        "only_cross_attention": False,
        "cross_attention_norm": True,
        "double_self_attention": False,
        "upcast_attention": False,
        "standardization_norm": "rms_norm",
        "norm_elementwise_affine": False,
        "qk_norm": "rms_norm",
        "positional_embedding_type": "rope",
        "use_audio_video_cross_attention": True,
        "share_ff": False,
        "av_cross_ada_norm": True,
        "use_middle_indices_grid": True,
    }
}


def linear_shapes(model: torch.nn.Module) -> dict[str, tuple[int, ...]]:
    return {n: tuple(m.weight.shape) for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)}


@pytest.fixture(scope="module")
def ltx_core_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny ltx-core transformer saved in the layout of Lightricks' checkpoints (bfloat16, as shipped)."""
    with torch.device("meta"):
        model = LTXModelConfigurator.from_config(TINY_LTX_CORE_CONFIG)
    path = tmp_path_factory.mktemp("ltx_core") / "tiny-ltx-2.3.safetensors"
    # Seeded values for every tensor: some ltx-core parameters start as torch.empty (uninitialised memory).
    generator = torch.Generator().manual_seed(0)
    tensors = {
        f"model.diffusion_model.{k}": (torch.randn(v.shape, generator=generator) * 0.05).to(torch.bfloat16)
        for k, v in model.state_dict().items()
    }
    save_file(tensors, str(path), metadata={"config": json.dumps(TINY_LTX_CORE_CONFIG)})
    return path


@pytest.fixture(scope="module")
def trained_lora(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``lora.safetensors`` of a short real training run, with top-level modules among the targets."""
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("train")
    squares = write_squares(root / "ds", 4, reference_downscale=2)
    targets = [
        r"transformer_blocks\.\d+\.attn1\.(to_q|to_v)",
        r"transformer_blocks\.0\.ff\.net\.2",
        "proj_in",
    ]
    targets.append(r"time_embed\.linear")
    settings = {
        "output_dir": str(root / "run"),
        "data": {
            "path": str(squares),
            "cache_dir": str(root / "cache"),
            "buckets": ["64x64x9"],
            "eval_clips": 1,
        },
        "lora": {"rank": 4, "alpha": 8, "target_modules": targets},
        "eval": {"sigmas": [0.5], "noise_draws": 1},
        "train": {
            "device": "cpu",
            "cpu_threads": 1,
            "steps": 3,
            "lr": 1e-2,
            "batch_size": 1,
            "warmup_steps": 1,
            "progress": False,
            "gradient_checkpointing": False,
            "save_attention": False,
        },
    }
    run(load_train_config(settings))
    return root / "run" / "lora.safetensors"


def test_every_linear_of_our_transformer_has_its_ltx_core_name_and_shape() -> None:
    with torch.device("meta"):
        ours = linear_shapes(LTX2VideoTransformer3DModel(**TINY_TRANSFORMER_CONFIG))
        theirs = linear_shapes(LTXModelConfigurator.from_config(TINY_LTX_CORE_CONFIG))
    renamed = {ltx_core_name(name): shape for name, shape in ours.items()}
    assert renamed == theirs  # a one-to-one map: every linear of either class, same shapes
    assert all(diffusers_name(str(ltx_core_name(name))) == name for name in ours)
    # Every table entry is used by the real class (a stale entry would hide a rename).
    assert {name.split(".")[0] for name in ours} >= set(LTX_CORE_TOP_LEVEL)


def test_a_target_without_an_ltx_core_counterpart_is_a_one_line_config_error() -> None:
    extra = torch.nn.Module()
    extra.transformer_blocks = torch.nn.ModuleList([torch.nn.Linear(4, 4)])
    extra.my_head = torch.nn.Linear(4, 4)
    assert resolve_target_modules(extra, [r"transformer_blocks\.0"]) == ["transformer_blocks.0"]
    with pytest.raises(
        ConfigError, match=r"^lora.target_modules: 'my_.*' matches 'my_head', a module ltx-core"
    ):
        resolve_target_modules(extra, ["my_.*"])
    with pytest.raises(ConfigError, match="ltx-core"):
        add_lora(extra, rank=2, alpha=2, target_modules=["my_head"])


def test_ltx_core_fuses_every_key_of_our_lora_as_b_times_a(
    ltx_core_checkpoint: Path, trained_lora: Path
) -> None:
    ours = load_file(str(trained_lora))
    modules = sorted({key.removeprefix("diffusion_model.").split(".lora_")[0] for key in ours})
    assert "patchify_proj" in modules and "adaln_single.linear" in modules  # renamed top-level targets
    builder = SingleGPUModelBuilder(
        model_class_configurator=LTXModelConfigurator,
        model_path=str(ltx_core_checkpoint),
        model_sd_ops=LTXV_MODEL_COMFY_RENAMING_MAP,
    )
    base = builder.build(device=torch.device("cpu"), dtype=torch.bfloat16).state_dict()
    fused = (
        builder.lora(str(trained_lora), 1.0, LTXV_LORA_COMFY_RENAMING_MAP)
        .build(device=torch.device("cpu"), dtype=torch.bfloat16)
        .state_dict()
    )
    changed = sorted(k.removesuffix(".weight") for k in base if not torch.equal(base[k], fused[k]))
    assert changed == modules  # every adapted module received its delta, nothing else moved
    for module in modules:
        a = ours[f"diffusion_model.{module}.lora_A.weight"].float()
        b = ours[f"diffusion_model.{module}.lora_B.weight"].float()
        delta = fused[f"{module}.weight"].float() - base[f"{module}.weight"].float()
        # ltx-core adds B @ A (alpha / r already folded into B) in bfloat16: one bfloat16 rounding of W + BA.
        scale = (base[f"{module}.weight"].float().abs() + (b @ a).abs()).max()
        torch.testing.assert_close(delta, b @ a, rtol=0.0, atol=float(scale) * 2**-7)
        assert float((b @ a).abs().max()) > float(scale) * 2**-5  # the delta is well above the tolerance


def test_ltx_pipelines_reads_our_reference_factors(trained_lora: Path) -> None:
    assert _read_lora_reference_downscale_factor(str(trained_lora)) == 2
    with safe_open(str(trained_lora), framework="pt") as handle:
        meta = handle.metadata()
    # ltx-trainer's names beside ours (its flexible strategy writes the spatial one).
    assert meta["reference_spatial_scale_factor"] == "2" and meta["reference_temporal_scale_factor"] == "1"
    assert meta["reference_temporal_factor"] == "1"


def test_a_dataset_with_mixed_reference_factors_is_refused_at_cache_time_naming_two_clips(
    tmp_path: Path,
) -> None:
    rows = [square_row(0, reference_downscale=1), square_row(1, reference_downscale=2)]
    bundle = build_tiny(0)
    with pytest.raises(DataError) as err:
        cache.build_cache(
            iter(rows),
            bundle,
            cache_dir=tmp_path / "c",
            control="motion_track",
            buckets=[parse_bucket("64x64x9")],
        )
    message = str(err.value)
    assert "\n" not in message and message.startswith("data.path: clips ")
    assert rows[0].clip_id in message and rows[1].clip_id in message and "reference_downscale=2" in message
    assert not (tmp_path / "c" / "index.json").exists()


def test_diffusers_maps_the_renamed_top_level_keys_back_to_its_own_modules(trained_lora: Path) -> None:
    from diffusers import LTX2InContextPipeline

    state = LTX2InContextPipeline.lora_state_dict(str(trained_lora))
    modules = {key.removeprefix("transformer.").split(".lora_")[0] for key in state}
    with torch.device("meta"):
        linear = set(linear_shapes(LTX2VideoTransformer3DModel(**TINY_TRANSFORMER_CONFIG)))
    assert {"proj_in", "time_embed.linear"} <= modules <= linear
