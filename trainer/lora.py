"""LoRA adapters with peft, and export in the key layout the LTX tools and ComfyUI load.

Exported files hold ``diffusion_model.<module>.lora_A.weight`` ([r, in]) and ``.lora_B.weight`` ([out, r])
with ``alpha / r`` folded into B (their loaders ignore alpha, so no alpha key is written), plus string
metadata (``reference_downscale_factor``, ``rank``, ``alpha``, ``target_modules`` ...) in sorted order, so two
identical runs write identical bytes. Which modules get an adapter is ``lora.target_modules`` in
``conf/train.yaml``.

Module names are ltx-core's (the names in Lightricks' checkpoints, which ltx-core, ltx-pipelines and ComfyUI
fuse by): inside ``transformer_blocks`` the diffusers names are the same; the top-level modules that differ
are renamed on export through ``LTX_CORE_TOP_LEVEL`` (diffusers' LTX-2 LoRA loader maps them back), and a
target with no ltx-core counterpart is refused when the adapter is added.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from pathlib import Path

import torch
from peft import LoraConfig, get_peft_model_state_dict, inject_adapter_in_model
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file

from synthgen.errors import ConfigError

from . import tensorfile

ADAPTER_NAME = "default"
EXPORT_PREFIX = "diffusion_model."

# diffusers' LTX2VideoTransformer3DModel top-level module -> ltx-core's LTXModel name (checked against both
# classes in tests/test_ltx_core.py). Keys of a file are matched by the first dotted component only.
LTX_CORE_TOP_LEVEL: dict[str, str] = {
    "proj_in": "patchify_proj",
    "audio_proj_in": "audio_patchify_proj",
    "time_embed": "adaln_single",
    "audio_time_embed": "audio_adaln_single",
    "prompt_adaln": "prompt_adaln_single",
    "audio_prompt_adaln": "audio_prompt_adaln_single",
    "av_cross_attn_video_scale_shift": "av_ca_video_scale_shift_adaln_single",
    "av_cross_attn_video_a2v_gate": "av_ca_a2v_gate_adaln_single",
    "av_cross_attn_audio_scale_shift": "av_ca_audio_scale_shift_adaln_single",
    "av_cross_attn_audio_v2a_gate": "av_ca_v2a_gate_adaln_single",
}
# Top-level modules whose names the two classes share.
LTX_CORE_SAME_NAME = frozenset({"transformer_blocks", "proj_out", "audio_proj_out"})
_FROM_LTX_CORE = {v: k for k, v in LTX_CORE_TOP_LEVEL.items()}


def ltx_core_name(name: str) -> str | None:
    """ltx-core's name for the diffusers module (or parameter) ``name``; None when ltx-core has no such module."""
    head, _, rest = name.partition(".")
    if head in LTX_CORE_SAME_NAME:
        return name
    if head in LTX_CORE_TOP_LEVEL:
        return f"{LTX_CORE_TOP_LEVEL[head]}.{rest}" if rest else LTX_CORE_TOP_LEVEL[head]
    return None


def diffusers_name(name: str) -> str:
    """The diffusers name for an ltx-core module (or parameter) ``name``; other names unchanged."""
    head, _, rest = name.partition(".")
    if head in _FROM_LTX_CORE:
        return f"{_FROM_LTX_CORE[head]}.{rest}" if rest else _FROM_LTX_CORE[head]
    return name


def resolve_target_modules(model: torch.nn.Module, patterns: Sequence[str]) -> list[str]:
    """Names of the ``nn.Linear`` modules each fully matching one of ``patterns`` (regular expressions).

    Raises ConfigError naming the first pattern that matches no linear layer.
    """
    linear_names = [name for name, module in model.named_modules() if isinstance(module, torch.nn.Linear)]
    matched: list[str] = []
    for pattern in patterns:
        try:
            regex = re.compile(pattern)
        except re.error as err:
            raise ConfigError(
                f"lora.target_modules: {pattern!r} is not a regular expression ({err})"
            ) from None
        hits = [name for name in linear_names if regex.fullmatch(name)]
        if not hits:
            raise ConfigError(
                f"lora.target_modules: {pattern!r} matches no linear layer of the transformer "
                f"(example names: {linear_names[1] if len(linear_names) > 1 else linear_names})"
            )
        foreign = [name for name in hits if ltx_core_name(name) is None]
        if foreign:
            raise ConfigError(
                f"lora.target_modules: {pattern!r} matches {foreign[0]!r}, a module ltx-core's LTXModel does not "
                "have (its LoRA keys would be ignored by ltx-pipelines and ComfyUI)"
            )
        matched.extend(hits)
    return sorted(set(matched))


def add_lora(
    model: torch.nn.Module,
    *,
    rank: int,
    alpha: float,
    dropout: float = 0.0,
    target_modules: Sequence[str],
    dtype: torch.dtype | None = None,
    seed: int = 0,
    device: torch.device | str | None = None,
) -> list[str]:
    """Inject a LoRA adapter in place (B zero-initialised, so the model is unchanged at first); freeze the rest.

    ``target_modules`` are regular expressions over module names (``lora.target_modules``). Returns the
    adapted module names. ``dtype`` sets the adapter weights' dtype (default: the base weights');
    ``device`` where they live (default: where the base weights are; offloaded blocks keep theirs on the
    host while the adapters stay on the GPU); ``seed`` fixes the random initialisation of A.
    """
    if rank < 1:
        raise ConfigError(f"lora.rank={rank}: must be >= 1")
    if not (math.isfinite(alpha) and alpha > 0):
        raise ConfigError(f"lora.alpha={alpha}: must be > 0")
    if not 0.0 <= dropout < 1.0:
        raise ConfigError(f"lora.dropout={dropout}: must be in [0, 1)")
    names = resolve_target_modules(model, target_modules)
    config = LoraConfig(
        r=rank,
        lora_alpha=alpha,  # type: ignore[arg-type]  # peft annotates int but computes alpha / r in float
        lora_dropout=dropout,
        target_modules=names,
        init_lora_weights=True,
    )
    model.requires_grad_(False)
    # peft draws A from torch's global RNG: fork it so equal seeds give equal adapters.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        inject_adapter_in_model(config, model, adapter_name=ADAPTER_NAME)
    for name, param in model.named_parameters():
        is_lora = ".lora_A." in name or ".lora_B." in name
        param.requires_grad_(is_lora)
        if is_lora and (dtype is not None or device is not None):
            param.data = param.data.to(device=device, dtype=dtype)
    return names


