"""Object paths pass their waypoints, report exact velocities, and orientations follow their mode."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synthgen.describe.spec import (
    CirclePath,
    LissajousPath,
    OrientationSpec,
    PiecewisePath,
    RandomSmoothPath,
    StaticPath,
    Trajectory,
    WaypointPath,
)
from synthgen.errors import ConfigError
from synthgen.labels.geometry import euler_xyz_to_matrix
from synthgen.labels.motion import (
    circle_basis,
    evaluate_orientation,
    evaluate_path,
    inverse_ease,
    random_smooth_knots,
    smootherstep,
    waypoint_times_s,
)

coord = st.floats(-5.0, 5.0, allow_nan=False)
point = st.tuples(coord, coord, coord)
waypoints = st.lists(point, min_size=2, max_size=6).map(tuple)
easing = st.sampled_from(["linear", "smooth"])
durations = st.floats(0.5, 10.0)

waypoint_paths = st.builds(
    WaypointPath,
    kind=st.sampled_from(["linear", "catmull_rom", "bezier"]),
    waypoints_m=waypoints,
    easing=easing,
)
piecewise_paths = waypoints.flatmap(
    lambda pts: st.builds(
        PiecewisePath,
        waypoints_m=st.just(pts),
        hold_frames=st.lists(st.integers(0, 3), min_size=len(pts), max_size=len(pts)).map(tuple),
        easing=easing,
    )
)
circle_paths = st.builds(
    CirclePath,
    center_m=point,
    radius_m=st.floats(0.1, 5.0),
    axis=point.filter(lambda a: float(np.linalg.norm(a)) > 0.1),
    turns=st.floats(-3.0, 3.0),
    phase_deg=st.floats(-360.0, 360.0),
)
lissajous_paths = st.builds(
    LissajousPath,
    center_m=point,
    amplitude_m=point,
    frequency=st.tuples(*[st.floats(-4.0, 4.0)] * 3),
    phase_deg=st.tuples(*[st.floats(-180.0, 180.0)] * 3),
)
random_paths = st.builds(
    RandomSmoothPath,
    center_m=point,
    extent_m=st.tuples(*[st.floats(0.0, 5.0)] * 3),
    num_knots=st.integers(2, 12),
    seed=st.integers(0, 2**32 - 1),
)
any_path = st.one_of(
    st.builds(StaticPath, position_m=point),
    waypoint_paths,
    piecewise_paths,
    circle_paths,
    lissajous_paths,
    random_paths,
)
FPS = 24.0


# -------------------------------------------------------------------------------------------- easing


@settings(deadline=None)
@given(st.floats(0.0, 1.0))
def test_inverse_ease_inverts_smootherstep(progress: float) -> None:
    assert smootherstep(inverse_ease(np.array([progress]), "smooth"))[0][0] == pytest.approx(
        progress, abs=1e-14
    )


def test_smootherstep_starts_and_ends_at_rest() -> None:
    value, slope = smootherstep(np.array([0.0, 1.0]))
    np.testing.assert_array_equal(value, [0.0, 1.0])
    np.testing.assert_array_equal(slope, [0.0, 0.0])


def test_smootherstep_acceleration_is_bounded_by_ten_over_root_three() -> None:
    x = np.linspace(0.0, 1.0, 100_001)
    acceleration = np.gradient(smootherstep(x)[1], x)
    assert np.max(np.abs(acceleration)) <= 10.0 / np.sqrt(3.0) + 1e-3


# --------------------------------------------------------------------------------------------- paths


@settings(deadline=None)
@given(st.one_of(waypoint_paths, piecewise_paths), durations)
def test_path_passes_its_waypoints_at_their_times(
    path: WaypointPath | PiecewisePath, duration_s: float
) -> None:
    if isinstance(path, PiecewisePath) and sum(path.hold_frames) / FPS >= duration_s:
        return
    times = waypoint_times_s(path, duration_s, FPS)
    expected = np.asarray(path.waypoints_m)
    if isinstance(path, WaypointPath) and path.kind == "bezier":
        expected = expected[[0, -1]]
    position, _ = evaluate_path(path, times, duration_s, FPS)
    np.testing.assert_allclose(position, expected, atol=1e-9)


def _numerical_velocity(path: Trajectory, times: np.ndarray, duration_s: float) -> np.ndarray:
    step = 1e-6 * duration_s
    after, _ = evaluate_path(path, times + step, duration_s, FPS)
    before, _ = evaluate_path(path, times - step, duration_s, FPS)
    return (after - before) / (2.0 * step)


@settings(deadline=None)
@given(any_path, durations, st.integers(0, 2**32 - 1))
def test_velocity_is_the_time_derivative_of_position(path: Trajectory, duration_s: float, seed: int) -> None:
    if isinstance(path, PiecewisePath) and sum(path.hold_frames) / FPS >= duration_s:
        return
    times = np.random.default_rng(seed).uniform(0.01, 0.99, 16) * duration_s
    # Corners of polylines and hold boundaries have one-sided derivatives; keep away from them.
    corners = waypoint_times_s(path, duration_s, FPS)
    if isinstance(path, PiecewisePath):
        holds = np.asarray(path.hold_frames or (0,) * len(path.waypoints_m)) / FPS
        corners = np.concatenate([corners, corners + holds])
    if len(corners):
        times = times[np.min(np.abs(times[:, None] - corners[None]), axis=1) > 1e-4 * duration_s]
    _, velocity = evaluate_path(path, times, duration_s, FPS)
    numerical = _numerical_velocity(path, times, duration_s)
    scale = max(1.0, float(np.max(np.abs(numerical), initial=0.0)))
    np.testing.assert_allclose(velocity, numerical, atol=1e-5 * scale)


@settings(deadline=None)
@given(waypoints, durations)
def test_catmull_rom_direction_of_travel_is_continuous_at_waypoints(points: tuple, duration_s: float) -> None:
    path = WaypointPath(kind="catmull_rom", waypoints_m=points)
    times = waypoint_times_s(path, duration_s)[1:-1]
    step = 1e-9 * duration_s
    _, left = evaluate_path(path, times - step, duration_s)
    _, right = evaluate_path(path, times + step, duration_s)
    left_speed, right_speed = np.linalg.norm(left, axis=-1), np.linalg.norm(right, axis=-1)
    scale = max(1.0, float(np.max(left_speed, initial=0.0)), float(np.max(right_speed, initial=0.0)))
    # Even time spacing with centripetal knots makes the spline G1 in time: the speed may change at a
    # waypoint, the direction may not. Where it stops (a repeated waypoint, a reversal) both sides stop.
    moving = np.minimum(left_speed, right_speed) > 1e-3 * scale
    cosine = np.sum(left[moving] * right[moving], axis=-1) / (left_speed[moving] * right_speed[moving])
    np.testing.assert_allclose(cosine, 1.0, atol=1e-6)
    assert np.all(np.maximum(left_speed, right_speed)[~moving] <= 1e-2 * scale)


def test_piecewise_path_stands_still_during_each_hold() -> None:
    path = PiecewisePath(
        waypoints_m=((0.0, 0.0, 0.0), (1.0, 0.0, 0.0), (1.0, 2.0, 0.0)), hold_frames=(4, 6, 4)
    )
    duration_s = 48 / FPS
    arrivals = waypoint_times_s(path, duration_s, FPS)
    for arrival, hold, waypoint in zip(arrivals, path.hold_frames, path.waypoints_m):
        times = arrival + np.linspace(0.0, hold / FPS, 5)
        position, velocity = evaluate_path(path, times, duration_s, FPS)
        np.testing.assert_allclose(position, np.broadcast_to(waypoint, (5, 3)), atol=1e-12)
        np.testing.assert_array_equal(velocity, 0.0)


def test_piecewise_holds_longer_than_the_clip_are_rejected() -> None:
    path = PiecewisePath(waypoints_m=((0.0, 0.0, 0.0), (1.0, 0.0, 0.0)), hold_frames=(5, 5))
    with pytest.raises(ConfigError, match="hold_frames"):
        evaluate_path(path, np.zeros(3), 8 / FPS, FPS)


def test_piecewise_holds_need_fps() -> None:
    path = PiecewisePath(waypoints_m=((0.0, 0.0, 0.0), (1.0, 0.0, 0.0)), hold_frames=(1, 1))
    with pytest.raises(ConfigError, match="fps"):
        evaluate_path(path, np.zeros(3), 2.0)


@settings(deadline=None)
@given(circle_paths, durations)
def test_circle_stays_on_its_circle(path: CirclePath, duration_s: float) -> None:
    times = np.linspace(0.0, duration_s, 33)
    position, _ = evaluate_path(path, times, duration_s)
    offset = position - np.asarray(path.center_m)
    _, _, normal = circle_basis(path.axis)
    np.testing.assert_allclose(np.linalg.norm(offset, axis=-1), path.radius_m, rtol=1e-12)
    np.testing.assert_allclose(offset @ normal, 0.0, atol=1e-12 * max(1.0, path.radius_m))


def test_circle_with_whole_turns_ends_where_it_starts() -> None:
    path = CirclePath(radius_m=2.0, axis=(1.0, 1.0, 0.5), turns=2.0, phase_deg=30.0)
    position, _ = evaluate_path(path, np.array([0.0, 2.0]), 2.0)
    np.testing.assert_allclose(position[1], position[0], atol=1e-12)


def test_default_circle_turns_counter_clockwise_seen_from_above() -> None:
    _, velocity = evaluate_path(CirclePath(), np.array([0.0]), 2.0)
    # Starting on +X, counter-clockwise about +Z heads towards +Y.
    assert velocity[0, 1] > 0.0


@settings(deadline=None)
@given(lissajous_paths, durations)
def test_lissajous_stays_inside_its_amplitude_box(path: LissajousPath, duration_s: float) -> None:
    position, _ = evaluate_path(path, np.linspace(0.0, duration_s, 65), duration_s)
    assert np.all(np.abs(position - path.center_m) <= np.abs(path.amplitude_m) + 1e-12)


@settings(deadline=None)
@given(random_paths, durations)
def test_random_smooth_passes_its_knots_inside_the_box(path: RandomSmoothPath, duration_s: float) -> None:
    knots = random_smooth_knots(path)
    assert np.all(np.abs(knots - path.center_m) <= np.asarray(path.extent_m) / 2.0 + 1e-12)
    times = np.arange(path.num_knots) / (path.num_knots - 1) * duration_s
    position, _ = evaluate_path(path, times, duration_s)
    np.testing.assert_allclose(position, knots, atol=1e-9)


def test_random_smooth_depends_on_its_seed_only() -> None:
    times = np.linspace(0.0, 2.0, 17)
    first, _ = evaluate_path(RandomSmoothPath(seed=3), times, 2.0)
    again, _ = evaluate_path(RandomSmoothPath(seed=3), times, 2.0)
    other, _ = evaluate_path(RandomSmoothPath(seed=4), times, 2.0)
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, other)


def test_random_smooth_has_continuous_acceleration() -> None:
    path = RandomSmoothPath(num_knots=6, seed=11, extent_m=(3.0, 3.0, 1.0))
    duration_s, step = 2.0, 1e-4
    times = np.arange(0.0, duration_s + step / 2, step)
    position, _ = evaluate_path(path, times, duration_s)
    acceleration = np.diff(position, 2, axis=0) / step**2
    # A jump in acceleration at a knot would show as a large third difference; C2 keeps it O(step).
    jerk_step = np.max(np.abs(np.diff(acceleration, axis=0)))
    assert jerk_step < 1e-2 * max(1.0, float(np.max(np.abs(acceleration))))


def test_one_frame_clip_stays_at_the_path_start() -> None:
    position, velocity = evaluate_path(CirclePath(), np.array([0.0]), 0.0)
    np.testing.assert_allclose(position, [[1.0, 0.0, 0.5]], atol=1e-15)
    np.testing.assert_array_equal(velocity, 0.0)


# --------------------------------------------------------------------------------------- orientation


def test_fixed_orientation_is_constant() -> None:
    orientation = OrientationSpec(mode="fixed", euler_deg=(10.0, 20.0, 30.0))
    rotation = evaluate_orientation(orientation, np.zeros((5, 3)), np.linspace(0.0, 1.0, 5))
    np.testing.assert_array_equal(rotation, np.broadcast_to(rotation[0], (5, 3, 3)))


@settings(deadline=None)
@given(st.floats(-720.0, 720.0), st.floats(0.0, 3.0))
def test_spin_about_z_turns_by_rate_times_time(rate_deg_per_s: float, time_s: float) -> None:
    orientation = OrientationSpec(mode="spin", spin_deg_per_s=(0.0, 0.0, rate_deg_per_s))
    rotation = evaluate_orientation(orientation, np.zeros((1, 3)), np.array([time_s]))[0]
    turned_x = rotation @ np.array([1.0, 0.0, 0.0])
    angle = np.radians(rate_deg_per_s * time_s)
    np.testing.assert_allclose(turned_x, [np.cos(angle), np.sin(angle), 0.0], atol=1e-12)


@settings(deadline=None)
@given(st.tuples(coord, coord, st.floats(-1.0, 1.0)).filter(lambda v: np.hypot(v[0], v[1]) > 1e-3))
def test_along_velocity_points_local_x_along_travel_and_stays_upright(velocity: tuple) -> None:
    orientation = OrientationSpec(mode="along_velocity")
    rotation = evaluate_orientation(orientation, np.array([velocity]), np.zeros(1))[0]
    np.testing.assert_allclose(rotation[:, 0], np.asarray(velocity) / np.linalg.norm(velocity), atol=1e-12)
    assert rotation[2, 1] == pytest.approx(0.0, abs=1e-12)  # local Y stays horizontal: no banking
    assert rotation[2, 2] > 0.0


def test_along_velocity_keeps_last_heading_while_at_rest() -> None:
    velocity = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 2.0, 0.0]])
    rotation = evaluate_orientation(OrientationSpec(mode="along_velocity"), velocity, np.arange(4.0))
    np.testing.assert_array_equal(rotation[0], rotation[1])
    np.testing.assert_array_equal(rotation[2], rotation[1])
    np.testing.assert_allclose(rotation[3][:, 0], [0.0, 1.0, 0.0], atol=1e-12)


def test_along_velocity_applies_base_euler_in_the_object_frame() -> None:
    orientation = OrientationSpec(mode="along_velocity", euler_deg=(0.0, 0.0, 90.0))
    rotation = evaluate_orientation(orientation, np.array([[0.0, 1.0, 0.0]]), np.zeros(1))[0]
    heading = evaluate_orientation(
        OrientationSpec(mode="along_velocity"), np.array([[0.0, 1.0, 0.0]]), np.zeros(1)
    )
    np.testing.assert_allclose(
        rotation, heading[0] @ euler_xyz_to_matrix(np.radians([0.0, 0.0, 90.0])), atol=1e-12
    )


def test_linear_easing_is_already_moving_at_the_first_and_last_frame() -> None:
    path = WaypointPath(kind="linear", waypoints_m=((0.0, 0.0, 0.0), (2.0, 0.0, 0.0)))
    _, velocity = evaluate_path(path, np.array([0.0, 1.0]), 1.0)
    np.testing.assert_allclose(velocity, [[2.0, 0.0, 0.0], [2.0, 0.0, 0.0]], atol=1e-15)


def test_velocity_is_zero_outside_the_clip() -> None:
    position, velocity = evaluate_path(CirclePath(), np.array([-0.5, 2.5]), 2.0)
    inside, _ = evaluate_path(CirclePath(), np.array([0.0, 2.0]), 2.0)
    np.testing.assert_array_equal(position, inside)
    np.testing.assert_array_equal(velocity, 0.0)


@settings(deadline=None)
@given(waypoint_paths, durations)
def test_waypoint_path_starts_and_ends_exactly_on_its_end_waypoints(
    path: WaypointPath, duration_s: float
) -> None:
    position, _ = evaluate_path(path, np.array([0.0, duration_s]), duration_s)
    np.testing.assert_array_equal(position, np.asarray(path.waypoints_m)[[0, -1]])
