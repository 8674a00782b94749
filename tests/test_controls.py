"""Control videos: sub-pixel drawing, track overlays, depth mapping, camera-parameter video, union."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synthgen.controls import (
    build_controls,
    camera_video,
    depth_range_m,
    depth_video,
    draw_capsules,
    inverse_depth_unit,
    parse_job_params,
    scaled_intrinsics,
    select_tracks,
    track_colors_rgb,
)
from synthgen.controls.signals.camera import world_ray_directions
from synthgen.controls.signals.draw import intensity_centroid_xy_px, to_uint8
from synthgen.describe.spec import ClipSettings, ClipSpec, ObjectSpec
from synthgen.errors import ConfigError, DataError
from synthgen.labels.compute import compute_labels
from synthgen.render.types import PointTracks, RenderedClip
from tests.conftest import render_spec, tiny_config
from tests.control_helpers import control_params

WHITE = np.array([[1.0, 1.0, 1.0]])


def tiny_spec(downscale: int = 1, temporal: int = 1, num_frames: int = 9) -> ClipSpec:
    clip = ClipSettings(
        width=64,
        height=64,
        num_frames=num_frames,
        fps=24.0,
        reference_downscale=downscale,
        reference_temporal_factor=temporal,
    )
    return ClipSpec(
        dataset_seed=0,
        clip_index=0,
        scene="test",
        clip=clip,
        objects=(ObjectSpec(object_id=1, name="a"),),
        render=render_spec(),
    )


def synthetic_tracks(num_frames: int, occluded: tuple[tuple[int, int], ...] = ()) -> PointTracks:
    """Four well-separated tracks moving diagonally with sub-pixel steps; (frame, track) pairs occluded."""
    frames = np.arange(num_frames, dtype=np.float64)[:, None]
    index = np.arange(4, dtype=np.float64)[None, :]
    xy = np.stack([8.3 + 13.0 * index + 0.37 * frames, 9.7 + 11.0 * index + 0.61 * frames], axis=-1)
    shape = (num_frames, 4)
    occ = np.zeros(shape, bool)
    for frame, track in occluded:
        occ[frame, track] = True
    return PointTracks(
        object_id=np.ones(4, np.int32),
        local_m=np.zeros((4, 3)),
        xy_px=xy,
        depth_m=np.full(shape, 5.0),
        world_m=np.zeros((*shape, 3)),
        in_frame=np.ones(shape, bool),
        behind_camera=np.zeros(shape, bool),
        occluded=occ,
        raycast_depth_m=np.full(shape, 5.0, np.float32),
        buffer_depth_m=np.full(shape, 5.0, np.float32),
    )


def rendered(spec: ClipSpec, tracks: PointTracks | None = None, seed: int = 0) -> RenderedClip:
    rng = np.random.default_rng(seed)
    frames, height, width = spec.clip.num_frames, spec.clip.height, spec.clip.width
    depth = np.broadcast_to(np.linspace(1.0, 20.0, width, dtype=np.float32), (frames, height, width)).copy()
    depth[:, :8] = np.inf
    return RenderedClip(
        spec=spec,
        labels=compute_labels(spec),
        frames_rgb=rng.integers(0, 256, (frames, height, width, 3), dtype=np.uint8),
        depth_m=depth,
        instance_ids=np.zeros((frames, height, width), np.uint16),
        tracks=tracks,
        max_pose_error=0.0,
    )


# ------------------------------------------------------------------------------------------ drawing


@settings(max_examples=60, deadline=None)
@given(
    x=st.floats(6.0, 26.0),
    y=st.floats(6.0, 26.0),
    radius=st.floats(1.0, 4.0),
)
def test_dot_centroid_matches_subpixel_position_after_uint8(x: float, y: float, radius: float) -> None:
    centre = np.array([x, y])
    image = to_uint8(draw_capsules(np.zeros((32, 32, 3)), centre[None], centre[None], radius, WHITE))
    measured = intensity_centroid_xy_px(image, centre, radius + 2.0)
    np.testing.assert_allclose(measured, centre, atol=0.03)


def test_pixel_centre_convention_puts_dot_at_half_integer_on_one_pixel_centre() -> None:
    image = draw_capsules(np.zeros((9, 9, 3)), np.array([[4.5, 2.5]]), np.array([[4.5, 2.5]]), 0.25, WHITE)
    brightest = np.unravel_index(np.argmax(image[..., 0]), image.shape[:2])
    assert brightest == (2, 4)  # row 2, column 4: centre (4.5, 2.5)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_compositing_does_not_depend_on_primitive_order(seed: int) -> None:
    rng = np.random.default_rng(seed)
    starts, ends = rng.uniform(0, 24, (6, 2)), rng.uniform(0, 24, (6, 2))
    radii, colors, opacity = rng.uniform(0.5, 3, 6), rng.uniform(0, 1, (6, 3)), rng.uniform(0.2, 1, 6)
    canvas = rng.uniform(0, 1, (24, 24, 3))
    order = rng.permutation(6)
    a = draw_capsules(canvas, starts, ends, radii, colors, opacity)
    b = draw_capsules(canvas, starts[order], ends[order], radii[order], colors[order], opacity[order])
    np.testing.assert_allclose(a, b, atol=1e-12)


def test_dot_outside_the_image_leaves_canvas_unchanged() -> None:
    canvas = np.full((16, 16, 3), 0.25)
    out = draw_capsules(canvas, np.array([[-10.0, 40.0]]), np.array([[-10.0, 40.0]]), 2.0, WHITE)
    np.testing.assert_array_equal(out, canvas)


def test_segment_covers_its_midpoint_fully() -> None:
    out = draw_capsules(np.zeros((20, 20, 3)), np.array([[2.5, 10.5]]), np.array([[17.5, 10.5]]), 1.0, WHITE)
    assert out[10, 10, 0] == pytest.approx(1.0)
    assert out[2, 10, 0] == 0.0


def test_track_colour_of_an_id_does_not_depend_on_other_ids() -> None:
    alone = track_colors_rgb(np.array([7]))
    among = track_colors_rgb(np.array([3, 7, 11]))[1]
    np.testing.assert_array_equal(alone[0], among)


def test_neighbouring_track_ids_get_distinct_colours() -> None:
    colors = track_colors_rgb(np.arange(16))
    distances = np.linalg.norm(colors[:, None] - colors[None], axis=-1) + np.eye(16) * 9
    assert distances.min() > 0.05


# ------------------------------------------------------------------------------------ motion track


@pytest.mark.parametrize("downscale", [1, 2])
def test_overlay_dot_centroids_match_track_labels(downscale: int) -> None:
    spec = tiny_spec(downscale=downscale)
    clip = rendered(spec, synthetic_tracks(9))
    radius = 2.0 / downscale
    params = control_params("motion_track", trail_length=0, point_radius_px=radius)
    result = build_controls("motion_track", params, clip)
    assert result.reference_video is not None
    for frame in range(9):
        for track in range(4):
            expected = clip.tracks.xy_px[frame, track] / downscale  # type: ignore[union-attr]
            measured = intensity_centroid_xy_px(result.reference_video[frame], expected, radius + 1.5)
            np.testing.assert_allclose(measured, expected, atol=0.05)


def test_occluded_track_points_are_not_drawn() -> None:
    clip = rendered(tiny_spec(), synthetic_tracks(9, occluded=((4, 2),)))
    result = build_controls("motion_track", control_params("motion_track", trail_length=0), clip)
    assert result.reference_video is not None
    where = clip.tracks.xy_px[4, 2]  # type: ignore[union-attr]
    column, row = int(where[0]), int(where[1])
    assert result.reference_video[4, row - 1 : row + 2, column - 1 : column + 2].max() == 0


def test_each_track_keeps_its_colour_across_frames() -> None:
    tracks = synthetic_tracks(9)
    result = build_controls(
        "motion_track",
        control_params("motion_track", trail_length=0, point_radius_px=2.5),
        rendered(tiny_spec(), tracks),
    )
    video = result.reference_video
    assert video is not None
    pixel = np.floor(tracks.xy_px).astype(int)
    for track in range(4):
        samples = [video[f, pixel[f, track, 1], pixel[f, track, 0]] for f in range(9)]
        hues = np.array(samples, dtype=float)
        hues /= hues.max(axis=1, keepdims=True)
        assert np.ptp(hues, axis=0).max() < 0.1


def test_select_tracks_keeps_the_most_visible_ones() -> None:
    visible = np.zeros((5, 4), bool)
    visible[:, 2] = True
    visible[:3, 0] = True
    visible[:1, 3] = True
    np.testing.assert_array_equal(select_tracks(visible, 2), [0, 2])


def test_never_visible_tracks_are_dropped() -> None:
    visible = np.zeros((5, 3), bool)
    visible[:, 1] = True
    np.testing.assert_array_equal(select_tracks(visible, 10), [1])


@pytest.mark.parametrize(("downscale", "temporal"), [(1, 1), (2, 1), (1, 2), (2, 2)])
def test_reference_geometry_follows_downscale_and_temporal_factor(downscale: int, temporal: int) -> None:
    spec = tiny_spec(downscale=downscale, temporal=temporal, num_frames=17)
    result = build_controls(
        "motion_track", control_params("motion_track"), rendered(spec, synthetic_tracks(17))
    )
    assert result.reference_video is not None
    assert result.reference_video.shape == ((17 - 1) // temporal + 1, 64 // downscale, 64 // downscale, 3)
    assert result.pairing["reference_downscale"] == downscale
    assert result.pairing["reference_temporal_factor"] == temporal


def test_motion_track_without_tracks_raises_data_error_naming_the_clip() -> None:
    spec = tiny_spec()
    with pytest.raises(DataError, match=spec.clip_id):
        build_controls("motion_track", control_params("motion_track"), rendered(spec, None))


@pytest.mark.parametrize("background", ["first_frame", "dimmed_target"])
def test_overlay_background_shows_the_target_away_from_tracks(background: str) -> None:
    clip = rendered(tiny_spec(), synthetic_tracks(9))
    params = control_params("motion_track", background=background, dim_factor=1.0)
    result = build_controls("motion_track", params, clip)
    assert result.reference_video is not None
    frame = 0 if background == "first_frame" else 5
    np.testing.assert_array_equal(result.reference_video[5, 60:, :4], clip.frames_rgb[frame, 60:, :4])


# ------------------------------------------------------------------------------------------- depth


@settings(max_examples=50, deadline=None)
@given(
    near=st.floats(0.1, 5.0),
    span=st.floats(1.01, 100.0),
    a=st.floats(0.01, 1000.0),
    b=st.floats(0.01, 1000.0),
)
def test_inverse_depth_is_monotone_and_bounded(near: float, span: float, a: float, b: float) -> None:
    far = near * span
    va, vb = inverse_depth_unit(np.array([a, b]), near, far)
    assert 0.0 <= va <= 1.0 and 0.0 <= vb <= 1.0
    if a < b:
        assert va >= vb


def test_inverse_depth_maps_near_to_one_far_to_zero_and_background_to_zero() -> None:
    values = inverse_depth_unit(np.array([2.0, 10.0, np.inf]), 2.0, 10.0)
    np.testing.assert_allclose(values, [1.0, 0.0, 0.0], atol=1e-12)


def test_percentile_range_is_shared_by_every_frame() -> None:
    depth = np.stack([np.full((4, 4), 2.0), np.full((4, 4), 8.0)]).astype(np.float32)
    near, far = depth_range_m(
        depth, "inverse_percentile", near_percentile=0.0, far_percentile=100.0, near_m=0.5, far_m=50.0
    )
    video = depth_video(depth, near, far)
    assert video[0].min() == 255 and video[1].max() == 0


def test_fixed_depth_mapping_uses_the_configured_metres() -> None:
    near_far = depth_range_m(
        np.full((1, 2, 2), 3.0),
        "inverse_fixed",
        near_percentile=2.0,
        far_percentile=98.0,
        near_m=1.0,
        far_m=9.0,
    )
    assert near_far == (1.0, 9.0)


def test_depth_job_reference_is_grey_and_downscaled() -> None:
    result = build_controls("depth", control_params("depth"), rendered(tiny_spec(downscale=2)))
    assert result.reference_video is not None
    assert result.reference_video.shape == (9, 32, 32, 3)
    np.testing.assert_array_equal(result.reference_video[..., 0], result.reference_video[..., 2])
    near, far = result.labels["depth_range_m"]
    assert 0 < near < far


def test_bad_depth_params_raise_config_error_naming_the_field() -> None:
    with pytest.raises(ConfigError, match=r"control\.near_percentile"):
        parse_job_params("depth", {**tiny_config("control=depth").control.params, "near_percentile": -1.0})


def test_unknown_job_param_raises_config_error() -> None:
    with pytest.raises(ConfigError, match=r"control\.trail"):
        parse_job_params("motion_track", {**tiny_config("control=motion_track").control.params, "trail": 3})


# ------------------------------------------------------------------------------------------ camera


def test_ray_through_principal_point_is_the_camera_forward_axis() -> None:
    labels = compute_labels(tiny_spec())
    k = labels.camera.intrinsics_px[0]
    rays = world_ray_directions(k, labels.camera.camera_from_world_cv[0], 64, 64)
    forward = -labels.camera.camera_to_world_blender[0, :3, 2]
    # Principal point at the image centre (32, 32) lies on the corner of four pixels: average them.
    centre = rays[31:33, 31:33].reshape(-1, 3).mean(axis=0)
    np.testing.assert_allclose(centre / np.linalg.norm(centre), forward, atol=1e-3)


@settings(max_examples=30, deadline=None)
@given(x=st.floats(-2, 2), y=st.floats(-2, 2), z=st.floats(2, 20), s=st.sampled_from([1, 2, 4]))
def test_scaled_intrinsics_project_to_scaled_pixel_coordinates(x: float, y: float, z: float, s: int) -> None:
    k = compute_labels(tiny_spec()).camera.intrinsics_px[0]
    point = np.array([x, y, z])
    full = (k @ point)[:2] / z
    small = (scaled_intrinsics(k, s) @ point)[:2] / z
    np.testing.assert_allclose(small, full / s, rtol=1e-12, atol=1e-9)


def test_ground_grid_video_marks_ground_and_sky_differently() -> None:
    labels = compute_labels(tiny_spec())
    video = camera_video(
        labels.camera.intrinsics_px[:1],
        labels.camera.camera_from_world_cv[:1],
        64,
        64,
        mode="ground_grid",
        grid_spacing_m=1.0,
        line_width_px=1.0,
    )
    assert video.shape == (1, 64, 64, 3)
    assert video[0, 60].max() > 200  # grid lines near the bottom (ground, close)
    assert video[0, 0].max() <= 64  # sky: quarter-bright ray colour


def test_camera_motion_rejects_a_reference_with_another_camera() -> None:
    spec = tiny_spec()
    other = spec.model_copy(
        update={"camera": spec.camera.model_copy(update={"position_m": (1.0, -8.0, 3.0)})}
    )
    with pytest.raises(DataError, match="camera label"):
        build_controls(
            "camera_motion", control_params("camera_motion"), rendered(spec), reference=rendered(other)
        )


def test_camera_motion_reference_is_the_other_scene_and_camera_video_is_optional() -> None:
    spec = tiny_spec(downscale=2)
    reference_spec = spec.model_copy(update={"variant": "reference"})
    target, reference = rendered(spec, seed=1), rendered(reference_spec, seed=2)
    result = build_controls(
        "camera_motion", control_params("camera_motion", camera_video="rays"), target, reference=reference
    )
    assert result.reference_video is not None
    expected = reference.frames_rgb.reshape(9, 32, 2, 32, 2, 3).mean(axis=(2, 4))
    np.testing.assert_array_equal(result.reference_video, np.floor(expected + 0.5).astype(np.uint8))
    assert result.controls["camera_params"].shape == (9, 32, 32, 3)


# ------------------------------------------------------------------------------------------- union


def test_union_depth_tracks_stores_both_controls_and_draws_tracks_over_depth() -> None:
    clip = rendered(tiny_spec(), synthetic_tracks(9))
    result = build_controls("union", control_params("union", rule="depth_tracks"), clip)
    assert sorted(result.controls) == ["depth", "motion_track"]
    assert result.reference_video is not None
    far_from_tracks = (slice(None), slice(56, 64), slice(0, 6))
    np.testing.assert_array_equal(
        result.reference_video[far_from_tracks], result.controls["depth"][far_from_tracks]
    )
    assert not np.array_equal(result.reference_video, result.controls["depth"])


def test_union_first_frame_tracks_holds_the_first_frame() -> None:
    clip = rendered(tiny_spec(), synthetic_tracks(9))
    result = build_controls("union", control_params("union", rule="first_frame_tracks"), clip)
    assert result.controls["first_frame"].shape == (1, 64, 64, 3)
    assert result.reference_video is not None
    np.testing.assert_array_equal(result.reference_video[8, 60:, :4], clip.frames_rgb[0, 60:, :4])
