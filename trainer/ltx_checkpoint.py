"""Lightricks' single-file LTX-2.3 checkpoint (``ltx-2.3-22b-dev.safetensors`` and its siblings) as diffusers models.

The official file bundles every LTX component in ltx-core's parameter names, one prefix per component:

- ``model.diffusion_model.*``: the transformer, and the text connectors under
  ``model.diffusion_model.{video,audio}_embeddings_connector.*``;
- ``text_embedding_projection.{video,audio}_aggregate_embed.*``: the LTX-2.3 text projection (Gemma's stacked
  hidden states -> each modality's width);
- ``vae.*`` (video VAE), ``audio_vae.*`` (audio VAE), ``vocoder.*`` (vocoder + bandwidth extension).

Its safetensors metadata carries ``config`` (a JSON of ltx-core's settings, one section per component) and
``model_version``. We read the header once, refuse files that are not LTX-2.3 bundles, translate ltx-core's
settings into each diffusers class's configuration, build the class on the meta device and stream its tensors
out of the file one at a time, cast straight to the target dtype (a 22B bundle is never held twice). Tensor
names go through diffusers' own LTX-2 single-file converters, applied to the names alone. The vocoder is
small and is built on the CPU (its resampler filter is computed, not stored). The file carries no sampler
settings: ``LTX23_SCHEDULER_CONFIG`` restates ltx-core's ``LTX2Scheduler`` for diffusers' scheduler.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from diffusers import AutoencoderKLLTX2Audio, AutoencoderKLLTX2Video, LTX2VideoTransformer3DModel
from diffusers.loaders.single_file_utils import (
    convert_ltx2_audio_vae_to_diffusers,
    convert_ltx2_transformer_to_diffusers,
    convert_ltx2_vae_to_diffusers,
)
from diffusers.pipelines.ltx2.connectors import LTX2TextConnectors
from safetensors import SafetensorError, safe_open

from synthgen.errors import ConfigError, DataError

TRANSFORMER_PREFIX = "model.diffusion_model."
CONNECTOR_PREFIXES = {
    "model.diffusion_model.video_embeddings_connector.": "video_connector.",
    "model.diffusion_model.audio_embeddings_connector.": "audio_connector.",
    "text_embedding_projection.video_aggregate_embed.": "video_text_proj_in.",
    "text_embedding_projection.audio_aggregate_embed.": "audio_text_proj_in.",
}
# Present in every LTX-2.3 bundle; the LTX-2 (19B) bundle has the projection inside the transformer instead.
LTX23_MARKERS = (
    "text_embedding_projection.video_aggregate_embed.weight",
    "model.diffusion_model.prompt_adaln_single.linear.weight",
)
FP8_DTYPES = ("F8_E4M3", "F8_E5M2", "F8_E4M3FN", "F8_E5M2FNUZ", "F8_E4M3FNUZ")


@dataclass(frozen=True)
class CheckpointHeader:
    """What a safetensors file says about itself, read without loading a tensor."""

    path: Path
    config: dict[str, Any]
    model_version: str | None
    dtypes: dict[str, str]  # tensor name -> safetensors dtype name
    shapes: dict[str, tuple[int, ...]]


def read_header(path: Path) -> CheckpointHeader:
    """The metadata, tensor names, dtypes and shapes of ``path`` (DataError if it is not a safetensors file)."""
    try:
        with safe_open(str(path), framework="pt") as handle:
            meta = handle.metadata() or {}
            dtypes, shapes = {}, {}
            for name in handle.keys():
                view = handle.get_slice(name)
                dtypes[name] = str(view.get_dtype())
                shapes[name] = tuple(view.get_shape())
    except (SafetensorError, OSError) as err:
        raise DataError(f"{path}: not a readable safetensors file ({err})") from None
    try:
        config = json.loads(meta["config"]) if "config" in meta else {}
    except json.JSONDecodeError:
        raise DataError(f"{path}: its 'config' metadata is not JSON") from None
    return CheckpointHeader(path, config, meta.get("model_version"), dtypes, shapes)


def check_ltx23_bundle(header: CheckpointHeader) -> None:
    """DataError naming the file and what it is, unless it is an LTX-2.3 bundle in bfloat16/float16/float32."""
    path, names = header.path, header.dtypes.keys()
    fp8 = sorted({d for d in header.dtypes.values() if d.upper() in FP8_DTYPES})
    if fp8 or any(n.endswith(("weight_scale", "scale_weight", "input_scale")) for n in names):
        raise DataError(
            f"{path}: an fp8-quantised checkpoint ({', '.join(fp8) or 'scale tensors'}); training and inference "
            "here need the full-precision LTX-2.3 file (ltx-2.3-22b-dev.safetensors)"
        )
    version = _version(header.model_version)
    if version[:2] > (2, 3):
        raise DataError(
            f"{path}: an LTX-{header.model_version} checkpoint (model_version metadata); this loader reads LTX-2.3"
        )
    if not any(n.startswith(TRANSFORMER_PREFIX) for n in names):
        raise DataError(f"{path}: no model.diffusion_model.* tensors: not an LTX checkpoint")
    if not any(n.startswith("vae.") for n in names) or not header.config:
        raise DataError(
            f"{path}: a transformer-only file (no vae.* tensors or no config metadata), not the bundled "
            "LTX-2.3 checkpoint; use model=path with model.components_path for a transformer-only file"
        )
    transformer = header.config.get("transformer", {})
    if version[:2] == (2, 0) or not transformer.get("caption_proj_before_connector", False):
        raise DataError(
            f"{path}: an LTX-2 (19B) checkpoint (text projection inside the transformer); this loader reads "
            "LTX-2.3 (ltx-2.3-22b-dev / -distilled)"
        )
    missing = [marker for marker in LTX23_MARKERS if marker not in header.dtypes]
    if missing:
        raise DataError(f"{path}: not an LTX-2.3 bundle (no {missing[0]!r})")


def _version(text: str | None) -> tuple[int, ...]:
    parts: list[int] = []
    for part in (text or "").replace("-", ".").split("."):
        if not part.isdigit():
            break
        parts.append(int(part))
    return tuple(parts)


# --------------------------------------------------------------------------------------------- configs


def transformer_config(config: dict[str, Any]) -> dict[str, Any]:
    """diffusers ``LTX2VideoTransformer3DModel`` settings from ltx-core's ``config`` (its defaults where unset)."""
    t = config.get("transformer", {})
    max_pos = t.get("positional_embedding_max_pos", [20, 2048, 2048])
    audio_max_pos = t.get("audio_positional_embedding_max_pos", [20])
    gated = t.get("apply_gated_attention", False)
    adaln = t.get("cross_attention_adaln", False)
    return {
        "in_channels": t.get("in_channels", 128),
        "out_channels": t.get("out_channels", 128),
        "num_attention_heads": t.get("num_attention_heads", 32),
        "attention_head_dim": t.get("attention_head_dim", 128),
        "cross_attention_dim": t.get("cross_attention_dim", 4096),
        "pos_embed_max_pos": max_pos[0],
        "base_height": max_pos[1],
        "base_width": max_pos[2],
        "gated_attn": gated,
        "cross_attn_mod": adaln,
        "audio_in_channels": t.get("audio_in_channels", 128),
        "audio_out_channels": t.get("audio_out_channels", 128),
        "audio_num_attention_heads": t.get("audio_num_attention_heads", 32),
        "audio_attention_head_dim": t.get("audio_attention_head_dim", 64),
        "audio_cross_attention_dim": t.get("audio_cross_attention_dim", 2048),
        "audio_pos_embed_max_pos": audio_max_pos[0],
        "audio_gated_attn": gated,
        "audio_cross_attn_mod": adaln,
        "num_layers": t.get("num_layers", 48),
        "norm_eps": t.get("norm_eps", 1e-6),
        "caption_channels": t.get("caption_channels", 3840),
        "rope_theta": t.get("positional_embedding_theta", 10000.0),
        "rope_double_precision": t.get("frequencies_precision", False) == "float64",
        "timestep_scale_multiplier": t.get("timestep_scale_multiplier", 1000),
        "cross_attn_timestep_scale_multiplier": t.get("av_ca_timestep_scale_multiplier", 1),
        "rope_type": t.get("rope_type", "interleaved"),
        # LTX-2.3 projects the text in the connectors (caption_proj_before_connector) and modulates with it.
        "use_prompt_embeddings": not t.get("caption_proj_before_connector", False),
        "perturbed_attn": True,
    }


