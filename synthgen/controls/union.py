"""union: two controls combined into the reference by an explicit ``rule``, each also stored on its own.

``depth_tracks``: the track overlay drawn over the depth video; separate controls ``depth`` and
``motion_track`` (tracks on black). ``first_frame_tracks``: the track overlay drawn over the target's first
frame held still; separate controls ``first_frame`` (a one-frame video) and ``motion_track``.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import Field

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
from synthgen.controls.rules import OBJECTS_BARELY_MOVE, OBJECTS_OUT_OF_VIEW, TRACKS_RARELY_VISIBLE
from synthgen.controls.signals.resample import to_reference


class UnionParams(JobParams):
    """Two controls combined by ``rule``; the nested keys take the parameters of those jobs."""

    rule: Literal["depth_tracks", "first_frame_tracks"] = Field(
        description="depth_tracks: tracks over the depth video; first_frame_tracks: tracks over frame 0"
    )
    motion_track: TrackStyle = Field(description="how the tracks are drawn (the rule picks their background)")
    depth: DepthParams = Field(description="the depth mapping (depth_tracks)")


@register
class UnionJob(ControlJob[UnionParams]):
    """Reference = two controls combined by ``params.rule``; both components stored as separate controls."""

    name = "union"
    params_model = UnionParams
    needs_reference_scene = False
    needs_audio = False
    caption_phrase = "following the combined control video"
    lint_rules = (TRACKS_RARELY_VISIBLE, OBJECTS_BARELY_MOVE, OBJECTS_OUT_OF_VIEW)
    export_columns = VIDEO_REFERENCE_EXPORT
    trainer_roles = VIDEO_REFERENCE_ROLES
    adherence = ("motion_track", "depth", "first_frame")

    def build(
        self,
        target: RenderedLike,
        params: UnionParams,
        *,
        reference: RenderedLike | None = None,
        audio: AudioClipLike | None = None,
    ) -> ControlResult:
        tracks_alone, chosen = track_overlay_video(target, params.motion_track, black_background(target))
        labels: dict[str, np.ndarray] = {"overlay_track_index": chosen.astype(np.int64)}
        pairing: dict[str, Any] = {
            "job": self.name,
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
