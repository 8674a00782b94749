"""Lightricks' single-file LTX-2.3 checkpoint read through ``model=ltx_checkpoint``, checked against ltx-core.

The bundle is built in ltx-core's own classes (transformer ``LTXModel``, video and audio VAE encoders and
decoders, the two text connectors, the LTX-2.3 text projection) with a tiny LTX-2.3-style configuration and
saved as the official files are: ltx-core parameter names under their component prefixes, bfloat16 tensors,
``config`` and ``model_version`` in the metadata. Outputs of our diffusers components are compared with
ltx-core's on the same inputs, in float32.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from ltx_core.guidance.perturbations import BatchedPerturbationConfig
from ltx_core.loader import LTXV_LORA_COMFY_RENAMING_MAP, SingleGPUModelBuilder
from ltx_core.model.audio_vae.model_configurator import (
    AUDIO_VAE_DECODER_COMFY_KEYS_FILTER,
    AUDIO_VAE_ENCODER_COMFY_KEYS_FILTER,
    VOCODER_COMFY_KEYS_FILTER,
    AudioDecoderConfigurator,
    AudioEncoderConfigurator,
    VocoderConfigurator,
)
from ltx_core.model.transformer.modality import Modality
from ltx_core.model.transformer.model_configurator import LTXV_MODEL_COMFY_RENAMING_MAP, LTXModelConfigurator
from ltx_core.model.video_vae.model_configurator import (
    VAE_DECODER_COMFY_KEYS_FILTER,
    VAE_ENCODER_COMFY_KEYS_FILTER,
    VideoDecoderConfigurator,
    VideoEncoderConfigurator,
)
from ltx_core.text_encoders.gemma.embeddings_connector import (
    AudioEmbeddings1DConnectorConfigurator,
    Embeddings1DConnectorConfigurator,
)
from ltx_core.text_encoders.gemma.embeddings_processor import EmbeddingsProcessor
from ltx_core.text_encoders.gemma.encoders.encoder_configurator import EMBEDDINGS_PROCESSOR_KEY_OPS
from ltx_core.text_encoders.gemma.feature_extractor import FeatureExtractorV2
from safetensors.torch import load_file, save_file

from synthgen.errors import ConfigError, DataError
from synthgen.trainer.config import check_checkpoint_paths, load_train_config
from synthgen.trainer.infer_config import load_infer_config
from synthgen.trainer.ltx_checkpoint import load_bundle_parts, load_vocoder, read_header
from synthgen.trainer.model import _load_transformer_file, build_tiny_text_encoder, load_model
from synthgen.trainer.toydata import write_squares
from synthgen.trainer.train import run
from tests.test_ltx_core import TINY_LTX_CORE_CONFIG

pytestmark = pytest.mark.filterwarnings("ignore")
CPU = torch.device("cpu")


def _res(layers: int = 1) -> list[Any]:
    return ["res_x", {"num_layers": layers}]


def _compress(kind: str, multiplier: int = 2) -> list[Any]:
    return [kind, {"multiplier": multiplier, "residual": True}]


# ltx-core's settings of a tiny LTX-2.3: the transformer of test_ltx_core, its connectors, a four-stage video VAE
# (32x spatial, 8x temporal as LTX-2.3) and an audio VAE whose latent patches are the transformer's 128 inputs.
TINY_BUNDLE_CONFIG: dict[str, Any] = {
    "transformer": {
        **TINY_LTX_CORE_CONFIG["transformer"],
        "av_ca_timestep_scale_multiplier": 1000,
        "caption_projection_first_linear": False,
        "caption_proj_input_norm": False,
        "caption_projection_second_linear": False,
        "connector_num_attention_heads": 2,
        "connector_attention_head_dim": 16,
        "connector_num_layers": 1,
        "audio_connector_num_attention_heads": 2,
        "audio_connector_attention_head_dim": 8,
        "connector_apply_gated_attention": True,
        "connector_positional_embedding_max_pos": [64],
    },
    "vae": {
        "dims": 3,
        "latent_channels": 16,
        "patch_size": 4,
        "norm_layer": "pixel_norm",
        "latent_log_var": "uniform",
        "encoder_blocks": [
            _res(),
            _compress("compress_space_res"),
            _res(),
            _compress("compress_time_res"),
            _res(),
            _compress("compress_all_res"),
            _res(),
            _compress("compress_all_res", 1),
            _res(),
        ],
        "decoder_blocks": [
            _res(),
            _compress("compress_all"),
            _res(),
            _compress("compress_all"),
            _res(),
            _compress("compress_all"),
            _res(),
        ],
        "decoder_base_channels": 4,
        "causal_decoder": False,
        "timestep_conditioning": False,
    },
    "audio_vae": {
        "model": {
            "params": {
                "sampling_rate": 16000,
                "ddconfig": {
                    "ch": 128,
                    "ch_mult": [1, 1, 1],
                    "num_res_blocks": 1,
                    "z_channels": 8,
                    "mel_bins": 64,
                    "attn_resolutions": [],
                    "mid_block_add_attention": False,
                    "in_channels": 2,
                    "out_ch": 2,
                },
            }
        },
        "preprocessing": {"stft": {"hop_length": 160, "filter_length": 1024, "causal": True}},
    },
    # LTX-2.3's two-stage vocoder: mel (16 kHz, hop 160) -> waveform, then bandwidth extension to 48 kHz.
    "vocoder": {
        "vocoder": {
            "resblock": "AMP1",
            "stereo": True,
            "activation": "snakebeta",
            "upsample_initial_channel": 32,
            "upsample_rates": [5, 4, 4, 2],
            "upsample_kernel_sizes": [11, 8, 8, 4],
            "resblock_kernel_sizes": [3],
            "resblock_dilation_sizes": [[1, 3, 5]],
            "use_bias_at_final": False,
            "use_tanh_at_final": False,
        },
        "bwe": {
            "resblock": "AMP1",
            "stereo": True,
            "activation": "snakebeta",
            "upsample_initial_channel": 16,
            "upsample_rates": [5, 4, 4, 3],
            "upsample_kernel_sizes": [11, 8, 8, 7],
            "resblock_kernel_sizes": [3],
            "resblock_dilation_sizes": [[1, 3, 5]],
            "use_bias_at_final": False,
            "use_tanh_at_final": False,
            "input_sampling_rate": 16000,
            "output_sampling_rate": 48000,
            "n_fft": 512,
            "hop_length": 80,
            "num_mels": 64,
        },
    },
}
GEMMA_FEATURES = 32 * 3  # the tiny Gemma: width 32, 2 layers + embeddings


def ltx_core_parts(config: dict[str, Any]) -> dict[str, torch.nn.Module]:
    """Every component of the bundle in ltx-core's classes (meta device), keyed by its prefix in the file."""
    with torch.device("meta"):
        return {
            "model.diffusion_model.": LTXModelConfigurator.from_config(config),
            "vae.encoder.": VideoEncoderConfigurator.from_config(config),
            "vae.decoder.": VideoDecoderConfigurator.from_config(config),
            "audio_vae.encoder.": AudioEncoderConfigurator.from_config(config),
            "audio_vae.decoder.": AudioDecoderConfigurator.from_config(config),
            "model.diffusion_model.video_embeddings_connector.": Embeddings1DConnectorConfigurator.from_config(
                config
            ),
            "model.diffusion_model.audio_embeddings_connector.": AudioEmbeddings1DConnectorConfigurator.from_config(
                config
            ),
            "text_embedding_projection.video_aggregate_embed.": torch.nn.Linear(GEMMA_FEATURES, 32),
            "text_embedding_projection.audio_aggregate_embed.": torch.nn.Linear(GEMMA_FEATURES, 16),
        }