def video_vae_config(config: dict[str, Any], path: Path) -> dict[str, Any]:
    """diffusers ``AutoencoderKLLTX2Video`` settings from ltx-core's ``vae`` section (blocks walked in order)."""
    v = config.get("vae", {})
    latent = v.get("latent_channels", 128)
    for key, want in (("dims", 3), ("norm_layer", "pixel_norm"), ("latent_log_var", "uniform")):
        if v.get(key, want) != want:
            raise DataError(f"{path}: vae.{key}={v[key]!r} is not a layout diffusers' LTX-2 video VAE has")
    enc_layers, down_types, enc_channels = _encoder_walk(v.get("encoder_blocks", []), latent, path)
    dec = _decoder_walk(v.get("decoder_blocks", []), v.get("decoder_base_channels", 128) * 8, path)
    dec_layers, up_types, factors, residual, noise, dec_channels = dec
    return {
        "in_channels": v.get("in_channels", 3),
        "out_channels": v.get("out_channels", 3),
        "latent_channels": latent,
        "block_out_channels": enc_channels,
        "down_block_types": ("LTX2VideoDownBlock3D",) * len(enc_channels),
        "decoder_block_out_channels": dec_channels,
        "layers_per_block": enc_layers,
        "decoder_layers_per_block": dec_layers,
        "spatio_temporal_scaling": (True,) * len(enc_channels),
        "decoder_spatio_temporal_scaling": (True,) * len(dec_channels),
        "decoder_inject_noise": noise,
        "downsample_type": down_types,
        "upsample_type": up_types,
        "upsample_residual": residual,
        "upsample_factor": factors,
        "timestep_conditioning": v.get("timestep_conditioning", True),
        "patch_size": v.get("patch_size", 4),
        "encoder_causal": True,
        "decoder_causal": v.get("causal_decoder", False),
        "encoder_spatial_padding_mode": v.get("spatial_padding_mode", "zeros"),
        "decoder_spatial_padding_mode": v.get("spatial_padding_mode", "reflect"),
        "spatial_compression_ratio": v.get("patch_size", 4) * 2 ** sum(t != "temporal" for t in down_types),
        "temporal_compression_ratio": 2 ** sum(t != "spatial" for t in down_types),
    }


