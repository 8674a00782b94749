"""Per-clip lint rules that a control job picks (``ControlJob.lint_rules``), and the thresholds they read.

A rule looks at one row and says why its reference/target pair is ambiguous. Rows are read through
``LintRow``, the fields of ``synthgen.dataset.ClipRow`` the rules need (this room ranks below the dataset
room, so it names no dataset type). The rules that hold for every job - reference alignment and references
identical across clips - live with the runner in ``synthgen.dataset.lint``.

- ``tracks_rarely_visible``: fewer than ``min_visible_tracks`` tracks are visible in at least
  ``min_track_visible_fraction`` of the frames (for a job with track-free styles, only rows whose reference
  drew tracks, i.e. that have the ``overlay_track_index`` label).
- ``near_zero_motion`` (objects): for every object (and the background), the median over its visible tracks
  of the peak 2D displacement (projected object centres when a clip has no tracks) is below
  ``min_motion_px`` target pixels. (camera): the camera moves less than ``min_camera_translation_m`` and
  turns less than ``min_camera_rotation_deg``.
- ``objects_out_of_view``: in more than ``max_empty_view_fraction`` of the frames no tracked object centre
  projects inside the image in front of the camera.
- ``unfollowed_beats``: fewer than ``min_followed_beat_fraction`` of the beats that drive a binding have a
  motion event within ``beat_tolerance_frames``, or no binding exists at all.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np
from pydantic import BaseModel, ConfigDict, Field


class LintThresholds(BaseModel):
    """Thresholds of every lint rule: ``control.lint``, defaults in ``conf/lint/default.yaml`` only."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    min_track_visible_fraction: float = Field(
        ge=0.0, le=1.0, description="a track counts when visible in at least this fraction of frames"
    )
    min_visible_tracks: int = Field(ge=0, description="at least this many tracks must count")
    min_motion_px: float = Field(
        ge=0.0, description="median peak 2D displacement of tracks / object centres, target pixels"
    )
    min_camera_translation_m: float = Field(ge=0.0, description="the camera must move at least this far ...")
    min_camera_rotation_deg: float = Field(ge=0.0, description="... or turn at least this much")
    identical_tolerance: float = Field(
        ge=0.0, description="mean abs difference of 8x8 grey reference thumbnails (0-255) deemed equal"
    )
    max_identical_fraction: float = Field(
        ge=0.0, le=1.0, description="reject a reference equal to more than this fraction of the other clips"
    )
    max_empty_view_fraction: float = Field(
        ge=0.0,
        le=1.0,
        description="reject when no tracked object is in view in more than this fraction of frames",
    )
    min_followed_beat_fraction: float = Field(
        ge=0.0, le=1.0, description="driving beats that must have a motion event nearby"
    )
    beat_tolerance_frames: int = Field(ge=0, description="... within this many frames")
    warn_only: tuple[str, ...] = Field(description="rules reported as warnings instead of errors")


@dataclass(frozen=True)
class Finding:
    """One reason a clip is ambiguous."""

    clip_id: str
    rule: str
    level: Literal["error", "warning"]
    message: str


class LintRow(Protocol):
    """The fields of a dataset row (``synthgen.dataset.ClipRow``) lint reads; ``labels`` without prefix."""

    @property
    def clip_id(self) -> str: ...

    @property
    def control_job(self) -> str: ...

    @property
    def spec_json(self) -> str: ...

    @property
    def reference_spec_json(self) -> str | None: ...

    @property
    def fps(self) -> float: ...

    @property
    def num_frames(self) -> int: ...

    @property
    def height(self) -> int: ...

    @property
    def width(self) -> int: ...

    @property
    def reference_video(self) -> np.ndarray | None: ...

    @property
    def reference_downscale(self) -> int: ...

    @property
    def reference_temporal_factor(self) -> int: ...

    @property
    def audio(self) -> np.ndarray | None: ...

    @property
    def audio_sample_rate(self) -> int | None: ...

    @property
    def labels(self) -> Mapping[str, np.ndarray]: ...


@dataclass(frozen=True)
class LintRule:
    """A named rule: ``check(row, thresholds)`` returns why the row breaks it (no message: it passes)."""

    name: str
    check: Callable[[LintRow, LintThresholds], list[str]]

    def __call__(self, row: LintRow, thresholds: LintThresholds) -> list[Finding]:
        """The findings of this rule for ``row``; ``thresholds.warn_only`` demotes them to warnings."""
        level: Literal["error", "warning"] = "warning" if self.name in thresholds.warn_only else "error"
        return [Finding(str(row.clip_id), self.name, level, text) for text in self.check(row, thresholds)]


# ------------------------------------------------------------------------------------------ geometry


