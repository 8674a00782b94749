"""Adherence on ground truth: each job's metric scores the rendered target near the top and the same video
against another clip's labels (or time-reversed, or off the beat) clearly lower.

Real Blender renders through the pipeline (``make_row``), 128 x 128 and denoised so that the frames carry
texture a tracker can hold; two clips per job (one for audio_to_video and union), rendered once per module.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from synthgen.adherence import score_video
from synthgen.cli.main import main
from synthgen.dataset import VideoEncoding, encode_video, write_dataset
from synthgen.dataset.rows import ClipRow
from synthgen.pipeline.clip import make_row
from tests.conftest import tiny_config

pytestmark = [pytest.mark.slow, pytest.mark.blender]

RENDER = {"samples": 16, "denoise": True, "tracks_per_object": 4, "background_tracks": 16}


@functools.cache
def rendered(job: str, num_frames: int, num_clips: int, seed: int = 0) -> tuple[ClipRow, ...]:
    cfg = tiny_config(
        f"control={job}",
        clip={"width": 128, "height": 128, "num_frames": num_frames, "fps": 24},
        render=RENDER,
        dataset={"seed": seed, "num_clips": num_clips},
    )
    return tuple(make_row(cfg, index) for index in range(num_clips))


def metric(row: ClipRow, video: np.ndarray, name: str) -> dict[str, Any]:
    return score_video(row, video)["metrics"][name]  # type: ignore[no-any-return]


def test_motion_track_target_is_tracked_within_a_pixel_and_mismatches_are_not() -> None:
    rows = rendered("motion_track", 17, 2)
    for row, other in (rows, rows[::-1]):
        own = metric(row, row.video, "motion_track")
        reversed_ = metric(row, row.video[::-1].copy(), "motion_track")
        mismatched = metric(row, other.video, "motion_track")
        assert own["num_tracks"] >= 4
        assert own["median_epe_px"] < 1.0 and own["delta_avg"] > 0.75
        assert reversed_["delta_avg"] < own["delta_avg"] - 0.3 and reversed_["median_epe_px"] > 4.0
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
        reports[name] = json.loads(out.read_text())["summary"]["motion_track"]
    assert reports["targets"]["median_epe_px"] < 1.0
    assert reports["swapped"]["delta_avg"] < reports["targets"]["delta_avg"] - 0.3
