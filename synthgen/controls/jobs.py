"""Per-job builders: rendered clip(s) (+ audio) -> reference video, separate control videos, labels, pairing.

Every builder returns a ``ControlResult`` at the reference geometry of the clip (spatial factor
``clip.reference_downscale``, temporal factor ``clip.reference_temporal_factor``) and records both factors
in ``pairing``. Builders read only arrays of the rendered clip; they never render or touch Blender.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from synthgen.controls.camera_video import camera_video, scaled_intrinsics
from synthgen.controls.depth import depth_range_m, depth_video
from synthgen.controls.params import (
    CameraMotionParams,
    DepthParams,
    MotionTrackParams,
    UnionParams,
)
from synthgen.controls.resample import reference_frame_indices, reference_shape, to_reference
from synthgen.controls.tracks import draw_track_overlay, select_tracks, visible_mask
from synthgen.describe.spec import ClipSpec
from synthgen.errors import DataError


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


class CameraLabelsLike(Protocol):
    @property
    def camera_from_world_cv(self) -> np.ndarray: ...

    @property
    def camera_to_world_blender(self) -> np.ndarray: ...

    @property
    def intrinsics_px(self) -> np.ndarray: ...


class LabelsLike(Protocol):
    @property
    def camera(self) -> CameraLabelsLike: ...

    @property
    def objects(self) -> Any: ...


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
    def tracks(self) -> Any: ...


@dataclass(frozen=True)
class ControlResult:
    """What a control job adds to a row.

    ``reference_video``: uint8 (F', H', W', 3) the trainer consumes, or None when the reference is the audio;
    ``controls``: control videos other than the reference, by name (column ``control_video_<name>``): the
    components of a union, an optional camera-parameter video. A single-control job stores its control once,
    as ``reference_video``. ``labels``: extra label
    arrays; ``pairing``: JSON-ready facts on what reference and target share and what differs.
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


def _require_tracks(target: RenderedLike) -> TracksLike:
    tracks = target.tracks
    if tracks is None or np.asarray(tracks.xy_px).shape[1] == 0:
        raise DataError(
            f"clip {target.spec.clip_id}: the motion-track control needs point tracks; set "
            "render.tracks_per_object or render.background_tracks above 0"
        )
    return tracks  # type: ignore[no-any-return]


def track_overlay_video(
    target: RenderedLike, params: MotionTrackParams, background: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The overlay video at reference geometry and the indices of the drawn tracks.

    ``background`` (F', H', W', 3) uint8 replaces the configured background (used by ``union``).
    """
    clip = target.spec.clip
    scale, step = clip.reference_downscale, clip.reference_temporal_factor
    tracks = _require_tracks(target)
    visible = visible_mask(tracks.in_frame, tracks.behind_camera, tracks.occluded)
    frame_idx = reference_frame_indices(clip.num_frames, step)
    chosen = select_tracks(visible[frame_idx], params.num_tracks)
    xy_ref = np.asarray(tracks.xy_px, dtype=np.float64)[frame_idx][:, chosen] / scale
    visible_ref = visible[frame_idx][:, chosen]
    if background is None:
        frames = np.asarray(target.frames_rgb)
        if params.background == "black":
            frames_ref, height, width = reference_shape(clip.num_frames, clip.height, clip.width, scale, step)
            background = np.zeros((frames_ref, height, width, 3), dtype=np.uint8)
        elif params.background == "first_frame":
            first = to_reference(frames[:1], scale, 1)
            background = np.repeat(first, frame_idx.size, axis=0)
        else:
            dimmed = to_reference(frames, scale, step).astype(np.float64) * params.dim_factor
            background = np.floor(dimmed + 0.5).astype(np.uint8)
    overlay = draw_track_overlay(
        xy_ref,
        visible_ref,
        chosen,
        background,
        trail_length=params.trail_length,
        point_radius_px=params.point_radius_px,
        line_width_px=params.line_width_px,
    )
    return overlay, chosen


def build_motion_track(target: RenderedLike, params: MotionTrackParams) -> ControlResult:
    """Reference = coloured track overlay drawn from the exact 2D tracks; target = the rendered RGB."""
    overlay, chosen = track_overlay_video(target, params)
    pairing = {
        "job": "motion_track",
        "reference": "track overlay drawn from labels tracks_xy_px (visible points only)",
        "shared": ["scene", "camera path", "object motion", "time axis"],
        "differs": ["the reference shows only the tracks, not the appearance"],
        "overlay": {**params.model_dump(), "track_indices": chosen.tolist()},
        **reference_geometry(target.spec),
    }
    return ControlResult(
        reference_video=overlay,
        labels={"overlay_track_index": chosen.astype(np.int64)},
        pairing=pairing,
    )


def build_depth(target: RenderedLike, params: DepthParams) -> ControlResult:
    """Reference = normalised inverse depth (near white, far/background black), one mapping per clip."""
    clip = target.spec.clip
    near_m, far_m = depth_range_m(
        target.depth_m,
        params.mapping,
        params.near_percentile,
        params.far_percentile,
        params.near_m,
        params.far_m,
    )
    video = depth_video(
        target.depth_m, near_m, far_m, clip.reference_downscale, clip.reference_temporal_factor
    )
    pairing = {
        "job": "depth",
        "reference": "inverse planar depth, v = (1/z - 1/far) / (1/near - 1/far), 255 v, background 0",
        "shared": ["scene geometry", "camera path", "object motion", "time axis"],
        "differs": ["the reference has no colour, texture or lighting"],
        "depth": {**params.model_dump(), "near_m": near_m, "far_m": far_m},
        **reference_geometry(target.spec),
    }
    return ControlResult(
        reference_video=video,
        labels={"depth_range_m": np.array([near_m, far_m], dtype=np.float64)},
        pairing=pairing,
    )


def build_camera_motion(
    target: RenderedLike, reference: RenderedLike, params: CameraMotionParams
) -> ControlResult:
    """Reference = a different scene filmed along the same camera path; camera labels must be identical."""
    tgt_cam, ref_cam = target.labels.camera, reference.labels.camera
    for name in ("camera_from_world_cv", "camera_to_world_blender", "intrinsics_px"):
        if not np.array_equal(getattr(tgt_cam, name), getattr(ref_cam, name)):
            raise DataError(
                f"clip {target.spec.clip_id}: camera label {name} of the reference scene differs from the "
                "target's; camera_motion pairs must share the camera path exactly"
            )
    if target.spec.clip != reference.spec.clip:
        raise DataError(f"clip {target.spec.clip_id}: reference scene has different clip settings")
    clip = target.spec.clip
    scale, step = clip.reference_downscale, clip.reference_temporal_factor
    reference_video = to_reference(np.asarray(reference.frames_rgb), scale, step)
    controls: dict[str, np.ndarray] = {}
    if params.camera_video != "none":
        frame_idx = reference_frame_indices(clip.num_frames, step)
        controls["camera_params"] = camera_video(
            scaled_intrinsics(np.asarray(tgt_cam.intrinsics_px)[frame_idx], scale),
            np.asarray(tgt_cam.camera_from_world_cv)[frame_idx],
            clip.height // scale,
            clip.width // scale,
            mode=params.camera_video,
            grid_spacing_m=params.grid_spacing_m,
            line_width_px=params.line_width_px,
        )
    ref_objects = reference.labels.objects
    pairing = {
        "job": "camera_motion",
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
    return ControlResult(reference_video=reference_video, controls=controls, labels=labels, pairing=pairing)


def build_union(target: RenderedLike, params: UnionParams) -> ControlResult:
    """Two controls in separate columns plus the combined reference, by ``params.rule``.

    ``depth_tracks``: tracks drawn over the depth video. ``first_frame_tracks``: tracks drawn over the
    target's first frame (held still), and the first frame alone as a one-frame control video.
    """
    tracks_alone, chosen = track_overlay_video(
        target, params.motion_track.model_copy(update={"background": "black"})
    )
    labels: dict[str, np.ndarray] = {"overlay_track_index": chosen.astype(np.int64)}
    pairing: dict[str, Any] = {
        "job": "union",
        "rule": params.rule,
        "overlay": params.motion_track.model_dump(),
    }
    if params.rule == "depth_tracks":
        depth = build_depth(target, params.depth)
        assert depth.reference_video is not None  # build_depth always draws a video
        combined, _ = track_overlay_video(target, params.motion_track, background=depth.reference_video)
        controls = {"depth": depth.reference_video, "motion_track": tracks_alone}
        labels.update(depth.labels)
        pairing["depth"] = depth.pairing["depth"]
        pairing["reference"] = "track overlay drawn over the normalised inverse-depth video"
    else:
        first = to_reference(np.asarray(target.frames_rgb)[:1], target.spec.clip.reference_downscale, 1)
        combined, _ = track_overlay_video(
            target, params.motion_track.model_copy(update={"background": "first_frame"})
        )
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
