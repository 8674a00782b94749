"""The generation config: Hydra composes YAML, this module validates it into typed, frozen models.

Hydra gives a ``DictConfig``; ``load_generate_config`` resolves it, validates every field with pydantic and
raises ``ConfigError`` naming the first bad field (``clip.num_frames=50: must be 8k+1 ...``). Everything
after this boundary works with ``GenerateConfig`` and never sees raw YAML.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, ValidationError, model_validator

from synthgen.describe.spec import (
    MAX_BPM,
    MIN_BPM,
    BindingKind,
    ClipSettings,
    Instrument,
    RenderSpec,
    audio_num_samples,
    clip_rng,
)
from synthgen.errors import ConfigError, config_error_from_validation
from synthgen.scenes import SceneContext, get_recipe

Range = tuple[float, float]
PositiveRange = tuple[PositiveFloat, PositiveFloat]


class _Config(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


def _ordered_range(name: str, value: Range) -> None:
    if value[0] > value[1]:
        raise ValueError(f"{name}={list(value)} must be [low, high] with low <= high")


class DatasetConfig(_Config):
    name: str = Field("demo", min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    seed: int = Field(0, ge=0)
    num_clips: int = Field(4, ge=1)


class JobConfig(_Config):
    """This process is job ``index`` of ``count``: it writes shards ``index, index + count, ...``
    (``synthgen.dataset.ShardPlan``), so jobs never touch the same file."""

    index: int = Field(0, ge=0)
    count: int = Field(1, ge=1)

    @model_validator(mode="after")
    def _index_below_count(self) -> JobConfig:
        if self.index >= self.count:
            raise ValueError(f"index={self.index} must be < count={self.count}")
        return self


class SceneConfig(_Config):
    """Which recipe builds the scene (built-in name, dotted module path or .py file) and its parameters."""

    recipe: str = Field("tracked_objects", min_length=1)
    params: dict[str, Any] = Field(default_factory=dict)


PathKindName = Literal[
    "static", "linear", "catmull_rom", "bezier", "piecewise", "circle", "lissajous", "random_smooth"
]


class MotionConfig(_Config):
    """How dynamic objects move: path kinds drawn uniformly, speeds and the area they move in."""

    kinds: tuple[PathKindName, ...] = ("linear", "catmull_rom", "circle", "lissajous", "random_smooth")
    speed_m_per_s: Range = (0.3, 1.2)
    area_m: PositiveRange = Field((4.0, 4.0), description="x and y extent of the motion area")
    num_waypoints: tuple[int, int] = (3, 5)
    spin_probability: float = Field(0.3, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _ranges(self) -> MotionConfig:
        if not self.kinds:
            raise ValueError("kinds must name at least one path kind")
        _ordered_range("speed_m_per_s", self.speed_m_per_s)
        if self.num_waypoints[0] < 2 or self.num_waypoints[0] > self.num_waypoints[1]:
            raise ValueError(f"num_waypoints={list(self.num_waypoints)} must be [low>=2, high>=low]")
        return self


MoveName = Literal["static", "dolly", "truck", "pedestal", "pan", "tilt", "roll", "orbit", "zoom", "crane"]


class CameraConfig(_Config):
    """Camera placement around the stage and the moves drawn for it."""

    moves: tuple[MoveName, ...] = ("static", "dolly", "truck", "pan", "orbit", "zoom", "crane")
    distance_m: Range = Field((3.0, 5.0), description="added to the recipe's stage radius")
    height_m: Range = (1.5, 4.0)
    focal_length_mm: PositiveRange = (28.0, 50.0)
    composite_probability: float = Field(0.25, ge=0.0, le=1.0, description="chance of a second move")
    handheld_probability: float = Field(0.15, ge=0.0, le=1.0)
    dolly_m: Range = (1.0, 3.0)
    truck_m: Range = (1.0, 3.0)
    pedestal_m: Range = (0.5, 1.5)
    rotate_deg: Range = (8.0, 20.0)
    orbit_deg: Range = (20.0, 60.0)
    zoom_factor: PositiveRange = (1.2, 1.6)

    @model_validator(mode="after")
    def _ranges(self) -> CameraConfig:
        if not self.moves:
            raise ValueError("moves must name at least one move (use [static] for none)")
        for name in (
            "distance_m",
            "height_m",
            "focal_length_mm",
            "dolly_m",
            "truck_m",
            "pedestal_m",
            "rotate_deg",
            "orbit_deg",
            "zoom_factor",
        ):
            _ordered_range(name, getattr(self, name))
        return self


class BindingConfig(_Config):
    """A binding template: ``target`` is 'all' objects, 'first' object, or 'camera'."""

    kind: BindingKind
    target: Literal["all", "first", "camera"] = "all"
    source: Literal["beat", "downbeat", "kick", "snare", "hat_closed", "hat_open", "clap", "energy"] = "beat"
    amount: float = Field(1.0, ge=0.0)


class AudioConfig(_Config):
    """Procedural music for the clip (``enabled: false`` = silent clip, no audio stream)."""

    enabled: bool = False
    bpm: float = Field(120.0, ge=MIN_BPM, le=MAX_BPM)
    bpm_range: Range | None = None
    sample_rate: int = Field(48000, ge=8000, le=192000)
    snap_to_frames: bool = True
    meter: int = Field(4, ge=2, le=12)
    swing: float = Field(0.0, ge=0.0, le=0.5)
    instruments: tuple[Instrument, ...] = ("kick", "snare", "hat_closed", "bass")
    loops_dir: str | None = None
    bindings: tuple[BindingConfig, ...] = ()

    @model_validator(mode="after")
    def _ranges(self) -> AudioConfig:
        if self.bpm_range is not None:
            _ordered_range("bpm_range", self.bpm_range)
            if self.bpm_range[0] < MIN_BPM or self.bpm_range[1] > MAX_BPM:
                raise ValueError(
                    f"bpm_range={list(self.bpm_range)} must lie within [{MIN_BPM:g}, {MAX_BPM:g}]"
                )
        return self


class RenderConfig(RenderSpec):
    """Render settings of every clip, plus the worker's recycling period."""

    recycle_after: int = Field(50, ge=1, description="restart the render worker after this many clips")

    def to_spec(self) -> RenderSpec:
        """The per-clip part that is stored in each ClipSpec."""
        return RenderSpec(**self.model_dump(exclude={"recycle_after"}))