def project_points_px(
    points_m: np.ndarray, camera_from_world_cv: np.ndarray, intrinsics_px: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Project world points (N, F, 3) per frame; returns pixel xy (N, F, 2) and planar depth (N, F).

    Corner pixel convention (K maps to it); depth <= 0 means behind the camera (xy then meaningless).
    """
    homogeneous = np.concatenate([points_m, np.ones((*points_m.shape[:-1], 1))], axis=-1)
    camera = np.einsum("fij,nfj->nfi", camera_from_world_cv, homogeneous)[..., :3]
    pixels = np.einsum("fij,nfj->nfi", intrinsics_px, camera)
    depth = camera[..., 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        xy = pixels[..., :2] / depth[..., None]
    return xy, depth


def track_visibility(labels: Mapping[str, np.ndarray]) -> np.ndarray | None:
    """(F, P) bool visibility from a row's track labels, or None when it has no tracks."""
    xy = labels.get("tracks_xy_px")
    if xy is None or xy.shape[1] == 0:
        return None
    visible = np.asarray(labels["tracks_in_frame"], bool) & ~np.asarray(labels["tracks_occluded"], bool)
    if "tracks_behind_camera" in labels:
        visible &= ~np.asarray(labels["tracks_behind_camera"], bool)
    return visible & np.isfinite(xy).all(axis=-1)


def peak_displacement_px(xy_px: np.ndarray, visible: np.ndarray) -> np.ndarray:
    """(P,) largest distance of each track from its first visible position over its visible frames (NaN: never)."""
    out = np.full(xy_px.shape[1], np.nan)
    for p in range(xy_px.shape[1]):
        frames = np.flatnonzero(visible[:, p])
        if frames.size:
            points = xy_px[frames, p]
            out[p] = float(np.linalg.norm(points - points[0], axis=-1).max())
    return out


def moving_group_px(peaks_px: np.ndarray, groups: np.ndarray) -> float:
    """The largest, over groups (objects; 0 = background), of the median peak displacement of a group's tracks.

    Median within an object ignores a few odd tracks; the maximum over objects means one clearly moving
    object (or the background, when the camera moves) is enough. 0.0 when no track was ever visible.
    """
    best = 0.0
    for group in np.unique(groups):
        values = peaks_px[(groups == group) & np.isfinite(peaks_px)]
        if values.size:
            best = max(best, float(np.median(values)))
    return best


def camera_motion_amount(camera_to_world: np.ndarray) -> tuple[float, float]:
    """(largest distance of the camera centre from its first position in m, largest rotation from its first
    orientation in degrees) over a clip of (F, 4, 4) camera-to-world matrices."""
    centres = camera_to_world[:, :3, 3]
    translation = float(np.linalg.norm(centres - centres[0], axis=-1).max())
    first = camera_to_world[0, :3, :3]
    relative = np.einsum("ji,fjk->fik", first, camera_to_world[:, :3, :3])
    cos = np.clip((np.trace(relative, axis1=1, axis2=2) - 1.0) / 2.0, -1.0, 1.0)
    return translation, float(np.degrees(np.arccos(cos)).max())


def beats_followed(
    source_frames: np.ndarray, event_frames: np.ndarray, tolerance_frames: int
) -> tuple[int, int]:
    """(followed, total): driving beats (True in ``source_frames`` (B, F)) with an event in ``event_frames``
    (B, F) of the same binding at most ``tolerance_frames`` frames away."""
    followed = total = 0
    for source, event in zip(source_frames, event_frames):
        event_at = np.flatnonzero(event)
        for frame in np.flatnonzero(source):
            total += 1
            if event_at.size and np.abs(event_at - frame).min() <= tolerance_frames:
                followed += 1
    return followed, total


def _tracked_rows(row: LintRow) -> np.ndarray:
    """(N,) bool over ``labels.object_ids``: objects the spec marks tracked and dynamic."""
    ids = np.asarray(row.labels.get("object_ids", np.zeros(0)), dtype=np.int64)
    try:
        objects = json.loads(row.spec_json).get("objects", [])
    except (TypeError, ValueError, AttributeError):
        return np.ones(ids.size, bool)
    tracked_ids = {
        int(obj["object_id"]) for obj in objects if obj.get("tracked", True) and obj.get("dynamic", True)
    }
    return np.isin(ids, list(tracked_ids))


# ------------------------------------------------------------------------------------------- rules


def _tracks_rarely_visible(row: LintRow, thresholds: LintThresholds) -> list[str]:
    visible = track_visibility(row.labels)
    if visible is None:
        return ["clip has no point tracks"]
    fraction = visible.mean(axis=0)
    good = int((fraction >= thresholds.min_track_visible_fraction).sum())
    if good < thresholds.min_visible_tracks:
        return [
            f"{good} of {visible.shape[1]} tracks visible in >= {thresholds.min_track_visible_fraction:.0%} "
            f"of frames; need min_visible_tracks={thresholds.min_visible_tracks}"
        ]
    return []


def _objects_barely_move(row: LintRow, thresholds: LintThresholds) -> list[str]:
    labels = row.labels
    visible = track_visibility(labels)
    positions = labels.get("position_m")
    if visible is not None:
        peaks = peak_displacement_px(np.asarray(labels["tracks_xy_px"], np.float64), visible)
        groups = np.asarray(labels.get("tracks_object_id", np.zeros(peaks.size)), dtype=np.int64)
        source = "tracks"
    elif positions is not None and positions.shape[0] > 0:
        xy, depth = project_points_px(positions, labels["camera_from_world_cv"], labels["intrinsics_px"])
        in_view = (depth > 0) & np.isfinite(xy).all(axis=-1)
        peaks = peak_displacement_px(np.transpose(xy, (1, 0, 2)), in_view.T)
        groups = np.arange(peaks.size)
        source = "object centres"
    else:
        peaks, groups, source = np.array([np.nan]), np.zeros(1, np.int64), "nothing"
    median_px = moving_group_px(peaks, groups)
    if median_px < thresholds.min_motion_px:
        return [
            f"largest per-object median peak displacement of {source} is {median_px:.2f} px; "
            f"need min_motion_px={thresholds.min_motion_px}"
        ]
    return []


def _camera_barely_moves(row: LintRow, thresholds: LintThresholds) -> list[str]:
    translation_m, rotation_deg = camera_motion_amount(np.asarray(row.labels["camera_to_world_blender"]))
    if (
        translation_m < thresholds.min_camera_translation_m
        and rotation_deg < thresholds.min_camera_rotation_deg
    ):
        return [
            f"camera moves {translation_m:.3f} m and turns {rotation_deg:.2f} deg; need "
            f"min_camera_translation_m={thresholds.min_camera_translation_m} or "
            f"min_camera_rotation_deg={thresholds.min_camera_rotation_deg}"
        ]
    return []


def _objects_out_of_view(row: LintRow, thresholds: LintThresholds) -> list[str]:
    positions = row.labels.get("position_m")
    if positions is None or positions.shape[0] == 0:
        return []
    tracked = _tracked_rows(row)
    if not tracked.any():
        return []
    xy, depth = project_points_px(
        positions[tracked], row.labels["camera_from_world_cv"], row.labels["intrinsics_px"]
    )
    width, height = float(row.width), float(row.height)
    inside = (
        (depth > 0) & (xy[..., 0] >= 0) & (xy[..., 0] < width) & (xy[..., 1] >= 0) & (xy[..., 1] < height)
    )
    empty = ~inside.any(axis=0)
    if empty.mean() > thresholds.max_empty_view_fraction:
        return [
            f"no tracked object in view in {int(empty.sum())} of {empty.size} frames; "
            f"max_empty_view_fraction={thresholds.max_empty_view_fraction}"
        ]
    return []


def _drawn_tracks_rarely_visible(row: LintRow, thresholds: LintThresholds) -> list[str]:
    # A reference that draws tracks records which (``overlay_track_index``); one that draws none (a union
    # in the ltx_union_canny style) has no tracks to be seen, and a clip may then have no tracks at all.
    if "overlay_track_index" not in row.labels:
        return []
    return _tracks_rarely_visible(row, thresholds)


def _unfollowed_beats(row: LintRow, thresholds: LintThresholds) -> list[str]:
    sources = row.labels.get("binding_source_frames")
    events = row.labels.get("binding_event_frames")
    if sources is None or events is None or sources.shape[0] == 0:
        return ["no audio binding drives any motion"]
    followed, total = beats_followed(
        np.asarray(sources, bool), np.asarray(events, bool), thresholds.beat_tolerance_frames
    )
    if total == 0:
        return ["no driving beat falls inside the clip"]
    if followed / total < thresholds.min_followed_beat_fraction:
        return [
            f"{followed} of {total} driving beats have a motion event within "
            f"{thresholds.beat_tolerance_frames} frames; need {thresholds.min_followed_beat_fraction:.0%}"
        ]
    return []


TRACKS_RARELY_VISIBLE = LintRule("tracks_rarely_visible", _tracks_rarely_visible)
"""For jobs whose reference always shows tracks."""
DRAWN_TRACKS_RARELY_VISIBLE = LintRule("tracks_rarely_visible", _drawn_tracks_rarely_visible)
"""For jobs whose reference shows tracks in some styles: only rows that drew tracks are checked."""
OBJECTS_BARELY_MOVE = LintRule("near_zero_motion", _objects_barely_move)
"""2D motion of tracks (or projected object centres): for jobs about what moves in the scene."""
CAMERA_BARELY_MOVES = LintRule("near_zero_motion", _camera_barely_moves)
"""The camera's own motion: for jobs about the camera path."""
OBJECTS_OUT_OF_VIEW = LintRule("objects_out_of_view", _objects_out_of_view)
"""Frames in which no tracked object centre is inside the image."""
UNFOLLOWED_BEATS = LintRule("unfollowed_beats", _unfollowed_beats)
"""Each driving beat must have a motion event near it: for jobs conditioned on the music."""
