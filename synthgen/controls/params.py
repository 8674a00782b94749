"""Validated parameters of each control job (the keys of ``conf/control/<job>.yaml`` besides ``job``/``lint``).

Bad values raise ``ConfigError`` naming ``control.<field>``, the value and the rule.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from synthgen.errors import ConfigError, config_error_from_validation

JobName = Literal["motion_track", "camera_motion", "audio_to_video", "depth", "union"]
JOB_NAMES: tuple[str, ...] = ("motion_track", "camera_motion", "audio_to_video", "depth", "union")


class _Params(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class CaptionParams(_Params):
    """Caption options: a trigger word put first, and whether to name the control in the caption."""

    trigger_word: str | None = Field(None, min_length=1)
    mention_control: bool = False


class MotionTrackParams(_Params):
    """Track overlay: radius and width in *reference* pixels, trail length in reference frames."""

    num_tracks: int = Field(64, ge=1, le=4096)
    trail_length: int = Field(8, ge=0, le=256)
    point_radius_px: float = Field(2.0, gt=0.0, le=64.0)
    line_width_px: float = Field(1.0, gt=0.0, le=64.0)
    background: Literal["black", "first_frame", "dimmed_target"] = "black"
    dim_factor: float = Field(0.35, ge=0.0, le=1.0, description="brightness of the target under the tracks")


class DepthParams(_Params):
    """Depth normalisation: percentiles of the clip's finite depths, or a fixed range in metres."""

    mapping: Literal["inverse_percentile", "inverse_fixed"] = "inverse_percentile"
    near_percentile: float = Field(2.0, ge=0.0, le=100.0)
    far_percentile: float = Field(98.0, ge=0.0, le=100.0)
    near_m: float = Field(0.5, gt=0.0)
    far_m: float = Field(50.0, gt=0.0)

    @model_validator(mode="after")
    def _ordered(self) -> DepthParams:
        if self.near_percentile >= self.far_percentile:
            raise ValueError(
                f"near_percentile={self.near_percentile} must be < far_percentile={self.far_percentile}"
            )
        if self.near_m >= self.far_m:
            raise ValueError(f"near_m={self.near_m} must be < far_m={self.far_m}")
        return self


class CameraMotionParams(_Params):
    """The reference is the other scene along the same path; optionally also a camera-parameter video."""

    camera_video: Literal["none", "rays", "ground_grid"] = "none"
    grid_spacing_m: float = Field(1.0, gt=0.0)
    line_width_px: float = Field(1.0, gt=0.0)


class AudioToVideoParams(_Params):
    """Audio reference; motion events must fall on the frame of their beat within ``event_tolerance_frames``."""

    event_tolerance_frames: int = Field(1, ge=0, le=8)


class UnionParams(_Params):
    """Two controls combined by ``rule``: tracks drawn over the depth video, or over the first frame."""

    rule: Literal["depth_tracks", "first_frame_tracks"] = "depth_tracks"
    motion_track: MotionTrackParams = MotionTrackParams()
    depth: DepthParams = DepthParams()


_MODELS: dict[str, type[_Params]] = {
    "motion_track": MotionTrackParams,
    "camera_motion": CameraMotionParams,
    "audio_to_video": AudioToVideoParams,
    "depth": DepthParams,
    "union": UnionParams,
}


def parse_job_params(job: str, params: dict[str, Any]) -> tuple[_Params, CaptionParams]:
    """Validate the job parameters and the ``caption`` sub-key; raises ConfigError naming ``control.<field>``."""
    if job not in _MODELS:
        raise ConfigError(f"control.job={job!r}: must be one of {', '.join(JOB_NAMES)}")
    data = dict(params)
    caption_raw = data.pop("caption", None) or {}
    try:
        caption = CaptionParams.model_validate(caption_raw)
    except ValidationError as err:
        raise config_error_from_validation(err, "control.caption") from None
    try:
        return _MODELS[job].model_validate(data), caption
    except ValidationError as err:
        raise config_error_from_validation(err, "control") from None
