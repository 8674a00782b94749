"""Model loading: the LTX-2.3 transformer, video/audio VAEs and the Gemma-3 text path, from local files only.

Four ways to get the components (``model.preset``):

- ``ltx_checkpoint``: Lightricks' single-file LTX-2.3 checkpoint (transformer, VAEs and text connectors in one
  ``.safetensors``, see ``ltx_checkpoint.py``) plus a Gemma-3 folder (``model.checkpoint``, ``model.gemma``);
- ``path``: a diffusers folder (``transformer/``, ``vae/``, ``audio_vae/``, ``text_encoder/``, ``tokenizer/``,
  ``connectors/``) loaded with ``from_pretrained``, or a single ``.safetensors`` transformer checkpoint (with
  the other components from ``model.components_path``);
- ``tiny``: a small random model of the same classes, built from configs (tests, CPU runs);
- ``ltx-2.3-22b``: the full LTX-2.3 transformer shape with random weights, created on the meta device and
  materialised directly on the target device (speed and memory work). It has no encoders.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from diffusers import (
    AutoencoderKLLTX2Audio,
    AutoencoderKLLTX2Video,
    LTX2VideoTransformer3DModel,
)
from diffusers.pipelines.ltx2.connectors import LTX2TextConnectors

from synthgen.errors import ConfigError

# LTX-2.3's transformer (diffusers LTX2VideoTransformer3DModel): 18.99 B parameters in this class.
LTX23_TRANSFORMER_CONFIG: dict[str, Any] = {
    "in_channels": 128,
    "out_channels": 128,
    "patch_size": 1,
    "patch_size_t": 1,
    "num_attention_heads": 32,
    "attention_head_dim": 128,
    "cross_attention_dim": 4096,
    "vae_scale_factors": (8, 32, 32),
    "pos_embed_max_pos": 20,
    "base_height": 2048,
    "base_width": 2048,
    "gated_attn": True,
    "cross_attn_mod": True,
    "audio_in_channels": 128,
    "audio_out_channels": 128,
    "audio_num_attention_heads": 32,
    "audio_attention_head_dim": 64,
    "audio_cross_attention_dim": 2048,
    "audio_scale_factor": 4,
    "audio_pos_embed_max_pos": 20,
    "audio_sampling_rate": 16000,
    "audio_hop_length": 160,
    "audio_gated_attn": True,
    "audio_cross_attn_mod": True,
    "num_layers": 48,
    "activation_fn": "gelu-approximate",
    "qk_norm": "rms_norm_across_heads",
    "norm_elementwise_affine": False,
    "norm_eps": 1e-6,
    "caption_channels": 3840,
    "attention_bias": True,
    "attention_out_bias": True,
    "rope_theta": 10000.0,
    "rope_double_precision": True,
    "causal_offset": 1,
    "timestep_scale_multiplier": 1000,
    "cross_attn_timestep_scale_multiplier": 1000,
    "rope_type": "split",
    "use_prompt_embeddings": False,
    "perturbed_attn": True,
}

# The tiny preset keeps every structural switch of LTX-2.3 (gated attention, prompt modulation, per-modality
# connector projections, split RoPE) and shrinks widths and depths.
TINY_TRANSFORMER_CONFIG: dict[str, Any] = {
    **LTX23_TRANSFORMER_CONFIG,
    "in_channels": 16,
    "out_channels": 16,
    "num_attention_heads": 2,
    "attention_head_dim": 16,
    "cross_attention_dim": 32,
    "audio_in_channels": 128,
    "audio_out_channels": 128,
    "audio_num_attention_heads": 2,
    "audio_attention_head_dim": 8,
    "audio_cross_attention_dim": 16,
    "num_layers": 2,
    "caption_channels": 32,
}

TINY_VIDEO_VAE_CONFIG: dict[str, Any] = {
    "latent_channels": 16,
    "block_out_channels": (8, 16, 32, 32),
    "decoder_block_out_channels": (16, 32, 32),
    "layers_per_block": (1, 1, 1, 1, 1),
    "decoder_layers_per_block": (1, 1, 1, 1),
    "spatial_compression_ratio": 32,
    "temporal_compression_ratio": 8,
}

TINY_AUDIO_VAE_CONFIG: dict[str, Any] = {
    "base_channels": 16,
    "ch_mult": (1, 2, 4),
    "num_res_blocks": 1,
    "latent_channels": 8,
    "mel_bins": 64,
}

TINY_CONNECTOR_CONFIG: dict[str, Any] = {
    "caption_channels": 32,
    "text_proj_in_factor": 3,
    "video_connector_num_attention_heads": 2,
    "video_connector_attention_head_dim": 16,
    "video_connector_num_layers": 1,
    "video_connector_num_learnable_registers": None,
    "video_gated_attn": True,
    "audio_connector_num_attention_heads": 2,
    "audio_connector_attention_head_dim": 8,
    "audio_connector_num_layers": 1,
    "audio_connector_num_learnable_registers": None,
    "audio_gated_attn": True,
    "connector_rope_base_seq_len": 64,
    "rope_type": "split",
    "per_modality_projections": True,
    "video_hidden_dim": 32,
    "audio_hidden_dim": 16,
    "proj_bias": True,
}

TINY_VOCAB = 256 + 3  # bytes + pad/bos/eos
TINY_TEXT_TOKENS = 32

PRESETS = ("tiny", "ltx-2.3-22b", "path", "ltx_checkpoint")


@dataclass
class ModelBundle:
    """The components a training run uses; encoders are None for ``ltx-2.3-22b`` (latents come ready-made)."""

    # diffusers' model classes are typed as Any here: mypy does not see them as torch.nn.Module subclasses.
    transformer: Any
    vae: Any = None
    audio_vae: Any = None
    text_encoder: Any = None
    tokenizer: Any = None
    connectors: Any = None
    model_id: str = ""
    max_text_tokens: int = 1024
    extra: dict[str, Any] = field(default_factory=dict)


def build_tiny_text_encoder(seed: int = 0) -> tuple[torch.nn.Module, Any]:
    """A small random ``Gemma3ForConditionalGeneration`` and a byte-level tokenizer (no downloads)."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import (
        Gemma3Config,
        Gemma3ForConditionalGeneration,
        Gemma3TextConfig,
        PreTrainedTokenizerFast,
        SiglipVisionConfig,
    )

    # One token per UTF-8 byte (ByteLevel's printable byte alphabet), ids 3..258 after pad/bos/eos.
    vocab = {"<pad>": 0, "<bos>": 1, "<eos>": 2}
    for index, symbol in enumerate(sorted(pre_tokenizers.ByteLevel.alphabet())):
        vocab[symbol] = index + 3
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<pad>"))
    backend.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
            pre_tokenizers.Split(Regex("."), "isolated"),
        ]
    )
    backend.decoder = decoders.ByteLevel()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, pad_token="<pad>", bos_token="<bos>", eos_token="<eos>"
    )
    tokenizer.model_max_length = TINY_TEXT_TOKENS
    text_config = Gemma3TextConfig(
        vocab_size=TINY_VOCAB,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=16,
        max_position_embeddings=256,
        sliding_window=64,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
    )
    vision_config = SiglipVisionConfig(
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        image_size=28,
        patch_size=14,
    )
    config = Gemma3Config(text_config=text_config, vision_config=vision_config, mm_tokens_per_image=4)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        encoder = Gemma3ForConditionalGeneration(config)
    return encoder.eval(), tokenizer