def lora_parameters(model: torch.nn.Module) -> list[torch.nn.Parameter]:
    """The trainable adapter parameters, in a fixed order."""
    return [
        p for n, p in model.named_parameters() if p.requires_grad and (".lora_A." in n or ".lora_B." in n)
    ]


def adapter_state_dict(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """peft's adapter state dict (``<module>.lora_A.weight`` ...), unscaled, for checkpoints."""
    state = get_peft_model_state_dict(model, adapter_name=ADAPTER_NAME)
    return {k: v.detach().clone() for k, v in state.items()}


def load_adapter_state(model: torch.nn.Module, state: dict[str, torch.Tensor], *, source: str) -> None:
    """Copy a checkpoint's adapter weights into ``model``; shapes and names must match exactly."""
    own = {
        name.replace(f".{ADAPTER_NAME}.", "."): param
        for name, param in model.named_parameters()
        if ".lora_A." in name or ".lora_B." in name
    }
    # An exported file names top-level modules as ltx-core does; map them back to this model's names.
    state = {diffusers_name(name): value for name, value in state.items()}
    if set(own) != set(state):
        missing = sorted(set(own) - set(state))[:1]
        extra = sorted(set(state) - set(own))[:1]
        raise ConfigError(
            f"{source}: adapter modules differ from lora.target_modules (missing {missing}, unexpected {extra})"
        )
    for name, value in state.items():
        if own[name].shape != value.shape:
            raise ConfigError(
                f"{source}: {name} has shape {tuple(value.shape)}, this run needs {tuple(own[name].shape)} "
                "(lora.rank differs?)"
            )
    with torch.no_grad():
        for name, value in state.items():
            own[name].copy_(value.to(own[name].dtype))


def export_state_dict(model: torch.nn.Module, *, rank: int, alpha: float) -> dict[str, torch.Tensor]:
    """LTX/ComfyUI keys: ``diffusion_model.<ltx-core module>.lora_{A,B}.weight``, ``alpha / rank`` folded into B."""
    scale = alpha / rank
    out: dict[str, torch.Tensor] = {}
    for key, value in adapter_state_dict(model).items():
        tensor = value.float()
        if ".lora_B." in key:
            tensor = tensor * scale
        name = ltx_core_name(key)
        if name is None:  # resolve_target_modules refuses these; a restored checkpoint could still hold one
            raise ConfigError(f"LoRA export: {key!r} has no ltx-core module name")
        out[EXPORT_PREFIX + name] = tensor.to(torch.bfloat16).contiguous()
    return out


def save_lora(
    model: torch.nn.Module,
    path: str | Path,
    *,
    rank: int,
    alpha: float,
    metadata: dict[str, str | int | float],
) -> Path:
    """Write the exported adapter atomically (temp file + rename) and return its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = export_state_dict(model, rank=rank, alpha=alpha)
    text_meta = {k: v if isinstance(v, str) else json.dumps(v) for k, v in metadata.items()}
    text_meta.update({"format": "pt", "rank": str(rank), "alpha": json.dumps(alpha)})
    tensorfile.write(path, tensors, text_meta)
    return path


def init_from_lora(model: torch.nn.Module, path: str | Path, *, rank: int, alpha: float) -> dict[str, str]:
    """Load an existing IC-LoRA file (ours, or one in the LTX/ComfyUI layout: ``diffusion_model.<module>
    .lora_{A,B}.weight``, an optional ``<module>.alpha`` per module) into the adapters of ``model``; returns
    the file's metadata so the export can keep it.

    The file's update ``B A * (alpha_file / r)`` (alpha folded into B when there is no alpha key) is
    reproduced exactly under this run's ``alpha / rank`` scaling. Its modules must be exactly the adapted
    ones and its rank ``lora.rank``; otherwise a one-line ConfigError names ``lora.init_from``.
    """
    source = f"lora.init_from={str(path)!r}"
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = dict(handle.metadata() or {})
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}
    except (OSError, SafetensorError) as err:
        raise ConfigError(f"{source}: not a readable safetensors file ({err})") from None
    state: dict[str, torch.Tensor] = {}
    for key, value in tensors.items():
        name = key.removeprefix(EXPORT_PREFIX)
        if name.endswith(".alpha"):
            continue
        if ".lora_B." in name:
            module = name.split(".lora_B.")[0]
            alpha_key = f"{key.split('.lora_B.')[0]}.alpha"
            file_scale = float(tensors[alpha_key]) / value.shape[1] if alpha_key in tensors else 1.0
            value = value.float() * file_scale * (rank / alpha)
            name = f"{module}.lora_B.weight"
        state[name] = value.float()
    load_adapter_state(model, state, source=source)
    return metadata


def lora_metadata(path: str | Path) -> dict[str, str]:
    """The string metadata of a LoRA file (empty when it has none)."""
    with safe_open(str(path), framework="pt") as handle:
        return dict(handle.metadata() or {})


def read_lora(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of an exported LoRA file (keys as written)."""
    return load_file(str(path))
