r"""Typed trainer settings: ``conf/train.yaml`` (groups ``model/`` and ``train/``) validated into frozen models.

The packaged YAML is the only source of defaults; these models hold none. ``load_train_config`` composes
it with Hydra override strings exactly as ``synthgen-train`` does (``synthgen.describe.compose``, shared
with ``load_generate_config``), merges a nested mapping of values on top, and validates; the app passes its
composed config to the same function. Errors are one-line ``ConfigError``\ s naming the dotted key
(``train.lr=inf: Input should be a finite number``).

Bounds checked here at load, so a bad value stops before anything is written: seeds in [0, 2^32), learning
rate and LoRA alpha finite and > 0, counts >= 0 or >= 1 as their meaning needs, probabilities in [0, 1],
buckets ``WxHxF`` with sides multiples of 32 and F = 8k+1, LoRA targets valid regular expressions.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, get_args, get_origin

from omegaconf import DictConfig, OmegaConf
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from synthgen.errors import ConfigError, config_error_from_validation

MAX_SEED = 2**32 - 1
# What Hydra writes for the run folder; outside a Hydra run there is none, so a library caller names one.
HYDRA_RUN_DIR = "${hydra:runtime.output_dir}"


def _as_list(value: Any) -> Any:
    # A single value on the command line (``data.buckets=64x64x9``) means a list of one.
    return [value] if isinstance(value, str | int | float) and not isinstance(value, bool) else value


Names = Annotated[tuple[str, ...], Field(strict=False, min_length=1), BeforeValidator(_as_list)]


@dataclass(frozen=True)
class Bucket:
    """A training resolution: ``width`` x ``height`` pixels, ``frames`` frames (8k+1)."""

    width: int
    height: int
    frames: int

    def __str__(self) -> str:
        return f"{self.width}x{self.height}x{self.frames}"


def parse_bucket(text: str) -> Bucket:
    """``"WxHxF"`` -> Bucket; sides must be multiples of 32 and F = 8k+1 (else ConfigError)."""
    parts = str(text).lower().split("x")
    try:
        width, height, frames = (int(p) for p in parts)
    except ValueError:
        raise ConfigError(f"data.buckets: {text!r} is not WxHxF (e.g. 768x768x81)") from None
    if width <= 0 or height <= 0 or width % 32 or height % 32:
        raise ConfigError(f"data.buckets: {text!r}: width and height must be positive multiples of 32")
    if frames < 1 or (frames - 1) % 8:
        raise ConfigError(f"data.buckets: {text!r}: frames must be 8k+1 (LTX VAE temporal compression)")
    return Bucket(width, height, frames)


def require_dataset_folder(path: str | Path | None) -> Path:
    """``data.path`` as a Path; ConfigError when it is unset or no folder."""
    if path is None or not Path(path).is_dir():
        raise ConfigError(f"data.path={None if path is None else str(path)!r}: no such folder")
    return Path(path)


class _Settings(BaseModel):
    # Strict: a string where a number belongs, or 1 for true, is a mistake to report, not to convert.
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False, strict=True)


class ModelSettings(_Settings):
    """``model.*`` (group ``conf/model/``): which transformer and encoders to use."""

    preset: Literal["tiny", "ltx-2.3-22b", "path", "ltx_checkpoint"] = Field(
        description="tiny (small random model), ltx-2.3-22b (full shape, random weights), path (local "
        "diffusers files), ltx_checkpoint (Lightricks' single-file LTX-2.3 checkpoint + a Gemma-3 folder)"
    )
    path: str | None = Field(
        description="with preset=path (required there): a diffusers folder or a single .safetensors transformer"
    )
    components_path: str | None = Field(
        description="a diffusers folder with the VAEs and text path when path is a single .safetensors file"
    )
    checkpoint: str | None = Field(
        description="with preset=ltx_checkpoint (required there): Lightricks' bundled LTX-2.3 .safetensors "
        "(ltx-2.3-22b-dev / -distilled): transformer, VAEs and text connectors in one file"
    )
    gemma: str | None = Field(
        description="with preset=ltx_checkpoint (required there): the Gemma-3 folder (config.json, weights, "
        "tokenizer) used as LTX-2.3's text encoder"
    )
    seed: int = Field(ge=0, le=MAX_SEED, description="seed of the random weights of the tiny and 22b presets")

    @model_validator(mode="after")
    def _checkpoint_files_given(self) -> ModelSettings:
        if self.preset == "ltx_checkpoint" and (not self.checkpoint or not self.gemma):
            raise ValueError(
                f"model=ltx_checkpoint needs model.checkpoint (got {self.checkpoint!r}) and model.gemma "
                f"(got {self.gemma!r})"
            )
        return self


class DataSettings(_Settings):
    """``data.*``: the shards, the control job, buckets and the latent cache."""

    path: str | None = Field(
        description="the synthgen dataset folder (shards written by synthgen-generate); required"
    )
    control: str = Field(
        min_length=1,
        description="a registered control job (synthgen.controls); must equal the shards' control_job",
    )
    buckets: Names = Field(
        description="training resolutions WxHxF (sides multiples of 32, F = 8k+1); each clip takes one"
    )
    cache_dir: str = Field(
        min_length=1, description="root of the latent cache (one sub-folder per cache key)"
    )
    eval_clips: int = Field(ge=0, description="the last N clips are held out for the control-gain evaluation")
    max_clips: int = Field(ge=0, description="use only the first N clips; 0 = all (data-size sweeps)")

    @field_validator("control")
    @classmethod
    def _control_registered(cls, control: str) -> str:
        from synthgen.controls import job_names

        if control not in job_names():
            raise ValueError(f"not a registered control job (have {', '.join(job_names())})")
        return control

    @field_validator("buckets")
    @classmethod
    def _buckets_parse(cls, buckets: tuple[str, ...]) -> tuple[str, ...]:
        for text in buckets:
            parse_bucket(text)
        return buckets


class LoraSettings(_Settings):
    """``lora.*``: the adapter's shape and where it goes."""

    rank: int = Field(ge=1, le=4096, description="LoRA rank r")
    alpha: float = Field(gt=0.0, description="LoRA alpha; the update is scaled by alpha / rank")
    dropout: float = Field(ge=0.0, lt=1.0, description="dropout on the adapter's input")
    target_modules: Names = Field(
        description="regular expressions over module names (full match) of the linear layers to adapt"
    )
    control_targets: dict[str, Annotated[tuple[str, ...], Field(strict=False), BeforeValidator(_as_list)]] = (
        Field(
            description="per control job, regular expressions added to target_modules for that job "
            "(audio_to_video: the audio-to-video cross-attention, the only path from audio into video)",
        )
    )
    init_from: str | None = Field(
        description="an existing IC-LoRA file to continue training from (its A/B loaded into the adapters, "
        "its metadata kept on export); null = fresh adapters"
    )

    def targets_for(self, control: str) -> tuple[str, ...]:
        """``target_modules`` plus the job's ``control_targets`` (each pattern once, in order)."""
        return tuple(dict.fromkeys((*self.target_modules, *self.control_targets.get(control, ()))))

    @field_validator("control_targets")
    @classmethod
    def _control_patterns_compile(cls, by_job: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        for patterns in by_job.values():
            cls._patterns_compile(patterns)
        return by_job

    @field_validator("target_modules")
    @classmethod
    def _patterns_compile(cls, patterns: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as err:
                raise ValueError(f"{pattern!r} is not a regular expression ({err})") from None
        return patterns


class ValidationSettings(_Settings):
    """``train.validation.*``: held-out clips generated and scored for adherence during training."""

    every: int = Field(ge=0, description="generate the held-out clips every N optimizer steps; 0 = off")
    seed: int = Field(
        ge=0, le=MAX_SEED, description="noise seed; held-out clip i uses seed + i at every step"
    )
    num_inference_steps: int = Field(ge=1, le=1000, description="denoising steps per validation video")
    guidance_scale: float = Field(ge=1.0, le=50.0, description="classifier-free guidance; 1 = off")


class TrainSettings(_Settings):
    """``train.*`` (group ``conf/train/``): optimisation, precision, speed and bookkeeping."""

    steps: int = Field(ge=0, le=10**8, description="optimizer steps of the whole run")
    lr: float = Field(gt=0.0, description="peak learning rate of AdamW")
    batch_size: int = Field(ge=1, le=4096, description="clips per micro-batch (all of one shape group)")
    grad_accum: int = Field(ge=1, le=4096, description="micro-batches per optimizer step")
    warmup_steps: int = Field(ge=0, description="linear learning-rate warm-up, in optimizer steps")
    decay: Literal["cosine", "linear", "constant"] = Field(description="learning-rate decay after warm-up")
    weight_decay: float = Field(ge=0.0, description="AdamW weight decay")
    max_grad_norm: float = Field(gt=0.0, description="gradient clipping norm")
    seed: int = Field(ge=0, le=MAX_SEED, description="the run's seed: adapter init, batches, noise")
    first_frame_conditioning_p: float = Field(
        ge=0.0, le=1.0, description="probability that a sample's first latent frame is given clean"
    )
    device: str = Field(
        pattern=r"^(auto|cpu|mps|cuda(:\d+)?)$",
        description="auto (the first GPU, else the CPU), cpu, mps, cuda or cuda:N",
    )
    cpu_threads: int = Field(ge=0, le=1024, description="torch threads on CPU; 0 = torch's default")
    deterministic: bool = Field(description="deterministic kernels (for a bit-identical resume on GPU)")
    gradient_checkpointing: bool = Field(description="recompute block activations in the backward pass")
    uncheckpointed_blocks: int = Field(ge=0, description="leading blocks that keep their activations")
    save_attention: bool = Field(description="checkpointed blocks keep attention outputs (no recompute)")
    memory_budget_gib: float = Field(
        ge=0.0,
        description="CUDA: blocks keeping attention outputs, then un-checkpointed blocks, as many as keep the "
        "peak under this, from the first step's measured per-block memory (overrides uncheckpointed_blocks); "
        "0 = off",
    )
    base_precision: Literal["bfloat16", "float8", "int8_weights", "float8_weights"] = Field(
        description="frozen base linears of the blocks: bfloat16; float8 (torchao float8 matmuls, CUDA only); "
        "int8_weights / float8_weights (8-bit weight storage, bfloat16 matmuls; low-VRAM presets)"
    )
    offload_blocks: int = Field(
        ge=0,
        le=4096,
        description="CUDA: the last N transformer blocks keep their frozen weights in pinned CPU memory, moved "
        "to the GPU just before each use (the next one prefetched on a side stream); 0 = none",
    )
    optimizer: Literal["adamw", "adamw8bit"] = Field(
        description="adamw (torch, fused on CUDA) or adamw8bit (torchao, 8-bit moments)"
    )
    skip_audio_branch: bool | Literal["auto"] = Field(
        description="video-only jobs: audio-video cross-attention off (video does not attend to the stand-in "
        "audio noise, as ltx-trainer); auto = on CUDA only"
    )
    compile: bool | Literal["auto"] = Field(
        description="torch.compile each transformer block; auto = on CUDA, off over int8_weights"
    )
    adapter_compute: Literal["auto", "float32", "bfloat16"] = Field(
        description="LoRA matmul precision (weights stay float32 in the optimizer); auto = bfloat16 on CUDA"
    )
    timestep_sampler: Literal["shifted_logit_normal", "ltx_trainer"] = Field(
        description="sigma draw: ours, or ltx-trainer's stretched shifted logit-normal with 10 % uniform"
    )
    loss_average: Literal["tokens", "per_sample"] = Field(
        description="mean over all counted tokens of the batch, or per sample then over samples (ltx-trainer)"
    )
    reference_dropout_p: float = Field(
        ge=0.0, le=1.0, description="probability that a step trains without its reference (0 = never)"
    )
    checkpoint_every: int = Field(ge=1, description="write checkpoints/last.safetensors every N steps")
    log_every: int = Field(ge=1, description="write TensorBoard scalars every N steps")
    resume: bool = Field(description="continue from output_dir/checkpoints/last.safetensors when it exists")
    progress: bool = Field(description="show progress bars")
    validation: ValidationSettings = Field(description="validation videos and adherence during training")


class EvalSettings(_Settings):
    """``eval.*``: fixed-noise control-gain evaluation on held-out clips."""

    seed: int = Field(ge=0, le=MAX_SEED, description="fixed noise for every held-out clip, level and draw")
    sigmas: Annotated[
        tuple[Annotated[float, Field(gt=0.0, lt=1.0)], ...],
        Field(strict=False, min_length=1),
        BeforeValidator(_as_list),
    ] = Field(description="fixed noise levels, each in (0, 1)")
    noise_draws: int = Field(ge=1, le=1000, description="noise draws per clip and level")


class Settings(_Settings):
    """The whole trainer config (``conf/train.yaml``)."""

    stage: Literal["train", "eval", "cache"] = Field(
        description="train (cache, train, evaluate), eval (control gain of the saved checkpoint), cache"
    )
    output_dir: str = Field(min_length=1, description="where the LoRA, checkpoints, logs and report go")
    overwrite: bool = Field(
        description="write into an output_dir that holds files a training run does not write (they may be replaced)"
    )
    model: ModelSettings = Field(description="which transformer and encoders")
    data: DataSettings = Field(description="the dataset, control job, buckets and cache")
    lora: LoraSettings = Field(description="the adapter")
    train: TrainSettings = Field(description="optimisation, precision, speed and bookkeeping")
    eval: EvalSettings = Field(description="the held-out control-gain evaluation")

    def to_dict(self) -> dict[str, Any]:
        """Plain nested JSON-ready dict (for checkpoints and reports)."""
        return self.model_dump(mode="json")


def load_train_config(
    values: Mapping[str, Any] | DictConfig | None = None, *, overrides: Sequence[str] = ()
) -> Settings:
    """The validated trainer settings: the packaged ``conf/train.yaml`` (the defaults of ``synthgen-train``),
    composed with ``overrides``, with ``values`` merged on top.

    - ``overrides``: Hydra override strings, exactly as on the command line; select groups here
      (``["train=cpu_quick", "model=path", "model.path=/models/ltx-2.3", "lora.rank=16"]``).
    - ``values``: a nested mapping merged onto the composed config after ``overrides``
      (``{"data": {"path": "outputs/demo"}, "train": {"lr": 1e-3}}``): mappings merge key by key, lists and
      other values replace; a top-level ``hydra`` key is ignored.
    - a ``DictConfig`` as ``values`` is a config Hydra already composed (what the app passes): it is
      validated as is, and ``overrides`` must be empty.

    ``output_dir`` must be given outside a ``synthgen-train`` run: only Hydra has a run folder to default
    to. Raises ``ConfigError`` naming the first bad key and value.
    """
    return load_packaged_settings("train", Settings, check, values, overrides)


SettingsT = TypeVar("SettingsT", bound="_Settings")


def load_packaged_settings(
    config_name: str,
    model: type[SettingsT],
    check_rules: Callable[[SettingsT], None],
    values: Mapping[str, Any] | DictConfig | None,
    overrides: Sequence[str],
) -> SettingsT:
    """``conf/<config_name>.yaml`` composed with ``overrides``, ``values`` merged on top (a ``DictConfig`` is
    a composed config, validated as is), validated into ``model`` and checked by ``check_rules``: the one
    loading path of ``load_train_config`` and ``load_infer_config``."""
    if isinstance(values, DictConfig):
        if overrides:
            raise TypeError("overrides apply to the packaged defaults, not to an already composed DictConfig")
        raw = values
    else:
        from synthgen.describe.compose import compose_packaged

        composed = OmegaConf.to_container(compose_packaged(config_name, overrides), resolve=False)
        assert isinstance(composed, dict)
        if values is not None and not isinstance(values, Mapping):
            raise ConfigError(f"config: expected a mapping of values, got {type(values).__name__}")
        raw = OmegaConf.create(_merge({str(k): v for k, v in composed.items()}, values or {}))
    data = _resolved(raw)
    data.pop("hydra", None)
    try:
        settings = model.model_validate(data)
    except ValidationError as err:
        raise config_error_from_validation(err) from None
    check_rules(settings)
    return settings


def settings_from_dict(values: Mapping[str, Any]) -> Settings:
    """Deprecated: ``load_train_config(values)`` does the same (values over the packaged defaults)."""
    warnings.warn(
        "settings_from_dict(values) is deprecated; use load_train_config(values)",
        DeprecationWarning,
        stacklevel=2,
    )
    return load_train_config(values)


def check(s: Settings) -> None:
    """Rules across fields, one ConfigError per broken rule."""
    if s.model.preset == "path" and not s.model.path:
        raise ConfigError(
            f"model.path={s.model.path!r}: model=path needs a local diffusers folder or .safetensors"
        )
    if not s.data.path:
        # Every stage reads the shards, at least to find the cache made from them.
        raise ConfigError("data.path=None: set the dataset folder (synthgen shards) to train on")


def check_paths(s: Settings) -> None:
    """The local files a run reads exist: ``data.path`` is a folder; with ``model=path``, ``model.path``."""
    require_dataset_folder(s.data.path)
    if s.model.preset == "path" and s.model.path and not Path(s.model.path).expanduser().exists():
        raise ConfigError(
            f"model.path={s.model.path!r}: no such file or folder (weights are loaded from local paths only)"
        )
    check_checkpoint_paths(s.model)


def check_checkpoint_paths(m: ModelSettings) -> None:
    """With ``model=ltx_checkpoint``: the checkpoint file and the Gemma folder exist (ConfigError naming the key)
    and the file's header says it is an LTX-2.3 bundle (DataError naming what it is): checked before a run
    writes anything."""
    if m.preset != "ltx_checkpoint":
        return
    for key, value in (("model.checkpoint", m.checkpoint), ("model.gemma", m.gemma)):
        if value and not Path(value).expanduser().exists():
            raise ConfigError(
                f"{key}={value!r}: no such file or folder (weights are loaded from local paths only)"
            )
    if m.checkpoint:
        from .ltx_checkpoint import check_ltx23_bundle, read_header

        check_ltx23_bundle(read_header(Path(m.checkpoint).expanduser()))


# What a training run (and Hydra's run folder) puts into output_dir: a folder holding only these is a run's
# own (resume, stage=eval); anything else there is someone else's and is not written over without overwrite.
RUN_OUTPUT_NAMES = frozenset(
    {".hydra", "checkpoints", "tensorboard", "validation", "report.json", "lora.safetensors"}
)


def _is_run_folder(root: Path) -> bool:
    return all(p.name in RUN_OUTPUT_NAMES or p.name.endswith(".log") for p in root.iterdir())


def check_output_dir(s: Settings) -> Path:
    """``output_dir`` may be written: absent, empty, a training run's own folder, or anything with
    ``overwrite=true``; not a file or an unwritable place. ConfigError naming ``output_dir`` otherwise."""
    from synthgen.fileio import check_output_dir as check_folder

    return check_folder(s.output_dir, "output_dir", overwrite=s.overwrite, ours=_is_run_folder)


def _merge(base: dict[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in values.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(dict(out[key]), value)
        else:
            out[key] = value
    return out


def _resolved(raw: DictConfig) -> dict[str, Any]:
    """``raw`` as a plain dict with interpolations resolved; a mandatory value left unset is a ConfigError."""
    from hydra.core.hydra_config import HydraConfig
    from omegaconf.errors import MissingMandatoryValue, OmegaConfBaseException

    output_dir = raw._get_node("output_dir")
    if (
        output_dir is not None
        and str(output_dir._value()).startswith("${hydra:")
        and not HydraConfig.initialized()
    ):
        raise ConfigError(
            "output_dir: outside a synthgen-train run there is no Hydra run folder; set output_dir"
        )
    try:
        values = OmegaConf.to_container(raw, resolve=True, throw_on_missing=True)
    except MissingMandatoryValue as err:
        key = getattr(err, "full_key", "") or "config"
        raise ConfigError(f"{key}: missing mandatory value (set {key}=...)") from None
    except OmegaConfBaseException as err:
        raise ConfigError(f"config: {str(err).splitlines()[0]}") from None
    assert isinstance(values, dict)
    return {str(k): v for k, v in values.items()}


def reference_table() -> str:
    """The config reference of docs/training.md: every key with its rule and description, from the models."""
    rows = ["| key | rule | meaning |", "| --- | --- | --- |"]

    def walk(model: type[BaseModel], prefix: str) -> None:
        for name, info in model.model_fields.items():
            annotation = info.annotation
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                walk(annotation, f"{prefix}{name}.")
                continue
            rows.append(f"| `{prefix}{name}` | {_rule(info)} | {info.description} |")

    walk(Settings, "")
    return "\n".join(rows)


def _rule(info: Any) -> str:
    choices = get_args(info.annotation) if get_origin(info.annotation) is Literal else ()
    parts = [" \\| ".join(f"`{c}`" for c in choices)] if choices else []
    for item in info.metadata:
        for attr, symbol in (
            ("gt", ">"),
            ("ge", ">="),
            ("lt", "<"),
            ("le", "<="),
            ("min_length", "length >="),
        ):
            if getattr(item, attr, None) is not None:
                parts.append(f"{symbol} {getattr(item, attr)}")
        if getattr(item, "pattern", None):
            parts.append(f"`{item.pattern}`".replace("|", "\\|"))
    return ", ".join(parts)


if __name__ == "__main__":
    print(reference_table())
