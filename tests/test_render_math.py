"""Pure-numpy parts of the renderer: pose decomposition, quaternions, sRGB encoding, surface sampling."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synthgen.render.animate import (
    decompose_pose,
    quaternion_from_rotation,
    relative_pose_error,
    rotation_from_quaternion,
)
from synthgen.render.readback import srgb_from_linear
from synthgen.render.tracks import LocalMesh, sample_surface_points

finite = st.floats(min_value=-50.0, max_value=50.0, allow_nan=False)
positive = st.floats(min_value=1e-3, max_value=20.0, allow_nan=False)
unit = st.floats(min_value=-1.0, max_value=1.0, allow_nan=False)


def _rotation(q: tuple[float, float, float, float]) -> np.ndarray:
    quat = np.asarray(q, dtype=np.float64)
    if np.linalg.norm(quat) < 1e-3:
        quat = np.array([1.0, 0.0, 0.0, 0.0])
    w, x, y, z = quat / np.linalg.norm(quat)
    # Independent formula (Euler-Rodrigues) so the test does not reuse the code under test.
    return np.array(
        [
            [w * w + x * x - y * y - z * z, 2 * (x * y - w * z), 2 * (x * z + w * y)],
            [2 * (x * y + w * z), w * w - x * x + y * y - z * z, 2 * (y * z - w * x)],
            [2 * (x * z - w * y), 2 * (y * z + w * x), w * w - x * x - y * y + z * z],
        ]
    )


@settings(max_examples=200, deadline=None)
@given(
    st.tuples(unit, unit, unit, unit),
    st.tuples(positive, positive, positive),
    st.tuples(finite, finite, finite),
)
def test_decompose_pose_recomposes_translation_rotation_scale(
    q: tuple[float, float, float, float],
    scale: tuple[float, float, float],
    translation: tuple[float, float, float],
) -> None:
    pose = np.eye(4)
    pose[:3, :3] = _rotation(q) @ np.diag(scale)
    pose[:3, 3] = translation
    location, quat, got_scale = decompose_pose(pose)
    rebuilt = np.eye(4)
    rebuilt[:3, :3] = rotation_from_quaternion(quat) @ np.diag(got_scale)
    rebuilt[:3, 3] = location
    assert np.allclose(rebuilt, pose, rtol=0.0, atol=1e-9 * max(1.0, np.abs(pose).max()))


@settings(max_examples=200, deadline=None)
@given(st.tuples(unit, unit, unit, unit))
def test_quaternion_from_rotation_is_unit_w_first_and_round_trips(
    q: tuple[float, float, float, float],
) -> None:
    rotation = _rotation(q)
    quat = quaternion_from_rotation(rotation)
    assert abs(np.linalg.norm(quat) - 1.0) < 1e-12
    assert quat[0] >= 0.0
    assert np.allclose(rotation_from_quaternion(quat), rotation, atol=1e-12)


def test_decompose_pose_handles_mirrored_matrices() -> None:
    pose = np.diag([-2.0, 1.0, 3.0, 1.0])
    _location, quat, scale = decompose_pose(pose)
    rebuilt = rotation_from_quaternion(quat) @ np.diag(scale)
    assert np.allclose(rebuilt, pose[:3, :3], atol=1e-12)


def test_decompose_pose_rejects_shear() -> None:
    pose = np.eye(4)
    pose[0, 1] = 0.3
    with pytest.raises(ValueError, match="shear"):
        decompose_pose(pose)


@settings(max_examples=100, deadline=None)
@given(st.tuples(unit, unit, unit, unit), st.floats(min_value=1e-6, max_value=1e-3))
def test_relative_pose_error_measures_largest_entry_difference(
    q: tuple[float, float, float, float], delta: float
) -> None:
    pose = np.eye(4)
    pose[:3, :3] = _rotation(q)
    pose[:3, 3] = (4.0, -2.0, 1.0)
    moved = pose.copy()
    moved[0, 3] += delta
    assert relative_pose_error(pose, pose) == 0.0
    assert np.isclose(relative_pose_error(moved, pose), delta / 4.0, rtol=1e-6)


def test_srgb_encoding_inverts_the_srgb_decoding_curve_at_every_code_value() -> None:
    codes = np.arange(256)
    encoded = codes / 255.0
    # IEC 61966-2-1 decoding (EOTF), written independently of the encoder under test.
    linear = np.where(encoded <= 0.04045, encoded / 12.92, ((encoded + 0.055) / 1.055) ** 2.4)
    assert np.array_equal(srgb_from_linear(linear), codes.astype(np.uint8))


@given(
    st.floats(min_value=-10.0, max_value=10.0, allow_nan=False), st.floats(min_value=-10.0, max_value=10.0)
)
def test_srgb_encoding_is_monotone_and_clipped(a: float, b: float) -> None:
    lo, hi = sorted((a, b))
    out = srgb_from_linear(np.array([lo, hi]))
    assert out[0] <= out[1]
    assert out.dtype == np.uint8


def _cube_mesh() -> LocalMesh:
    corners = np.array([[x, y, z] for x in (-0.5, 0.5) for y in (-0.5, 0.5) for z in (-0.5, 0.5)])
    quads = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]
    tris = np.array([t for a, b, c, d in quads for t in ((a, b, c), (a, c, d))])
    return LocalMesh(corners, tris)


@settings(max_examples=30, deadline=None)
@given(st.integers(min_value=0, max_value=2**32 - 1))
def test_surface_points_lie_on_the_mesh(seed: int) -> None:
    points = sample_surface_points(_cube_mesh(), 64, np.random.default_rng(seed))
    assert points.shape == (64, 3)
    assert np.allclose(np.abs(points).max(axis=1), 0.5, atol=1e-12)


def test_surface_points_are_spread_by_triangle_area() -> None:
    # Two triangles with areas 1 and 3: a quarter of the points should land on the small one.
    vertices = np.array(
        [[0, 0, 0], [1, 0, 0], [0, 2, 0], [10, 0, 0], [13, 0, 0], [10, 2, 0]], dtype=np.float64
    )
    mesh = LocalMesh(vertices, np.array([[0, 1, 2], [3, 4, 5]]))
    count = 20000
    points = sample_surface_points(mesh, count, np.random.default_rng(3))
    fraction_small = float(np.mean(points[:, 0] < 5.0))
    sigma = np.sqrt(0.25 * 0.75 / count)
    assert abs(fraction_small - 0.25) < 5 * sigma


def test_surface_points_are_reproducible_from_the_seed() -> None:
    mesh = _cube_mesh()
    first = sample_surface_points(mesh, 16, np.random.default_rng([1, 2, 7]))
    again = sample_surface_points(mesh, 16, np.random.default_rng([1, 2, 7]))
    other = sample_surface_points(mesh, 16, np.random.default_rng([1, 3, 7]))
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)
