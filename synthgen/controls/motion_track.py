"""motion_track: the reference is a track video drawn from the exact 2D point tracks.

Two styles (``control.style``, docs/controls.md): ``synthgen_tracks`` gives each track one colour with a
fading trail, over black, the target's first frame, or the dimmed target (``signals.tracks``);
``ltx_sparse_tracks`` is the official LTX-2.3 motion-track IC-LoRA's format, age-coloured discs on black
in BGR (``signals.sparse_tracks``). The target is the rendered clip; only visible points are drawn.
"""

from __future__ import annotations

from collections.abc import Mapping
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
    TracksLike,
    reference_geometry,
    register,
)
from synthgen.controls.rules import OBJECTS_BARELY_MOVE, OBJECTS_OUT_OF_VIEW, TRACKS_RARELY_VISIBLE
from synthgen.controls.signals.resample import reference_frame_indices, reference_shape, to_reference
from synthgen.controls.signals.sparse_tracks import corner_to_index_px, draw_sparse_tracks
from synthgen.controls.signals.tracks import draw_track_overlay, select_tracks, visible_mask
from synthgen.errors import DataError


class TrackStyle(JobParams):
    """How tracks are drawn: sizes in *reference* pixels, trail length in reference frames."""

    num_tracks: int = Field(ge=1, le=4096, description="tracks drawn, most-visible first")
    trail_length: int = Field(ge=0, le=256, description="trail segments behind each dot (0 = dots only)")
    point_radius_px: float = Field(gt=0.0, le=64.0, description="dot radius in reference pixels")
    line_width_px: float = Field(gt=0.0, le=64.0, description="trail width in reference pixels")


class MotionTrackParams(TrackStyle):
    """Track overlay: the reference style, the look of the tracks and what they are drawn over."""

    style: Literal["synthgen_tracks", "ltx_sparse_tracks"] = Field(
        description="synthgen_tracks: a colour per track with fading trails over the chosen background; "
        "ltx_sparse_tracks: the official LTXVDrawTracks format (age-coloured discs on black, BGR; the "
        "sizes, trail and background keys do not apply)"
    )

    background: Literal["black", "first_frame", "dimmed_target"] = Field(
        description="black, the target's first frame held, or the target dimmed by dim_factor"
    )
    dim_factor: float = Field(ge=0.0, le=1.0, description="brightness of the target under the tracks")

    @model_validator(mode="after")
    def _ltx_style_on_black(self) -> MotionTrackParams:
        if self.style == "ltx_sparse_tracks" and self.background != "black":
            raise ValueError(
                f"background={self.background!r} with style='ltx_sparse_tracks': the official format is "
                "drawn on black (set background=black)"
            )
        return self


def _require_tracks(target: RenderedLike) -> TracksLike:
    tracks = target.tracks
    if tracks is None or np.asarray(tracks.xy_px).shape[1] == 0:
        raise DataError(
            f"clip {target.spec.clip_id}: the motion-track control needs point tracks; set "
            "render.tracks_per_object or render.background_tracks above 0"
        )
    return tracks  # type: ignore[no-any-return]


def black_background(target: RenderedLike) -> np.ndarray:
    """uint8 zeros at the reference geometry."""
    clip = target.spec.clip
    frames, height, width = reference_shape(
        clip.num_frames, clip.height, clip.width, clip.reference_downscale, clip.reference_temporal_factor
    )
    return np.zeros((frames, height, width, 3), dtype=np.uint8)


def first_frame_background(target: RenderedLike) -> np.ndarray:
    """The target's first frame at the reference size, held for every reference frame."""
    clip = target.spec.clip
    first = to_reference(np.asarray(target.frames_rgb)[:1], clip.reference_downscale, 1)
    count = reference_frame_indices(clip.num_frames, clip.reference_temporal_factor).size
    return np.repeat(first, count, axis=0)


def dimmed_background(target: RenderedLike, dim_factor: float) -> np.ndarray:
    """The target at the reference geometry with its brightness multiplied by ``dim_factor``."""
    clip = target.spec.clip
    frames = to_reference(
        np.asarray(target.frames_rgb), clip.reference_downscale, clip.reference_temporal_factor
    )
    return np.floor(frames.astype(np.float64) * dim_factor + 0.5).astype(np.uint8)