def bundle_tensors(config: dict[str, Any], seed: int = 0) -> dict[str, torch.Tensor]:
    """Seeded bfloat16 tensors under the official names (ltx-core's per-channel statistics live once per VAE)."""
    generator = torch.Generator().manual_seed(seed)
    tensors = {}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # built on the CPU: its filters and mel basis are real values, not noise
        vocoder = VocoderConfigurator.from_config(config)
    tensors.update({f"vocoder.{k}": v.to(torch.bfloat16) for k, v in vocoder.state_dict().items()})
    for prefix, module in ltx_core_parts(config).items():
        for key, value in module.state_dict().items():
            name = prefix + key
            # Shared by encoder and decoder: stored once as vae.per_channel_statistics.* (audio_vae. alike).
            if "per_channel_statistics." in key:
                statistic = key.split("per_channel_statistics.")[1]
                name = f"{prefix.split('.')[0]}.per_channel_statistics.{statistic}"
            tensor = torch.randn(value.shape, generator=generator) * 0.05
            if name.endswith("std-of-means"):
                tensor = tensor.abs() + 0.5
            tensors[name] = tensor.to(torch.bfloat16)
    return tensors


def save_bundle(path: Path, tensors: dict[str, torch.Tensor], config: dict[str, Any], version: str) -> Path:
    save_file(tensors, str(path), metadata={"config": json.dumps(config), "model_version": version})
    return path


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bundle")
    return save_bundle(
        root / "ltx-2.3-tiny-dev.safetensors", bundle_tensors(TINY_BUNDLE_CONFIG), TINY_BUNDLE_CONFIG, "2.3.0"
    )


