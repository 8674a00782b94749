"""Dataset lint: find ambiguous reference/target pairs and say why, clip by clip.

Rules (each produces findings with ``level`` "error" or "warning"; ``warn_only`` demotes rules):

- ``tracks_rarely_visible``: fewer than ``min_visible_tracks`` tracks are visible in at least
  ``min_track_visible_fraction`` of the frames (jobs whose reference shows tracks).
- ``near_zero_motion``: for every object (and the background), the median over its visible tracks of the
  peak 2D displacement (projected object centres when a clip has no tracks) is below ``min_motion_px``
  target pixels; for ``camera_motion``, the camera moves less than ``min_camera_translation_m`` and turns
  less than ``min_camera_rotation_deg``.
- ``identical_reference``: the clip's reference is within ``identical_tolerance`` (mean absolute difference
  of 8x8 grey thumbnails, 0-255 scale) of more than ``max_identical_fraction`` of the other clips.
- ``misaligned_reference``: reference frame count, size ratio or fps disagree with the target and the
  recorded reference factors, or the audio length is not ``num_frames / fps * sample_rate``.
- ``objects_out_of_view``: in more than ``max_empty_view_fraction`` of the frames no tracked object centre
  projects inside the image in front of the camera.
- ``unfollowed_beats``: fewer than ``min_followed_beat_fraction`` of the beats that drive a binding have a
  motion event within ``beat_tolerance_frames`` (``audio_to_video``), or no binding exists at all.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from synthgen.errors import ConfigError, DataError, config_error_from_validation

RULES: tuple[str, ...] = (
    "tracks_rarely_visible",
    "near_zero_motion",
    "identical_reference",
    "misaligned_reference",
    "objects_out_of_view",
    "unfollowed_beats",
)
TRACK_JOBS = ("motion_track", "union")
THUMB_SIDE = 8
THUMB_FRAMES = 5


class LintThresholds(BaseModel):
    """Thresholds of every rule (``control.lint`` in the config; CLI flags override)."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    min_track_visible_fraction: float = Field(0.5, ge=0.0, le=1.0)
    min_visible_tracks: int = Field(4, ge=0)
    min_motion_px: float = Field(2.0, ge=0.0)
    min_camera_translation_m: float = Field(0.05, ge=0.0)
    min_camera_rotation_deg: float = Field(1.0, ge=0.0)
    identical_tolerance: float = Field(2.0, ge=0.0)
    max_identical_fraction: float = Field(0.5, ge=0.0, le=1.0)
    max_empty_view_fraction: float = Field(0.25, ge=0.0, le=1.0)
    min_followed_beat_fraction: float = Field(0.9, ge=0.0, le=1.0)
    beat_tolerance_frames: int = Field(1, ge=0)
    warn_only: tuple[str, ...] = ()


def parse_thresholds(values: Mapping[str, Any]) -> LintThresholds:
    """Validate thresholds; ConfigError names ``control.lint.<field>``."""
    try:
        thresholds = LintThresholds.model_validate(dict(values))
    except ValidationError as err:
        raise config_error_from_validation(err, "control.lint") from None
    unknown = [rule for rule in thresholds.warn_only if rule not in RULES]
    if unknown:
        raise ConfigError(f"control.lint.warn_only={unknown[0]!r}: not a rule (rules: {', '.join(RULES)})")
    return thresholds


@dataclass(frozen=True)
class Finding:
    """One reason a clip is ambiguous."""

    clip_id: str
    rule: str
    level: Literal["error", "warning"]
    message: str


def _finding(clip_id: str, rule: str, message: str, thresholds: LintThresholds) -> Finding:
    level: Literal["error", "warning"] = "warning" if rule in thresholds.warn_only else "error"
    return Finding(clip_id, rule, level, message)


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


def track_visibility(clip: Mapping[str, Any]) -> np.ndarray | None:
    """(F, P) bool visibility from a row's track labels, or None when it has no tracks."""
    if "label_tracks_xy_px" not in clip or clip["label_tracks_xy_px"].shape[1] == 0:
        return None
    visible = np.asarray(clip["label_tracks_in_frame"], bool) & ~np.asarray(
        clip["label_tracks_occluded"], bool
    )
    if "label_tracks_behind_camera" in clip:
        visible &= ~np.asarray(clip["label_tracks_behind_camera"], bool)
    return visible & np.isfinite(clip["label_tracks_xy_px"]).all(axis=-1)


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


# ------------------------------------------------------------------------------------- per-clip rules


