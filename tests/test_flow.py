"""Optical flow and object coordinates from poses, depth and instance ids (synthgen.labels.flow).

Scenes here are ray traced in numpy (a ground plane and spheres), so every depth and id is exact and the
flow can be checked against the geometry it claims to follow.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from synthgen.labels.flow import object_coordinates, optical_flow
from synthgen.labels.geometry import (
    euler_xyz_to_matrix,
    look_at_camera_to_world,
    opencv_from_blender_camera_to_world,
)

WIDTH, HEIGHT = 48, 32
K = np.array([[40.0, 0.0, WIDTH / 2], [0.0, 40.0, HEIGHT / 2], [0.0, 0.0, 1.0]])


def _camera(
    eye: tuple[float, float, float], target: tuple[float, float, float] = (0.0, 0.0, 0.5)
) -> np.ndarray:
    return opencv_from_blender_camera_to_world(look_at_camera_to_world(np.array(eye), np.array(target)))


def _sphere_pose(center: tuple[float, float, float], radius: float) -> np.ndarray:
    pose = np.diag([radius, radius, radius, 1.0])
    pose[:3, 3] = center
    return pose


def _trace(
    camera_from_world: np.ndarray,
    spheres: np.ndarray,
    intrinsics: np.ndarray = K,
    width: int = WIDTH,
    height: int = HEIGHT,
) -> tuple[np.ndarray, np.ndarray]:
    """Planar depth (H, W) and ids (H, W) of the ground z = 0 and unit spheres placed by ``spheres`` (N, 4, 4),
    ids 1..N; sky is inf / 0."""
    u, v = np.meshgrid(np.arange(width) + 0.5, np.arange(height) + 0.5)
    rays_cam = (
        np.stack([u, v, np.ones_like(u)], axis=-1) @ np.linalg.inv(intrinsics).T
    )  # z = 1: t is planar depth
    world_from_camera = np.linalg.inv(camera_from_world)
    origin = world_from_camera[:3, 3]
    rays = rays_cam @ world_from_camera[:3, :3].T
    with np.errstate(divide="ignore", invalid="ignore"):
        depth = np.where(rays[..., 2] < 0, -origin[2] / rays[..., 2], np.inf)
    ids = np.zeros((height, width), dtype=np.uint16)
    for n, pose in enumerate(spheres):
        center, radius = pose[:3, 3], pose[0, 0]
        offset = origin - center
        a = np.einsum("hwi,hwi->hw", rays, rays)
        b = 2 * rays @ offset
        c = offset @ offset - radius**2
        disc = b * b - 4 * a * c
        with np.errstate(invalid="ignore"):
            hit = (-b - np.sqrt(disc)) / (2 * a)
        nearer = (disc >= 0) & (hit > 0) & (hit < depth)
        depth = np.where(nearer, hit, depth)
        ids[nearer] = n + 1
    return depth.astype(np.float32), ids


def _clip(cameras: list[np.ndarray], spheres: np.ndarray) -> tuple[np.ndarray, ...]:
    """(depth, ids, camera_from_world, intrinsics, object_ids, world_from_local) of a traced clip;
    ``spheres`` is (N, F, 4, 4)."""
    traced = [_trace(cam, spheres[:, f]) for f, cam in enumerate(cameras)]
    depth = np.stack([d for d, _ in traced])
    ids = np.stack([i for _, i in traced])
    frames = len(cameras)
    return (
        depth,
        ids,
        np.stack(cameras),
        np.broadcast_to(K, (frames, 3, 3)),
        np.arange(1, spheres.shape[0] + 1, dtype=np.int32),
        spheres,
    )


def _centres() -> np.ndarray:
    u, v = np.meshgrid(np.arange(WIDTH) + 0.5, np.arange(HEIGHT) + 0.5)
    return np.stack([u, v], axis=-1)


def test_static_scene_and_camera_give_zero_flow_and_no_occlusion() -> None:
    sphere = np.broadcast_to(_sphere_pose((0.0, 0.0, 0.5), 0.5), (1, 3, 4, 4))
    flow = optical_flow(*_clip([_camera((3.0, -4.0, 2.0))] * 3, sphere))
    assert np.abs(flow.forward_px[:2]).max() < 1e-9
    assert np.abs(flow.backward_px[1:]).max() < 1e-9
    assert not flow.forward_occluded[:2].any() and not flow.backward_occluded[1:].any()


def test_flow_is_undefined_and_occluded_past_the_ends() -> None:
    sphere = np.broadcast_to(_sphere_pose((0.0, 0.0, 0.5), 0.5), (1, 2, 4, 4))
    flow = optical_flow(*_clip([_camera((3.0, -4.0, 2.0))] * 2, sphere))
    assert np.isnan(flow.forward_px[-1]).all() and np.isnan(flow.backward_px[0]).all()
    assert flow.forward_occluded[-1].all() and flow.backward_occluded[0].all()
    assert flow.forward_px.dtype == np.float32 and flow.forward_px.shape == (2, HEIGHT, WIDTH, 2)


angles = st.floats(-0.15, 0.15)


@settings(max_examples=25, deadline=None)
@given(st.tuples(angles, angles, angles), st.floats(0.5, 50.0))
def test_pure_camera_rotation_gives_the_homography_flow(
    euler: tuple[float, float, float], scale: float
) -> None:
    first = _camera((3.0, -4.0, 2.0))
    second = first.copy()
    rotation = euler_xyz_to_matrix(np.array(euler))
    second[:3] = rotation @ first[:3]  # same centre, turned about it
    # Any depth works for a pure rotation: random depths, sky and object ids of static objects included.
    rng = np.random.default_rng(0)
    depth = (rng.uniform(1.0, 20.0, (HEIGHT, WIDTH)) * scale).astype(np.float32)
    depth[::5] = np.inf
    ids = np.broadcast_to((np.arange(WIDTH) // 16 % 3).astype(np.uint16), (HEIGHT, WIDTH))
    poses = np.broadcast_to(np.eye(4), (2, 2, 4, 4))
    flow = optical_flow(
        np.stack([depth, depth]),
        np.stack([ids, ids]),
        np.stack([first, second]),
        np.broadcast_to(K, (2, 3, 3)),
        np.array([1, 2]),
        poses,
    )
    homography = K @ rotation @ np.linalg.inv(K)
    points = np.concatenate([_centres(), np.ones((HEIGHT, WIDTH, 1))], axis=-1) @ homography.T
    expected = points[..., :2] / points[..., 2:] - _centres()
    shown = ~flow.forward_occluded[0]
    assert shown.mean() > 0.2
    np.testing.assert_allclose(flow.forward_px[0][shown], expected[shown], atol=2e-3)


@settings(max_examples=15, deadline=None)
@given(st.floats(-0.4, 0.4), st.floats(-0.4, 0.4), st.floats(-0.3, 0.3))
def test_forward_then_backward_returns_to_the_start_where_not_occluded(
    dx: float, dy: float, cam_dx: float
) -> None:
    spheres = np.stack(
        [
            np.stack([_sphere_pose((0.0, 0.0, 0.5), 0.5), _sphere_pose((dx, dy, 0.5), 0.5)]),
            np.stack([_sphere_pose((-1.0, 1.0, 0.3), 0.3)] * 2),
        ]
    )
    clip = _clip([_camera((3.0, -4.0, 2.0)), _camera((3.0 + cam_dx, -4.0, 2.0))], spheres)
    ids = clip[1]
    flow = optical_flow(*clip)
    start = _centres()
    landed = start + flow.forward_px[0]
    shown = ~flow.forward_occluded[0]
    # Backward flow is given at pixel centres: interpolate it bilinearly at the landing point, where all
    # four centres around it show the same surface, also seen back in the first frame.
    grid = np.where(shown[..., None], landed - 0.5, 0.0)
    left = np.clip(np.floor(grid[..., 0]).astype(int), 0, WIDTH - 2)
    top = np.clip(np.floor(grid[..., 1]).astype(int), 0, HEIGHT - 2)
    fx = np.clip(grid[..., 0] - left, 0.0, 1.0)[..., None]
    fy = np.clip(grid[..., 1] - top, 0.0, 1.0)[..., None]
    backward = flow.backward_px[1].astype(np.float64)
    same_surface = shown.copy()
    back = np.zeros_like(landed)
    for row, column, weight in (
        (top, left, (1 - fx) * (1 - fy)),
        (top, left + 1, fx * (1 - fy)),
        (top + 1, left, (1 - fx) * fy),
        (top + 1, left + 1, fx * fy),
    ):
        same_surface &= (ids[1][row, column] == ids[0]) & ~flow.backward_occluded[1][row, column]
        back += weight * backward[row, column]
    error = np.linalg.norm(landed + back - start, axis=-1)[same_surface]
    assert same_surface.mean() > 0.5
    # What remains is the flow field's curvature between pixel centres (largest on the ground far away).
    assert np.median(error) < 0.01 and error.max() < 0.15


def test_whole_pixel_shift_round_trips_exactly() -> None:
    # A camera sliding parallel to a wall: every point moves by f * dx / z = 2 px exactly.
    first = np.eye(4)
    second = np.eye(4)
    second[0, 3] = -2.0 * 5.0 / 40.0
    depth = np.full((2, HEIGHT, WIDTH), 5.0, dtype=np.float32)
    ids = np.zeros((2, HEIGHT, WIDTH), dtype=np.uint16)
    flow = optical_flow(
        depth,
        ids,
        np.stack([first, second]),
        np.broadcast_to(K, (2, 3, 3)),
        np.zeros(0, np.int32),
        np.zeros((0, 2, 4, 4)),
    )
    np.testing.assert_allclose(flow.forward_px[0][..., 0], -2.0, atol=1e-5)
    np.testing.assert_allclose(flow.backward_px[1][..., 0], 2.0, atol=1e-5)
    # The two columns that leave the image are flagged, nothing else.
    assert flow.forward_occluded[0][:, :2].all() and not flow.forward_occluded[0][:, 2:].any()
    assert flow.backward_occluded[1][:, -2:].all() and not flow.backward_occluded[1][:, :-2].any()


def test_occlusion_agrees_with_ray_tracing_the_next_frame() -> None:
    # A sphere crossing in front of the ground: ground pixels it covers in the next frame are occluded.
    spheres = np.stack([[_sphere_pose((0.0, 0.0, 0.5), 0.5), _sphere_pose((0.5, 0.3, 0.5), 0.5)]])
    cameras = [_camera((3.0, -4.0, 2.0)), _camera((3.1, -4.0, 2.05))]
    depth, ids, cams, intrinsics, object_ids, poses = _clip(cameras, spheres)
    flow = optical_flow(depth, ids, cams, intrinsics, object_ids, poses)
    landed = _centres() + flow.forward_px[0]
    inside = np.isfinite(landed).all(axis=-1)
    inside &= (
        (landed[..., 0] >= 0) & (landed[..., 0] < WIDTH) & (landed[..., 1] >= 0) & (landed[..., 1] < HEIGHT)
    )
    # Truth: the surface seen at the landing point (traced exactly there) is the moved point itself.
    u, v = np.meshgrid(np.arange(WIDTH) + 0.5, np.arange(HEIGHT) + 0.5)
    finite = np.isfinite(depth[0])
    points_cam = (
        np.stack([u, v, np.ones_like(u)], axis=-1)
        @ np.linalg.inv(K).T
        * np.where(finite, depth[0], 1.0)[..., None]
    )
    points_world = points_cam @ np.linalg.inv(cams[0])[:3, :3].T + np.linalg.inv(cams[0])[:3, 3]
    on_sphere = ids[0] == 1
    points_world[on_sphere] += poses[0, 1, :3, 3] - poses[0, 0, :3, 3]
    seen_cam = points_world @ cams[1][:3, :3].T + cams[1][:3, 3]
    truth_hidden = np.ones((HEIGHT, WIDTH), dtype=bool)
    for i, j in zip(*np.nonzero(inside & finite)):
        x, y = landed[i, j]
        traced_depth = _trace_at(cams[1], poses[:, 1], x, y)
        truth_hidden[i, j] = seen_cam[i, j, 2] > traced_depth * (1 + 1e-6) + 1e-9
    checked = inside & finite
    flagged = flow.forward_occluded[0]
    assert truth_hidden[checked].sum() > 20  # the test scene does occlude something
    assert flagged[checked & truth_hidden].mean() > 0.9
    assert flagged[checked & ~truth_hidden].mean() < 0.02


def _trace_at(camera_from_world: np.ndarray, spheres: np.ndarray, x: float, y: float) -> float:
    """Planar depth of the first surface on the ray through image point (x, y): a 1x1 image centred there."""
    shifted = K.copy()
    shifted[:2, 2] -= np.array([x, y]) - 0.5
    depth, _ = _trace(camera_from_world, spheres, shifted, 1, 1)
    return float(depth[0, 0])


def test_object_coordinates_of_a_sphere_lie_on_the_unit_sphere() -> None:
    poses = np.stack([[_sphere_pose((0.2, -0.1, 0.6), 0.6)]])
    depth, ids, cams, intrinsics, object_ids, world_from_local = _clip([_camera((3.0, -4.0, 2.0))], poses)
    local = object_coordinates(depth, ids, cams, intrinsics, object_ids, world_from_local)
    on_sphere = ids == 1
    assert on_sphere.sum() > 50
    np.testing.assert_allclose(np.linalg.norm(local[on_sphere], axis=-1), 1.0, atol=1e-4)
    assert np.isnan(local[~on_sphere]).all()
