"""Rotations, camera conventions, intrinsics and projection, checked against Blender where it has an answer."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synthgen.describe.spec import IntrinsicsSpec
from synthgen.errors import ConfigError
from synthgen.labels.geometry import (
    axis_angle_to_matrix,
    blender_camera_settings,
    blender_camera_to_world_from_opencv,
    blender_intrinsics_from_matrix,
    euler_xyz_to_matrix,
    intrinsics_matrix,
    look_at_camera_to_world,
    matrix_to_euler_xyz,
    opencv_from_blender_camera_to_world,
    project_points,
    ray_depth_from_planar,
    rotation_between,
    unproject_points,
)

angles = st.floats(-np.pi, np.pi, allow_nan=False)
coords = st.floats(-20.0, 20.0, allow_nan=False)
vec3 = st.tuples(coords, coords, coords)
unit_vec = st.tuples(angles, angles, angles).map(lambda a: np.array(a) + np.array([1e-3, 0.0, 0.0]))
sides = st.sampled_from([32, 64, 96, 128, 256, 768])
intrinsics_specs = st.builds(
    IntrinsicsSpec,
    focal_length_mm=st.floats(8.0, 200.0),
    sensor_width_mm=st.floats(10.0, 50.0),
    shift_x=st.floats(-0.5, 0.5),
    shift_y=st.floats(-0.5, 0.5),
)


def _distinct(position: tuple[float, float, float], target: tuple[float, float, float]) -> bool:
    return float(np.linalg.norm(np.subtract(position, target))) > 1e-2


def _mathutils():  # type: ignore[no-untyped-def]
    # mathutils ships inside the bpy wheel and is importable only once bpy is.
    pytest.importorskip("bpy")
    import mathutils

    return mathutils


def _random_pose(rng: np.random.Generator) -> np.ndarray:
    pose = np.eye(4)
    pose[:3, :3] = euler_xyz_to_matrix(rng.uniform(-np.pi, np.pi, 3))
    pose[:3, 3] = rng.uniform(-10.0, 10.0, 3)
    return pose


# ------------------------------------------------------------------------------------------ rotations


@settings(deadline=None)
@given(st.tuples(angles, angles, angles))
def test_euler_xyz_round_trips_through_matrix(euler: tuple[float, float, float]) -> None:
    rotation = euler_xyz_to_matrix(euler)
    np.testing.assert_allclose(euler_xyz_to_matrix(matrix_to_euler_xyz(rotation)), rotation, atol=1e-9)


@pytest.mark.blender
@settings(max_examples=30, deadline=None)
@given(st.tuples(angles, angles, angles))
def test_euler_xyz_matches_blender_mathutils(euler: tuple[float, float, float]) -> None:
    mathutils = _mathutils()
    expected = np.array(mathutils.Euler(euler, "XYZ").to_matrix())
    np.testing.assert_allclose(euler_xyz_to_matrix(euler), expected, atol=1e-6)


@pytest.mark.blender
@settings(max_examples=30, deadline=None)
@given(unit_vec, angles)
def test_axis_angle_matches_blender_mathutils(axis: np.ndarray, angle: float) -> None:
    mathutils = _mathutils()
    expected = np.array(mathutils.Matrix.Rotation(angle, 3, mathutils.Vector(axis.tolist())))
    np.testing.assert_allclose(axis_angle_to_matrix(axis, angle), expected, atol=1e-6)


@settings(deadline=None)
@given(unit_vec, unit_vec)
def test_rotation_between_maps_first_direction_onto_second(a: np.ndarray, b: np.ndarray) -> None:
    rotation = rotation_between(a, b)
    np.testing.assert_allclose(rotation @ (a / np.linalg.norm(a)), b / np.linalg.norm(b), atol=1e-9)
    np.testing.assert_allclose(rotation @ rotation.T, np.eye(3), atol=1e-12)


def test_rotation_between_opposite_directions_is_a_half_turn() -> None:
    a = np.array([0.3, -0.2, 0.9])
    np.testing.assert_allclose(rotation_between(a, -a) @ a, -a, atol=1e-12)


# ------------------------------------------------------------------------------------------- look-at


@settings(deadline=None)
@given(vec3, vec3, st.floats(-180.0, 180.0))
def test_look_at_points_camera_minus_z_at_target(
    position: tuple[float, float, float], target: tuple[float, float, float], roll_deg: float
) -> None:
    if not _distinct(position, target):
        return
    pose = look_at_camera_to_world(position, target, roll_deg)
    direction = np.subtract(target, position) / np.linalg.norm(np.subtract(target, position))
    np.testing.assert_allclose(-pose[:3, 2], direction, atol=1e-9)
    np.testing.assert_allclose(pose[:3, :3] @ pose[:3, :3].T, np.eye(3), atol=1e-12)
    assert np.linalg.det(pose[:3, :3]) == pytest.approx(1.0)


@pytest.mark.blender
@settings(max_examples=30, deadline=None)
@given(vec3, vec3)
def test_look_at_without_roll_matches_blender_track_to(
    position: tuple[float, float, float], target: tuple[float, float, float]
) -> None:
    mathutils = _mathutils()
    direction = np.subtract(target, position)
    horizontal = np.linalg.norm(direction[:2])
    if not _distinct(position, target) or horizontal < 1e-3 * np.linalg.norm(direction):
        return
    expected = np.array(mathutils.Vector(direction.tolist()).to_track_quat("-Z", "Y").to_matrix())
    # Blender works in float32, and its track quaternion loses precision as the view nears vertical (error ~
    # float32 epsilon / sine of the angle from vertical); a convention error would be of order 1.
    tolerance = 1e-6 + 2e-7 * np.linalg.norm(direction) / horizontal
    np.testing.assert_allclose(look_at_camera_to_world(position, target)[:3, :3], expected, atol=tolerance)


def test_look_at_straight_down_puts_world_y_at_image_top() -> None:
    pose = look_at_camera_to_world((0.0, 0.0, 5.0), (0.0, 0.0, 0.0))
    np.testing.assert_allclose(pose[:3, 1], [0.0, 1.0, 0.0], atol=1e-12)


def test_positive_roll_turns_image_content_clockwise() -> None:
    K = intrinsics_matrix(IntrinsicsSpec(), 64, 64)
    right_of_target = np.array([[1.0, 0.0, 0.5]])
    level = look_at_camera_to_world((0.0, -8.0, 0.5), (0.0, 0.0, 0.5), 0.0)
    rolled = look_at_camera_to_world((0.0, -8.0, 0.5), (0.0, 0.0, 0.5), 10.0)
    before = project_points(right_of_target, opencv_from_blender_camera_to_world(level), K, 64, 64).xy_px[
        0, 0
    ]
    after = project_points(right_of_target, opencv_from_blender_camera_to_world(rolled), K, 64, 64).xy_px[
        0, 0
    ]
    assert before[1] == pytest.approx(32.0)
    # Clockwise on screen (y down) moves a point right of centre downwards.
    assert after[1] > before[1] + 0.1


def test_look_at_rejects_coincident_position_and_target() -> None:
    with pytest.raises(ConfigError, match="must differ"):
        look_at_camera_to_world((1.0, 2.0, 3.0), (1.0, 2.0, 3.0))


# ------------------------------------------------------------------------------------ extrinsics


@settings(deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_opencv_blender_extrinsics_round_trip(seed: int) -> None:
    pose = _random_pose(np.random.default_rng(seed))
    back = blender_camera_to_world_from_opencv(opencv_from_blender_camera_to_world(pose))
    np.testing.assert_allclose(back, pose, atol=1e-12)


@settings(deadline=None)
@given(vec3, vec3)
def test_opencv_camera_sees_target_on_positive_z_axis(
    position: tuple[float, float, float], target: tuple[float, float, float]
) -> None:
    if not _distinct(position, target):
        return
    camera_from_world = opencv_from_blender_camera_to_world(look_at_camera_to_world(position, target))
    in_camera = camera_from_world @ np.append(target, 1.0)
    distance = float(np.linalg.norm(np.subtract(target, position)))
    np.testing.assert_allclose(in_camera[:3], [0.0, 0.0, distance], atol=1e-9 * max(1.0, distance))


# ------------------------------------------------------------------------------------ intrinsics


@settings(deadline=None)
@given(intrinsics_specs, sides, sides)
def test_blender_intrinsics_round_trip_through_K(intrinsics: IntrinsicsSpec, width: int, height: int) -> None:
    K = intrinsics_matrix(intrinsics, width, height)
    focal, shift_x, shift_y = blender_intrinsics_from_matrix(K, width, height, intrinsics.sensor_width_mm)
    assert focal == pytest.approx(intrinsics.focal_length_mm, rel=1e-12)
    assert shift_x == pytest.approx(intrinsics.shift_x, abs=1e-12)
    assert shift_y == pytest.approx(intrinsics.shift_y, abs=1e-12)


def test_blender_intrinsics_reject_non_square_pixels() -> None:
    K = np.array([[100.0, 0.0, 32.0], [0.0, 120.0, 32.0], [0.0, 0.0, 1.0]])
    with pytest.raises(ConfigError, match="square pixels"):
        blender_intrinsics_from_matrix(K, 64, 64, 36.0)


def test_fov_intrinsics_span_the_image_width() -> None:
    K = intrinsics_matrix(IntrinsicsSpec.model_validate({"fov_deg": 90.0}), 128, 64)
    # A 90 degree horizontal field of view puts the image edge at x / z = 1.
    assert K[0, 0] == pytest.approx(64.0)
    assert K[1, 1] == pytest.approx(64.0)


def _blender_camera(intrinsics: IntrinsicsSpec, width: int, height: int, pose: np.ndarray):  # type: ignore[no-untyped-def]
    bpy = pytest.importorskip("bpy")
    import mathutils

    scene = bpy.context.scene
    scene.render.resolution_x = width
    scene.render.resolution_y = height
    scene.render.resolution_percentage = 100
    scene.render.pixel_aspect_x = 1.0
    scene.render.pixel_aspect_y = 1.0
    data = bpy.data.cameras.new("synthgen_test_camera")
    for name, value in blender_camera_settings(intrinsics, width, height).as_dict().items():
        setattr(data, name, value)
    obj = bpy.data.objects.new("synthgen_test_camera", data)
    scene.collection.objects.link(obj)
    scene.camera = obj
    obj.matrix_world = mathutils.Matrix(pose.tolist())
    return bpy, scene, obj


def _remove_blender_camera(bpy, obj) -> None:  # type: ignore[no-untyped-def]
    data = obj.data
    bpy.data.objects.remove(obj)
    bpy.data.cameras.remove(data)


@pytest.mark.blender
@settings(max_examples=25, deadline=None)
@given(intrinsics_specs, sides, sides)
def test_K_matches_blender_projection_matrix(intrinsics: IntrinsicsSpec, width: int, height: int) -> None:
    bpy, _, obj = _blender_camera(intrinsics, width, height, np.eye(4))
    try:
        depsgraph = bpy.context.evaluated_depsgraph_get()
        projection = np.array(obj.calc_matrix_camera(depsgraph, x=width, y=height, scale_x=1, scale_y=1))
    finally:
        _remove_blender_camera(bpy, obj)
    rng = np.random.default_rng(width * 1000 + height)
    # Points in front of a camera at the origin looking down -Z (Blender camera = world here).
    points = np.column_stack([rng.uniform(-3, 3, 20), rng.uniform(-3, 3, 20), -rng.uniform(0.5, 10, 20)])
    clip = projection @ np.column_stack([points, np.ones(len(points))]).T
    ndc = clip[:2] / clip[3]
    blender_xy = np.column_stack([(ndc[0] + 1.0) / 2.0 * width, (1.0 - ndc[1]) / 2.0 * height])
    camera_from_world = opencv_from_blender_camera_to_world(np.eye(4))
    ours = project_points(
        points, camera_from_world, intrinsics_matrix(intrinsics, width, height), width, height
    )
    # Blender stores the projection matrix in float32: ~1e-7 relative per entry, amplified by the division.
    np.testing.assert_allclose(ours.xy_px[0], blender_xy, rtol=2e-5, atol=1e-3)


@pytest.mark.blender
def test_projected_point_matches_blender_world_to_camera_view() -> None:
    intrinsics = IntrinsicsSpec(focal_length_mm=28.0, shift_x=0.1, shift_y=-0.05)
    width, height = 96, 64
    pose = look_at_camera_to_world((3.0, -6.0, 2.5), (0.2, 0.4, 0.6), 7.0)
    bpy, scene, obj = _blender_camera(intrinsics, width, height, pose)
    from bpy_extras.object_utils import world_to_camera_view
    from mathutils import Vector

    points = np.array([[0.0, 0.0, 0.5], [1.0, -0.5, 1.2], [-1.5, 1.0, 0.0]])
    try:
        view = np.array([tuple(world_to_camera_view(scene, obj, Vector(p.tolist()))) for p in points])
    finally:
        _remove_blender_camera(bpy, obj)
    ours = project_points(
        points,
        opencv_from_blender_camera_to_world(pose),
        intrinsics_matrix(intrinsics, width, height),
        width,
        height,
    )
    np.testing.assert_allclose(ours.xy_px[0, :, 0], view[:, 0] * width, atol=1e-3)
    np.testing.assert_allclose(ours.xy_px[0, :, 1], (1.0 - view[:, 1]) * height, atol=1e-3)
    np.testing.assert_allclose(ours.depth_m[0], view[:, 2], atol=1e-5)


# ------------------------------------------------------------------------------------ projection


@settings(deadline=None)
@given(st.integers(0, 2**32 - 1), intrinsics_specs)
def test_unproject_inverts_project(seed: int, intrinsics: IntrinsicsSpec) -> None:
    rng = np.random.default_rng(seed)
    frames, count = 3, 10
    camera_from_world = np.stack([_random_pose(rng) for _ in range(frames)])
    K = np.broadcast_to(intrinsics_matrix(intrinsics, 128, 64), (frames, 3, 3))
    camera_points = np.column_stack(
        [rng.uniform(-5, 5, count), rng.uniform(-5, 5, count), rng.uniform(0.1, 50, count)]
    )
    world = (
        np.einsum("fij,pj->fpi", np.linalg.inv(camera_from_world)[:, :3, :3], camera_points)
        + np.linalg.inv(camera_from_world)[:, None, :3, 3]
    )
    projected = project_points(world, camera_from_world, K, 128, 64)
    back = unproject_points(projected.xy_px, projected.depth_m, K, camera_from_world)
    np.testing.assert_allclose(back, world, atol=1e-8)


def test_optical_axis_projects_to_image_centre_corner_convention() -> None:
    K = intrinsics_matrix(IntrinsicsSpec(), 64, 32)
    projected = project_points(np.array([[0.0, 0.0, 4.0]]), np.eye(4), K, 64, 32)
    # Corner convention: the centre of a 64 x 32 image lies on the corner shared by four pixels.
    np.testing.assert_array_equal(projected.xy_px[0, 0], [32.0, 16.0])


def test_points_behind_camera_are_flagged_and_not_in_frame() -> None:
    K = intrinsics_matrix(IntrinsicsSpec(), 64, 64)
    projected = project_points(np.array([[0.0, 0.0, -2.0], [0.0, 0.0, 2.0]]), np.eye(4), K, 64, 64)
    np.testing.assert_array_equal(projected.behind_camera[0], [True, False])
    np.testing.assert_array_equal(projected.in_frame[0], [False, True])
    assert np.all(np.isnan(projected.xy_px[0, 0]))


def test_points_outside_image_bounds_are_not_in_frame() -> None:
    K = intrinsics_matrix(IntrinsicsSpec.model_validate({"fov_deg": 90.0}), 64, 64)
    # At x / z = 1 a point sits exactly on the right image edge x = 64, which is outside [0, 64).
    projected = project_points(np.array([[1.0, 0.0, 1.0], [0.99, 0.0, 1.0]]), np.eye(4), K, 64, 64)
    np.testing.assert_array_equal(projected.in_frame[0], [False, True])


@settings(deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_ray_depth_from_planar_matches_distance_to_camera(seed: int) -> None:
    rng = np.random.default_rng(seed)
    camera_from_world = _random_pose(rng)[None]
    K = intrinsics_matrix(IntrinsicsSpec(shift_x=0.1), 64, 64)
    world = rng.uniform(-10, 10, (8, 3))
    projected = project_points(world, camera_from_world, K, 64, 64)
    front = ~projected.behind_camera
    centre = np.linalg.inv(camera_from_world[0])[:3, 3]
    distance = np.linalg.norm(world - centre, axis=-1)[None]
    ray = ray_depth_from_planar(projected.xy_px, projected.depth_m, K)
    np.testing.assert_allclose(ray[front], distance[front], rtol=1e-9)
    np.testing.assert_allclose(projected.ray_depth_m, distance, rtol=1e-12)


def test_single_camera_projects_per_frame_points() -> None:
    K = intrinsics_matrix(IntrinsicsSpec(), 64, 64)
    camera_from_world = opencv_from_blender_camera_to_world(
        look_at_camera_to_world((0.0, -5.0, 1.0), (0.0, 0.0, 1.0))
    )
    points = np.array([[[0.0, 0.0, 1.0]], [[0.5, 0.0, 1.0]], [[0.0, 0.0, 1.5]]])
    projected = project_points(points, camera_from_world, K, 64, 64)
    assert projected.xy_px.shape == (3, 1, 2)
    back = unproject_points(projected.xy_px, projected.depth_m, K, camera_from_world)
    np.testing.assert_allclose(back, points, atol=1e-12)