def check_tracks(clip: Mapping[str, Any], thresholds: LintThresholds) -> list[Finding]:
    """Rule ``tracks_rarely_visible`` (only for jobs whose reference shows tracks)."""
    if clip.get("control_job") not in TRACK_JOBS:
        return []
    visible = track_visibility(clip)
    clip_id = str(clip["clip_id"])
    if visible is None:
        return [_finding(clip_id, "tracks_rarely_visible", "clip has no point tracks", thresholds)]
    fraction = visible.mean(axis=0)
    good = int((fraction >= thresholds.min_track_visible_fraction).sum())
    if good < thresholds.min_visible_tracks:
        return [
            _finding(
                clip_id,
                "tracks_rarely_visible",
                f"{good} of {visible.shape[1]} tracks visible in >= {thresholds.min_track_visible_fraction:.0%} "
                f"of frames; need min_visible_tracks={thresholds.min_visible_tracks}",
                thresholds,
            )
        ]
    return []


def check_motion(clip: Mapping[str, Any], thresholds: LintThresholds) -> list[Finding]:
    """Rule ``near_zero_motion``: 2D motion of tracks (or object centres), and the camera's own motion."""
    clip_id = str(clip["clip_id"])
    if clip.get("control_job") == "camera_motion":
        translation_m, rotation_deg = camera_motion_amount(np.asarray(clip["label_camera_to_world_blender"]))
        if (
            translation_m < thresholds.min_camera_translation_m
            and rotation_deg < thresholds.min_camera_rotation_deg
        ):
            return [
                _finding(
                    clip_id,
                    "near_zero_motion",
                    f"camera moves {translation_m:.3f} m and turns {rotation_deg:.2f} deg; need "
                    f"min_camera_translation_m={thresholds.min_camera_translation_m} or "
                    f"min_camera_rotation_deg={thresholds.min_camera_rotation_deg}",
                    thresholds,
                )
            ]
        return []
    visible = track_visibility(clip)
    if visible is not None:
        peaks = peak_displacement_px(np.asarray(clip["label_tracks_xy_px"], np.float64), visible)
        groups = np.asarray(clip.get("label_tracks_object_id", np.zeros(peaks.size)), dtype=np.int64)
        source = "tracks"
    elif clip.get("label_position_m") is not None and clip["label_position_m"].shape[0] > 0:
        xy, depth = project_points_px(
            clip["label_position_m"], clip["label_camera_from_world_cv"], clip["label_intrinsics_px"]
        )
        in_view = (depth > 0) & np.isfinite(xy).all(axis=-1)
        peaks = peak_displacement_px(np.transpose(xy, (1, 0, 2)), in_view.T)
        groups = np.arange(peaks.size)
        source = "object centres"
    else:
        peaks, groups, source = np.array([np.nan]), np.zeros(1, np.int64), "nothing"
    median_px = moving_group_px(peaks, groups)
    if median_px < thresholds.min_motion_px:
        return [
            _finding(
                clip_id,
                "near_zero_motion",
                f"largest per-object median peak displacement of {source} is {median_px:.2f} px; "
                f"need min_motion_px={thresholds.min_motion_px}",
                thresholds,
            )
        ]
    return []


