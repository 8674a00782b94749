"""Control jobs for IC-LoRAs: one module per job, found by name through a registry.

Numpy (and OpenCV for Canny edges); neither Blender nor torch. ``get_job(name)`` gives the ``ControlJob`` (``synthgen.controls.job``): its parameters, what it
needs, ``build``, caption phrase, lint rules, export columns and trainer roles. The signals the jobs draw
(track overlays, depth videos, camera-parameter videos, beat facts) live in ``synthgen.controls.signals``
and are public so previews and notebooks can reuse them. Conventions: docs/controls.md.
"""

from __future__ import annotations

# Importing a job module registers its job; a new built-in job adds its module here.
from synthgen.controls import audio_to_video, camera_motion, depth, motion_track, union  # noqa: F401
from synthgen.controls.audio_to_video import AudioToVideoParams
from synthgen.controls.camera_motion import CameraMotionParams
from synthgen.controls.depth import DepthParams
from synthgen.controls.editor_tracks import EditorTracks, editor_tracks_video, parse_editor_tracks
from synthgen.controls.job import (
    AudioClipLike,
    CaptionParams,
    ControlJob,
    ControlResult,
    ExportColumns,
    JobParams,
    RenderedLike,
    TrainerRoles,
    build_controls,
    get_job,
    job_names,
    parse_job_params,
    register,
    unregister,
)
from synthgen.controls.motion_track import MotionTrackParams, TrackStyle, reference_is_bgr
from synthgen.controls.rules import Finding, LintRow, LintRule, LintThresholds
from synthgen.controls.signals.camera import camera_video, scaled_intrinsics
from synthgen.controls.signals.depth import depth_range_m, depth_video, inverse_depth_unit
from synthgen.controls.signals.draw import draw_capsules, track_colors_rgb
from synthgen.controls.signals.resample import reference_shape, to_reference
from synthgen.controls.signals.sparse_tracks import draw_sparse_tracks
from synthgen.controls.signals.tracks import draw_track_overlay, select_tracks, visible_mask
from synthgen.controls.union import UnionParams

__all__ = [
    "AudioClipLike",
    "AudioToVideoParams",
    "CameraMotionParams",
    "CaptionParams",
    "ControlJob",
    "ControlResult",
    "DepthParams",
    "EditorTracks",
    "ExportColumns",
    "Finding",
    "JobParams",
    "LintRow",
    "LintRule",
    "LintThresholds",
    "MotionTrackParams",
    "RenderedLike",
    "TrackStyle",
    "TrainerRoles",
    "UnionParams",
    "build_controls",
    "camera_video",
    "depth_range_m",
    "depth_video",
    "draw_capsules",
    "draw_sparse_tracks",
    "draw_track_overlay",
    "editor_tracks_video",
    "get_job",
    "inverse_depth_unit",
    "job_names",
    "parse_editor_tracks",
    "parse_job_params",
    "reference_is_bgr",
    "reference_shape",
    "register",
    "scaled_intrinsics",
    "select_tracks",
    "to_reference",
    "track_colors_rgb",
    "unregister",
    "visible_mask",
]
