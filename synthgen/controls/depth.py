"""depth: the reference is the clip's planar depth as a grey normalised inverse-depth video.

Near is white, far and background black; one mapping per clip, so brightness never flickers (the mapping:
``synthgen.controls.signals.depth``).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import Field, model_validator

from synthgen.controls.job import (
    VIDEO_REFERENCE_EXPORT,
    VIDEO_REFERENCE_ROLES,
    AudioClipLike,
    ControlJob,
    ControlResult,
    JobParams,
    RenderedLike,
    reference_geometry,
    register,
)
from synthgen.controls.rules import OBJECTS_BARELY_MOVE, OBJECTS_OUT_OF_VIEW
from synthgen.controls.signals.depth import depth_range_m, depth_video


class DepthParams(JobParams):
    """Depth normalisation: percentiles of the clip's finite depths, or a fixed range in metres."""

    mapping: Literal["inverse_percentile", "inverse_fixed", "disparity_minmax"] = Field(
        description="inverse_percentile: near/far from this clip's depths; inverse_fixed: near_m/far_m; "
        "disparity_minmax: disparity normalised by its clip-wide min and max (Video-Depth-Anything 'gray', "
        "the official union-control workflow's depth annotator)"
    )
    near_percentile: float = Field(
        ge=0.0, le=100.0, description="percentile of finite depths mapped to white"
    )
    far_percentile: float = Field(ge=0.0, le=100.0, description="percentile mapped to black")
    near_m: float = Field(
        gt=0.0, description="inverse_fixed: metres mapped to white (fallback of an empty clip)"
    )
    far_m: float = Field(gt=0.0, description="inverse_fixed: metres mapped to black")

    @model_validator(mode="after")
    def _ordered(self) -> DepthParams:
        if self.near_percentile >= self.far_percentile:
            raise ValueError(
                f"near_percentile={self.near_percentile} must be < far_percentile={self.far_percentile}"
            )
        if self.near_m >= self.far_m:
            raise ValueError(f"near_m={self.near_m} must be < far_m={self.far_m}")
        return self


def json_metres(value: float) -> float | None:
    """``value`` for JSON: None for the infinite far plane of ``disparity_minmax`` (JSON has no infinity)."""
    return value if np.isfinite(value) else None


def depth_reference(target: RenderedLike, params: DepthParams) -> tuple[np.ndarray, float, float]:
    """The grey depth video at the reference geometry and the (near_m, far_m) it was normalised with."""
    clip = target.spec.clip
    near_m, far_m = depth_range_m(
        target.depth_m,
        params.mapping,
        near_percentile=params.near_percentile,
        far_percentile=params.far_percentile,
        near_m=params.near_m,
        far_m=params.far_m,
    )
    video = depth_video(
        target.depth_m, near_m, far_m, clip.reference_downscale, clip.reference_temporal_factor
    )
    return video, near_m, far_m


@register
class DepthJob(ControlJob[DepthParams]):
    """Reference = normalised inverse depth (near white, far/background black), one mapping per clip."""

    name = "depth"
    params_model = DepthParams
    needs_reference_scene = False
    needs_audio = False
    caption_phrase = "matching the depth map"
    lint_rules = (OBJECTS_BARELY_MOVE, OBJECTS_OUT_OF_VIEW)
    export_columns = VIDEO_REFERENCE_EXPORT
    trainer_roles = VIDEO_REFERENCE_ROLES
    adherence = ("depth",)

    def build(
        self,
        target: RenderedLike,
        params: DepthParams,
        *,
        reference: RenderedLike | None = None,
        audio: AudioClipLike | None = None,
    ) -> ControlResult:
        video, near_m, far_m = depth_reference(target, params)
        pairing: dict[str, Any] = {
            "job": self.name,
            "reference": "inverse planar depth, v = (1/z - 1/far) / (1/near - 1/far), 255 v, background 0",
            "shared": ["scene geometry", "camera path", "object motion", "time axis"],
            "differs": ["the reference has no colour, texture or lighting"],
            "depth": {**params.model_dump(), "near_m": near_m, "far_m": json_metres(far_m)},
            **reference_geometry(target.spec),
        }
        return ControlResult(
            reference_video=video,
            labels={"depth_range_m": np.array([near_m, far_m], dtype=np.float64)},
            pairing=pairing,
        )
