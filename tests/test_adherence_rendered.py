"""Adherence on ground truth: each job's metric scores the rendered target near the top and the same video
against another clip's labels (or time-reversed, or off the beat) clearly lower.

Real Blender renders through the pipeline (``make_row``), 128 x 128 and denoised so that the frames carry
texture a tracker can hold. Each clip is rendered once per test session and shared by every job whose spec
differs from it only in the control job it was sampled for (the renderer never reads that field): the
union rows reuse the motion_track and depth renders. The paired scene of a camera_motion row is rendered
at 1 sample without denoising: its metric reads only the target and the labels.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from synthgen.adherence import score_video
from synthgen.cli.main import main
from synthgen.dataset import VideoEncoding, encode_video, iter_rows, write_dataset
from synthgen.dataset.rows import ClipRow
from synthgen.describe.spec import ClipSpec
from synthgen.labels import ClipLabels
from synthgen.pipeline.clip import make_row
from synthgen.render import RenderedClip, render_clip
from tests.conftest import tiny_config

pytestmark = [pytest.mark.slow, pytest.mark.blender]

RENDER = {
    "samples": 16,
    "denoise": True,
    "tracks_per_object": 4,
    "background_tracks": 16,
    "dense_labels": True,
}
_RENDERS: dict[str, RenderedClip] = {}


def shared_render(spec: ClipSpec, labels: ClipLabels) -> RenderedClip:
    """``render_clip`` once per spec up to its ``control`` field; a paired scene at 1 sample, no denoiser."""
    if spec.variant != "target":
        cheap = spec.render.model_copy(update={"samples": 1, "denoise": False})
        return render_clip(spec.model_copy(update={"render": cheap}), labels, trust_recipes=True)
    key = spec.model_copy(update={"control": "any"}).to_json()
    if key not in _RENDERS:
        _RENDERS[key] = render_clip(spec, labels, trust_recipes=True)
    return dataclasses.replace(_RENDERS[key], spec=spec)


@functools.cache
def rendered(
    job: str, num_frames: int, num_clips: int, seed: int = 0, *overrides: str
) -> tuple[ClipRow, ...]:
    cfg = tiny_config(
        f"control={job}",
        *overrides,
        clip={"width": 128, "height": 128, "num_frames": num_frames, "fps": 24},
        render=RENDER,
        dataset={"seed": seed, "num_clips": num_clips},
    )
    return tuple(make_row(cfg, index, renderer=shared_render) for index in range(num_clips))


def metric(row: ClipRow, video: np.ndarray, name: str) -> dict[str, Any]:
    return score_video(row, video)["metrics"][name]  # type: ignore[no-any-return]


# Clip 0 of seed 0 (flat look: a sphere, a procedural box, a cone and a rock) is not tracked by the metric's
# Lucas-Kanade tracker: the box's points start beside the nearly still sphere in front of it, so every window
# holds both and the tracker follows the sphere; two ground points drift off their static labels. Its own
# target scores median 3.7 px, delta_avg 0.40 (2026-12-03); larger windows and DIS flow, measured in
# docs/adherence.md, trade clip 1's precision for it. Kept as a strict expected failure so that a better
# tracker shows up here.
TRACKABLE = pytest.param(1, id="clip1")
UNTRACKED = pytest.param(
    0,
    id="clip0",
    marks=pytest.mark.xfail(strict=True, reason="points beside a still occluder follow it"),
)


@pytest.mark.parametrize("index", [TRACKABLE, UNTRACKED])
def test_motion_track_target_is_tracked_within_a_pixel(index: int) -> None:
    row = rendered("motion_track", 17, 2)[index]
    own = metric(row, row.video, "motion_track")
    assert own["num_tracks"] >= 3
    assert own["median_epe_px"] < 1.0 and own["delta_avg"] > 0.75


def test_motion_track_reversed_and_mismatched_videos_score_lower() -> None:
    # Scored against clip 1's labels (clip 0's own target is untracked, so nothing scores below it).
    other, row = rendered("motion_track", 17, 2)
    own = metric(row, row.video, "motion_track")
    reversed_ = metric(row, row.video[::-1].copy(), "motion_track")
    mismatched = metric(row, other.video, "motion_track")
    assert (
        reversed_["delta_avg"] < own["delta_avg"] - 0.3
        and reversed_["median_epe_px"] > 5 * own["median_epe_px"]
    )
    assert mismatched["delta_avg"] < own["delta_avg"] - 0.3


def test_camera_motion_target_recovers_the_labelled_rotation_and_mismatches_do_not() -> None:
    # Two dataset seeds, four clips each: cranes and handheld moves with little parallax, orbits, pans.
    rows = rendered("camera_motion", 17, 4, seed=0) + rendered("camera_motion", 17, 4, seed=1)
    own_errors = []
    for index, row in enumerate(rows):
        own = metric(row, row.video, "camera_motion")
        assert own["estimated_fraction"] == 1.0
        assert own["median_rotation_error_deg"] < 1.0
        own_errors.append(own["median_rotation_error_deg"])
        worse = max(3.0 * own["median_rotation_error_deg"], 1.0)
        for video in (row.video[::-1].copy(), rows[(index + 1) % len(rows)].video):
            other = metric(row, video, "camera_motion")["median_rotation_error_deg"]
            assert other is None or other > worse  # None: no pose explains the video at all
    assert float(np.median(own_errors)) < 0.5
    # The orbit of seed 0's clip 1 has a baseline: its direction is recovered, and reversed it points backwards.
    own = metric(rows[1], rows[1].video, "camera_motion")
    reversed_ = metric(rows[1], rows[1].video[::-1].copy(), "camera_motion")
    assert own["mean_translation_direction_error_deg"] < 5.0
    assert reversed_["mean_translation_direction_error_deg"] > 90.0


def test_audio_to_video_target_moves_on_the_beats_and_a_delayed_video_does_not() -> None:
    (row,) = rendered("audio_to_video", 25, 1)
    own = metric(row, row.video, "audio_to_video")
    assert own["num_beats"] >= 2 and own["f1"] >= 0.9
    # Half a beat late (the grid's beats are 12 frames apart at 120 bpm and 24 fps).
    half_beat = int(np.diff(row.labels["beat_frames"]).min()) // 2
    delayed = metric(row, np.roll(row.video, half_beat, axis=0), "audio_to_video")
    assert delayed["f1"] is not None and delayed["f1"] <= 0.5


def test_depth_target_edges_follow_the_depth_discontinuities_and_another_clips_do_not() -> None:
    rows = rendered("depth", 9, 2)
    for row, other in (rows, rows[::-1]):
        own = metric(row, row.video, "depth")
        mismatched = metric(row, other.video, "depth")
        assert own["recall"] > 0.5
        assert own["f1"] > 3.0 * mismatched["f1"]


def test_union_reports_each_components_metric() -> None:
    (row,) = rendered("union", 9, 1)
    scores = score_video(row, row.video)["metrics"]
    assert set(scores) == {"motion_track", "depth"}
    reversed_ = score_video(row, row.video[::-1].copy())["metrics"]
    assert scores["motion_track"]["median_epe_px"] < 1.0
    assert reversed_["motion_track"]["delta_avg"] < scores["motion_track"]["delta_avg"]
    assert scores["depth"]["recall"] > 0.5


def test_cli_scores_h264_targets_near_the_top_and_swapped_videos_lower(tmp_path: Path) -> None:
    rows = rendered("motion_track", 17, 2)
    root = tmp_path / "ds"
    write_dataset(iter(rows), root, num_clips=2)  # the default lossy encoding, as generate writes
    reports = {}
    for name, videos in (("targets", rows), ("swapped", rows[::-1])):
        folder = tmp_path / name
        folder.mkdir()
        for row, video_row in zip(rows, videos):
            mp4 = encode_video(video_row.video, row.fps, VideoEncoding())
            (folder / f"{row.clip_id}.mp4").write_bytes(mp4)
        out = tmp_path / f"{name}.json"
        assert main(["adherence", str(root), "--videos", str(folder), "--out", str(out)]) == 0
        reports[name] = [clip["metrics"]["motion_track"] for clip in json.loads(out.read_text())["clips"]]
    # Clip 1 (clip 0 is untracked even as rendered, see above) through H.264 and the CLI.
    assert reports["targets"][1]["median_epe_px"] < 1.0
    assert reports["swapped"][1]["delta_avg"] < reports["targets"][1]["delta_avg"] - 0.3


def test_canny_target_reproduces_its_reference_edges_and_mismatches_do_not(tmp_path: Path) -> None:
    # The motion_track renders (17 frames, clips 0 and 1) with the official union canny reference, written
    # with the default lossy H.264 as generate writes and read back: the scores a generated MP4 would get.
    exact = rendered("union", 17, 2, 0, "control.style=ltx_union_canny")
    write_dataset(iter(exact), tmp_path / "ds", num_clips=2)
    stored = tuple(iter_rows(tmp_path / "ds"))
    for index, (row, other) in enumerate(((stored[0], stored[1]), (stored[1], stored[0]))):
        assert row.labels["depth_m"].shape == (17, 128, 128)  # dense labels: boundary numbers are defined
        scores = score_video(row, row.video)["metrics"]
        assert set(scores) == {"canny"}
        own = scores["canny"]  # the target through H.264
        render = metric(row, exact[index].video, "canny")  # the render the stored reference was made from
        reversed_ = metric(row, row.video[::-1].copy(), "canny")
        mismatched = metric(row, other.video, "canny")
        assert render["f1"] == 1.0
        assert own["f1"] > 0.4 and own["precision"] > 0.9
        # Static edges (ground, still objects) stay put when reversed; moving ones do not.
        assert reversed_["f1"] < own["f1"] - 0.08
        assert mismatched["f1"] < 0.2 * own["f1"]
    # Labelled boundaries: clip 1's reference holds 43 % of them and the other clip's video scores far lower;
    # clip 0's weak contrast leaves its reference (the render's own edges) with 8 %: nothing to compare.
    clip0, clip1 = (metric(row, row_render.video, "canny") for row, row_render in zip(stored, exact))
    assert clip1["boundary_recall"] > 0.3 and clip0["boundary_recall"] < 0.15
    own1 = metric(stored[1], stored[1].video, "canny")
    assert metric(stored[1], stored[0].video, "canny")["boundary_f1"] < 0.2 * own1["boundary_f1"]
