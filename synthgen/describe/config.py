"""The generation config: Hydra composes YAML, this module validates it into typed, frozen models.

The packaged YAML (``conf/generate.yaml`` and its groups) is the one source of defaults; the models here
hold none, so a field that the YAML does not set is an error, not a second default. The Hydra app hands
``load_generate_config`` the ``DictConfig`` it composed; the library composes the same YAML with the same
overrides (``synthgen.describe.compose``). Either way every field is validated with pydantic, and the first
bad one raises ``ConfigError`` naming it (``clip.num_frames=50: must be 8k+1 ...``). Everything after this
boundary works with ``GenerateConfig`` and never sees raw YAML.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from omegaconf import DictConfig, OmegaConf
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveFloat,
    ValidationError,
    field_validator,
    model_validator,
)

from synthgen.describe.compose import compose_packaged, one_line_hydra_error
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
from synthgen.fileio import SAFE_NAME_PATTERN, json_sha256
from synthgen.scenes import SceneContext, get_recipe
from synthgen.scenes.materials import look_settings

Range = tuple[float, float]
MAX_NUM_CLIPS = 10_000_000  # a bound, not a limit of the format: larger runs are typos (docs/security.md)
MAX_DATASET_NAME_CHARS = 100
PositiveRange = tuple[PositiveFloat, PositiveFloat]


class _Config(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


def _ordered_range(name: str, value: Range) -> None:
    if value[0] > value[1]:
        raise ValueError(f"{name}={list(value)} must be [low, high] with low <= high")


class DatasetConfig(_Config):
    """Which dataset: its name, seed and size."""

    name: str = Field(
        max_length=MAX_DATASET_NAME_CHARS,
        pattern=SAFE_NAME_PATTERN,
        description="dataset name, part of clip ids and file names: letters, digits, _ . - (not first)",
    )
    seed: int = Field(ge=0, lt=2**63, description="dataset seed; clip i draws from SeedSequence([seed, i])")
    num_clips: int = Field(
        ge=1, le=MAX_NUM_CLIPS, description="clips in the whole dataset (over all jobs), at most 10 000 000"
    )


class JobConfig(_Config):
    """This process is job ``index`` of ``count``: it writes shards ``index, index + count, ...``
    (``synthgen.dataset.ShardPlan``), so jobs never touch the same file."""

    index: int = Field(ge=0, description="this job's index, 0 .. count-1")
    count: int = Field(ge=1, description="number of jobs the dataset is split over")

    @model_validator(mode="after")
    def _index_below_count(self) -> JobConfig:
        if self.index >= self.count:
            raise ValueError(f"index={self.index} must be < count={self.count}")
        return self


class SceneConfig(_Config):
    """Which recipe builds the scene (built-in name, dotted module path or .py file) and its parameters."""

    recipe: str = Field(min_length=1, description="built-in recipe name, dotted module path or .py file")
    params: dict[str, Any] = Field(description="the recipe's own parameters (checked by the recipe)")


PathKindName = Literal[
    "static", "linear", "catmull_rom", "bezier", "piecewise", "circle", "lissajous", "random_smooth", "physics"
]  # fmt: skip


class PhysicsMotionConfig(_Config):
    """Release conditions of objects on the ``physics`` path kind (conf/motion/physics.yaml)."""

    drop_height_m: Range = Field(description="[low, high] gap between the object's bottom and the ground")
    throw_probability: float = Field(ge=0.0, le=1.0, description="chance an object is thrown, not dropped")
    spin_deg_per_s: Range = Field(description="[low, high] angular speed at release, random axis")
    friction: Range = Field(description="[low, high] Coulomb friction coefficient")
    restitution: Range = Field(description="[low, high] bounciness, 0 dead to 1 elastic")

    @model_validator(mode="after")
    def _ranges(self) -> PhysicsMotionConfig:
        for name in ("drop_height_m", "spin_deg_per_s", "friction", "restitution"):
            value = getattr(self, name)
            _ordered_range(name, value)
            if value[0] < 0.0:
                raise ValueError(f"{name}={list(value)} must not be negative")
        if self.restitution[1] > 1.0 or self.friction[1] > 2.0:
            raise ValueError("restitution must stay within [0, 1] and friction within [0, 2]")
        return self


class MotionConfig(_Config):
    """How dynamic objects move: path kinds drawn uniformly, speeds and the area they move in."""

    kinds: tuple[PathKindName, ...] = Field(description="path kinds, one drawn uniformly per object")
    speed_m_per_s: Range = Field(description="[low, high] mean speed along the path, drawn uniformly")
    area_m: PositiveRange = Field(description="x and y extent of the motion area")
    num_waypoints: tuple[int, int] = Field(description="[low, high] waypoints of waypoint paths")
    spin_probability: float = Field(ge=0.0, le=1.0, description="chance that an object also spins")
    physics: PhysicsMotionConfig | None = Field(
        description="release conditions for the 'physics' kind (conf/motion/physics.yaml); null without it"
    )

    @model_validator(mode="after")
    def _ranges(self) -> MotionConfig:
        if not self.kinds:
            raise ValueError("kinds must name at least one path kind")
        if "physics" in self.kinds and self.physics is None:
            raise ValueError("kinds includes 'physics': set motion.physics (see conf/motion/physics.yaml)")
        _ordered_range("speed_m_per_s", self.speed_m_per_s)
        if self.num_waypoints[0] < 2 or self.num_waypoints[0] > self.num_waypoints[1]:
            raise ValueError(f"num_waypoints={list(self.num_waypoints)} must be [low>=2, high>=low]")
        return self


MoveName = Literal["static", "dolly", "truck", "pedestal", "pan", "tilt", "roll", "orbit", "zoom", "crane"]


class CameraConfig(_Config):
    """Camera placement around the stage and the moves drawn for it; ranges are [low, high], drawn uniformly."""

    moves: tuple[MoveName, ...] = Field(description="moves drawn uniformly (repeat a move to weight it)")
    distance_m: Range = Field(description="added to the recipe's stage radius")
    height_m: Range = Field(description="camera height above the ground")
    focal_length_mm: PositiveRange = Field(description="lens focal length (36 mm sensor)")
    composite_probability: float = Field(ge=0.0, le=1.0, description="chance of a second move")
    handheld_probability: float = Field(ge=0.0, le=1.0, description="chance of handheld shake on top")
    dolly_m: Range = Field(description="dolly travel along the view direction")
    truck_m: Range = Field(description="truck travel sideways")
    pedestal_m: Range = Field(description="pedestal travel up or down")
    rotate_deg: Range = Field(description="pan, tilt and roll angle")
    orbit_deg: Range = Field(description="orbit angle around the stage centre")
    zoom_factor: PositiveRange = Field(description="focal length multiplier of a zoom")

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
    """A binding template: a music event (``source``) drives an effect (``kind``) on ``target``."""

    kind: BindingKind = Field(description="the effect (bounce, scale_pulse, flash, camera_jolt, ...)")
    target: Literal["all", "first", "camera"] = Field(
        description="'all' objects, the 'first' object, or the 'camera'"
    )
    source: Literal["beat", "downbeat", "kick", "snare", "hat_closed", "hat_open", "clap", "energy"] = Field(
        description="the music event or envelope that drives the effect"
    )
    amount: float = Field(ge=0.0, description="effect size in the kind's unit (metres, degrees, ...)")


class AudioConfig(_Config):
    """Procedural music for the clip (``enabled: false`` = silent clip, no audio stream)."""

    enabled: bool = Field(description="false = silent clips without audio stream or beat labels")
    bpm: float = Field(ge=MIN_BPM, le=MAX_BPM, description="tempo in beats per minute")
    bpm_range: Range | None = Field(description="[low, high]: draw bpm per clip instead of using bpm")
    sample_rate: int = Field(ge=8000, le=192000, description="Hz; num_frames / fps * sample_rate whole")
    snap_to_frames: bool = Field(description="move the tempo so that every beat falls on a frame")
    meter: int = Field(ge=2, le=12, description="beats per bar")
    swing: float = Field(ge=0.0, le=0.5, description="delay of off-beat 8ths, fraction of an 8th")
    instruments: tuple[Instrument, ...] = Field(description="instruments of the procedural groove")
    loops_dir: str | None = Field(description="folder of user loops (e.g. groove_120bpm.wav), or null")
    bindings: tuple[BindingConfig, ...] = Field(description="music -> motion bindings of every clip")

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

    recycle_after: int = Field(ge=1, description="restart the render worker after this many clips")

    def to_spec(self) -> RenderSpec:
        """The per-clip part that is stored in each ClipSpec."""
        return RenderSpec(**self.model_dump(exclude={"recycle_after"}))


class ControlConfig(BaseModel):
    """The control job this dataset is for; job-specific parameters are kept as extra keys."""

    model_config = ConfigDict(frozen=True, extra="allow", allow_inf_nan=False)

    job: str = Field(
        min_length=1,
        description="a registered control job, synthgen.controls.job_names() (conf/control/<job>.yaml)",
    )
    lint: dict[str, Any] = Field(description="thresholds of synthgen lint (conf/lint/default.yaml)")

    @property
    def params(self) -> dict[str, Any]:
        """Job parameters: every key of the control group other than ``job`` and ``lint``."""
        return dict(self.model_extra or {})


class ShardsConfig(_Config):
    """How clips are packed into Parquet shards and how their videos are encoded."""

    max_clips: int = Field(ge=1, description="clips per shard at most")
    max_bytes: int = Field(ge=1 << 16, description="bytes per shard at most (approximate)")
    video_crf: int = Field(ge=0, le=51, description="H.264 constant rate factor (lower = better)")
    lossless: bool = Field(
        description="encode videos losslessly (libx264rgb, qp 0) instead of with video_crf"
    )


class GenerateConfig(_Config):
    """The whole, validated ``synthgen-generate`` config (defaults: the packaged ``conf/generate.yaml``)."""

    dataset: DatasetConfig = Field(description="name, seed and size of the dataset")
    output_dir: str = Field(description="folder the dataset is written to (not the current folder)")
    overwrite: bool = Field(
        description="write into a non-empty output_dir that is no synthgen dataset (its files may be replaced)"
    )
    clip: ClipSettings = Field(description="frame size, length and rate of every clip")
    scene: SceneConfig = Field(description="the scene recipe and its parameters")
    motion: MotionConfig = Field(description="how dynamic objects move")
    camera: CameraConfig = Field(description="camera placement and moves")
    audio: AudioConfig = Field(description="procedural music and its bindings")
    render: RenderConfig = Field(description="renderer settings")
    control: ControlConfig = Field(description="the control job, its parameters and lint thresholds")
    job: JobConfig = Field(description="this process's share of the dataset")
    shards: ShardsConfig = Field(description="shard packing and video encoding")
    fail_fast: bool = Field(description="stop at the first failed clip instead of recording it")

    @field_validator("output_dir")
    @classmethod
    def _own_folder(cls, value: str) -> str:
        if value.strip() in ("", ".") or Path(value).name in ("", ".", ".."):
            raise ValueError("must name a folder of its own, not the current or a parent folder")
        return value

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
        payload = self.model_dump(
            mode="json", exclude={"job": True, "output_dir": True, "fail_fast": True, "overwrite": True}
        )
        return json_sha256(payload)


def load_generate_config(
    values: Mapping[str, Any] | DictConfig | None = None, *, overrides: Sequence[str] = ()
) -> GenerateConfig:
    """The validated generation config: the packaged ``conf/generate.yaml`` (the defaults of
    ``synthgen-generate``), composed with ``overrides``, with ``values`` merged on top.

    - ``overrides``: Hydra override strings, exactly as on the command line. Select groups here
      (``["control=camera_motion", "scene=beat_stage", "clip.width=64"]``); a group's own defaults then
      follow as on the command line (``control=camera_motion`` also selects ``camera=moves`` and
      ``scene=camera_set``).
    - ``values``: a nested mapping of values merged onto the composed config after ``overrides``
      (``{"dataset": {"num_clips": 2}, "clip": {"width": 64}}``): mappings merge key by key, lists and
      other values replace; a top-level ``hydra`` key is ignored. Setting ``control.job`` or
      ``scene.recipe`` here changes that value only, not the group's other keys: select groups with
      ``overrides``.
    - a ``DictConfig`` as ``values`` is a config Hydra already composed (what the app passes): it is
      validated as is, and ``overrides`` must be empty.

    Interpolations (``output_dir: outputs/${dataset.name}``) resolve after merging. Raises ``ConfigError``
    naming the first bad key or value.
    """
    if isinstance(overrides, str) or not all(isinstance(item, str) for item in overrides):
        raise ConfigError(f"overrides={overrides!r}: expected a list of Hydra override strings")
    if isinstance(values, DictConfig):
        if overrides:
            raise TypeError("overrides apply to the packaged defaults, not to an already composed DictConfig")
        data = _resolved(values)
    else:
        data = _resolved(_merged(compose_packaged("generate", overrides), values))
    data.pop("hydra", None)
    try:
        cfg = GenerateConfig.model_validate(data)
    except ValidationError as err:
        raise config_error_from_validation(err) from None
    _check_scene_params(cfg)
    _check_control_params(cfg)
    return cfg


def _merged(composed: DictConfig, values: Mapping[str, Any] | None) -> DictConfig:
    if values is None:
        return composed
    if isinstance(values, str) or not isinstance(values, Mapping):
        raise ConfigError(
            f"config: expected a mapping of values, got {type(values).__name__} "
            "(pass Hydra override strings as overrides=[...])"
        )
    values = {str(key): value for key, value in values.items() if key != "hydra"}
    # Unknown keys are left to the models, whose errors name the field; recipes and control jobs take
    # parameters that their group's YAML does not list.
    OmegaConf.set_struct(composed, False)
    try:
        return OmegaConf.merge(composed, values)  # type: ignore[return-value]
    except Exception as err:
        raise ConfigError(f"config: {one_line_hydra_error(err)}") from None


def _resolved(cfg: DictConfig) -> dict[str, Any]:
    if "hydra" in cfg:
        cfg = OmegaConf.masked_copy(cfg, [str(key) for key in cfg if key != "hydra"])
    try:
        container = OmegaConf.to_container(cfg, resolve=True)
    except Exception as err:  # interpolation errors name the key in their message
        raise ConfigError(f"config: {one_line_hydra_error(err)}") from None
    assert isinstance(container, dict)
    return {str(k): v for k, v in container.items()}


def _check_control_params(cfg: GenerateConfig) -> None:
    """Validate the control job's parameters and lint thresholds here, at the boundary: a bad value must stop
    the run before anything is written, not fail every clip."""
    # Imported here: the control modules import this one's neighbours (sampling, labels) in turn.
    from synthgen.controls import get_job, parse_job_params
    from synthgen.dataset.lint import parse_thresholds

    parse_job_params(cfg.control.job, cfg.control.params)  # an unknown job names control.job
    if get_job(cfg.control.job).needs_audio and not cfg.audio.enabled:
        raise ConfigError(
            f"control.job={cfg.control.job!r}: needs audio; set audio.enabled=true (or audio=beats)"
        )
    parse_thresholds(cfg.control.lint)


def _check_scene_params(cfg: GenerateConfig) -> None:
    """Find the recipe and run it once for clip 0, so an unknown recipe or a bad ``scene.params`` value
    (the recipe's ConfigError) fails before anything is written."""
    recipe = get_recipe(cfg.scene.recipe)
    look_settings(SceneContext(params=cfg.scene.params, clip=cfg.clip))  # the look keys of every recipe
    try:
        recipe.sample(clip_rng(cfg.dataset.seed, 0), SceneContext(params=cfg.scene.params, clip=cfg.clip))
    except ConfigError:
        raise
    except Exception:
        # Any other failure is the recipe's, not the config's: it fails its clips, which the run records.
        return