_KINDS = {"space": "spatial", "time": "temporal", "all": "spatiotemporal"}


def _block(entry: Any) -> tuple[str, dict[str, Any]]:
    name, params = entry
    return name, ({"num_layers": params} if isinstance(params, int) else dict(params))


def _encoder_walk(
    blocks: list[Any], channels: int, path: Path
) -> tuple[tuple[int, ...], tuple[str, ...], tuple[int, ...]]:
    """ltx-core's ``res_x, compress_*_res, res_x, ..., res_x`` -> layers per block, downsample kinds, widths."""
    layers, kinds, widths = [], [], []
    for index, entry in enumerate(blocks):
        name, params = _block(entry)
        expect_res = index % 2 == 0
        if expect_res and name == "res_x":
            layers.append(params["num_layers"])
        elif not expect_res and name.startswith("compress_") and name.endswith("_res"):
            channels *= params.get("multiplier", 2)
            kinds.append(_KINDS[name.split("_")[1]])
            widths.append(channels)
        else:
            raise DataError(
                f"{path}: vae.encoder_blocks[{index}]={name!r} is not a layout diffusers can hold"
            )
    if len(layers) != len(kinds) + 1:
        raise DataError(f"{path}: vae.encoder_blocks must end with a res_x block")
    return tuple(layers), tuple(kinds), tuple(widths)