def track_overlay_video(
    target: RenderedLike, style: TrackStyle, background: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The tracks drawn over ``background`` (F', H', W', 3) uint8 at the reference geometry, and the indices
    of the drawn tracks."""
    clip = target.spec.clip
    scale, step = clip.reference_downscale, clip.reference_temporal_factor
    tracks = _require_tracks(target)
    visible = visible_mask(tracks.in_frame, tracks.behind_camera, tracks.occluded)
    frame_idx = reference_frame_indices(clip.num_frames, step)
    chosen = select_tracks(visible[frame_idx], style.num_tracks)
    overlay = draw_track_overlay(
        np.asarray(tracks.xy_px, dtype=np.float64)[frame_idx][:, chosen] / scale,
        visible[frame_idx][:, chosen],
        chosen,
        background,
        trail_length=style.trail_length,
        point_radius_px=style.point_radius_px,
        line_width_px=style.line_width_px,
    )
    return overlay, chosen


def sparse_tracks_video(target: RenderedLike, num_tracks: int) -> tuple[np.ndarray, np.ndarray]:
    """The official ``LTXVDrawTracks`` reference (BGR, ``signals.sparse_tracks``) of up to ``num_tracks``
    most-visible tracks at the reference geometry, and the indices of the drawn tracks."""
    clip = target.spec.clip
    _, height, width = reference_shape(
        clip.num_frames, clip.height, clip.width, clip.reference_downscale, clip.reference_temporal_factor
    )
    tracks = _require_tracks(target)
    visible = visible_mask(tracks.in_frame, tracks.behind_camera, tracks.occluded)
    frame_idx = reference_frame_indices(clip.num_frames, clip.reference_temporal_factor)
    chosen = select_tracks(visible[frame_idx], num_tracks)
    xy = np.asarray(tracks.xy_px, dtype=np.float64)[frame_idx][:, chosen] / clip.reference_downscale
    video = draw_sparse_tracks(
        corner_to_index_px(xy, width, height), visible[frame_idx][:, chosen], width, height
    )
    return video, chosen


def reference_is_bgr(pairing: Mapping[str, Any]) -> bool:
    """Whether a row's reference was drawn in a style that stores its channels in BGR order (the official
    ``ltx_sparse_tracks``); a preview swaps them back to show the colours the format describes."""
    overlay = pairing.get("overlay")
    return isinstance(overlay, Mapping) and overlay.get("style") == "ltx_sparse_tracks"


@register
class MotionTrackJob(ControlJob[MotionTrackParams]):
    """Reference = coloured track overlay drawn from the exact 2D tracks; target = the rendered RGB."""

    name = "motion_track"
    params_model = MotionTrackParams
    needs_reference_scene = False
    needs_audio = False
    caption_phrase = "following the coloured motion tracks"
    lint_rules = (TRACKS_RARELY_VISIBLE, OBJECTS_BARELY_MOVE, OBJECTS_OUT_OF_VIEW)
    export_columns = VIDEO_REFERENCE_EXPORT
    trainer_roles = VIDEO_REFERENCE_ROLES
    adherence = ("motion_track",)

    def build(
        self,
        target: RenderedLike,
        params: MotionTrackParams,
        *,
        reference: RenderedLike | None = None,
        audio: AudioClipLike | None = None,
    ) -> ControlResult:
        if params.style == "ltx_sparse_tracks":
            overlay, chosen = sparse_tracks_video(target, params.num_tracks)
            described = "official LTXVDrawTracks format (BGR) drawn from labels tracks_xy_px"
        else:
            if params.background == "black":
                background = black_background(target)
            elif params.background == "first_frame":
                background = first_frame_background(target)
            else:
                background = dimmed_background(target, params.dim_factor)
            overlay, chosen = track_overlay_video(target, params, background)
            described = "track overlay drawn from labels tracks_xy_px (visible points only)"
        pairing: dict[str, Any] = {
            "job": self.name,
            "reference": described,
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
