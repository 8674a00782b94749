"""camera_motion: the reference is a different scene filmed along the same camera path.

The pipeline renders the paired scene (``needs_reference_scene``; drawn by
``synthgen.describe.sampling.sample_reference_scene`` from its own random stream); the pair must share the
camera labels bit for bit. Optionally a camera-parameter video computed from K and the extrinsics alone
(``synthgen.controls.signals.camera``) is stored as the separate control ``camera_params``.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import Field

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
from synthgen.controls.rules import CAMERA_BARELY_MOVES, OBJECTS_OUT_OF_VIEW
from synthgen.controls.signals.camera import camera_video, scaled_intrinsics
from synthgen.controls.signals.resample import reference_frame_indices, to_reference
from synthgen.errors import DataError


class CameraMotionParams(JobParams):
    """The reference is the other scene along the same path; optionally also a camera-parameter video."""

    camera_video: Literal["none", "rays", "ground_grid"] = Field(
        description="also store a camera-parameter video (control_video_camera_params): none, rays, ground_grid"
    )
    grid_spacing_m: float = Field(gt=0.0, description="ground_grid: metres between grid lines")
    line_width_px: float = Field(gt=0.0, description="ground_grid: line width in reference pixels")


def require_same_camera(target: RenderedLike, reference: RenderedLike) -> None:
    """DataError unless both clips have equal clip settings and identical per-frame camera labels."""
    tgt_cam, ref_cam = target.labels.camera, reference.labels.camera
    for name in ("camera_from_world_cv", "camera_to_world_blender", "intrinsics_px"):
        if not np.array_equal(getattr(tgt_cam, name), getattr(ref_cam, name)):
            raise DataError(
                f"clip {target.spec.clip_id}: camera label {name} of the reference scene differs from the "
                "target's; camera_motion pairs must share the camera path exactly"
            )
    if target.spec.clip != reference.spec.clip:
        raise DataError(f"clip {target.spec.clip_id}: reference scene has different clip settings")


@register
class CameraMotionJob(ControlJob[CameraMotionParams]):
    """Reference = a different scene filmed along the same camera path; camera labels must be identical."""

    name = "camera_motion"
    params_model = CameraMotionParams
    needs_reference_scene = True
    needs_audio = False
    caption_phrase = "with the camera move of the reference video"
    lint_rules = (CAMERA_BARELY_MOVES, OBJECTS_OUT_OF_VIEW)
    export_columns = VIDEO_REFERENCE_EXPORT
    trainer_roles = VIDEO_REFERENCE_ROLES
    adherence = ("camera_motion",)

    def build(
        self,
        target: RenderedLike,
        params: CameraMotionParams,
        *,
        reference: RenderedLike | None = None,
        audio: AudioClipLike | None = None,
    ) -> ControlResult:
        assert reference is not None  # needs_reference_scene: build_controls checked
        require_same_camera(target, reference)
        clip = target.spec.clip
        scale, step = clip.reference_downscale, clip.reference_temporal_factor
        controls: dict[str, np.ndarray] = {}
        if params.camera_video != "none":
            camera = target.labels.camera
            frame_idx = reference_frame_indices(clip.num_frames, step)
            controls["camera_params"] = camera_video(
                scaled_intrinsics(np.asarray(camera.intrinsics_px)[frame_idx], scale),
                np.asarray(camera.camera_from_world_cv)[frame_idx],
                clip.height // scale,
                clip.width // scale,
                mode=params.camera_video,
                grid_spacing_m=params.grid_spacing_m,
                line_width_px=params.line_width_px,
            )
        ref_objects = reference.labels.objects
        pairing: dict[str, Any] = {
            "job": self.name,
            "reference": "a different scene (objects, materials, lights, world) along the same camera path",
            "shared": ["camera path (camera_from_world_cv, intrinsics_px identical per frame)", "time axis"],
            "differs": ["objects", "materials", "lighting", "world", "object motion"],
            "reference_clip_id": reference.spec.clip_id,
            "camera_video": params.model_dump(),
            **reference_geometry(target.spec),
        }
        labels: dict[str, np.ndarray] = {
            "reference_object_ids": np.asarray(ref_objects.object_ids, dtype=np.int32),
            "reference_position_m": np.asarray(ref_objects.position_m, dtype=np.float64),
        }
        return ControlResult(
            reference_video=to_reference(np.asarray(reference.frames_rgb), scale, step),
            controls=controls,
            labels=labels,
            pairing=pairing,
        )