def check_alignment(clip: Mapping[str, Any], thresholds: LintThresholds) -> list[Finding]:
    """Rule ``misaligned_reference``: frame count, size ratio, fps and audio length agree with the target."""
    clip_id = str(clip["clip_id"])
    problems: list[str] = []
    frames, height, width = int(clip["num_frames"]), int(clip["height"]), int(clip["width"])
    scale = int(clip.get("reference_downscale") or 1)
    step = int(clip.get("reference_temporal_factor") or 1)
    reference = clip.get("reference_video")
    if reference is not None or clip.get("reference_num_frames") is not None:
        shape = tuple(np.asarray(reference).shape[:3]) if reference is not None else (
            clip.get("reference_num_frames"), clip.get("reference_height"), clip.get("reference_width"))  # fmt: skip
        expected = ((frames - 1) // step + 1, height // scale, width // scale)
        if (frames - 1) % step or tuple(shape) != expected:
            problems.append(
                f"reference (frames, height, width)={tuple(shape)} but target {frames}x{height}x{width} with "
                f"reference_downscale={scale}, reference_temporal_factor={step} needs {expected}"
            )
    elif clip.get("control_job") != "audio_to_video":
        problems.append("no reference video")
    if clip.get("reference_spec_json"):
        ref_clip = json.loads(clip["reference_spec_json"]).get("clip", {})
        if float(ref_clip.get("fps", clip["fps"])) != float(clip["fps"]):
            problems.append(f"reference scene fps={ref_clip.get('fps')} but target fps={clip['fps']}")
        if int(ref_clip.get("num_frames", frames)) != frames:
            problems.append(f"reference scene num_frames={ref_clip.get('num_frames')} but target {frames}")
    if clip.get("audio_sample_rate") and clip.get("audio_num_samples") is not None:
        exact = frames / float(clip["fps"]) * int(clip["audio_sample_rate"])
        if abs(int(clip["audio_num_samples"]) - exact) > 1e-6:
            problems.append(
                f"audio has {clip['audio_num_samples']} samples; num_frames/fps*sample_rate = {exact:g}"
            )
    if clip.get("control_job") == "audio_to_video" and not clip.get("audio_sample_rate"):
        problems.append("audio_to_video clip without audio")
    return [_finding(clip_id, "misaligned_reference", text, thresholds) for text in problems]


def check_view(clip: Mapping[str, Any], thresholds: LintThresholds) -> list[Finding]:
    """Rule ``objects_out_of_view``: frames in which no tracked object centre is inside the image."""
    positions = clip.get("label_position_m")
    if positions is None or positions.shape[0] == 0:
        return []
    tracked = _tracked_rows(clip)
    if not tracked.any():
        return []
    xy, depth = project_points_px(
        positions[tracked], clip["label_camera_from_world_cv"], clip["label_intrinsics_px"]
    )
    width, height = float(clip["width"]), float(clip["height"])
    inside = (
        (depth > 0) & (xy[..., 0] >= 0) & (xy[..., 0] < width) & (xy[..., 1] >= 0) & (xy[..., 1] < height)
    )
    empty = ~inside.any(axis=0)
    if empty.mean() > thresholds.max_empty_view_fraction:
        return [
            _finding(
                str(clip["clip_id"]),
                "objects_out_of_view",
                f"no tracked object in view in {int(empty.sum())} of {empty.size} frames; "
                f"max_empty_view_fraction={thresholds.max_empty_view_fraction}",
                thresholds,
            )
        ]
    return []


def _tracked_rows(clip: Mapping[str, Any]) -> np.ndarray:
    ids = np.asarray(clip.get("label_object_ids", np.zeros(0)), dtype=np.int64)
    try:
        objects = json.loads(clip["spec_json"]).get("objects", [])
    except (KeyError, TypeError, ValueError):
        return np.ones(ids.size, bool)
    tracked_ids = {
        int(obj["object_id"]) for obj in objects if obj.get("tracked", True) and obj.get("dynamic", True)
    }
    return np.isin(ids, list(tracked_ids))


def check_beats(clip: Mapping[str, Any], thresholds: LintThresholds) -> list[Finding]:
    """Rule ``unfollowed_beats`` (audio_to_video): each driving beat must have a motion event near it."""
    if clip.get("control_job") != "audio_to_video":
        return []
    clip_id = str(clip["clip_id"])
    sources = clip.get("label_binding_source_frames")
    events = clip.get("label_binding_event_frames")
    if sources is None or events is None or sources.shape[0] == 0:
        return [_finding(clip_id, "unfollowed_beats", "no audio binding drives any motion", thresholds)]
    followed, total = beats_followed(
        np.asarray(sources, bool), np.asarray(events, bool), thresholds.beat_tolerance_frames
    )
    if total == 0:
        return [_finding(clip_id, "unfollowed_beats", "no driving beat falls inside the clip", thresholds)]
    if followed / total < thresholds.min_followed_beat_fraction:
        return [
            _finding(
                clip_id,
                "unfollowed_beats",
                f"{followed} of {total} driving beats have a motion event within "
                f"{thresholds.beat_tolerance_frames} frames; need {thresholds.min_followed_beat_fraction:.0%}",
                thresholds,
            )
        ]
    return []


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


PER_CLIP_RULES = (check_alignment, check_tracks, check_motion, check_view, check_beats)


def reference_thumbnail(reference: np.ndarray) -> np.ndarray:
    """(THUMB_FRAMES, 8, 8) float grey thumbnails of evenly spaced frames of a (F, H, W, 3) video."""
    video = np.asarray(reference, dtype=np.float64)
    picks = np.linspace(0, video.shape[0] - 1, THUMB_FRAMES).round().astype(int)
    grey = video[picks].mean(axis=-1)
    rows = np.array_split(np.arange(grey.shape[1]), THUMB_SIDE)
    cols = np.array_split(np.arange(grey.shape[2]), THUMB_SIDE)
    return np.array([[[frame[np.ix_(r, c)].mean() for c in cols] for r in rows] for frame in grey])


def check_identical(thumbnails: Mapping[str, np.ndarray], thresholds: LintThresholds) -> list[Finding]:
    """Rule ``identical_reference`` across clips (needs at least 3 clips with a reference video)."""
    ids = list(thumbnails)
    if len(ids) < 3:
        return []
    stack = np.stack([thumbnails[i] for i in ids]).reshape(len(ids), -1)
    distance = np.abs(stack[:, None, :] - stack[None, :, :]).mean(axis=-1)
    findings = []
    for row, clip_id in enumerate(ids):
        near = int((distance[row] <= thresholds.identical_tolerance).sum()) - 1
        if near / (len(ids) - 1) > thresholds.max_identical_fraction:
            findings.append(
                _finding(
                    clip_id,
                    "identical_reference",
                    f"reference matches {near} of {len(ids) - 1} other clips within {thresholds.identical_tolerance} "
                    f"(max_identical_fraction={thresholds.max_identical_fraction})",
                    thresholds,
                )
            )
    return findings


# -------------------------------------------------------------------------------------------- runner


@dataclass(frozen=True)
class LintReport:
    """All findings of a dataset and the thresholds used."""

    num_clips: int
    findings: list[Finding]
    thresholds: LintThresholds

    @property
    def num_errors(self) -> int:
        return sum(f.level == "error" for f in self.findings)

    @property
    def num_warnings(self) -> int:
        return sum(f.level == "warning" for f in self.findings)

    def rejected_clip_ids(self) -> list[str]:
        """Clips with at least one error, sorted."""
        return sorted({f.clip_id for f in self.findings if f.level == "error"})

    def to_json(self, dataset: str = "") -> str:
        """The report file: per-clip status and reasons, counts per rule, thresholds."""
        clips: dict[str, dict[str, Any]] = {}
        for finding in self.findings:
            entry = clips.setdefault(finding.clip_id, {"status": "flagged", "findings": []})
            entry["findings"].append({k: v for k, v in asdict(finding).items() if k != "clip_id"})
            if finding.level == "error":
                entry["status"] = "rejected"
        body = {
            "dataset": dataset,
            "num_clips": self.num_clips,
            "num_rejected": len(self.rejected_clip_ids()),
            "num_flagged": sum(1 for c in clips.values() if c["status"] == "flagged"),
            "num_errors": self.num_errors,
            "num_warnings": self.num_warnings,
            "rules": dict(sorted(Counter(f.rule for f in self.findings).items())),
            "thresholds": self.thresholds.model_dump(mode="json"),
            "clips": dict(sorted(clips.items())),
        }
        return json.dumps(body, indent=1, sort_keys=True)


def lint_clips(clips: Iterable[Mapping[str, Any]], thresholds: LintThresholds) -> LintReport:
    """Run every rule over decoded clips (dicts as ``open_dataset`` yields them)."""
    findings: list[Finding] = []
    thumbnails: dict[str, np.ndarray] = {}
    count = 0
    for clip in clips:
        count += 1
        for rule in PER_CLIP_RULES:
            findings.extend(rule(clip, thresholds))
        if clip.get("reference_video") is not None:
            thumbnails[str(clip["clip_id"])] = reference_thumbnail(clip["reference_video"])
    findings.extend(check_identical(thumbnails, thresholds))
    findings.sort(key=lambda f: (f.clip_id, RULES.index(f.rule)))
    return LintReport(count, findings, thresholds)


def lint_dataset(path: str, thresholds: LintThresholds) -> LintReport:
    """Lint the dataset at ``path`` (read through ``synthgen.dataset.open_dataset``).

    Target videos, audio and separate control columns are not decoded: every rule works from labels,
    scalar columns and the reference video.
    """
    import pyarrow.parquet as pq

    from synthgen.dataset import open_dataset
    from synthgen.dataset.schema import CONTROL_PREFIX

    dataset = open_dataset(path)
    if not dataset.files:
        raise DataError(f"{path}: no shards found (not a synthgen dataset, or nothing generated yet)")
    names = pq.read_schema(dataset.files[0], filesystem=dataset.filesystem).names
    skip = {"video", "audio"}
    columns = [n for n in names if n not in skip and not n.startswith(CONTROL_PREFIX)]
    columns += ["audio_sample_rate", "audio_num_samples"] if "audio_sample_rate" in names else []
    return lint_clips(open_dataset(path, columns=sorted(set(columns))), thresholds)