def _decoder_walk(blocks: list[Any], channels: int, path: Path) -> tuple[Any, ...]:
    """ltx-core decodes ``reversed(decoder_blocks)``; diffusers lists its stages in the file's order."""
    layers, kinds, factors, residual, noise, widths = [], [], [], [], [], []
    for index, entry in enumerate(reversed(blocks)):
        name, params = _block(entry)
        if index % 2 == 0 and name == "res_x":
            layers.append(params["num_layers"])
            noise.append(params.get("inject_noise", False))
        elif index % 2 == 1 and name.startswith("compress_") and "_" not in name[len("compress_") :]:
            widths.append(channels)
            factor = params.get("multiplier", 1)
            channels //= factor
            kinds.append(_KINDS[name.split("_")[1]])
            factors.append(factor)
            residual.append(params.get("residual", False))
        else:
            raise DataError(f"{path}: vae.decoder_blocks has {name!r} where diffusers' decoder cannot")
    if len(layers) != len(kinds) + 1:
        raise DataError(f"{path}: vae.decoder_blocks must start with a res_x block")
    rev = lambda items: tuple(reversed(items))  # noqa: E731 - diffusers reverses these lists itself
    return rev(layers), rev(kinds), rev(factors), rev(residual), rev(noise), rev(widths)


def audio_vae_config(config: dict[str, Any]) -> dict[str, Any]:
    """diffusers ``AutoencoderKLLTX2Audio`` settings from ltx-core's ``audio_vae`` section (ltx-core defaults)."""
    a = config.get("audio_vae", {})
    params = a.get("model", {}).get("params", {})
    dd = params.get("ddconfig", {})
    stft = a.get("preprocessing", {}).get("stft", {})
    mel = a.get("preprocessing", {}).get("mel", {})
    mel_bins = dd.get("mel_bins") or mel.get("n_mel_channels") or a.get("variables", {}).get("mel_bins")
    return {
        "base_channels": dd.get("ch", 128),
        "output_channels": dd.get("out_ch", 2),
        "ch_mult": tuple(dd.get("ch_mult", (1, 2, 4))),
        "num_res_blocks": dd.get("num_res_blocks", 2),
        "attn_resolutions": tuple(dd.get("attn_resolutions", (8, 16, 32))),
        "in_channels": dd.get("in_channels", 2),
        "resolution": dd.get("resolution", 256),
        "latent_channels": dd.get("z_channels", 8),
        "norm_type": dd.get("norm_type", "pixel"),
        "causality_axis": dd.get("causality_axis", "height"),
        "dropout": dd.get("dropout", 0.0),
        "mid_block_add_attention": dd.get("mid_block_add_attention", True),
        "sample_rate": params.get("sampling_rate", 16000),
        "mel_hop_length": stft.get("hop_length", 160),
        "is_causal": stft.get("causal", True),
        "mel_bins": mel_bins,
        "double_z": dd.get("double_z", True),
    }


