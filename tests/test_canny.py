"""The official union-control canny input (``control.style=ltx_union_canny``): each step of the workflow's
``CannyEdgePreprocessor`` -> ``LTXAddVideoICLoRAGuide`` chain checked against OpenCV (and torch's bilinear
resize) called directly here with the documented parameters."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synthgen.adherence import score_video
from synthgen.adherence.canny import TOLERANCE_PX, edge_f1_per_frame, labelled_boundaries
from synthgen.cli.main import main
from synthgen.controls import build_controls
from synthgen.controls.signals.canny import canny_edges, canny_video, detect_size, resize_bilinear
from synthgen.dataset import VideoEncoding, encode_video, write_dataset
from synthgen.dataset.lint import check_clip, default_thresholds
from synthgen.dataset.preview import preview_frames
from synthgen.dataset.testing import example_row
from synthgen.errors import ConfigError, DataError
from tests.control_helpers import control_params
from tests.test_controls import rendered, tiny_spec

LOW, HIGH, DETECT = 92, 200, 512  # the official union workflow's CannyEdgePreprocessor widgets


def shapes_frame(width: int, height: int) -> np.ndarray:
    """A known RGB frame: a grey ramp, a red square and a blue disc."""
    ys, xs = np.mgrid[0:height, 0:width]
    frame = np.stack([xs * 100 // width, ys * 100 // height, np.full_like(xs, 40)], axis=-1)
    frame[height // 4 : height // 2, width // 5 : width // 2] = (230, 30, 30)
    disc = (xs - 0.7 * width) ** 2 + (ys - 0.6 * height) ** 2 <= (0.15 * min(width, height)) ** 2
    frame[disc] = (20, 40, 220)
    return frame.astype(np.uint8)


def test_detect_size_scales_the_short_side_and_rounds_half_to_even() -> None:
    assert detect_size(64, 48, 512) == (683, 512)  # 64 * 512 / 48 = 682.67
    assert detect_size(48, 64, 512) == (512, 683)
    assert detect_size(1024, 512, 512) == (1024, 512)
    assert detect_size(3, 2, 3) == (4, 3)  # 4.5 rounds to the even 4, as numpy's round does


def test_at_the_detection_size_edges_are_cv2_canny_with_the_documented_thresholds() -> None:
    frame = shapes_frame(640, 512)  # short side 512 and both sides multiples of 64: no resize, no pad
    edges = canny_edges(frame, LOW, HIGH, DETECT)
    np.testing.assert_array_equal(edges, cv2.Canny(frame, LOW, HIGH))
    # the red square's left side (x = 128) is an edge, its inside is not
    assert edges[200, 127:129].any()
    assert not edges[150:240, 140:300].any()
    assert set(np.unique(edges)) == {0, 255}


def test_edges_come_from_the_colour_image_not_its_luma() -> None:
    # Blue and dark green of equal BT.601 luma: greyscale Canny sees nothing, the colour Canny an edge.
    frame = np.zeros((512, 512, 3), np.uint8)
    frame[:, :256] = (0, 0, 255)
    frame[:, 256:] = (0, 50, 0)
    gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    assert not cv2.Canny(gray, LOW, HIGH).any()
    assert canny_edges(frame, LOW, HIGH, DETECT)[:, 254:258].any()


@pytest.mark.parametrize(
    ("width", "height", "interpolation"),
    [
        (64, 48, cv2.INTER_CUBIC),
        (1100, 600, cv2.INTER_AREA),
        (520, 700, cv2.INTER_AREA),
        (300, 420, cv2.INTER_CUBIC),
    ],
)
def test_other_sizes_are_resized_then_padded_with_edge_pixels_to_multiples_of_64(
    width: int, height: int, interpolation: int
) -> None:
    frame = shapes_frame(width, height)
    scale = 512 / min(width, height)
    size = (round(width * scale), round(height * scale))
    resized = cv2.resize(frame, size, interpolation=interpolation)
    pad = ((0, (64 - size[1] % 64) % 64), (0, (64 - size[0] % 64) % 64), (0, 0))
    expected = cv2.Canny(np.pad(resized, pad, mode="edge"), LOW, HIGH)[: size[1], : size[0]]
    np.testing.assert_array_equal(canny_edges(frame, LOW, HIGH, DETECT), expected)


def test_the_resize_to_the_reference_is_torch_bilinear_without_antialiasing() -> None:
    torch = pytest.importorskip("torch")
    image = np.random.default_rng(0).random((512, 683, 3))
    for width, height in [(32, 24), (96, 64), (700, 530)]:
        expected = torch.nn.functional.interpolate(
            torch.from_numpy(image).permute(2, 0, 1)[None],
            size=(height, width),
            mode="bilinear",
            align_corners=False,
        )[0].permute(1, 2, 0)
        np.testing.assert_allclose(resize_bilinear(image, width, height), expected.numpy(), atol=1e-12)


def test_canny_video_is_white_edges_on_black_in_three_equal_channels() -> None:
    frames = np.stack([shapes_frame(512, 512), np.zeros((512, 512, 3), np.uint8)])
    video = canny_video(frames, 512, 512, low_threshold=LOW, high_threshold=HIGH, detect_resolution_px=DETECT)
    assert video.dtype == np.uint8 and video.shape == (2, 512, 512, 3)
    np.testing.assert_array_equal(video[0, ..., 0], cv2.Canny(frames[0], LOW, HIGH))
    assert (video[..., 0] == video[..., 1]).all() and (video[..., 1] == video[..., 2]).all()
    assert not video[1].any()  # a flat frame has no edge: black


def test_union_job_in_ltx_canny_style_is_the_canny_of_the_target_at_the_reference_geometry() -> None:
    spec = tiny_spec(downscale=2, temporal=2, num_frames=17)
    clip = rendered(spec, tracks=None)  # the canny style needs no point tracks
    result = build_controls("union", control_params("union", style="ltx_union_canny"), clip)
    expected = canny_video(
        clip.frames_rgb[::2], 32, 32, low_threshold=LOW, high_threshold=HIGH, detect_resolution_px=DETECT
    )
    assert result.reference_video is not None
    np.testing.assert_array_equal(result.reference_video, expected)
    assert result.controls == {}
    assert result.pairing["style"] == "ltx_union_canny"
    assert result.pairing["components"] == ["canny"]
    assert result.pairing["canny"]["detect_size_px"] == [512, 512]
    json.dumps(result.pairing, allow_nan=False)


def test_union_pose_style_is_refused_in_one_line() -> None:
    with pytest.raises(ConfigError, match="style='ltx_union_pose': synthgen scenes have no people") as info:
        control_params("union", style="ltx_union_pose")
    assert "\n" not in str(info.value)


def test_canny_thresholds_out_of_order_are_refused() -> None:
    with pytest.raises(ConfigError, match="low_threshold=201 must be <= high_threshold=200"):
        control_params("union", canny={"low_threshold": 201})


# --------------------------------------------------------------------------------- lint, preview


def _without_tracks(row_job: str, drawn: bool) -> list[str]:
    row = example_row(0)
    labels = {k: v for k, v in row.labels.items() if not k.startswith("tracks_")}
    if drawn:
        labels["overlay_track_index"] = np.zeros(0, np.int64)
    stripped = row.replace(control_job=row_job, labels=labels)
    return [f.rule for f in check_clip(stripped, default_thresholds())]


def test_lint_does_not_ask_a_canny_union_row_for_tracks() -> None:
    assert "tracks_rarely_visible" not in _without_tracks("union", drawn=False)


def test_lint_still_asks_a_track_union_row_and_every_motion_track_row_for_tracks() -> None:
    assert "tracks_rarely_visible" in _without_tracks("union", drawn=True)
    assert "tracks_rarely_visible" in _without_tracks("motion_track", drawn=False)


def test_preview_shows_a_canny_reference_as_stored() -> None:
    reference = np.zeros((9, 64, 64, 3), dtype=np.uint8)
    reference[:, 20, :] = 255
    row = example_row(0).replace(
        control_job="union", reference_video=reference, pairing={"style": "ltx_union_canny"}
    )
    shown = preview_frames(row)
    assert tuple(shown[0, 20, 10]) == (255, 255, 255)
    assert tuple(shown[0, 10, 10]) == (0, 0, 0)


# ----------------------------------------------------------------------------- adherence (canny metric)


def _line_maps(num_frames: int, column: int, shift: int) -> tuple[np.ndarray, np.ndarray]:
    labelled = np.zeros((num_frames, 32, 40), bool)
    labelled[:, 4:28, column] = True
    return np.roll(labelled, shift, axis=2), labelled


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), density=st.floats(0.01, 0.3))
def test_identical_edge_maps_score_one(seed: int, density: float) -> None:
    edges = np.random.default_rng(seed).random((3, 24, 24)) < density
    edges[:, 12, 12] = True  # at least one edge per frame
    assert edge_f1_per_frame(edges, edges) == {"precision": 1.0, "recall": 1.0, "f1": 1.0}


@settings(max_examples=30, deadline=None)
@given(shift=st.integers(0, 6), column=st.integers(8, 30))
def test_edges_within_two_pixels_count_and_farther_ones_do_not(shift: int, column: int) -> None:
    predicted, labelled = _line_maps(2, column, shift)
    values = edge_f1_per_frame(predicted, labelled)
    expected = 1.0 if shift <= TOLERANCE_PX else 0.0
    assert values == {"precision": expected, "recall": expected, "f1": expected}


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), a=st.floats(0.0, 0.2), b=st.floats(0.0, 0.2))
def test_swapping_the_maps_swaps_precision_and_recall(seed: int, a: float, b: float) -> None:
    rng = np.random.default_rng(seed)
    first, second = rng.random((4, 20, 20)) < a, rng.random((4, 20, 20)) < b
    forward, backward = edge_f1_per_frame(first, second), edge_f1_per_frame(second, first)
    assert forward["precision"] == backward["recall"] and forward["recall"] == backward["precision"]
    assert forward["f1"] == pytest.approx(backward["f1"])
    assert forward["f1"] is not None and 0.0 <= forward["f1"] <= 1.0


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), extra=st.integers(1, 40))
def test_spurious_edges_lower_precision_only_and_missed_edges_recall_only(seed: int, extra: int) -> None:
    rng = np.random.default_rng(seed)
    _, labelled = _line_maps(1, 10, 0)
    spurious = labelled.copy()
    spurious[0, rng.integers(0, 32, extra), rng.integers(16, 40, extra)] = True  # >= 4 px off the line
    values = edge_f1_per_frame(spurious, labelled)
    assert values["recall"] == 1.0 and values["precision"] == pytest.approx(24 / spurious.sum())
    missed = edge_f1_per_frame(labelled[:, :12], labelled[:, :12] | spurious[:, :12])
    assert missed["precision"] == 1.0 and missed["recall"] is not None and missed["recall"] <= 1.0


def test_frames_without_edges_agree_and_an_edge_in_only_one_map_does_not() -> None:
    empty = np.zeros((2, 16, 16), bool)
    assert edge_f1_per_frame(empty, empty) == {"precision": None, "recall": None, "f1": 1.0}
    one = empty.copy()
    one[0, 8, 8] = True  # frame 0: an edge in one map only (F1 0); frame 1: none in either (F1 1)
    assert edge_f1_per_frame(one, empty) == {"precision": 0.0, "recall": None, "f1": 0.5}
    assert edge_f1_per_frame(empty, one) == {"precision": None, "recall": 0.0, "f1": 0.5}


def test_labelled_boundaries_mark_the_near_side_of_depth_jumps_and_silhouettes() -> None:
    depth = np.full((16, 16), np.inf, np.float32)  # sky
    depth[8:, :] = np.linspace(5.0, 6.0, 16)  # ground: a smooth slope, no discontinuity
    ids = np.zeros((16, 16), np.uint16)
    depth[2:6, 2:6], ids[2:6, 2:6] = 2.0, 1  # an object in front of the sky
    depth[10:14, 4:8], ids[10:14, 4:8] = 5.2, 2  # an object touching the ground at ground depth
    edges = labelled_boundaries(depth, ids)
    border = np.zeros((16, 16), bool)
    border[2:6, 2:6] = True
    border[3:5, 3:5] = False  # the square's outline: its own pixels next to the sky
    assert (edges[:8] == border[:8]).all()
    assert edges[8, :].all()  # the horizon: the ground row beneath the sky, nearer
    # Object 2 on the ground: only the id changes; each side is marked where it is the nearer or as near.
    assert edges[10, 4] and edges[13, 7] and not edges[11:13, 5:7].any()
    assert not edges[9, 12:].any() and not edges[12, 10:].any()  # the ground's slope is no boundary


def _canny_row(shift_px: int = 0, dense: bool = True):  # type: ignore[no-untyped-def]
    """A union row in the ltx_union_canny style over moving shapes, with its depth and instance passes."""
    num_frames, size, fine = 9, 64, 8
    frames = []
    depth = np.full((num_frames, size, size), 10.0, np.float32)
    ids = np.zeros((num_frames, size, size), np.uint16)
    for t in range(num_frames):
        # An antialiased disc (drawn 8x finer, area-averaged): edges between pixel centres, as renders have.
        # Hard pixel-aligned edges would all fall between the taps of the 512 -> 64 px bilinear resize.
        def disc(scale: int, t: int = t) -> np.ndarray:
            ys, xs = (np.mgrid[0 : size * scale, 0 : size * scale] + 0.5) / scale
            return np.asarray((xs - 16.3 - 3.1 * t) ** 2 + (ys - 30.6) ** 2 <= 12.7**2)

        large = np.zeros((size * fine, size * fine, 3), np.uint8)
        large[...] = (10, 20, 40)
        large[disc(fine)] = (255, 250, 30)
        frames.append(cv2.resize(large, (size, size), interpolation=cv2.INTER_AREA))
        depth[t][disc(1)], ids[t][disc(1)] = 3.0, 1
    video = np.stack(frames)
    reference = canny_video(
        np.roll(video, shift_px, axis=2),
        size,
        size,
        low_threshold=LOW,
        high_threshold=HIGH,
        detect_resolution_px=DETECT,
    )
    row = example_row(0, num_frames=num_frames, height=size, width=size)
    labels = {"depth_m": depth, "instance_ids": ids} if dense else {}
    return row.replace(
        control_job="union",
        video=video,
        reference_video=reference,
        labels={**row.labels, **labels},
        pairing={
            "style": "ltx_union_canny",
            "components": ["canny"],
            "canny": {"low_threshold": LOW, "high_threshold": HIGH, "detect_resolution_px": DETECT},
        },
    )


def test_a_canny_union_row_is_scored_by_the_canny_metric_alone() -> None:
    row = _canny_row()
    report = score_video(row, row.video)
    assert set(report["metrics"]) == {"canny"}
    own = report["metrics"]["canny"]
    assert own["f1"] == 1.0 and own["precision"] == 1.0 and own["recall"] == 1.0
    assert own["num_reference_edge_px"] > 0
    # Every edge of the scene is the disc's silhouette; the bilinear resize drops a few of them (aliasing).
    assert own["boundary_precision"] == 1.0
    assert own["boundary_recall"] is not None and own["boundary_recall"] > 0.8
    json.dumps(report, allow_nan=False)


def test_canny_adherence_falls_for_a_reversed_or_displaced_video() -> None:
    row = _canny_row()
    own = score_video(row, row.video)["metrics"]["canny"]
    reversed_ = score_video(row, row.video[::-1].copy())["metrics"]["canny"]
    displaced = score_video(_canny_row(shift_px=6), row.video)["metrics"]["canny"]
    assert reversed_["f1"] < own["f1"] - 0.4 and reversed_["boundary_f1"] < own["boundary_f1"]
    assert displaced["f1"] < 0.6


def test_canny_adherence_without_dense_labels_leaves_the_boundary_numbers_null() -> None:
    values = score_video(_canny_row(dense=False), _canny_row().video)["metrics"]["canny"]
    assert values["f1"] == 1.0
    assert values["boundary_f1"] is None and values["boundary_recall"] is None


def test_canny_adherence_names_the_clip_when_the_settings_are_missing() -> None:
    row = _canny_row()
    broken = row.replace(pairing={"style": "ltx_union_canny", "components": ["canny"]})
    with pytest.raises(DataError, match=r"clip example-000000: canny adherence needs pairing\.canny"):
        score_video(broken, row.video)


def test_synthgen_adherence_reports_canny_for_a_canny_union_dataset(tmp_path: Path) -> None:
    rows = [_canny_row().replace(clip_id=f"example-00000{i}", clip_index=i) for i in range(2)]
    lossless = VideoEncoding(lossless=True)
    write_dataset(iter(rows), tmp_path / "ds", num_clips=2, encoding=lossless)
    videos = tmp_path / "videos"
    videos.mkdir()
    for row in rows:
        (videos / f"{row.clip_id}.mp4").write_bytes(encode_video(row.video, row.fps, lossless))
    out = tmp_path / "report.json"
    assert main(["adherence", str(tmp_path / "ds"), "--videos", str(videos), "--out", str(out)]) == 0
    summary = json.loads(out.read_text())["summary"]
    assert set(summary) == {"canny"} and summary["canny"]["f1"] == 1.0
