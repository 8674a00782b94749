"""union: the reference of a union-control IC-LoRA, in one of two styles (``control.style``).

``synthgen_union`` (ours): two controls combined into the reference by an explicit ``rule``, each also
stored on its own. ``depth_tracks``: the track overlay drawn over the depth video; separate controls
``depth`` and ``motion_track`` (tracks on black). ``first_frame_tracks``: the track overlay drawn over the
target's first frame held still; separate controls ``first_frame`` (a one-frame video) and ``motion_track``.

``ltx_union_canny``: the canny input of the official LTX-2.3 union-control IC-LoRA, Canny edges of the
rendered target as its workflow's ``CannyEdgePreprocessor`` computes them (``signals.canny``); the official
LoRA takes one control per clip, so nothing is combined. ``ltx_union_pose`` is refused: synthgen scenes
have no people. The official depth input is the depth job with ``mapping=disparity_minmax``.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import Field, model_validator

from synthgen.controls.depth import DepthParams, depth_reference, json_metres
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
from synthgen.controls.motion_track import (
    TrackStyle,
    black_background,
    first_frame_background,
    track_overlay_video,
)
from synthgen.controls.rules import (
    DRAWN_TRACKS_RARELY_VISIBLE,
    OBJECTS_BARELY_MOVE,
    OBJECTS_OUT_OF_VIEW,
)
from synthgen.controls.signals.canny import canny_video, detect_size
from synthgen.controls.signals.resample import reference_frame_indices, reference_shape, to_reference


class CannyParams(JobParams):
    """Canny edge detection as the official union workflow's ``CannyEdgePreprocessor`` runs it."""

    low_threshold: int = Field(ge=0, le=255, description="cv2.Canny hysteresis low threshold")
    high_threshold: int = Field(ge=0, le=255, description="cv2.Canny hysteresis high threshold")
    detect_resolution_px: int = Field(
        ge=64, le=8192, description="short side, in pixels, of the frame the edges are detected on"
    )

    @model_validator(mode="after")
    def _ordered(self) -> CannyParams:
        if self.low_threshold > self.high_threshold:
            raise ValueError(
                f"low_threshold={self.low_threshold} must be <= high_threshold={self.high_threshold}"
            )
        return self


class UnionParams(JobParams):
    """The reference style; for ``synthgen_union`` two controls combined by ``rule`` (the nested keys take
    the parameters of those jobs), for ``ltx_union_canny`` the ``canny`` settings."""

    style: Literal["synthgen_union", "ltx_union_canny", "ltx_union_pose"] = Field(
        description="synthgen_union: two controls combined by rule; ltx_union_canny: the official "
        "union-control LoRA's canny input (rule, motion_track and depth do not apply); ltx_union_pose: "
        "refused (no people in synthgen scenes)"
    )
    rule: Literal["depth_tracks", "first_frame_tracks"] = Field(
        description="depth_tracks: tracks over the depth video; first_frame_tracks: tracks over frame 0"
    )
    motion_track: TrackStyle = Field(description="how the tracks are drawn (the rule picks their background)")
    depth: DepthParams = Field(description="the depth mapping (depth_tracks)")
    canny: CannyParams = Field(description="edge detection (ltx_union_canny)")

    @model_validator(mode="after")
    def _no_pose(self) -> UnionParams:
        if self.style == "ltx_union_pose":
            raise ValueError(
                "style='ltx_union_pose': synthgen scenes have no people, so there is no pose skeleton to "
                "draw (use ltx_union_canny, or control=depth with mapping=disparity_minmax)"
            )
        return self


def canny_reference(target: RenderedLike, params: CannyParams) -> np.ndarray:
    """The official union canny input at the reference geometry (``signals.canny``)."""
    clip = target.spec.clip
    _, height, width = reference_shape(
        clip.num_frames, clip.height, clip.width, clip.reference_downscale, clip.reference_temporal_factor
    )
    frames = np.asarray(target.frames_rgb)[
        reference_frame_indices(clip.num_frames, clip.reference_temporal_factor)
    ]
    return canny_video(
        frames,
        width,
        height,
        low_threshold=params.low_threshold,
        high_threshold=params.high_threshold,
        detect_resolution_px=params.detect_resolution_px,
    )


@register
class UnionJob(ControlJob[UnionParams]):
    """Reference = two controls combined by ``params.rule``, both stored as separate controls; or the
    official union LoRA's canny input (``style=ltx_union_canny``)."""

    name = "union"
    params_model = UnionParams
    needs_reference_scene = False
    needs_audio = False
    caption_phrase = "following the combined control video"
    lint_rules = (DRAWN_TRACKS_RARELY_VISIBLE, OBJECTS_BARELY_MOVE, OBJECTS_OUT_OF_VIEW)
    export_columns = VIDEO_REFERENCE_EXPORT
    trainer_roles = VIDEO_REFERENCE_ROLES
    adherence = ("motion_track", "depth", "first_frame", "canny")

    def build(
        self,
        target: RenderedLike,
        params: UnionParams,
        *,
        reference: RenderedLike | None = None,
        audio: AudioClipLike | None = None,
    ) -> ControlResult:
        if params.style == "ltx_union_canny":
            return self._build_canny(target, params.canny)
        tracks_alone, chosen = track_overlay_video(target, params.motion_track, black_background(target))
        labels: dict[str, np.ndarray] = {"overlay_track_index": chosen.astype(np.int64)}
        pairing: dict[str, Any] = {
            "job": self.name,
            "style": params.style,
            "rule": params.rule,
            "overlay": params.motion_track.model_dump(),
        }
        if params.rule == "depth_tracks":
            depth, near_m, far_m = depth_reference(target, params.depth)
            combined, _ = track_overlay_video(target, params.motion_track, depth)
            controls = {"depth": depth, "motion_track": tracks_alone}
            labels["depth_range_m"] = np.array([near_m, far_m], dtype=np.float64)
            pairing["depth"] = {**params.depth.model_dump(), "near_m": near_m, "far_m": json_metres(far_m)}
            pairing["reference"] = "track overlay drawn over the normalised inverse-depth video"
        else:
            first = to_reference(np.asarray(target.frames_rgb)[:1], target.spec.clip.reference_downscale, 1)
            combined, _ = track_overlay_video(target, params.motion_track, first_frame_background(target))
            controls = {"first_frame": first, "motion_track": tracks_alone}
            pairing["reference"] = "track overlay drawn over the target's first frame, held for every frame"
        pairing.update(
            {
                "shared": ["scene", "camera path", "object motion", "time axis"],
                "differs": ["the reference combines " + " + ".join(sorted(controls))],
                "components": sorted(controls),
                **reference_geometry(target.spec),
            }
        )
        return ControlResult(reference_video=combined, controls=controls, labels=labels, pairing=pairing)

    def _build_canny(self, target: RenderedLike, params: CannyParams) -> ControlResult:
        clip = target.spec.clip
        video = canny_reference(target, params)
        detect_w, detect_h = detect_size(clip.width, clip.height, params.detect_resolution_px)
        pairing: dict[str, Any] = {
            "job": self.name,
            "style": "ltx_union_canny",
            "reference": "Canny edges of the target (CannyEdgePreprocessor), white on black, resized "
            "bilinearly to the reference size",
            "canny": {**params.model_dump(), "detect_size_px": [detect_w, detect_h]},
            "shared": ["scene", "camera path", "object motion", "time axis", "edges of the target"],
            "differs": ["the reference has only edges: no colour, shading or texture inside regions"],
            "components": ["canny"],
            **reference_geometry(target.spec),
        }
        return ControlResult(reference_video=video, pairing=pairing)