def connectors_config(header: CheckpointHeader, gemma_hidden: int, gemma_layers: int) -> dict[str, Any]:
    """diffusers ``LTX2TextConnectors`` settings: ltx-core's connector settings, widths from the tensors.

    ``gemma_hidden`` / ``gemma_layers`` come from the Gemma folder; the projection's input width must be
    ``hidden * (layers + 1)`` (every hidden state plus the embeddings, stacked).
    """
    t = header.config.get("transformer", {})
    video_in = header.shapes["text_embedding_projection.video_aggregate_embed.weight"]
    audio_in = header.shapes["text_embedding_projection.audio_aggregate_embed.weight"]
    if video_in[1] != gemma_hidden * (gemma_layers + 1):
        raise ConfigError(
            f"model.gemma: a Gemma of width {gemma_hidden} and {gemma_layers} layers gives "
            f"{gemma_hidden * (gemma_layers + 1)} text features, {header.path} projects {video_in[1]}: "
            "not the text encoder of this checkpoint"
        )
    registers = header.shapes.get(f"{TRANSFORMER_PREFIX}video_embeddings_connector.learnable_registers")
    audio_registers = header.shapes.get(f"{TRANSFORMER_PREFIX}audio_embeddings_connector.learnable_registers")
    max_pos = t.get("connector_positional_embedding_max_pos", [1])
    heads = t.get("connector_num_attention_heads", 30)
    head_dim = t.get("connector_attention_head_dim", 128)
    layers = t.get("connector_num_layers", 2)
    return {
        "caption_channels": gemma_hidden,
        "text_proj_in_factor": gemma_layers + 1,
        "video_connector_num_attention_heads": heads,
        "video_connector_attention_head_dim": head_dim,
        "video_connector_num_layers": layers,
        "video_connector_num_learnable_registers": registers[0] if registers else None,
        "video_gated_attn": t.get("connector_apply_gated_attention", False),
        "audio_connector_num_attention_heads": t.get("audio_connector_num_attention_heads", heads),
        "audio_connector_attention_head_dim": t.get("audio_connector_attention_head_dim", head_dim),
        "audio_connector_num_layers": t.get("audio_connector_num_layers", layers),
        "audio_connector_num_learnable_registers": audio_registers[0] if audio_registers else None,
        "audio_gated_attn": t.get("connector_apply_gated_attention", False),
        "connector_rope_base_seq_len": max_pos[0],
        "rope_theta": t.get("positional_embedding_theta", 10000.0),
        "rope_double_precision": t.get("frequencies_precision", False) == "float64",
        "rope_type": t.get("rope_type", "interleaved"),
        "per_modality_projections": True,
        "video_hidden_dim": video_in[0],
        "audio_hidden_dim": audio_in[0],
        "proj_bias": "text_embedding_projection.video_aggregate_embed.bias" in header.shapes,
    }


def vocoder_config(config: dict[str, Any], header: CheckpointHeader) -> dict[str, Any]:
    """diffusers ``LTX2VocoderWithBWE`` settings from ltx-core's ``vocoder`` section (LTX-2.3: vocoder + BWE)."""
    section = config.get("vocoder", {})
    if "bwe" not in section:
        raise DataError(f"{header.path}: its vocoder has no bandwidth extension (not LTX-2.3's vocoder)")
    main, bwe = section.get("vocoder", {}), section["bwe"]
    for name, part in (("vocoder", main), ("bwe", bwe)):
        if part.get("resblock", "AMP1") != "AMP1" or part.get("activation", "snakebeta") != "snakebeta":
            raise DataError(f"{header.path}: vocoder.{name} is not an AMP1/snakebeta block as LTX-2.3's")
    tanh = main.get("use_tanh_at_final", True)
    return {
        "in_channels": header.shapes["vocoder.vocoder.conv_pre.weight"][1],
        **_generator(main, ""),
        "final_act_fn": "tanh" if tanh else "clamp",  # ltx-core applies it to the first stage only
        "bwe_in_channels": header.shapes["vocoder.bwe_generator.conv_pre.weight"][1],
        **_generator(bwe, "bwe_"),
        "bwe_final_act_fn": None,
        "filter_length": bwe.get("n_fft", 512),
        "hop_length": bwe.get("hop_length", 80),
        "window_length": bwe.get("n_fft", 512),
        "num_mel_channels": bwe.get("num_mels", 64),
        "input_sampling_rate": bwe["input_sampling_rate"],
        "output_sampling_rate": bwe["output_sampling_rate"],
    }


def _generator(part: dict[str, Any], prefix: str) -> dict[str, Any]:
    # ltx-core's Vocoder defaults for what the section leaves out.
    return {
        f"{prefix}hidden_channels": part.get("upsample_initial_channel", 1024),
        f"{prefix}out_channels": 2,
        f"{prefix}upsample_kernel_sizes": list(part.get("upsample_kernel_sizes", [16, 15, 8, 4, 4])),
        f"{prefix}upsample_factors": list(part.get("upsample_rates", [6, 5, 2, 2, 2])),
        f"{prefix}resnet_kernel_sizes": list(part.get("resblock_kernel_sizes", [3, 7, 11])),
        f"{prefix}resnet_dilations": [list(d) for d in part.get("resblock_dilation_sizes", [[1, 3, 5]] * 3)],
        f"{prefix}act_fn": "snakebeta",
        f"{prefix}antialias": True,
        f"{prefix}final_bias": part.get("use_bias_at_final", True),
    }