@torch.no_grad()
def calibrate_video_vae(vae: Any, rng: np.random.Generator, clips: int = 4) -> None:
    """Set ``latents_mean`` / ``latents_std`` to the per-channel statistics of random-rectangle videos.

    A trained LTX VAE ships these statistics so normalised latents have unit scale; a random VAE needs them
    measured, or its latents are far smaller than the diffusion noise and carry almost no training signal.
    """
    frames, side = 9, 64
    videos = np.zeros((clips, 3, frames, side, side), dtype=np.float32)
    for clip in range(clips):
        videos[clip] = rng.uniform(-1.0, 1.0, (3, 1, 1, 1))
        for _ in range(3):
            y, x = rng.integers(0, side - 8, 2)
            h, w = rng.integers(8, side // 2, 2)
            videos[clip, :, :, y : y + h, x : x + w] = rng.uniform(-1.0, 1.0, (3, 1, 1, 1))
    latents = vae.encode(torch.from_numpy(videos)).latent_dist.mode()
    per_channel = latents.transpose(0, 1).flatten(1)
    vae.latents_mean.copy_(per_channel.mean(dim=1))
    vae.latents_std.copy_(per_channel.std(dim=1).clamp(min=1e-6))


def build_tiny(seed: int = 0) -> ModelBundle:
    """Random tiny LTX-2.3-shaped components (float32). Deterministic for a given ``seed``."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        transformer: Any = LTX2VideoTransformer3DModel(**TINY_TRANSFORMER_CONFIG)
        vae: Any = AutoencoderKLLTX2Video(**TINY_VIDEO_VAE_CONFIG)
        audio_vae: Any = AutoencoderKLLTX2Audio(**TINY_AUDIO_VAE_CONFIG)
        connectors: Any = LTX2TextConnectors(**TINY_CONNECTOR_CONFIG)
    calibrate_video_vae(vae, np.random.Generator(np.random.PCG64(seed)))
    text_encoder, tokenizer = build_tiny_text_encoder(seed)
    return ModelBundle(
        transformer=transformer,
        vae=vae.eval(),
        audio_vae=audio_vae.eval(),
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        connectors=connectors.eval(),
        model_id=f"tiny-seed{seed}",
        max_text_tokens=TINY_TEXT_TOKENS,
    )


def build_ltx23_random(
    device: torch.device | str,
    dtype: torch.dtype,
    seed: int = 0,
    *,
    prepare_block: Callable[[int, Any], Any] | None = None,
) -> ModelBundle:
    """The LTX-2.3 transformer shape with random weights, created on meta and materialised on ``device``.

    The blocks are materialised one at a time, each handed to ``prepare_block(index, block)`` (8-bit
    quantisation, offload to the host) before the next, so with 8-bit weights the bfloat16 model never exists
    whole. Weights are N(0, 0.02) for matrices, zero biases; good enough for speed and memory measurement only.
    """
    transformer = build_random_by_block(LTX23_TRANSFORMER_CONFIG, device, dtype, seed, prepare_block)
    return ModelBundle(transformer=transformer, model_id=f"ltx-2.3-22b-random-seed{seed}")


def build_random_by_block(
    config: dict[str, Any],
    device: torch.device | str,
    dtype: torch.dtype,
    seed: int,
    prepare_block: Callable[[int, Any], Any] | None = None,
) -> Any:
    """A random ``LTX2VideoTransformer3DModel(**config)`` created on meta, its blocks materialised on ``device``
    one at a time, each passed to ``prepare_block(index, block)`` before the next exists."""
    with torch.device("meta"):
        transformer: Any = LTX2VideoTransformer3DModel(**config)
    # Cast on meta first: materialising in float32 would need 76 GB before the cast.
    transformer = transformer.to(dtype)
    blocks = transformer.transformer_blocks
    transformer.transformer_blocks = torch.nn.ModuleList()
    generator = torch.Generator(device=device).manual_seed(seed)
    _materialise(transformer, device, generator)
    for index, block in enumerate(blocks):
        _materialise(block, device, generator)
        if prepare_block is not None:
            prepare_block(index, block)
    transformer.transformer_blocks = blocks
    return transformer


@torch.no_grad()
def _materialise(module: torch.nn.Module, device: torch.device | str, generator: torch.Generator) -> None:
    module.to_empty(device=device)
    for name, param in module.named_parameters():
        if name.endswith("bias") and param.ndim == 1:
            param.zero_()
        else:
            param.normal_(0.0, 0.02, generator=generator)


def load_from_path(
    path: str, components_path: str | None = None, dtype: torch.dtype = torch.float32
) -> ModelBundle:
    """Load from a diffusers folder, or a single-file transformer checkpoint plus a components folder."""
    root = Path(path).expanduser()
    if not root.exists():
        raise ConfigError(
            f"model.path={path!r}: no such file or folder (weights are loaded from local paths only)"
        )
    if root.is_file():
        if root.suffix != ".safetensors":
            raise ConfigError(f"model.path={path!r}: a single-file checkpoint must be .safetensors")
        if components_path is None:
            raise ConfigError(
                f"model.components_path=None: a single-file model.path={path!r} needs a diffusers folder with "
                "vae/, audio_vae/, text_encoder/, tokenizer/, connectors/"
            )
        components = Path(components_path).expanduser()
        transformer = _load_transformer_file(root, components, dtype)
        parts = _load_components(components, dtype, "model.components_path")
        return ModelBundle(transformer=transformer, model_id=_file_id(root), **parts)
    if not (root / "transformer").is_dir():
        raise ConfigError(f"model.path={path!r}: not a diffusers folder (no transformer/ subfolder)")
    transformer = LTX2VideoTransformer3DModel.from_pretrained(
        root, subfolder="transformer", torch_dtype=dtype
    )
    parts = _load_components(root, dtype, "model.path")
    return ModelBundle(transformer=transformer, model_id=_folder_id(root), **parts)


def _load_transformer_file(file: Path, components: Path, dtype: torch.dtype) -> Any:
    """A transformer-only ``.safetensors``: its configuration from the file's own ltx-core ``config`` metadata,
    else from ``components/transformer/config.json`` -- never guessed, never fetched."""
    from safetensors import safe_open

    from .ltx_checkpoint import read_header, stream_into, transformer_config, transformer_names

    header = read_header(file)
    if header.config.get("transformer"):
        with safe_open(str(file), framework="pt") as handle:
            return stream_into(
                LTX2VideoTransformer3DModel, transformer_config(header.config), handle,
                transformer_names(header.dtypes), dtype, "cpu", "transformer", file,
            )  # fmt: skip
    if not (components / "transformer" / "config.json").is_file():
        raise ConfigError(
            f"model.path={str(file)!r}: a transformer file without config metadata needs "
            f"model.components_path/transformer/config.json (not found in {str(components)!r})"
        )
    return LTX2VideoTransformer3DModel.from_single_file(
        str(file), config=str(components), subfolder="transformer", torch_dtype=dtype, local_files_only=True
    )


def load_ltx_checkpoint(
    checkpoint: str, gemma: str, dtype: torch.dtype, device: torch.device | str
) -> ModelBundle:
    """Lightricks' bundled LTX-2.3 ``.safetensors`` (transformer on ``device`` in ``dtype``; VAEs and text
    connectors on the CPU in ``dtype``) and the Gemma-3 text encoder + tokenizer from the ``gemma`` folder."""
    from transformers import AutoConfig, AutoTokenizer, Gemma3ForConditionalGeneration

    from .ltx_checkpoint import LTX23_SCHEDULER_CONFIG, load_bundle_parts, load_vocoder

    file, folder = Path(checkpoint).expanduser(), Path(gemma).expanduser()
    if not file.is_file() or file.suffix != ".safetensors":
        raise ConfigError(f"model.checkpoint={checkpoint!r}: not a .safetensors file")
    if not (folder / "config.json").is_file():
        raise ConfigError(f"model.gemma={gemma!r}: not a Gemma-3 folder (no config.json)")
    text_config = AutoConfig.from_pretrained(folder, local_files_only=True).get_text_config()
    parts = load_bundle_parts(
        file, gemma_hidden=text_config.hidden_size, gemma_layers=text_config.num_hidden_layers,
        dtype=dtype, device=device,
    )  # fmt: skip
    encoder = Gemma3ForConditionalGeneration.from_pretrained(folder, torch_dtype=dtype, local_files_only=True)
    return ModelBundle(
        transformer=parts.transformer,
        vae=parts.vae,
        audio_vae=parts.audio_vae,
        text_encoder=encoder.eval(),
        tokenizer=AutoTokenizer.from_pretrained(folder, local_files_only=True),
        connectors=parts.connectors,
        model_id=f"{_file_id(file)}+{_folder_id_of(folder)}",
        # What generation needs beyond training (synthgen-infer, validation): the bundle's own vocoder and
        # ltx-core's sigma schedule.
        extra={"vocoder": load_vocoder(file, dtype), "scheduler_config": dict(LTX23_SCHEDULER_CONFIG)},
    )


def _folder_id_of(folder: Path) -> str:
    config = (folder / "config.json").read_bytes()
    weights = sorted((p.name, p.stat().st_size) for p in folder.glob("*.safetensors"))
    return f"{folder.resolve()}:{hash_bytes(config + json.dumps(weights).encode())[:16]}"


def _load_components(root: Path, dtype: torch.dtype, setting: str) -> dict[str, Any]:
    from transformers import AutoTokenizer, Gemma3ForConditionalGeneration

    for sub in ("vae", "text_encoder", "tokenizer", "connectors"):
        if not (root / sub).is_dir():
            raise ConfigError(f"{setting}={str(root)!r}: missing the {sub}/ subfolder")
    audio_vae = None
    if (root / "audio_vae").is_dir():
        audio_vae = AutoencoderKLLTX2Audio.from_pretrained(
            root, subfolder="audio_vae", torch_dtype=dtype
        ).eval()
    return {
        "vae": AutoencoderKLLTX2Video.from_pretrained(root, subfolder="vae", torch_dtype=dtype).eval(),
        "audio_vae": audio_vae,
        "text_encoder": Gemma3ForConditionalGeneration.from_pretrained(
            root / "text_encoder", torch_dtype=dtype
        ).eval(),
        "tokenizer": AutoTokenizer.from_pretrained(root / "tokenizer"),
        "connectors": LTX2TextConnectors.from_pretrained(
            root, subfolder="connectors", torch_dtype=dtype
        ).eval(),
    }


def _folder_id(root: Path) -> str:
    config = (root / "transformer" / "config.json").read_bytes()
    weights = sorted((p.name, p.stat().st_size) for p in (root / "transformer").glob("*.safetensors"))
    return f"{root.resolve()}:{hash_bytes(config + json.dumps(weights).encode())[:16]}"


def _file_id(path: Path) -> str:
    stat = path.stat()
    return f"{path.resolve()}:{stat.st_size}:{int(stat.st_mtime)}"


def hash_bytes(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    import hashlib

    return hashlib.sha256(data).hexdigest()


def load_model(
    preset: str,
    *,
    path: str | None = None,
    components_path: str | None = None,
    checkpoint: str | None = None,
    gemma: str | None = None,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    seed: int = 0,
    prepare_block: Callable[[int, Any], Any] | None = None,
) -> ModelBundle:
    """Build or load the components named by ``preset`` (one of :data:`PRESETS`), transformer in ``dtype``.

    ``prepare_block`` (the random 22B preset only) runs on each block as it is materialised."""
    if preset == "tiny":
        bundle = build_tiny(seed)
        if dtype != torch.float32:
            bundle.transformer.to(dtype=dtype)
        bundle.transformer.to(device=device)
        return bundle
    if preset == "ltx-2.3-22b":
        return build_ltx23_random(device, dtype, seed, prepare_block=prepare_block)
    if preset == "path":
        if not path:
            raise ConfigError(
                "model.path=None: model.preset=path needs a local diffusers folder or .safetensors file"
            )
        bundle = load_from_path(path, components_path, dtype)
        bundle.transformer.to(device)
        return bundle
    if preset == "ltx_checkpoint":
        if not checkpoint or not gemma:
            raise ConfigError(
                f"model.checkpoint={checkpoint!r}, model.gemma={gemma!r}: model=ltx_checkpoint needs the "
                "LTX-2.3 .safetensors file and the Gemma-3 folder"
            )
        return load_ltx_checkpoint(checkpoint, gemma, dtype, device)
    raise ConfigError(f"model.preset={preset!r}: must be one of {list(PRESETS)}")
