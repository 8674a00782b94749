"""2D and 3D bounding boxes from mesh vertices, poses, camera and the instance-id pass (synthgen.labels.boxes)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from synthgen.labels.boxes import box_corners, local_bounds, object_boxes, projected_boxes, visible_boxes
from synthgen.labels.geometry import euler_xyz_to_matrix

K = np.array([[50.0, 0.0, 32.0], [0.0, 50.0, 32.0], [0.0, 0.0, 1.0]])
CUBE = np.array([[x, y, z] for x in (-1.0, 1.0) for y in (-1.0, 1.0) for z in (-1.0, 1.0)])


def _pose(
    euler: tuple[float, float, float], scale: tuple[float, float, float], at: tuple[float, float, float]
) -> np.ndarray:
    pose = np.eye(4)
    pose[:3, :3] = euler_xyz_to_matrix(np.array(euler)) * np.array(scale)
    pose[:3, 3] = at
    return pose


angle = st.floats(-3.1, 3.1)
size = st.floats(0.1, 3.0)


@settings(max_examples=30, deadline=None)
@given(st.tuples(angle, angle, angle), st.tuples(size, size, size))
def test_3d_box_corners_are_the_posed_local_bounds(
    euler: tuple[float, float, float], scale: tuple[float, float, float]
) -> None:
    vertices = np.random.default_rng(1).uniform(-1.0, 2.0, (40, 3))
    pose = _pose(euler, scale, (0.5, -2.0, 1.0))
    bounds = local_bounds([vertices])
    corners = box_corners(bounds, pose[None, None])[0, 0]
    # Corner k takes the maximum on axis a where bit a of k is set.
    for k in range(8):
        local = np.where([(k >> a) & 1 for a in range(3)], bounds[0, 1], bounds[0, 0])
        np.testing.assert_allclose(corners[k], pose[:3, :3] @ local + pose[:3, 3], atol=1e-12)
    # Edges from corner 0 along each axis have the posed extent as length; the box holds every vertex.
    extent = (bounds[0, 1] - bounds[0, 0]) * np.array(scale)
    np.testing.assert_allclose(np.linalg.norm(corners[[1, 2, 4]] - corners[0], axis=1), extent, rtol=1e-9)
    local_again = np.linalg.solve(pose[:3, :3], (vertices @ pose[:3, :3].T + pose[:3, 3] - pose[:3, 3]).T).T
    assert np.all(local_again >= bounds[0, 0] - 1e-9) and np.all(local_again <= bounds[0, 1] + 1e-9)


@settings(max_examples=30, deadline=None)
@given(st.tuples(angle, angle, angle), st.floats(-1.0, 1.0), st.floats(-1.0, 1.0))
def test_projected_box_is_tight_around_the_projected_vertices(
    euler: tuple[float, float, float], x: float, y: float
) -> None:
    pose = _pose(euler, (0.5, 0.5, 0.5), (x, y, 6.0))  # camera = world (OpenCV), object in front
    box = projected_boxes([CUBE], pose[None, None], np.eye(4)[None], K[None])[0, 0]
    camera = CUBE @ pose[:3, :3].T + pose[:3, 3]
    xy = camera[:, :2] / camera[:, 2:] * 50.0 + 32.0
    np.testing.assert_allclose(box, [*xy.min(axis=0), *xy.max(axis=0)], atol=1e-9)


def test_projected_box_is_nan_when_a_vertex_is_behind_the_camera() -> None:
    pose = _pose((0.0, 0.0, 0.0), (1.0, 1.0, 1.0), (0.0, 0.0, 0.5))
    box = projected_boxes([CUBE, np.zeros((0, 3))], np.stack([[pose], [pose]]), np.eye(4)[None], K[None])
    assert np.isnan(box).all()


def test_visible_box_spans_the_pixel_edges_of_the_object_mask() -> None:
    ids = np.zeros((3, 8, 10), dtype=np.uint16)
    ids[0, 2:5, 3:7] = 4
    ids[1, 7, 9] = 4
    ids[0, 0, 0] = 9
    boxes = visible_boxes(ids, np.array([4, 9, 5]))
    np.testing.assert_array_equal(boxes[0, 0], [3, 2, 7, 5])
    np.testing.assert_array_equal(boxes[0, 1], [9, 7, 10, 8])
    assert np.isnan(boxes[0, 2]).all() and np.isnan(boxes[2]).all()
    np.testing.assert_array_equal(boxes[1, 0], [0, 0, 1, 1])


def test_object_boxes_of_a_clip_without_objects_have_empty_object_axes() -> None:
    boxes = object_boxes(
        [],
        np.zeros((0, 5, 4, 4)),
        np.broadcast_to(np.eye(4), (5, 4, 4)),
        np.broadcast_to(K, (5, 3, 3)),
        np.zeros((5, 4, 4), np.uint16),
        np.zeros(0, np.int32),
    )
    assert boxes.bounds_local_m.shape == (0, 2, 3)
    assert boxes.corners_world_m.shape == (0, 5, 8, 3)
    assert boxes.projected_xyxy_px.shape == boxes.visible_xyxy_px.shape == (0, 5, 4)