@pytest.fixture(scope="module")
def gemma(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("gemma")
    encoder, tokenizer = build_tiny_text_encoder(seed=0)
    encoder.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def parts(bundle: Path) -> Any:
    return load_bundle_parts(bundle, gemma_hidden=32, gemma_layers=2, dtype=torch.float32)


def ltx_core_model(configurator: Any, ops: Any, bundle: Path) -> Any:
    return (
        SingleGPUModelBuilder(model_class_configurator=configurator, model_path=str(bundle), model_sd_ops=ops)
        .build(device=CPU, dtype=torch.float32)
        .eval()
    )


def test_the_transformer_gives_ltx_core_outputs_on_the_same_inputs(bundle: Path, parts: Any) -> None:
    theirs = ltx_core_model(LTXModelConfigurator, LTXV_MODEL_COMFY_RENAMING_MAP, bundle)
    generator = torch.Generator().manual_seed(1)
    tokens, audio_tokens, text = 8, 5, 7
    video = torch.randn(1, tokens, 16, generator=generator)
    audio = torch.randn(1, audio_tokens, 128, generator=generator)
    video_text = torch.randn(1, text, 32, generator=generator)
    audio_text = torch.randn(1, text, 16, generator=generator)
    # Pixel-space [start, end) boxes per latent token (seconds, y, x), as both models take them.
    f, y, x = (axis.flatten().float() for axis in torch.meshgrid(*[torch.arange(2)] * 3, indexing="ij"))
    start = torch.stack([f * 8 / 24, y * 32, x * 32])
    video_pos = torch.stack([start, start + torch.tensor([[8 / 24], [32.0], [32.0]])], dim=-1)[None]
    seconds = torch.arange(audio_tokens).float() * 0.04
    audio_pos = torch.stack([seconds, seconds + 0.04], dim=-1)[None, None]
    sigma = torch.tensor([0.6])
    with torch.no_grad():
        core_video, core_audio = theirs(
            Modality(latent=video, sigma=sigma, timesteps=sigma.expand(1, tokens), positions=video_pos, context=video_text),
            Modality(latent=audio, sigma=sigma, timesteps=sigma.expand(1, audio_tokens), positions=audio_pos, context=audio_text),
            BatchedPerturbationConfig.empty(1),
        )  # fmt: skip
        # diffusers takes timesteps already multiplied by timestep_scale_multiplier (1000).
        ours_video, ours_audio = parts.transformer(
            hidden_states=video, audio_hidden_states=audio, encoder_hidden_states=video_text,
            audio_encoder_hidden_states=audio_text, timestep=sigma.expand(1, tokens) * 1000,
            audio_timestep=sigma.expand(1, audio_tokens) * 1000, sigma=sigma * 1000,
            video_coords=video_pos, audio_coords=audio_pos, return_dict=False,
        )[:2]  # fmt: skip
    assert float(core_video.abs().max()) > 0.1  # a real signal, not zeros on both sides
    # Same float32 arithmetic in another order: agreement to a few float32 ulps of the output scale.
    torch.testing.assert_close(ours_video, core_video, rtol=0.0, atol=1e-6)
    torch.testing.assert_close(ours_audio, core_audio, rtol=0.0, atol=1e-6)


def test_the_video_vae_encodes_and_decodes_as_ltx_core(bundle: Path, parts: Any) -> None:
    encoder = ltx_core_model(VideoEncoderConfigurator, VAE_ENCODER_COMFY_KEYS_FILTER, bundle)
    decoder = ltx_core_model(VideoDecoderConfigurator, VAE_DECODER_COMFY_KEYS_FILTER, bundle)
    video = torch.rand(1, 3, 9, 64, 64, generator=torch.Generator().manual_seed(0)) * 2 - 1
    mean = parts.vae.latents_mean.view(1, -1, 1, 1, 1)
    std = parts.vae.latents_std.view(1, -1, 1, 1, 1)
    with torch.no_grad():
        theirs = encoder(video)  # ltx-core returns latents normalised by the per-channel statistics
        ours = (parts.vae.encode(video).latent_dist.mode() - mean) / std
        torch.testing.assert_close(ours, theirs, rtol=0.0, atol=1e-5)
        decoded = parts.vae.decode(theirs * std + mean, return_dict=False)[0]
        torch.testing.assert_close(decoded, decoder(theirs), rtol=0.0, atol=1e-5)
    assert theirs.shape == (1, 16, 2, 2, 2)


def test_the_audio_vae_encodes_and_decodes_as_ltx_core(bundle: Path, parts: Any) -> None:
    encoder = ltx_core_model(AudioEncoderConfigurator, AUDIO_VAE_ENCODER_COMFY_KEYS_FILTER, bundle)
    decoder = ltx_core_model(AudioDecoderConfigurator, AUDIO_VAE_DECODER_COMFY_KEYS_FILTER, bundle)
    mel = torch.randn(1, 2, 33, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        theirs = encoder(mel)  # normalised per (channel, mel bin) patch
        raw = parts.audio_vae.encode(mel).latent_dist.mode()
        b, c, t, f = raw.shape
        patched = raw.permute(0, 2, 1, 3).reshape(b, t, c * f)
        normalised = (patched - parts.audio_vae.latents_mean) / parts.audio_vae.latents_std
        ours = normalised.reshape(b, t, c, f).permute(0, 2, 1, 3)
        torch.testing.assert_close(ours, theirs, rtol=0.0, atol=1e-5)
        torch.testing.assert_close(
            parts.audio_vae.decode(raw, return_dict=False)[0], decoder(theirs), rtol=0.0, atol=1e-5
        )


def test_the_text_connectors_give_ltx_core_embeddings(bundle: Path, parts: Any) -> None:
    # ltx-core's LTX-2.3 text path (per-token RMS norm, per-modality projection, connectors with registers),
    # its projection sized for the tiny Gemma; weights through ltx-core's own key table.
    theirs = EmbeddingsProcessor(
        feature_extractor=FeatureExtractorV2(
            torch.nn.Linear(GEMMA_FEATURES, 32), 32, torch.nn.Linear(GEMMA_FEATURES, 16)
        ),
        video_connector=Embeddings1DConnectorConfigurator.from_config(TINY_BUNDLE_CONFIG),
        audio_connector=AudioEmbeddings1DConnectorConfigurator.from_config(TINY_BUNDLE_CONFIG),
    )
    renamed = {
        EMBEDDINGS_PROCESSOR_KEY_OPS.apply_to_key(k): v.float() for k, v in load_file(str(bundle)).items()
    }
    theirs.load_state_dict({k: v for k, v in renamed.items() if k is not None}, strict=True)
    generator = torch.Generator().manual_seed(0)
    hidden = tuple(torch.randn(1, 128, 32, generator=generator) for _ in range(3))  # 128: the register count
    mask = torch.zeros(1, 128, dtype=torch.long)
    mask[:, -20:] = 1  # left padding, as Gemma's tokenizer pads
    with torch.no_grad():
        expected = theirs.eval().process_hidden_states(hidden, mask)
        video, audio, out_mask = parts.connectors(torch.stack(hidden, dim=-1), mask)
    assert float(expected.video_encoding.abs().max()) > 0.1
    torch.testing.assert_close(video, expected.video_encoding, rtol=0.0, atol=1e-6)
    torch.testing.assert_close(audio, expected.audio_encoding, rtol=0.0, atol=1e-6)
    assert torch.equal(out_mask.long(), expected.attention_mask.long())


def test_the_vocoder_gives_ltx_core_waveforms(bundle: Path) -> None:
    theirs = ltx_core_model(VocoderConfigurator, VOCODER_COMFY_KEYS_FILTER, bundle)
    ours = load_vocoder(bundle, torch.float32)
    mel = torch.randn(
        1, 2, 12, 64, generator=torch.Generator().manual_seed(0)
    )  # (batch, stereo, frames, bins)
    with torch.no_grad():
        expected = theirs(mel)
        waveform = ours(mel)
    assert waveform.shape == expected.shape == (1, 2, 12 * 160 * 3)  # 16 kHz hop 160, then 48 kHz
    assert float(expected.abs().max()) > 1e-3
    torch.testing.assert_close(waveform, expected, rtol=0.0, atol=1e-5)


def test_every_tensor_of_the_bundle_lands_in_one_component_unchanged(bundle: Path, parts: Any) -> None:
    file = load_file(str(bundle))
    loaded = {
        **{f"t.{k}": v for k, v in parts.transformer.state_dict().items()},
        **{f"v.{k}": v for k, v in parts.vae.state_dict().items()},
        **{f"a.{k}": v for k, v in parts.audio_vae.state_dict().items()},
        **{f"c.{k}": v for k, v in parts.connectors.state_dict().items()},
        **{f"o.{k}": v for k, v in load_vocoder(bundle, torch.float32).state_dict().items()},
    }
    by_value = sum(float(v.float().sum()) for v in file.values())
    # Only the statistics ltx-core keeps for bookkeeping (channel ids, mean-of-stds) have no diffusers home.
    dropped = sum(float(v.float().sum()) for k, v in file.items() if k.endswith(("channel", "mean-of-stds")))
    assert sum(float(v.sum()) for v in loaded.values()) == pytest.approx(by_value - dropped, rel=1e-9)
    registers = file["model.diffusion_model.video_embeddings_connector.learnable_registers"].float()
    assert torch.equal(parts.connectors.video_connector.learnable_registers, registers)


def test_the_bundle_loads_in_the_asked_dtype_without_a_float32_copy(bundle: Path) -> None:
    half = load_bundle_parts(bundle, gemma_hidden=32, gemma_layers=2, dtype=torch.bfloat16)
    assert {p.dtype for p in half.transformer.parameters()} == {torch.bfloat16}
    assert {p.dtype for p in half.connectors.parameters()} == {torch.bfloat16}


def test_model_ltx_checkpoint_builds_a_full_bundle_with_the_gemma_folder(bundle: Path, gemma: Path) -> None:
    model = load_model("ltx_checkpoint", checkpoint=str(bundle), gemma=str(gemma))
    ids = model.tokenizer("A cube.", return_tensors="pt").input_ids
    hidden = model.text_encoder(input_ids=ids, output_hidden_states=True).hidden_states
    features = torch.stack(hidden, dim=-1).flatten(2)
    assert features.shape[-1] == model.connectors.video_text_proj_in.in_features
    assert str(bundle.resolve()) in model.model_id and str(gemma.resolve()) in model.model_id


def test_a_transformer_only_file_takes_its_config_from_its_own_metadata(
    bundle: Path, parts: Any, tmp_path: Path
) -> None:
    tensors = {k: v for k, v in load_file(str(bundle)).items() if k.startswith("model.diffusion_model.")}
    path = save_bundle(tmp_path / "transformer.safetensors", tensors, TINY_BUNDLE_CONFIG, "2.3.0")
    transformer = _load_transformer_file(path, tmp_path / "no-components", torch.float32)
    ours = parts.transformer.state_dict()
    assert all(torch.equal(value, ours[name]) for name, value in transformer.state_dict().items())


def test_a_transformer_file_without_config_needs_a_local_config(tmp_path: Path) -> None:
    path = tmp_path / "bare.safetensors"
    save_file({"model.diffusion_model.proj_out.weight": torch.zeros(2, 2)}, str(path))
    with pytest.raises(ConfigError, match=r"without config metadata needs model.components_path/transformer"):
        _load_transformer_file(path, tmp_path, torch.float32)


# --------------------------------------------------------------------------------------------- errors


def _small(tmp_path: Path, name: str, tensors: dict[str, torch.Tensor], meta: dict[str, str]) -> Path:
    path = tmp_path / name
    save_file(tensors, str(path), metadata=meta)
    return path


def _layout(**extra: torch.Tensor) -> dict[str, torch.Tensor]:
    names = (
        "model.diffusion_model.prompt_adaln_single.linear.weight",
        "text_embedding_projection.video_aggregate_embed.weight",
        "vae.encoder.conv_in.conv.weight",
    )
    return {**{name: torch.zeros(1, dtype=torch.bfloat16) for name in names}, **extra}


def test_an_ltx_2_19b_checkpoint_is_named_as_such(tmp_path: Path) -> None:
    config = {"transformer": {"num_layers": 48}, "vae": {}}
    path = _small(
        tmp_path,
        "ltx-2-19b-dev.safetensors",
        _layout(),
        {"config": json.dumps(config), "model_version": "2.0.0"},
    )
    with pytest.raises(DataError, match=r"ltx-2-19b-dev.safetensors: an LTX-2 \(19B\) checkpoint"):
        load_bundle_parts(path, gemma_hidden=32, gemma_layers=2, dtype=torch.float32)


def test_a_wrong_checkpoint_is_named_before_a_run_writes_anything(tmp_path: Path) -> None:
    meta = {"config": json.dumps(TINY_BUNDLE_CONFIG), "model_version": "2.5.0"}
    path = _small(tmp_path, "ltx-2.5.safetensors", _layout(), meta)
    settings = load_train_config(
        {
            "data": {"path": str(tmp_path)},
            "output_dir": str(tmp_path / "run"),
            "model": {"preset": "ltx_checkpoint", "checkpoint": str(path), "gemma": str(tmp_path)},
        }
    )
    with pytest.raises(DataError, match=r"ltx-2.5.safetensors: an LTX-2.5.0 checkpoint"):
        check_checkpoint_paths(settings.model)  # what check_paths runs before Hydra
    assert not (tmp_path / "run").exists()


def test_an_ltx_2_5_checkpoint_is_named_as_such(tmp_path: Path) -> None:
    meta = {"config": json.dumps(TINY_BUNDLE_CONFIG), "model_version": "2.5.0"}
    path = _small(tmp_path, "ltx-2.5.safetensors", _layout(), meta)
    with pytest.raises(DataError, match=r"ltx-2.5.safetensors: an LTX-2.5.0 checkpoint"):
        load_bundle_parts(path, gemma_hidden=32, gemma_layers=2, dtype=torch.float32)


def test_a_transformer_only_file_is_refused_where_a_bundle_is_expected(tmp_path: Path) -> None:
    tensors = {"model.diffusion_model.proj_out.weight": torch.zeros(2, 2)}
    path = _small(tmp_path, "transformer.safetensors", tensors, {})
    with pytest.raises(DataError, match=r"transformer.safetensors: a transformer-only file"):
        load_bundle_parts(path, gemma_hidden=32, gemma_layers=2, dtype=torch.float32)


def test_an_fp8_community_file_is_refused(tmp_path: Path) -> None:
    fp8 = torch.zeros(2, 2).to(torch.float8_e4m3fn)
    meta = {"config": json.dumps(TINY_BUNDLE_CONFIG), "model_version": "2.3.0"}
    path = _small(
        tmp_path, "ltx-2.3-fp8.safetensors", _layout(**{"model.diffusion_model.x.weight": fp8}), meta
    )
    with pytest.raises(DataError, match=r"ltx-2.3-fp8.safetensors: an fp8-quantised checkpoint \(F8_E4M3\)"):
        load_bundle_parts(path, gemma_hidden=32, gemma_layers=2, dtype=torch.float32)


def test_a_gemma_of_another_width_is_a_config_error(bundle: Path) -> None:
    with pytest.raises(ConfigError, match=r"^model.gemma: a Gemma of width 3840 and 48 layers"):
        load_bundle_parts(bundle, gemma_hidden=3840, gemma_layers=48, dtype=torch.float32)


def test_the_header_is_read_without_loading_tensors(bundle: Path) -> None:
    header = read_header(bundle)
    assert header.model_version == "2.3.0" and header.config == TINY_BUNDLE_CONFIG
    assert header.dtypes["vae.per_channel_statistics.mean-of-means"] == "BF16"


def test_model_ltx_checkpoint_needs_both_files(tmp_path: Path) -> None:
    model = {"preset": "ltx_checkpoint", "checkpoint": "x"}
    with pytest.raises(ConfigError, match=r"model=ltx_checkpoint needs model.checkpoint"):
        load_train_config(
            {"data": {"path": str(tmp_path)}, "output_dir": str(tmp_path / "run"), "model": model}
        )


def test_synthgen_infer_generates_from_the_bundle(bundle: Path, gemma: Path, tmp_path: Path) -> None:
    from synthgen.dataset.media import VideoEncoding, decode_video, encode_video
    from synthgen.trainer.infer import run_inference

    frames = np.zeros((9, 64, 64, 3), dtype=np.uint8)
    frames[:, 16:48, 16:48] = 200
    reference = tmp_path / "ref.mp4"
    reference.write_bytes(encode_video(frames, 24.0, VideoEncoding(crf=18)))
    model = {"preset": "ltx_checkpoint", "checkpoint": str(bundle), "gemma": str(gemma)}
    settings = load_infer_config(
        {
            "output_dir": str(tmp_path / "out"),
            "model": model,
            "data": {"path": None},
            "reference": {"video": str(reference), "prompt": "A square."},
            "infer": {"progress": False},
        },
        # Two steps: one step's schedule has no last non-zero sigma below 1 to stretch to the terminal 0.1.
        overrides=["infer=cpu_quick", "infer.num_inference_steps=2"],
    )
    report = run_inference(settings)
    assert report["model"].startswith(str(bundle.resolve()))
    with pytest.raises(
        ConfigError, match=r"^infer.num_inference_steps=1: LTX-2.3's schedule needs at least 2"
    ):
        load_infer_config(
            {**settings.to_dict(), "infer": {**settings.to_dict()["infer"], "num_inference_steps": 1}}
        )
    assert decode_video((tmp_path / "out" / "ref.mp4").read_bytes()).shape == (9, 64, 64, 3)


def test_the_schedule_is_ltx_cores(bundle: Path) -> None:
    from diffusers import FlowMatchEulerDiscreteScheduler
    from diffusers.pipelines.ltx2.pipeline_ltx2_ic_lora import calculate_shift
    from ltx_core.components.schedulers import LTX2Scheduler

    from synthgen.trainer.ltx_checkpoint import LTX23_SCHEDULER_CONFIG

    steps, latent = 8, torch.zeros(1, 128, 4, 16, 24)  # 1536 tokens, between the two shift anchors
    scheduler = FlowMatchEulerDiscreteScheduler(**LTX23_SCHEDULER_CONFIG)
    # As diffusers' LTX-2 pipelines call it: linear sigmas and mu from the token count.
    mu = calculate_shift(4 * 16 * 24, 1024, 4096, 0.95, 2.05)
    scheduler.set_timesteps(sigmas=np.linspace(1.0, 1 / steps, steps), mu=mu)
    expected = LTX2Scheduler().execute(steps, latent)
    torch.testing.assert_close(scheduler.sigmas.float(), expected, rtol=0.0, atol=1e-6)


# --------------------------------------------------------------------------------------------- training


def test_a_lora_trained_from_the_bundle_is_applied_by_ltx_core_to_the_original(
    bundle: Path, gemma: Path, tmp_path: Path
) -> None:
    torch.set_num_threads(1)
    squares = write_squares(tmp_path / "ds", 3, reference_downscale=1)
    settings = {
        "output_dir": str(tmp_path / "run"),
        "model": {"preset": "ltx_checkpoint", "checkpoint": str(bundle), "gemma": str(gemma)},
        "data": {"path": str(squares), "cache_dir": str(tmp_path / "cache"), "buckets": ["64x64x9"], "eval_clips": 1},
        "lora": {"rank": 4, "alpha": 8, "target_modules": [r"transformer_blocks\.\d+\.attn1\.(to_q|to_v)"]},
        "eval": {"sigmas": [0.5], "noise_draws": 1},
        "train": {
            "device": "cpu", "cpu_threads": 1, "steps": 2, "lr": 1e-2, "batch_size": 1, "warmup_steps": 1,
            "progress": False, "gradient_checkpointing": False, "save_attention": False,
        },
    }  # fmt: skip
    run(load_train_config(settings))
    lora = tmp_path / "run" / "lora.safetensors"
    builder = SingleGPUModelBuilder(
        model_class_configurator=LTXModelConfigurator,
        model_path=str(bundle),
        model_sd_ops=LTXV_MODEL_COMFY_RENAMING_MAP,
    )
    base = builder.build(device=CPU, dtype=torch.float32).state_dict()
    fused = (
        builder.lora(str(lora), 1.0, LTXV_LORA_COMFY_RENAMING_MAP)
        .build(device=CPU, dtype=torch.float32)
        .state_dict()
    )
    changed = sorted(k for k in base if not torch.equal(base[k], fused[k]))
    assert changed == [f"transformer_blocks.{b}.attn1.{m}.weight" for b in (0, 1) for m in ("to_q", "to_v")]