# ltx-core's LTX2Scheduler as diffusers' flow-matching scheduler: the shift grows linearly with the token
# count from 0.95 (1024 tokens) to 2.05 (4096), exponential time shift, sigmas stretched to end at 0.1.
LTX23_SCHEDULER_CONFIG: dict[str, Any] = {
    "use_dynamic_shifting": True,
    "base_shift": 0.95,
    "max_shift": 2.05,
    "base_image_seq_len": 1024,
    "max_image_seq_len": 4096,
    "shift_terminal": 0.1,
    "time_shift_type": "exponential",
}


# --------------------------------------------------------------------------------------------- names


def _converted_names(converter: Any, names: Iterable[str]) -> dict[str, str]:
    # diffusers' converters rename the keys of a dict and never look at the values, so a dict of names maps
    # each diffusers name to the file's name without touching a tensor.
    return dict(converter({name: name for name in names}))


def transformer_names(names: Iterable[str]) -> dict[str, str]:
    """diffusers transformer parameter -> the bundle's tensor name (connectors excluded)."""
    own = [n for n in names if n.startswith(TRANSFORMER_PREFIX) and not _is_connector(n)]
    renamed = _converted_names(convert_ltx2_transformer_to_diffusers, own)
    # LTX-2.3's prompt modulation is newer than diffusers' single-file table.
    return {_prompt_adaln(name): source for name, source in renamed.items()}


def _prompt_adaln(name: str) -> str:
    for old, new in (
        ("audio_prompt_adaln_single.", "audio_prompt_adaln."),
        ("prompt_adaln_single.", "prompt_adaln."),
    ):
        if name.startswith(old):
            return new + name[len(old) :]
    return name


def _is_connector(name: str) -> bool:
    return any(name.startswith(prefix) for prefix in CONNECTOR_PREFIXES)


def video_vae_names(names: Iterable[str]) -> dict[str, str]:
    """diffusers video VAE parameter -> the bundle's tensor name."""
    return _converted_names(convert_ltx2_vae_to_diffusers, [n for n in names if n.startswith("vae.")])


def audio_vae_names(names: Iterable[str]) -> dict[str, str]:
    """diffusers audio VAE parameter -> the bundle's tensor name."""
    own = [n for n in names if n.startswith("audio_vae.")]
    return _converted_names(convert_ltx2_audio_vae_to_diffusers, own)


def connector_names(names: Iterable[str]) -> dict[str, str]:
    """diffusers ``LTX2TextConnectors`` parameter -> the bundle's tensor name."""
    out = {}
    for name in names:
        for prefix, ours in CONNECTOR_PREFIXES.items():
            if name.startswith(prefix):
                rest = name[len(prefix) :].replace("transformer_1d_blocks.", "transformer_blocks.")
                rest = rest.replace(".q_norm.", ".norm_q.").replace(".k_norm.", ".norm_k.")
                out[ours + rest] = name
    return out


_VOCODER_RENAMES = (
    ("conv_pre", "conv_in"),
    ("conv_post", "conv_out"),
    (".ups.", ".upsamplers."),
    (".resblocks.", ".resnets."),
    (".act_post.", ".act_out."),
    ("downsample.lowpass.filter", "downsample.filter"),
)


def vocoder_names(names: Iterable[str]) -> dict[str, str]:
    """diffusers ``LTX2VocoderWithBWE`` parameter -> the bundle's tensor name (its outer ``vocoder.`` dropped)."""
    out = {}
    for name in names:
        if name.startswith("vocoder."):
            ours = name[len("vocoder.") :]
            for old, new in _VOCODER_RENAMES:
                ours = ours.replace(old, new)
            out[ours] = name
    return out


# --------------------------------------------------------------------------------------------- loading


