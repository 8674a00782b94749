"""What a control job is, and the registry that finds one by name.

A control job turns a rendered clip (and, for some jobs, a second rendered scene or the clip's audio) into
the *reference* an IC-LoRA learns to follow. Everything that differs between jobs is stated once, on the
job's ``ControlJob`` subclass in its own module (``synthgen/controls/<job>.py``):

- ``name`` and ``params_model``: the ``control`` keys of ``conf/control/<job>.yaml`` (besides ``job``,
  ``lint`` and ``caption``), validated by a frozen pydantic model whose fields have **no defaults** (the YAML
  is the only source of them);
- ``needs_reference_scene`` / ``needs_audio``: what the pipeline must hand ``build`` besides the target;
- ``build(target, params, *, reference=None, audio=None) -> ControlResult``;
- ``caption_phrase``: what a caption appends when ``control.caption.mention_control`` is set;
- ``lint_rules``: the per-clip rules of ``synthgen lint`` that apply to its rows (``synthgen.controls.rules``);
- ``export_columns``: which row fields fill the roles of ``synthgen export ltx-trainer``;
- ``trainer_roles``: what the trainer conditions on (the reference video or the audio);
- ``adherence``: the names of the metrics (``synthgen.adherence``) that score a generated video against
  the row's exact labels; names, not functions, because the metrics read decoded rows with OpenCV in a room
  above this one (a union row is scored by those of its components it has).

Adding a job is one module (a ``@register``-ed subclass, imported by ``synthgen/controls/__init__.py``) and
its ``conf/control/<job>.yaml``; nothing outside asks for a job by name (docs/controls.md).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, Protocol, TypeVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from synthgen.controls.rules import LintRule
from synthgen.controls.signals.resample import reference_frame_indices, reference_shape
from synthgen.describe.spec import ClipSpec
from synthgen.errors import ConfigError, config_error_from_validation

# ------------------------------------------------------------------------------- what builders read


class TracksLike(Protocol):
    """The fields of ``synthgen.render.PointTracks`` the controls read."""

    @property
    def object_id(self) -> np.ndarray: ...

    @property
    def xy_px(self) -> np.ndarray: ...

    @property
    def in_frame(self) -> np.ndarray: ...

    @property
    def behind_camera(self) -> np.ndarray: ...

    @property
    def occluded(self) -> np.ndarray: ...


class RenderedLike(Protocol):
    """The fields of ``synthgen.render.RenderedClip`` the controls read."""

    @property
    def spec(self) -> ClipSpec: ...

    @property
    def labels(self) -> Any: ...

    @property
    def frames_rgb(self) -> np.ndarray: ...

    @property
    def depth_m(self) -> np.ndarray: ...

    @property
    def instance_ids(self) -> np.ndarray: ...

    @property
    def tracks(self) -> Any: ...


class AudioClipLike(Protocol):
    """The fields of ``synthgen.audio.AudioClip`` the controls read."""

    @property
    def samples(self) -> np.ndarray: ...

    @property
    def sample_rate(self) -> int: ...

    @property
    def grid(self) -> Any: ...


@dataclass(frozen=True)
class ControlResult:
    """What a control job adds to a row.

    ``reference_video``: uint8 (F', H', W', 3) the trainer consumes, or None when the reference is the audio;
    ``controls``: control videos other than the reference, by name (column ``control_video_<name>``): the
    components of a union, an optional camera-parameter video. A single-control job stores its control once,
    as ``reference_video``. ``labels``: extra label arrays; ``pairing``: JSON-ready facts on what reference
    and target share and what differs.
    """

    reference_video: np.ndarray | None
    controls: dict[str, np.ndarray] = field(default_factory=dict)
    labels: dict[str, np.ndarray] = field(default_factory=dict)
    pairing: dict[str, Any] = field(default_factory=dict)


def reference_geometry(spec: ClipSpec) -> dict[str, Any]:
    """Pairing facts on the reference geometry: both factors, the reference size and its frame indices."""
    clip = spec.clip
    frames, height, width = reference_shape(
        clip.num_frames, clip.height, clip.width, clip.reference_downscale, clip.reference_temporal_factor
    )
    return {
        "reference_downscale": clip.reference_downscale,
        "reference_temporal_factor": clip.reference_temporal_factor,
        "reference_num_frames": frames,
        "reference_height": height,
        "reference_width": width,
        "reference_frame_indices": reference_frame_indices(
            clip.num_frames, clip.reference_temporal_factor
        ).tolist(),
    }


# ------------------------------------------------------------------------------------- parameters


class JobParams(BaseModel):
    """Base of every job's parameter model: frozen, unknown keys refused, no NaN or infinity.

    Fields carry a description and no default: the defaults live in ``conf/control/<job>.yaml`` only.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class CaptionParams(JobParams):
    """``control.caption``: a trigger word put first, and whether to name the control in the caption."""

    trigger_word: str | None = Field(min_length=1, description="put first in every caption, then a comma")
    mention_control: bool = Field(description="append the job's caption phrase to every caption")


def parse_caption(raw: Mapping[str, Any]) -> CaptionParams:
    """Validate ``control.caption``; ConfigError names ``control.caption.<field>``."""
    try:
        return CaptionParams.model_validate(dict(raw))
    except ValidationError as err:
        raise config_error_from_validation(err, "control.caption") from None


# ---------------------------------------------------------------------------- roles outside the job


@dataclass(frozen=True)
class TrainerRoles:
    """What the trainer reads from a row of this job as the condition of the target."""

    reference_video: bool
    """Row field ``reference_video`` is the IC-LoRA reference (encoded with the video VAE)."""
    audio_reference: bool
    """Row field ``audio`` is the condition (encoded with the audio VAE)."""


@dataclass(frozen=True)
class ExportColumns:
    """The ``ClipRow`` field behind each role (column) of ``synthgen export ltx-trainer``'s ``dataset.jsonl``.

    None: the job has no such column (never written as null). ``audio`` is left out of a clip without audio.
    Upstream's meanings: ``reference_video`` the video IC-LoRA reference, ``audio`` the clip's audio (the
    condition of audio-to-video), ``reference_audio`` only the reference of audio IC-LoRAs (av2av / a2a).
    """

    video: str
    reference_video: str | None
    audio: str | None
    reference_audio: str | None


VIDEO_REFERENCE_ROLES = TrainerRoles(reference_video=True, audio_reference=False)
AUDIO_REFERENCE_ROLES = TrainerRoles(reference_video=False, audio_reference=True)
VIDEO_REFERENCE_EXPORT = ExportColumns(
    video="video", reference_video="reference_video", audio="audio", reference_audio=None
)
AUDIO_REFERENCE_EXPORT = ExportColumns(
    video="video", reference_video=None, audio="audio", reference_audio=None
)

# ------------------------------------------------------------------------------------------ the job

P = TypeVar("P", bound=JobParams)


class ControlJob(ABC, Generic[P]):
    """One control job (see the module docstring). Subclasses set every class attribute and ``build``."""

    name: ClassVar[str]
    params_model: ClassVar[type[JobParams]]
    needs_reference_scene: ClassVar[bool]
    needs_audio: ClassVar[bool]
    caption_phrase: ClassVar[str]
    lint_rules: ClassVar[tuple[LintRule, ...]]
    export_columns: ClassVar[ExportColumns]
    trainer_roles: ClassVar[TrainerRoles]
    adherence: ClassVar[tuple[str, ...] | None] = None
    """Metric names in ``synthgen.adherence`` scoring a generated video against the row's labels."""

    def parse_params(self, raw: Mapping[str, Any]) -> P:
        """Validate the job's keys of ``control`` (without ``job``, ``lint``, ``caption``).

        Raises a one-line ConfigError naming ``control.<field>``, the value and the rule.
        """
        try:
            return self.params_model.model_validate(dict(raw))  # type: ignore[return-value]
        except ValidationError as err:
            raise config_error_from_validation(err, "control") from None

    @abstractmethod
    def build(
        self,
        target: RenderedLike,
        params: P,
        *,
        reference: RenderedLike | None = None,
        audio: AudioClipLike | None = None,
    ) -> ControlResult:
        """The job's reference, separate controls, extra labels and pairing facts for one rendered clip.

        ``reference`` is the rendered paired scene (``needs_reference_scene``), ``audio`` the clip's audio
        (``needs_audio``); ``build_controls`` checks both are there before calling.
        """


_REGISTRY: dict[str, ControlJob[Any]] = {}
_REQUIRED = (
    "name",
    "params_model",
    "needs_reference_scene",
    "needs_audio",
    "caption_phrase",
    "lint_rules",
    "export_columns",
    "trainer_roles",
)

J = TypeVar("J", bound=type[ControlJob[Any]])


def register(job_class: J) -> J:
    """Class decorator: register one instance of ``job_class`` under its ``name`` (later wins; returns the class)."""
    missing = [attribute for attribute in _REQUIRED if not hasattr(job_class, attribute)]
    if missing:
        raise TypeError(f"control job {job_class.__name__}: class attribute {missing[0]!r} is not set")
    _REGISTRY[job_class.name] = job_class()
    return job_class


def unregister(name: str) -> None:
    """Forget the job ``name`` (tests that register a job of their own clean up with this)."""
    _REGISTRY.pop(name, None)


def job_names() -> tuple[str, ...]:
    """Names of every registered job, sorted."""
    return tuple(sorted(_REGISTRY))


def get_job(name: str) -> ControlJob[Any]:
    """The registered job ``name``; ConfigError naming ``control.job`` and the registered names otherwise."""
    job = _REGISTRY.get(name)
    if job is None:
        raise ConfigError(
            f"control.job={name!r}: not a registered control job (have {', '.join(job_names())})"
        )
    return job


def parse_job_params(job: str, params: Mapping[str, Any]) -> tuple[JobParams, CaptionParams]:
    """Validate ``control``'s job keys and its ``caption`` sub-key (``ControlConfig.params``) for ``job``.

    Raises ConfigError naming ``control.job``, ``control.<field>`` or ``control.caption.<field>``.
    """
    control_job = get_job(job)
    data = dict(params)
    caption = parse_caption(data.pop("caption", None) or {})
    return control_job.parse_params(data), caption


def build_controls(
    job: str,
    params: JobParams,
    target: RenderedLike,
    *,
    reference: RenderedLike | None = None,
    audio: AudioClipLike | None = None,
) -> ControlResult:
    """Build the controls of ``job`` from validated ``params`` (``parse_job_params``).

    ``reference`` is the rendered paired scene of a job that ``needs_reference_scene``; ``audio`` the clip's
    audio for one that ``needs_audio``.
    """
    control_job = get_job(job)
    if not isinstance(params, control_job.params_model):
        raise ConfigError(
            f"control.job={job!r}: parameters of type {type(params).__name__} do not fit this job "
            f"(needs {control_job.params_model.__name__})"
        )
    if control_job.needs_reference_scene and reference is None:
        raise ConfigError(f"control.job={job!r}: needs the rendered reference scene")
    if control_job.needs_audio and audio is None:
        raise ConfigError(f"control.job={job!r}: needs audio (audio.enabled=true)")
    return control_job.build(target, params, reference=reference, audio=audio)
