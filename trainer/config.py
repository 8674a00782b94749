"""Typed trainer settings, read from the Hydra config (``conf/train.yaml``) or a plain dict.

Unknown keys and wrong types raise ConfigError naming the dotted key (``train.lr``), the value and the rule.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, get_type_hints

from synthgen.errors import ConfigError

from .lora import DEFAULT_TARGET_MODULES


@dataclass
class ModelSettings:
    """``model.*``: which transformer and encoders to use."""

    preset: str = "tiny"
    path: str | None = None
    components_path: str | None = None
    seed: int = 0


@dataclass
class DataSettings:
    """``data.*``: the shards, the control job, buckets and the latent cache."""

    path: str | None = None
    control: str = "motion_track"
    buckets: list[str] = field(default_factory=lambda: ["768x768x81", "512x512x49", "256x256x25", "64x64x9"])
    cache_dir: str = "outputs/cache"
    eval_clips: int = 2
    max_clips: int = 0


@dataclass
class LoraSettings:
    """``lora.*``: adapter shape; ``target_modules`` are regular expressions over module names."""

    rank: int = 32
    alpha: float = 32.0
    dropout: float = 0.0
    target_modules: list[str] = field(default_factory=lambda: list(DEFAULT_TARGET_MODULES))


@dataclass
class TrainSettings:
    """``train.*``: optimisation, precision, speed and bookkeeping."""

    steps: int = 100
    lr: float = 1e-4
    batch_size: int = 1
    grad_accum: int = 1
    warmup_steps: int = 10
    decay: str = "cosine"
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    seed: int = 0
    first_frame_conditioning_p: float = 0.1
    device: str = "auto"
    cpu_threads: int = 0
    deterministic: bool = False
    gradient_checkpointing: bool = True
    uncheckpointed_blocks: int = 0
    save_attention: bool = False
    compile: bool = False
    checkpoint_every: int = 50
    log_every: int = 1
    resume: bool = True
    progress: bool = True


@dataclass
class EvalSettings:
    """``eval.*``: fixed-noise control-gain evaluation on held-out clips."""

    seed: int = 1234
    sigmas: list[float] = field(default_factory=lambda: [0.2, 0.4, 0.6, 0.8])
    noise_draws: int = 2


@dataclass
class Settings:
    """The whole trainer config. ``stage``: ``train`` (cache, train, evaluate), ``eval`` or ``cache``."""

    stage: str = "train"
    output_dir: str = "outputs/train"
    model: ModelSettings = field(default_factory=ModelSettings)
    data: DataSettings = field(default_factory=DataSettings)
    lora: LoraSettings = field(default_factory=LoraSettings)
    train: TrainSettings = field(default_factory=TrainSettings)
    eval: EvalSettings = field(default_factory=EvalSettings)

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (for checkpoints and reports)."""
        return dataclasses.asdict(self)


STAGES = ("train", "eval", "cache")
DECAYS = ("cosine", "linear", "constant")


def _coerce(value: Any, hint: Any, key: str) -> Any:
    text = str(hint)
    if text in ("bool", "<class 'bool'>"):
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key}={value!r}: must be true or false")
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}={value!r}: must be an integer")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{key}={value!r}: must be a number")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}={value!r}: must be a string")
        return value
    if "None" in text and value is None:
        return None
    if "str" in text and "list" not in text:
        return str(value)
    if "list" in text:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{key}={value!r}: must be a list")
        return [float(v) if "float" in text else str(v) for v in value]
    return value


def _fill(cls: Any, values: dict[str, Any], prefix: str) -> Any:
    hints = get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ConfigError(f"{prefix}{unknown[0]}: unknown setting (known: {', '.join(sorted(names))})")
    kwargs = {}
    for name, value in values.items():
        hint = hints[name]
        if dataclasses.is_dataclass(hint):
            if not isinstance(value, dict):
                raise ConfigError(f"{prefix}{name}={value!r}: must be a mapping")
            kwargs[name] = _fill(hint, value, f"{prefix}{name}.")
        else:
            kwargs[name] = _coerce(value, hint, f"{prefix}{name}")
    return cls(**kwargs)


def settings_from_dict(values: dict[str, Any]) -> Settings:
    """Validate and convert a plain (resolved) config dict; Hydra's own ``hydra`` key is ignored."""
    values = {k: v for k, v in values.items() if k != "hydra"}
    settings: Settings = _fill(Settings, values, "")
    check(settings)
    return settings


def check(s: Settings) -> None:
    """Cross-field and range rules, one ConfigError per broken rule."""
    if s.stage not in STAGES:
        raise ConfigError(f"stage={s.stage!r}: must be one of {list(STAGES)}")
    rules: list[tuple[str, Any, bool, str]] = [
        ("train.steps", s.train.steps, s.train.steps >= 0, "must be >= 0"),
        ("train.lr", s.train.lr, s.train.lr > 0, "must be > 0"),
        ("train.batch_size", s.train.batch_size, s.train.batch_size >= 1, "must be >= 1"),
        ("train.grad_accum", s.train.grad_accum, s.train.grad_accum >= 1, "must be >= 1"),
        ("train.warmup_steps", s.train.warmup_steps, s.train.warmup_steps >= 0, "must be >= 0"),
        ("train.decay", s.train.decay, s.train.decay in DECAYS, f"must be one of {list(DECAYS)}"),
        ("train.max_grad_norm", s.train.max_grad_norm, s.train.max_grad_norm > 0, "must be > 0"),
        (
            "train.first_frame_conditioning_p",
            s.train.first_frame_conditioning_p,
            0.0 <= s.train.first_frame_conditioning_p <= 1.0,
            "must be in [0, 1]",
        ),
        ("train.checkpoint_every", s.train.checkpoint_every, s.train.checkpoint_every >= 1, "must be >= 1"),
        ("lora.rank", s.lora.rank, s.lora.rank >= 1, "must be >= 1"),
        ("lora.alpha", s.lora.alpha, s.lora.alpha > 0, "must be > 0"),
        ("lora.dropout", s.lora.dropout, 0.0 <= s.lora.dropout < 1.0, "must be in [0, 1)"),
        ("lora.target_modules", s.lora.target_modules, len(s.lora.target_modules) > 0, "must not be empty"),
        ("data.eval_clips", s.data.eval_clips, s.data.eval_clips >= 0, "must be >= 0"),
        ("eval.noise_draws", s.eval.noise_draws, s.eval.noise_draws >= 1, "must be >= 1"),
        (
            "eval.sigmas",
            s.eval.sigmas,
            len(s.eval.sigmas) > 0 and all(0.0 < x < 1.0 for x in s.eval.sigmas),
            "must be a non-empty list of values in (0, 1)",
        ),
    ]
    for key, value, ok, rule in rules:
        if not ok:
            raise ConfigError(f"{key}={value!r}: {rule}")
    if s.stage != "cache" and s.model.preset != "ltx-2.3-22b" and not s.data.path:
        raise ConfigError("data.path=None: set the dataset folder (synthgen shards) to train on")
