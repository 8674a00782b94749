"""The official union-control canny input (``control.style=ltx_union_canny``): each step of the workflow's
``CannyEdgePreprocessor`` -> ``LTXAddVideoICLoRAGuide`` chain checked against OpenCV (and torch's bilinear
resize) called directly here with the documented parameters."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from synthgen.controls import build_controls
from synthgen.controls.signals.canny import canny_edges, canny_video, detect_size, resize_bilinear
from synthgen.dataset.lint import check_clip, default_thresholds
from synthgen.dataset.preview import preview_frames
from synthgen.dataset.testing import example_row
from synthgen.errors import ConfigError
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
