"""Control adherence: the metric maths (property tests), score_video's contract, the job hooks and the
``synthgen adherence`` CLI. Ground truth on rendered clips: tests/test_adherence_rendered.py."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synthgen.adherence import metric_names, score_video
from synthgen.adherence.beats import match_count, pick_peaks, precision_recall_f1
from synthgen.adherence.camera import (
    Matches,
    Pose,
    best_fit_pose,
    nearest_consistent_pose,
    relative_pose,
    rotation_angle_deg,
)
from synthgen.adherence.edges import boundary_counts, depth_discontinuities, f1_from_counts
from synthgen.adherence.report import summarise
from synthgen.adherence.tracks import TAPVID_THRESHOLDS_PX, tapvid_position_metrics, textured, track_points
from synthgen.cli.main import main
from synthgen.controls import get_job, job_names
from synthgen.dataset import ClipRow, VideoEncoding, encode_video, write_dataset
from synthgen.dataset.testing import example_row
from synthgen.errors import DataError

# ------------------------------------------------------------------------------------ TAP-Vid maths


def _tracks(num_frames: int, num_points: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0.0, 64.0, (num_frames, num_points, 2))


def test_perfect_tracks_score_one_and_zero_error() -> None:
    label = _tracks(9, 5, 0)
    values = tapvid_position_metrics(label, label, np.ones((9, 5), bool), np.zeros(5, int), 64, 64)
    assert values["delta_avg"] == 1.0 and values["median_epe_px"] == 0.0 and values["num_points"] == 8 * 5


@settings(max_examples=40, deadline=None)
@given(
    offset_256=st.floats(0.01, 40.0), height=st.sampled_from([64, 128, 480]), width=st.sampled_from([64, 96])
)
def test_a_uniform_offset_is_within_exactly_the_thresholds_above_it(
    offset_256: float, height: int, width: int
) -> None:
    label = _tracks(5, 4, 1) * [width / 64, height / 64]
    # An offset of offset_256 pixels of the 256 x 256 frame, along x.
    pred = label + np.array([offset_256 * width / 256, 0.0])
    values = tapvid_position_metrics(pred, label, np.ones((5, 4), bool), np.zeros(4, int), height, width)
    for x in TAPVID_THRESHOLDS_PX:
        if offset_256 < x * (1 - 1e-9):
            assert values[f"delta_{x}"] == 1.0
        if offset_256 > x * (1 + 1e-9):
            assert values[f"delta_{x}"] == 0.0
    assert values["median_epe_px"] == pytest.approx(offset_256 * width / 256)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), scale=st.floats(0.5, 4.0))
def test_tapvid_accuracy_depends_on_errors_relative_to_the_frame_size(seed: int, scale: float) -> None:
    rng = np.random.default_rng(seed)
    label = _tracks(6, 7, seed)
    pred = label + rng.normal(0.0, 3.0, label.shape)
    visible = rng.random((6, 7)) < 0.8
    queries = rng.integers(0, 3, 7)
    base = tapvid_position_metrics(pred, label, visible, queries, 64, 64)
    scaled = tapvid_position_metrics(pred * scale, label * scale, visible, queries, 64 * scale, 64 * scale)
    for x in TAPVID_THRESHOLDS_PX:
        assert scaled[f"delta_{x}"] == pytest.approx(base[f"delta_{x}"])
    fractions = [base[f"delta_{x}"] for x in TAPVID_THRESHOLDS_PX]
    assert fractions == sorted(fractions)  # a larger threshold never accepts fewer points


def test_only_visible_points_after_their_query_frame_are_scored() -> None:
    label = np.zeros((4, 2, 2))
    pred = np.full((4, 2, 2), 100.0)
    visible = np.array([[1, 0], [1, 0], [0, 1], [1, 1]], dtype=bool)
    values = tapvid_position_metrics(pred, label, visible, np.array([0, 2]), 64, 64)
    assert values["num_points"] == 3  # point 0: frames 1 and 3; point 1: frame 3
    nothing = tapvid_position_metrics(pred, label, np.zeros((4, 2), bool), np.array([-1, -1]), 64, 64)
    assert nothing["delta_avg"] is None and nothing["median_epe_px"] is None


def test_lucas_kanade_follows_a_translated_texture_to_a_tenth_of_a_pixel() -> None:
    rng = np.random.default_rng(0)
    texture = cv2.GaussianBlur(rng.integers(0, 256, (96, 96)).astype(np.uint8), (5, 5), 0)
    shifts = np.array([[0.0, 0.0], [1.5, 0.5], [3.0, 1.0], [4.5, 1.5]])
    frames = np.stack(
        [cv2.warpAffine(texture, np.float32([[1, 0, dx], [0, 1, dy]]), (96, 96)) for dx, dy in shifts]
    )
    start = np.array([[40.5, 40.5], [50.5, 44.5], [44.5, 52.5]])
    xy, tracked = track_points(frames, start, np.zeros(3, int))
    assert tracked.all()
    assert np.abs(xy - (start[None] + shifts[:, None])).max() < 0.1


def test_only_points_on_texture_are_trackable() -> None:
    gray = np.full((1, 32, 32), 128, dtype=np.uint8)
    gray[0, 16:, 16:] = np.random.default_rng(0).integers(0, 256, (16, 16))
    points = np.array([[4.5, 4.5], [24.5, 24.5], [24.5, 24.5]])
    assert textured(gray, points, np.array([0, 0, -1])).tolist() == [False, True, False]


# ------------------------------------------------------------------------------------- onset maths


def _brute_force_matches(reference: list[int], estimate: list[int], tolerance: int) -> int:
    """The largest one-to-one matching, by trying every partner for the first reference event."""
    if not reference:
        return 0
    first, rest = reference[0], reference[1:]
    best = _brute_force_matches(rest, estimate, tolerance)
    for j, candidate in enumerate(estimate):
        if abs(first - candidate) <= tolerance:
            best = max(best, 1 + _brute_force_matches(rest, estimate[:j] + estimate[j + 1 :], tolerance))
    return best


@settings(max_examples=60, deadline=None)
@given(
    reference=st.lists(st.integers(0, 20), max_size=4, unique=True),
    estimate=st.lists(st.integers(0, 20), max_size=4, unique=True),
    tolerance=st.integers(0, 2),
)
def test_onset_matching_is_the_largest_one_to_one_matching(
    reference: list[int], estimate: list[int], tolerance: int
) -> None:
    expected = _brute_force_matches(reference, estimate, tolerance)
    assert match_count(np.array(reference), np.array(estimate), tolerance) == expected


@settings(max_examples=40, deadline=None)
@given(
    reference=st.lists(st.integers(0, 30), min_size=1, max_size=6, unique=True),
    estimate=st.lists(st.integers(0, 30), min_size=1, max_size=6, unique=True),
)
def test_onset_f1_is_symmetric_and_one_exactly_for_a_perfect_match(
    reference: list[int], estimate: list[int]
) -> None:
    forward = precision_recall_f1(np.array(reference), np.array(estimate), 1)
    backward = precision_recall_f1(np.array(estimate), np.array(reference), 1)
    assert forward["precision"] == backward["recall"] and forward["f1"] == pytest.approx(backward["f1"])
    assert precision_recall_f1(np.array(reference), np.array(reference), 0)["f1"] == 1.0


def test_peaks_are_found_on_the_frames_where_energy_jumps() -> None:
    energy = np.full(25, 0.01)
    energy[0] = 0.0
    energy[[4, 5, 12, 20]] = [0.3, 0.2, 0.5, 0.4]
    assert pick_peaks(energy).tolist() == [4, 12, 20]
    assert pick_peaks(np.zeros(9)).tolist() == []


# ------------------------------------------------------------------------------------ camera maths


def _rotation(axis: np.ndarray, angle_deg: float) -> np.ndarray:
    return cv2.Rodrigues(np.asarray(axis, float) / np.linalg.norm(axis) * np.radians(angle_deg))[0]


@settings(max_examples=40, deadline=None)
@given(
    angle=st.floats(0.0, 179.0),
    axis=st.tuples(*[st.floats(-1, 1)] * 3).filter(lambda a: np.linalg.norm(a) > 0.1),
)
def test_rotation_angle_is_the_axis_angle(angle: float, axis: tuple[float, float, float]) -> None:
    assert rotation_angle_deg(_rotation(np.array(axis), angle)) == pytest.approx(angle, abs=1e-5)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 1000))
def test_relative_pose_maps_camera_one_coordinates_to_camera_two(seed: int) -> None:
    rng = np.random.default_rng(seed)
    poses = np.repeat(np.eye(4)[None], 2, axis=0)
    for pose in poses:
        pose[:3, :3] = _rotation(rng.normal(size=3), rng.uniform(0, 90))
        pose[:3, 3] = rng.normal(size=3)
    point = np.append(rng.normal(size=3), 1.0)
    rotation, translation = relative_pose(poses, 0, 1)
    assert np.allclose(rotation @ (poses[0] @ point)[:3] + translation, (poses[1] @ point)[:3])


def _exact_matches(rotation: np.ndarray, translation: np.ndarray, noise_px: float = 0.0) -> Matches:
    rng = np.random.default_rng(3)
    world = rng.uniform([-2, -2, 4], [2, 2, 8], (200, 3))
    second = world @ rotation.T + translation
    a, b = world / world[:, 2:], second / second[:, 2:]
    b[:, :2] += rng.normal(scale=noise_px / 200.0, size=(200, 2))
    return Matches(a, b, focal_px=200.0, precision=np.ones(len(a)))


@pytest.mark.parametrize("rotation_only", [False, True])
def test_pose_from_exact_matches_recovers_rotation_and_direction(rotation_only: bool) -> None:
    rotation = _rotation(np.array([0.2, 1.0, 0.1]), 4.0)
    translation = np.zeros(3) if rotation_only else np.array([0.3, 0.0, 0.05])
    cv2.setRNGSeed(0)
    fit = best_fit_pose(_exact_matches(rotation, translation), rotation_only=rotation_only)
    assert fit is not None
    assert rotation_angle_deg(fit[0].rotation.T @ rotation) < 0.05
    if not rotation_only:
        assert fit[0].direction is not None
        cosine = fit[0].direction @ translation / np.linalg.norm(translation)
        assert cosine > 0.999


def test_a_label_that_explains_the_matches_scores_zero_and_a_wrong_one_does_not() -> None:
    rotation = _rotation(np.array([0.2, 1.0, 0.1]), 4.0)
    translation = np.array([0.3, 0.0, 0.05])
    matches = _exact_matches(rotation, translation, noise_px=0.3)
    cv2.setRNGSeed(0)
    fit = best_fit_pose(matches, rotation_only=False)
    assert fit is not None
    label = Pose(rotation, translation / np.linalg.norm(translation))
    own = nearest_consistent_pose(label, fit[0], matches, fit[1])
    assert rotation_angle_deg(own.rotation.T @ rotation) < 0.05
    wrong = Pose(_rotation(np.array([0.2, 1.0, 0.1]), -4.0), label.direction)
    other = nearest_consistent_pose(wrong, fit[0], matches, fit[1])
    # The region around the best fit is small for 200 clean matches: the answer lies near the truth, 8 deg away.
    assert rotation_angle_deg(other.rotation.T @ wrong.rotation) > 7.0


# ------------------------------------------------------------------------------------- edge maths


def test_a_depth_step_marks_the_near_side_only() -> None:
    grey = np.zeros((16, 16), dtype=np.uint8)
    grey[4:12, 4:12] = 200  # a near square on a far background
    edges = depth_discontinuities(grey, 1.0, 10.0)
    inside = np.zeros((16, 16), bool)
    inside[4:12, 4:12] = True
    border = inside & ~np.pad(
        inside[1:-1, 1:-1] & inside[:-2, 1:-1] & inside[2:, 1:-1] & inside[1:-1, :-2] & inside[1:-1, 2:], 1
    )
    assert np.array_equal(edges, border)
    ramp = np.tile(np.linspace(50, 60, 16), (16, 1)).astype(np.uint8)  # a smooth slope is no discontinuity
    assert not depth_discontinuities(ramp, 1.0, 10.0).any()


@settings(max_examples=30, deadline=None)
@given(shift=st.integers(0, 5), seed=st.integers(0, 100))
def test_boundary_f1_tolerates_two_pixels_and_no_more(shift: int, seed: int) -> None:
    labelled = np.zeros((40, 40), bool)
    labelled[:, 10 + seed % 10] = True
    predicted = np.roll(labelled, shift, axis=1)
    values = f1_from_counts(*boundary_counts(predicted, labelled))
    assert values["f1"] == (1.0 if shift <= 2 else 0.0)


# --------------------------------------------------------------------------- score_video and hooks


def _example(clip_index: int) -> ClipRow:
    """A stand-in motion_track row (synthgen.dataset.testing) with every track label the metric reads."""
    row = example_row(clip_index)
    behind = np.zeros_like(row.labels["tracks_in_frame"])
    return row.replace(labels={**row.labels, "tracks_behind_camera": behind})


def test_every_control_job_names_registered_metrics() -> None:
    for name in job_names():
        metrics = get_job(name).adherence
        assert metrics, name
        assert set(metrics) <= set(metric_names()), name


def test_score_video_refuses_a_video_of_another_length_naming_the_clip() -> None:
    row = _example(0)
    with pytest.raises(DataError, match=r"example-000000.*8 frames, the row 9"):
        score_video(row, row.video[:8])
    with pytest.raises(DataError, match="uint8"):
        score_video(row, row.video.astype(np.float32))


def test_score_video_resizes_a_video_of_another_size_to_the_labels() -> None:
    row = _example(0)
    larger = np.stack([cv2.resize(f, (128, 128), interpolation=cv2.INTER_LINEAR) for f in row.video])
    report = score_video(row, larger)
    assert report["clip_id"] == row.clip_id and report["control_job"] == "motion_track"
    assert set(report["metrics"]) == {"motion_track"}
    json.dumps(report)  # JSON-ready


def test_summary_averages_each_number_over_the_clips_that_have_it() -> None:
    scores = [{"metrics": {"m": {"a": 1.0, "b": None}}}, {"metrics": {"m": {"a": 3.0, "b": None}}}]
    assert summarise(scores) == {"m": {"a": 2.0, "b": None}}


# ------------------------------------------------------------------------------------------- CLI


@pytest.fixture
def dataset_and_videos(tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "ds"
    rows = [_example(i) for i in range(2)]
    write_dataset(iter(rows), root, num_clips=2, encoding=VideoEncoding(lossless=True))
    videos = tmp_path / "videos"
    videos.mkdir()
    for row in rows:
        (videos / f"{row.clip_id}.mp4").write_bytes(
            encode_video(row.video, row.fps, VideoEncoding(lossless=True))
        )
    return root, videos


def test_cli_scores_every_clip_and_writes_the_report(
    dataset_and_videos: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root, videos = dataset_and_videos
    out = tmp_path / "report.json"
    assert main(["adherence", str(root), "--videos", str(videos), "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["num_clips"] == 2 and [c["clip_id"] for c in report["clips"]] == [
        "example-000000",
        "example-000001",
    ]
    assert "delta_avg" in report["summary"]["motion_track"]
    assert "motion_track: " in capsys.readouterr().out


@pytest.mark.parametrize("damage", ["missing", "extra"])
def test_cli_names_missing_or_extra_videos_and_writes_nothing(
    dataset_and_videos: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], damage: str
) -> None:
    root, videos = dataset_and_videos
    if damage == "missing":
        (videos / "example-000001.mp4").unlink()
    else:
        (videos / "stray.mp4").write_bytes(b"")
    out = tmp_path / "report.json"
    assert main(["adherence", str(root), "--videos", str(videos), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and ("example-000001" if damage == "missing" else "stray.mp4") in err[0]
    assert not out.exists()


def test_cli_refuses_a_video_of_the_wrong_length_and_writes_nothing(
    dataset_and_videos: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root, videos = dataset_and_videos
    short = _example(1).video[:5]
    (videos / "example-000001.mp4").write_bytes(encode_video(short, 24.0, VideoEncoding(lossless=True)))
    out = tmp_path / "report.json"
    assert main(["adherence", str(root), "--videos", str(videos), "--out", str(out)]) == 2
    assert "example-000001" in capsys.readouterr().err and not out.exists()


def test_a_first_frame_union_row_is_scored_by_its_components() -> None:
    row = _example(0)
    union = row.replace(
        control_job="union",
        controls={"first_frame": row.video[:1], "motion_track": row.video},
        pairing={"components": ["first_frame", "motion_track"]},
    )
    own = score_video(union, row.video)["metrics"]
    assert set(own) == {"first_frame", "motion_track"}
    assert own["first_frame"]["psnr_db"] == 100.0 and own["first_frame"]["mean_abs_error"] == 0.0
    other = score_video(union, _example(1).video)["metrics"]["first_frame"]
    assert other["psnr_db"] < 40.0 and other["mean_abs_error"] > 0.0