class ControlConfig(BaseModel):
    """The control job this dataset is for; job-specific parameters are kept as extra keys."""

    model_config = ConfigDict(frozen=True, extra="allow", allow_inf_nan=False)

    job: Literal["motion_track", "camera_motion", "audio_to_video", "depth", "union"] = "motion_track"
    lint: dict[str, Any] = Field(default_factory=dict)

    @property
    def params(self) -> dict[str, Any]:
        """Job parameters: every key of the control group other than ``job`` and ``lint``."""
        return dict(self.model_extra or {})


class ShardsConfig(_Config):
    max_clips: int = Field(64, ge=1, description="clips per shard at most")
    max_bytes: int = Field(1 << 30, ge=1 << 16, description="bytes per shard at most (approximate)")
    video_crf: int = Field(18, ge=0, le=51)
    lossless: bool = False


class GenerateConfig(_Config):
    """The whole, validated ``synthgen-generate`` config."""

    dataset: DatasetConfig = DatasetConfig()
    output_dir: str = "outputs/demo"
    clip: ClipSettings = ClipSettings()
    scene: SceneConfig = SceneConfig()
    motion: MotionConfig = MotionConfig()
    camera: CameraConfig = CameraConfig()
    audio: AudioConfig = AudioConfig()
    render: RenderConfig = RenderConfig()
    control: ControlConfig = ControlConfig()
    job: JobConfig = JobConfig()
    shards: ShardsConfig = ShardsConfig()
    fail_fast: bool = False

    @model_validator(mode="after")
    def _audio_fits_clip(self) -> GenerateConfig:
        if not self.audio.enabled:
            return self
        if audio_num_samples(self.clip.num_frames, self.clip.fps, self.audio.sample_rate) is None:
            raise ValueError(
                f"audio.sample_rate={self.audio.sample_rate}: clip.num_frames/clip.fps*sample_rate = "
                f"{self.clip.num_frames}/{self.clip.fps}*{self.audio.sample_rate} is not a whole number of samples"
            )
        if self.audio.snap_to_frames:
            # Whether any tempo snaps depends on fps alone: fail here, not on every clip of the run.
            from synthgen.audio.grid import snapped_bpm

            snapped_bpm(self.audio.bpm, self.clip.fps)
        return self

    def config_hash(self) -> str:
        """sha256 of everything that changes the clips' content (not job split or output location)."""
        payload = self.model_dump(mode="json", exclude={"job": True, "output_dir": True, "fail_fast": True})
        text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()


def load_generate_config(raw: Mapping[str, Any] | Any) -> GenerateConfig:
    """Validate a resolved Hydra config (``DictConfig`` or plain mapping) into a ``GenerateConfig``.

    The ``hydra`` node, if present, is ignored. Raises ``ConfigError`` naming the first invalid field.
    """
    data = _to_container(raw)
    data.pop("hydra", None)
    try:
        cfg = GenerateConfig.model_validate(data)
    except ValidationError as err:
        raise config_error_from_validation(err) from None
    _check_scene_params(cfg)
    _check_control_params(cfg)
    return cfg


def _check_control_params(cfg: GenerateConfig) -> None:
    """Validate the control job's parameters and lint thresholds here, at the boundary: a bad value must stop
    the run before anything is written, not fail every clip."""
    # Imported here: the control modules import this one's neighbours (sampling, labels) in turn.
    from synthgen.controls import get_job, parse_job_params
    from synthgen.dataset.lint import parse_thresholds

    parse_job_params(cfg.control.job, cfg.control.params)  # an unknown job names control.job
    if get_job(cfg.control.job).needs_audio and not cfg.audio.enabled:
        raise ConfigError(f"control.job={cfg.control.job!r}: needs audio; set audio.enabled=true (or audio=beats)")
    parse_thresholds(cfg.control.lint)


def _check_scene_params(cfg: GenerateConfig) -> None:
    """Find the recipe and run it once for clip 0, so an unknown recipe or a bad ``scene.params`` value
    (the recipe's ConfigError) fails before anything is written."""
    recipe = get_recipe(cfg.scene.recipe)
    try:
        recipe.sample(clip_rng(cfg.dataset.seed, 0), SceneContext(params=cfg.scene.params, clip=cfg.clip))
    except ConfigError:
        raise
    except Exception:
        # Any other failure is the recipe's, not the config's: it fails its clips, which the run records.
        return


def _to_container(raw: Mapping[str, Any] | Any) -> dict[str, Any]:
    try:
        from omegaconf import DictConfig, OmegaConf
    except ImportError:  # pragma: no cover - hydra is a hard dependency
        DictConfig = ()  # type: ignore[assignment,misc]
    if isinstance(raw, DictConfig):
        try:
            container = OmegaConf.to_container(raw, resolve=True)
        except Exception as err:  # interpolation errors name the key in their message
            raise ConfigError(f"config: {str(err).splitlines()[0]}") from None
        assert isinstance(container, dict)
        return {str(k): v for k, v in container.items()}
    if isinstance(raw, Mapping):
        return dict(raw)
    raise ConfigError(f"config: expected a mapping, got {type(raw).__name__}")