def stream_into(
    model_class: Any,
    config: dict[str, Any],
    handle: Any,
    names: dict[str, str],
    dtype: torch.dtype,
    device: torch.device | str,
    what: str,
    path: Path,
) -> Any:
    """``model_class(**config)`` built on meta, filled tensor by tensor from ``handle`` in ``dtype`` on ``device``."""
    with torch.device("meta"):
        model = model_class(**config)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(names))
    extra = sorted(set(names) - set(expected))
    if missing or extra:
        first = (missing or extra)[0]
        raise DataError(
            f"{path}: the {what} tensors do not fit diffusers' {model_class.__name__} "
            f"({len(missing)} missing, {len(extra)} unexpected, first {first!r})"
        )
    state = {}
    for ours, source in names.items():
        tensor = handle.get_tensor(source)
        if tuple(tensor.shape) != tuple(expected[ours].shape):
            raise DataError(
                f"{path}: {source} has shape {tuple(tensor.shape)}, {model_class.__name__}.{ours} "
                f"wants {tuple(expected[ours].shape)}"
            )
        state[ours] = tensor.to(device=device, dtype=dtype if tensor.is_floating_point() else tensor.dtype)
    model.load_state_dict(state, strict=True, assign=True)
    # A buffer computed in __init__ and kept out of the state dict would still be on meta here.
    left = [name for name, buffer in model.named_buffers() if buffer.is_meta]
    if left:
        raise DataError(f"{path}: {model_class.__name__} buffers {left[:3]} are not in the checkpoint")
    return model.eval()


@dataclass
class BundleParts:
    """The diffusers components read from one bundled checkpoint."""

    transformer: Any
    vae: Any
    audio_vae: Any
    connectors: Any
    config: dict[str, Any]


def load_bundle_parts(
    path: Path,
    *,
    gemma_hidden: int,
    gemma_layers: int,
    dtype: torch.dtype,
    device: torch.device | str = "cpu",
    with_audio_vae: bool = True,
) -> BundleParts:
    """Transformer (``dtype``, on ``device``), video VAE, audio VAE and text connectors of an LTX-2.3 bundle.

    The VAEs and connectors are read in ``dtype`` on the CPU; callers move them where they encode.
    """
    header = read_header(path)
    check_ltx23_bundle(header)
    names = list(header.dtypes)
    config = header.config
    connector_settings = connectors_config(header, gemma_hidden, gemma_layers)
    with safe_open(str(path), framework="pt") as handle:
        transformer = stream_into(
            LTX2VideoTransformer3DModel, transformer_config(config), handle, transformer_names(names),
            dtype, device, "transformer", path,
        )  # fmt: skip
        vae = stream_into(
            AutoencoderKLLTX2Video, video_vae_config(config, path), handle, video_vae_names(names),
            dtype, "cpu", "video VAE", path,
        )  # fmt: skip
        audio_vae = None
        if with_audio_vae and any(n.startswith("audio_vae.") for n in names):
            audio_vae = stream_into(
                AutoencoderKLLTX2Audio, audio_vae_config(config), handle, audio_vae_names(names),
                dtype, "cpu", "audio VAE", path,
            )  # fmt: skip
        connectors = stream_into(
            LTX2TextConnectors, connector_settings, handle, connector_names(names),
            dtype, "cpu", "text connector", path,
        )  # fmt: skip
    return BundleParts(transformer, vae, audio_vae, connectors, config)


def load_vocoder(path: Path, dtype: torch.dtype) -> Any:
    """The bundle's LTX-2.3 vocoder (with bandwidth extension) as diffusers' ``LTX2VocoderWithBWE`` on the CPU.

    Built on the CPU, not on meta: its resampler filter is computed in ``__init__`` and not stored.
    """
    from diffusers.pipelines.ltx2.vocoder import LTX2VocoderWithBWE

    header = read_header(path)
    check_ltx23_bundle(header)
    names = vocoder_names(header.dtypes)
    vocoder: Any = LTX2VocoderWithBWE(**vocoder_config(header.config, header))
    expected = vocoder.state_dict()
    if set(names) != set(expected):
        first = sorted(set(names) ^ set(expected))[0]
        raise DataError(
            f"{path}: the vocoder tensors do not fit diffusers' LTX2VocoderWithBWE (first {first!r})"
        )
    with safe_open(str(path), framework="pt") as handle:
        vocoder.load_state_dict(
            {ours: handle.get_tensor(source) for ours, source in names.items()}, strict=True
        )
    return vocoder.to(dtype).eval()
