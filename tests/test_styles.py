"""Reference styles: the official LTXVDrawTracks format (``ltx_sparse_tracks``) checked pixel by pixel
against values computed here from the format's description, the editor's JSON tracks, and the
Video-Depth-Anything "gray" depth normalisation (``disparity_minmax``)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from synthgen.controls import build_controls, editor_tracks_video, parse_editor_tracks
from synthgen.controls.signals.depth import depth_range_m, depth_video
from synthgen.controls.signals.draw import intensity_centroid_xy_px
from synthgen.controls.signals.sparse_tracks import (
    age_colors_rgb,
    corner_to_index_px,
    draw_sparse_tracks,
    render_size,
)
from synthgen.dataset.lint import check_clip, default_thresholds
from synthgen.dataset.preview import preview_frames
from synthgen.dataset.testing import example_row
from synthgen.errors import ConfigError, DataError
from tests.control_helpers import control_params
from tests.test_controls import rendered, synthetic_tracks, tiny_spec

# The format's description: blue -> green -> yellow -> red in thirds as the point gets newer.
KNOWN_COLOURS = {
    0.0: (0, 0, 1),
    1 / 6: (0, 0.5, 0.5),
    1 / 3: (0, 1, 0),
    0.5: (0.5, 1, 0),
    2 / 3: (1, 1, 0),
    5 / 6: (1, 0.5, 0),
    1.0: (1, 0, 0),
}


def expected_radius(age: int) -> float:
    return 2.0 + 6.0 * (1.0 - age / 50.0)


def disc_offsets(radius: float) -> set[tuple[int, int]]:
    reach = int(radius) + 1
    return {
        (dx, dy)
        for dx in range(-reach, reach + 1)
        for dy in range(-reach, reach + 1)
        if dx * dx + dy * dy <= radius * radius + 1e-9
    }


def slow_reference(xy: np.ndarray, visible: np.ndarray, width: int, height: int) -> np.ndarray:
    """The format rendered the plain way: full render canvas, discs painted one by one oldest first, then a
    bilinear resize written as two weight matrices; BGR, rounded to uint8."""
    short = 1080
    rw, rh = (int(width * short / height), short) if height <= width else (short, int(height * short / width))
    sx, sy = rw / width, rh / height

    def weights(n_in: int, n_out: int) -> np.ndarray:
        matrix = np.zeros((n_out, n_in))
        for out in range(n_out):
            src = max((out + 0.5) * n_in / n_out - 0.5, 0.0)
            low = min(int(src), n_in - 1)
            frac = src - low
            matrix[out, low] += 1 - frac
            matrix[out, min(low + 1, n_in - 1)] += frac
        return matrix

    wy, wx = weights(rh, height), weights(rw, width)
    frames = []
    for t in range(xy.shape[0]):
        canvas = np.zeros((rh, rw, 3))
        for age in range(min(t, 50), -1, -1):
            ratio = 1 - age / 50
            red = 0 if ratio <= 1 / 3 else min(1.0, (ratio - 1 / 3) * 3)
            green = ratio * 3 if ratio <= 1 / 3 else (1.0 if ratio <= 2 / 3 else 1 - (ratio - 2 / 3) * 3)
            blue = 1 - ratio * 3 if ratio <= 1 / 3 else 0.0
            for p in np.flatnonzero(visible[t - age]):
                cx, cy = round(xy[t - age, p, 0] * sx), round(xy[t - age, p, 1] * sy)
                for dx, dy in disc_offsets(expected_radius(age)):
                    if 0 <= cy + dy < rh and 0 <= cx + dx < rw:
                        canvas[cy + dy, cx + dx] = (red, green, blue)
        rows = np.tensordot(wy, canvas, axes=(1, 0))  # (height, rw, 3)
        small = np.tensordot(rows, wx, axes=(1, 1)).transpose(0, 2, 1)
        frames.append(np.floor(np.clip(small[..., ::-1], 0, 1) * 255 + 0.5))
    return np.array(frames).astype(np.uint8)


@pytest.mark.parametrize("ratio", sorted(KNOWN_COLOURS))
def test_age_colours_follow_blue_green_yellow_red_in_thirds(ratio: float) -> None:
    np.testing.assert_allclose(age_colors_rgb(np.array(ratio)), KNOWN_COLOURS[ratio], atol=1e-12)


def test_render_size_keeps_aspect_with_a_1080_short_side() -> None:
    assert render_size(64, 48) == (1440, 1080)
    assert render_size(48, 64) == (1080, 1440)
    assert render_size(100, 30) == (3600, 1080)


def test_native_resolution_discs_have_the_radius_and_bgr_colour_of_their_age() -> None:
    # Output 1080 x 1080: no resize, so every stamped pixel is visible as it is.
    frames = 5
    xy = np.array([[[100.0 + 40 * t, 300.0]] for t in range(frames)])
    video = draw_sparse_tracks(xy, np.ones((frames, 1), bool), 1080, 1080)
    last = video[-1].astype(int)
    for age in range(frames):
        cx, cy = 100 + 40 * (frames - 1 - age), 300
        ratio = 1 - age / 50
        rgb = np.array(
            [0.0 if ratio <= 2 / 3 else 1.0, 1 - (ratio - 2 / 3) * 3 if ratio > 2 / 3 else 1.0, 0.0]
        )
        bgr = np.floor(rgb[::-1] * 255 + 0.5)
        np.testing.assert_array_equal(last[cy, cx], bgr)
        patch = last[cy - 12 : cy + 13, cx - 12 : cx + 13].any(axis=-1)
        drawn = {(int(x) - 12, int(y) - 12) for y, x in zip(*np.nonzero(patch), strict=True)}
        assert drawn == disc_offsets(expected_radius(age))
    # the newest point is red, stored BGR: channel 2 carries it
    assert tuple(last[300, 100 + 40 * (frames - 1)]) == (0, 0, 255)


def test_newest_point_wins_where_discs_overlap() -> None:
    xy = np.full((3, 1, 2), 200.0)
    video = draw_sparse_tracks(xy, np.ones((3, 1), bool), 1080, 1080)
    assert tuple(video[2, 200, 200]) == (0, 0, 255)
    assert tuple(video[2, 200, 208]) == (0, 0, 255)  # only the newest disc (radius 8) reaches 8 px


def test_trail_is_fifty_frames_long() -> None:
    # Output 108 x 108 = render / 10: output pixel o averages render pixels 10o + 4 and 10o + 5, so a disc
    # centred on render pixel 10o + 4 (index coordinate o + 0.4) shows its full colour there.
    frames = 53
    xy = np.array([[[2.4 + 2 * t, 50.4]] for t in range(frames)])
    video = draw_sparse_tracks(xy, np.ones((frames, 1), bool), 108, 108)
    assert tuple(video[-1, 50, 2 + 2 * (frames - 51)]) == (255, 0, 0)  # 50 frames old: blue, still drawn
    assert not video[-1, 50, 2 + 2 * (frames - 52)].any()  # 51 frames old: gone
    assert tuple(video[-1, 50, 2 + 2 * (frames - 1)]) == (0, 0, 255)  # current: red, in channel 2


def test_invisible_points_are_not_drawn_now_or_in_the_trail() -> None:
    xy = np.array([[[100.0, 100.0], [500.0, 500.0]]] * 3)
    visible = np.array([[True, False], [True, True], [True, True]])
    video = draw_sparse_tracks(xy, visible, 1080, 1080)
    assert not video[0, 500, 500].any()
    assert video[0, 100, 100].any()


@pytest.mark.parametrize(("width", "height"), [(64, 48), (40, 56)])
def test_resized_frames_equal_the_plain_rendering(width: int, height: int) -> None:
    rng = np.random.default_rng(3)
    frames, points = 6, 5
    xy = rng.uniform(0, 1, (frames, points, 2)) * [width - 1, height - 1]
    visible = rng.random((frames, points)) > 0.2
    fast = draw_sparse_tracks(xy, visible, width, height).astype(int)
    slow = slow_reference(xy, visible, width, height).astype(int)
    assert np.abs(fast - slow).max() <= 1  # float summation order at exact .5 ties
    assert (fast != slow).mean() < 1e-3
    assert fast.any()


@pytest.mark.parametrize(("x", "y"), [(200.3, 170.8), (31.5, 9.25), (500.0, 400.7)])
def test_disc_centre_lands_on_the_exact_corner_convention_position(x: float, y: float) -> None:
    # render / 2: the resize is an exact 2 x 2 average, so the drawn disc keeps its centroid
    width, height = 720, 540
    index_xy = corner_to_index_px(np.array([[[x, y]]]), width, height)
    video = draw_sparse_tracks(index_xy, np.ones((1, 1), bool), width, height)
    measured = intensity_centroid_xy_px(video[0], np.array([x, y]), 6.0)
    # rounding the centre at the render resolution moves it by up to half a render pixel
    np.testing.assert_allclose(measured, [x, y], atol=0.5 * width / 1440 + 0.02)


def test_motion_track_job_in_ltx_style_draws_the_official_format() -> None:
    spec = tiny_spec(downscale=2)
    clip = rendered(spec, synthetic_tracks(9))
    params = control_params("motion_track", style="ltx_sparse_tracks")
    result = build_controls("motion_track", params, clip)
    assert result.reference_video is not None
    tracks = clip.tracks
    assert tracks is not None
    height, width = result.reference_video.shape[1:3]
    expected = draw_sparse_tracks(
        corner_to_index_px(tracks.xy_px / 2, width, height),
        np.ones(tracks.xy_px.shape[:2], bool),
        width,
        height,
    )
    np.testing.assert_array_equal(result.reference_video, expected)
    assert result.pairing["overlay"]["style"] == "ltx_sparse_tracks"


def test_ltx_style_refuses_a_background_other_than_black() -> None:
    with pytest.raises(ConfigError, match="background='first_frame' with style='ltx_sparse_tracks'"):
        control_params("motion_track", style="ltx_sparse_tracks", background="first_frame")


def test_unknown_style_is_refused_naming_the_field() -> None:
    with pytest.raises(ConfigError, match=r"control\.style='splines'"):
        control_params("motion_track", style="splines")


# ---------------------------------------------------------------------------------- editor JSON


EDITOR_JSON = json.dumps(
    [
        [{"x": 10, "y": 20}, {"x": 12, "y": 21}, {"x": 14, "y": 22}],
        json.dumps([{"x": 30.5, "y": 5}, {"x": 31, "y": 6}]),
    ]
)


def test_editor_json_gives_tracks_per_frame_and_ends_short_tracks() -> None:
    tracks = parse_editor_tracks(EDITOR_JSON)
    assert tracks.xy_px.shape == (3, 2, 2)
    np.testing.assert_array_equal(tracks.xy_px[:, 0], [[10, 20], [12, 21], [14, 22]])
    np.testing.assert_array_equal(tracks.visible, [[True, True], [True, True], [True, False]])


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("[[{", "tracks: not JSON"),
        ("[]", "tracks: no track found"),
        ('[[{"x": 1}]]', r"track 0 point 0=\{'x': 1\}: need an object with numbers x and y"),
        ('[[{"x": "a", "y": 2}]]', "track 0 point 0"),
    ],
)
def test_bad_editor_json_is_one_line_data_error(text: str, match: str) -> None:
    with pytest.raises(DataError, match=match) as info:
        parse_editor_tracks(text)
    assert "\n" not in str(info.value)


def test_editor_tracks_video_in_ltx_style_equals_the_drawing_of_the_same_points() -> None:
    tracks = parse_editor_tracks(EDITOR_JSON)
    params = control_params("motion_track", style="ltx_sparse_tracks")
    video = editor_tracks_video(tracks, params, 360, 270, source_size=(720, 540), num_frames=4)
    padded = np.concatenate([np.nan_to_num(tracks.xy_px), np.zeros((1, 2, 2))]) / 2
    visible = np.concatenate([tracks.visible, np.zeros((1, 2), bool)])
    assert video.shape == (4, 270, 360, 3)
    np.testing.assert_array_equal(video, draw_sparse_tracks(padded, visible, 360, 270))
    assert video[3].any()  # frame 3 has no new point but still shows the trail


def test_editor_tracks_video_in_synthgen_style_puts_dots_at_pixel_centres() -> None:
    tracks = parse_editor_tracks('[[{"x": 10, "y": 7}]]')
    params = control_params("motion_track", trail_length=0, point_radius_px=2.0)
    video = editor_tracks_video(tracks, params, 32, 24)
    np.testing.assert_allclose(
        intensity_centroid_xy_px(video[0], np.array([10.5, 7.5]), 4.0), [10.5, 7.5], atol=0.05
    )


# ------------------------------------------------------------------------------------------ depth


def test_disparity_minmax_with_background_is_disparity_over_the_nearest() -> None:
    depth = np.array([[[2.0, 4.0], [8.0, np.inf]]])
    near, far = depth_range_m(
        depth, "disparity_minmax", near_percentile=2, far_percentile=98, near_m=0.5, far_m=50
    )
    assert (near, far) == (2.0, np.inf)
    grey = depth_video(depth, near, far)[0, ..., 0]
    # Video-Depth-Anything "gray": (d - min d) / (max d - min d) over the clip, d = 1/z, background d = 0
    np.testing.assert_array_equal(grey, np.floor(np.array([[1.0, 0.5], [0.25, 0.0]]) * 255 + 0.5))


def test_disparity_minmax_without_background_maps_the_farthest_to_black() -> None:
    depth = np.array([[[2.0, 4.0]], [[8.0, 3.0]]])
    near, far = depth_range_m(
        depth, "disparity_minmax", near_percentile=2, far_percentile=98, near_m=0.5, far_m=50
    )
    assert (near, far) == (2.0, 8.0)
    disparity = 1 / depth
    expected = (disparity - disparity.min()) / (disparity.max() - disparity.min())
    np.testing.assert_array_equal(depth_video(depth, near, far)[..., 0], np.floor(expected * 255 + 0.5))


def test_depth_job_with_disparity_minmax_writes_json_ready_pairing() -> None:
    clip = rendered(tiny_spec(), synthetic_tracks(9))
    result = build_controls("depth", control_params("depth", mapping="disparity_minmax"), clip)
    json.dumps(result.pairing, allow_nan=False)


# --------------------------------------------------------------------------------- preview, lint


def test_preview_shows_an_ltx_reference_in_the_colours_the_format_describes() -> None:
    reference = np.zeros((9, 64, 64, 3), dtype=np.uint8)
    reference[:, :, :, 2] = 255  # stored BGR: pure red
    row = example_row(0).replace(
        reference_video=reference, pairing={"overlay": {"style": "ltx_sparse_tracks"}}
    )
    assert tuple(preview_frames(row)[0, 10, 10]) == (255, 0, 0)
    plain = row.replace(pairing={"overlay": {"style": "synthgen_tracks"}})
    assert tuple(preview_frames(plain)[0, 10, 10]) == (0, 0, 255)


def test_lint_track_rules_read_labels_not_reference_colours() -> None:
    row = example_row(0)
    ltx = row.replace(
        reference_video=np.zeros_like(np.asarray(row.reference_video)),
        pairing={"overlay": {"style": "ltx_sparse_tracks"}},
    )
    thresholds = default_thresholds()
    assert check_clip(ltx, thresholds) == check_clip(row, thresholds)
