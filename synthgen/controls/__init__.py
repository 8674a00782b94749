"""Control signals for IC-LoRA jobs: track overlays, depth videos, camera-parameter videos, audio pairing.

Numpy only. ``build_controls`` dispatches a control job to its builder; the drawing and mapping functions
are public so previews and notebooks can reuse them. Conventions: docs/controls.md.
"""

from __future__ import annotations

from typing import Any

from synthgen.controls.audio_job import AudioClipLike, build_audio_to_video
from synthgen.controls.camera_video import camera_video, scaled_intrinsics
from synthgen.controls.depth import depth_range_m, depth_video, inverse_depth_unit
from synthgen.controls.draw import draw_capsules, track_colors_rgb
from synthgen.controls.jobs import (
    ControlResult,
    RenderedLike,
    build_camera_motion,
    build_depth,
    build_motion_track,
    build_union,
)
from synthgen.controls.params import (
    AudioToVideoParams,
    CameraMotionParams,
    CaptionParams,
    DepthParams,
    MotionTrackParams,
    UnionParams,
    parse_job_params,
)
from synthgen.controls.resample import reference_shape, to_reference
from synthgen.controls.tracks import draw_track_overlay, select_tracks, visible_mask
from synthgen.errors import ConfigError

__all__ = [
    "AudioToVideoParams",
    "CameraMotionParams",
    "CaptionParams",
    "ControlResult",
    "DepthParams",
    "MotionTrackParams",
    "UnionParams",
    "build_controls",
    "camera_video",
    "depth_range_m",
    "depth_video",
    "draw_capsules",
    "draw_track_overlay",
    "inverse_depth_unit",
    "parse_job_params",
    "reference_shape",
    "scaled_intrinsics",
    "select_tracks",
    "to_reference",
    "track_colors_rgb",
    "visible_mask",
]


def build_controls(
    job: str,
    params: Any,
    target: RenderedLike,
    *,
    reference: RenderedLike | None = None,
    audio: AudioClipLike | None = None,
) -> ControlResult:
    """Build the controls of ``job`` from validated ``params`` (``parse_job_params``).

    ``reference`` is the rendered paired scene (``camera_motion`` only); ``audio`` the clip's audio
    (``audio_to_video`` only).
    """
    if job == "motion_track" and isinstance(params, MotionTrackParams):
        return build_motion_track(target, params)
    if job == "depth" and isinstance(params, DepthParams):
        return build_depth(target, params)
    if job == "union" and isinstance(params, UnionParams):
        return build_union(target, params)
    if job == "camera_motion" and isinstance(params, CameraMotionParams):
        if reference is None:
            raise ConfigError("control.job='camera_motion': needs the rendered reference scene")
        return build_camera_motion(target, reference, params)
    if job == "audio_to_video" and isinstance(params, AudioToVideoParams):
        if audio is None:
            raise ConfigError("control.job='audio_to_video': needs audio (audio.enabled=true)")
        return build_audio_to_video(target, audio, params)
    raise ConfigError(f"control.job={job!r}: parameters of type {type(params).__name__} do not fit this job")
