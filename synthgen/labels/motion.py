"""Object paths and orientations as exact functions of time (float64 numpy).

Every path is a function of the clip fraction ``u = t / duration_s`` in [0, 1] (times outside the clip are
clamped to it). Positions are in metres in the world frame; velocities are the exact time derivative of the
path in metres per second. See docs/conventions.md for each path kind's formula.
"""

from __future__ import annotations

import numpy as np

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

# --------------------------------------------------------------------------------------------- easing


def smootherstep(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Quintic smootherstep ``6x^5 - 15x^4 + 10x^3`` of x clamped to [0, 1], and its derivative.

    Zero first and second derivative at 0 and 1, so an eased move starts and stops at rest with bounded
    acceleration (max |s''| = 10 / sqrt(3)).
    """
    x = np.clip(np.asarray(x, dtype=np.float64), 0.0, 1.0)
    value = x * x * x * (x * (6.0 * x - 15.0) + 10.0)
    slope = 30.0 * x * x * (x - 1.0) * (x - 1.0)
    return value, slope


def ease(x: np.ndarray, easing: str) -> tuple[np.ndarray, np.ndarray]:
    """Eased progress and its derivative for x clamped to [0, 1]; ``easing`` is 'linear' or 'smooth'."""
    if easing == "smooth":
        return smootherstep(x)
    if easing == "linear":
        raw = np.asarray(x, dtype=np.float64)
        # One-sided slope 1 at the ends: a linear move is already moving at its first and last instant.
        inside = (raw >= 0.0) & (raw <= 1.0)
        return np.clip(raw, 0.0, 1.0), np.where(inside, 1.0, 0.0)
    raise ConfigError(f"easing={easing!r}: must be 'linear' or 'smooth'")


def inverse_ease(progress: np.ndarray, easing: str) -> np.ndarray:
    """x in [0, 1] with ``ease(x)[0] == progress`` (bisection to float64 resolution for 'smooth')."""
    target = np.clip(np.asarray(progress, dtype=np.float64), 0.0, 1.0)
    if easing == "linear":
        return target
    low, high = np.zeros_like(target), np.ones_like(target)
    for _ in range(64):
        mid = 0.5 * (low + high)
        below = smootherstep(mid)[0] < target
        low = np.where(below, mid, low)
        high = np.where(below, high, mid)
    return np.where(target == 1.0, 1.0, high)


# ------------------------------------------------------------------------------------------- paths


def _clip_fraction(times_s: np.ndarray, duration_s: float) -> tuple[np.ndarray, np.ndarray]:
    """u = t / duration clamped to [0, 1] and du/dt per time (0 outside the clip and for a one-frame clip)."""
    times = np.asarray(times_s, dtype=np.float64)
    if times.ndim != 1:
        raise ConfigError(f"times_s: shape {times.shape} must be (F,)")
    if duration_s < 0.0 or not np.isfinite(duration_s):
        raise ConfigError(f"duration_s={duration_s}: must be finite and >= 0")
    if duration_s == 0.0:
        return np.zeros_like(times), np.zeros_like(times)
    inside = (times >= 0.0) & (times <= duration_s)
    return np.clip(times / duration_s, 0.0, 1.0), np.where(inside, 1.0 / duration_s, 0.0)


def _points(values: tuple[tuple[float, float, float], ...]) -> np.ndarray:
    return np.asarray(values, dtype=np.float64).reshape(-1, 3)


def _polyline(points: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Piecewise linear through ``points`` at s = i / (n - 1); position and d/ds."""
    segments = len(points) - 1
    x = s * segments
    index = np.clip(np.floor(x).astype(np.int64), 0, segments - 1)
    local = (x - index)[:, None]
    delta = points[index + 1] - points[index]
    return points[index] + local * delta, segments * delta


_MIN_KNOT_GAP = 1e-9


def _centripetal_knots(p0: np.ndarray, p1: np.ndarray) -> np.ndarray:
    gap = np.sqrt(np.linalg.norm(p1 - p0, axis=-1))
    # A zero gap (repeated waypoint) would divide by zero; a tiny floor keeps the limit (the spline stops
    # at the repeated point) and stays resolvable next to knot values of order 1..1e3.
    return np.maximum(gap, _MIN_KNOT_GAP)


def _lerp_with_derivative(
    a: np.ndarray,
    da: np.ndarray,
    b: np.ndarray,
    db: np.ndarray,
    t: np.ndarray,
    t_a: np.ndarray,
    t_b: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    span = (t_b - t_a)[:, None]
    w = (t - t_a)[:, None] / span
    value = a + w * (b - a)
    derivative = (b - a) / span + da + w * (db - da)
    return value, derivative


def _catmull_rom(points: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centripetal Catmull-Rom (alpha = 1/2) through ``points`` at s = i / (n - 1); position and d/ds.

    End tangents come from mirrored phantom points ``2 P0 - P1`` and ``2 P_{n-1} - P_{n-2}``.
    """
    n = len(points)
    padded = np.concatenate([2.0 * points[:1] - points[1:2], points, 2.0 * points[-1:] - points[-2:-1]])
    segments = n - 1
    x = s * segments
    index = np.clip(np.floor(x).astype(np.int64), 0, segments - 1)
    local = x - index
    p0, p1, p2, p3 = padded[index], padded[index + 1], padded[index + 2], padded[index + 3]
    zero = np.zeros(len(s))
    t0 = zero
    t1 = t0 + _centripetal_knots(p0, p1)
    t2 = t1 + _centripetal_knots(p1, p2)
    t3 = t2 + _centripetal_knots(p2, p3)
    t = t1 + local * (t2 - t1)
    still = np.zeros_like(p0)
    # Barry-Goldman pyramid carried with its derivative d/dt.
    a1, da1 = _lerp_with_derivative(p0, still, p1, still, t, t0, t1)
    a2, da2 = _lerp_with_derivative(p1, still, p2, still, t, t1, t2)
    a3, da3 = _lerp_with_derivative(p2, still, p3, still, t, t2, t3)
    b1, db1 = _lerp_with_derivative(a1, da1, a2, da2, t, t0, t2)
    b2, db2 = _lerp_with_derivative(a2, da2, a3, da3, t, t1, t3)
    c, dc = _lerp_with_derivative(b1, db1, b2, db2, t, t1, t2)
    degenerate = np.all(p1 == p2, axis=-1)
    c = np.where(degenerate[:, None], p1, c)
    # Exactly at a waypoint the pyramid returns it only up to rounding; return the waypoint itself.
    c = np.where((local == 0.0)[:, None], p1, c)
    dc_ds = dc * ((t2 - t1) * segments)[:, None]
    dc_ds = np.where(degenerate[:, None], 0.0, dc_ds)
    return c, dc_ds


def _bezier(points: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One Bezier curve with ``points`` as control points (de Casteljau); position and d/ds."""
    level = np.broadcast_to(points, (len(s), *points.shape)).copy()
    w = s[:, None, None]
    while level.shape[1] > 2:
        level = level[:, :-1] + w * (level[:, 1:] - level[:, :-1])
    first, second = level[:, 0], level[:, 1]
    degree = len(points) - 1
    return first + s[:, None] * (second - first), degree * (second - first)


def _natural_cubic_spline(knots: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """C2 natural cubic spline through ``knots`` at s = k / (K - 1); position and d/ds."""
    count = len(knots)
    if count == 2:
        return _polyline(knots, s)
    h = 1.0 / (count - 1)
    system = np.zeros((count - 2, count - 2))
    np.fill_diagonal(system, 4.0)
    np.fill_diagonal(system[1:], 1.0)
    np.fill_diagonal(system[:, 1:], 1.0)
    rhs = 6.0 / (h * h) * (knots[2:] - 2.0 * knots[1:-1] + knots[:-2])
    moments = np.zeros_like(knots)
    moments[1:-1] = np.linalg.solve(system, rhs)
    x = s * (count - 1)
    index = np.clip(np.floor(x).astype(np.int64), 0, count - 2)
    b = (x - index)[:, None]
    a = 1.0 - b
    y0, y1 = knots[index], knots[index + 1]
    m0, m1 = moments[index], moments[index + 1]
    value = a * y0 + b * y1 + ((a**3 - a) * m0 + (b**3 - b) * m1) * (h * h / 6.0)
    slope = (y1 - y0) / h - (3.0 * a * a - 1.0) / 6.0 * h * m0 + (3.0 * b * b - 1.0) / 6.0 * h * m1
    return value, slope


def random_smooth_knots(path: RandomSmoothPath) -> np.ndarray:
    """The (num_knots, 3) seeded knots of a random_smooth path: uniform in the box center ± extent / 2."""
    rng = np.random.default_rng(path.seed)
    unit = rng.random((path.num_knots, 3))
    return np.asarray(path.center_m) + (unit - 0.5) * np.asarray(path.extent_m)


def circle_basis(axis: tuple[float, float, float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Orthonormal (e1, e2, n) of a circle's plane: n = axis / |axis|, e1 = world X (or Y) projected, e2 = n x e1.

    For the default axis +Z this is (X, Y, Z): phase 0 on +X, positive turns counter-clockwise seen from +Z.
    """
    normal = np.asarray(axis, dtype=np.float64)
    length = float(np.linalg.norm(normal))
    if length == 0.0:
        raise ConfigError(f"path.axis={axis}: must have non-zero length")
    normal = normal / length
    reference = np.array([1.0, 0.0, 0.0]) if abs(normal[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    e1 = reference - np.dot(reference, normal) * normal
    e1 /= np.linalg.norm(e1)
    return e1, np.cross(normal, e1), normal


def _piecewise_schedule(path: PiecewisePath, duration_s: float, fps: float | None) -> np.ndarray:
    """(n, 2) arrival and departure times (s) at each waypoint of a piecewise path."""
    count = len(path.waypoints_m)
    holds = np.asarray(path.hold_frames or (0,) * count, dtype=np.float64)
    if np.any(holds > 0) and fps is None:
        raise ConfigError("path.hold_frames: needs the clip's fps to convert hold frames to seconds")
    hold_s = holds / fps if fps else np.zeros(count)
    moving_s = duration_s - float(hold_s.sum())
    if duration_s > 0.0 and moving_s <= 0.0:
        raise ConfigError(
            f"path.hold_frames={path.hold_frames}: holds total {hold_s.sum():.6g} s but the clip lasts "
            f"{duration_s:.6g} s; holds must leave time to move"
        )
    segment_s = max(moving_s, 0.0) / (count - 1)
    schedule = np.zeros((count, 2))
    clock = 0.0
    for i in range(count):
        schedule[i] = (clock, clock + hold_s[i])
        clock = schedule[i, 1] + segment_s
    return schedule


def _piecewise(
    path: PiecewisePath, times_s: np.ndarray, duration_s: float, fps: float | None
) -> tuple[np.ndarray, np.ndarray]:
    points = _points(path.waypoints_m)
    schedule = _piecewise_schedule(path, duration_s, fps)
    times = np.clip(times_s, 0.0, duration_s)
    position = np.broadcast_to(points[0], (len(times), 3)).copy()
    velocity = np.zeros((len(times), 3))
    for i in range(len(points) - 1):
        depart, arrive = schedule[i, 1], schedule[i + 1, 0]
        moving = (times >= depart) & (times < arrive)
        if arrive > depart and np.any(moving):
            progress, slope = ease((times[moving] - depart) / (arrive - depart), path.easing)
            delta = points[i + 1] - points[i]
            position[moving] = points[i] + progress[:, None] * delta
            velocity[moving] = slope[:, None] * delta / (arrive - depart)
        resting = (times >= arrive) & (times <= (schedule[i + 1, 1] if i + 1 < len(points) - 1 else np.inf))
        position[resting] = points[i + 1]
        velocity[resting] = 0.0
    return position, velocity


def waypoint_times_s(path: Trajectory, duration_s: float, fps: float | None = None) -> np.ndarray:
    """Times (s) at which the path is exactly at each of its waypoints.

    linear / catmull_rom: waypoint i at eased progress i / (n - 1) (even spacing in time for 'linear'
    easing); bezier: only the first and last (at 0 and duration); piecewise: arrival at each waypoint (it
    stays there for its hold). Other kinds have no waypoints (empty array).
    """
    if isinstance(path, WaypointPath):
        count = len(path.waypoints_m)
        progress = np.arange(count, dtype=np.float64) / (count - 1)
        if path.kind == "bezier":
            progress = np.array([0.0, 1.0])
        return inverse_ease(progress, path.easing) * duration_s
    if isinstance(path, PiecewisePath):
        return _piecewise_schedule(path, duration_s, fps)[:, 0].copy()
    return np.zeros(0)


def evaluate_path(
    path: Trajectory, times_s: np.ndarray, duration_s: float, fps: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Position (F, 3) in metres and velocity (F, 3) in m/s of ``path`` at ``times_s`` (F,).

    ``duration_s`` is the clip duration, (num_frames - 1) / fps; ``fps`` is needed only for piecewise paths
    with holds (given in frames). Velocities are exact derivatives (one-sided at waypoint corners: the
    outgoing segment's). A one-frame clip (duration 0) stays at the path's start with zero velocity.
    """
    times = np.asarray(times_s, dtype=np.float64)
    u, du_dt = _clip_fraction(times, duration_s)
    frames = len(u)
    if isinstance(path, StaticPath):
        return np.broadcast_to(np.asarray(path.position_m, dtype=np.float64), (frames, 3)).copy(), np.zeros(
            (frames, 3)
        )
    if isinstance(path, WaypointPath):
        s, ds_du = ease(u, path.easing)
        points = _points(path.waypoints_m)
        curve = {"linear": _polyline, "catmull_rom": _catmull_rom, "bezier": _bezier}[path.kind]
        position, dp_ds = curve(points, s)
        # a + 1 * (b - a) can miss b by an ulp; the last waypoint is a keyframe and must be exact.
        position[s == 1.0] = points[-1]
        return position, dp_ds * (ds_du * du_dt)[:, None]
    if isinstance(path, PiecewisePath):
        if duration_s == 0.0:
            return np.broadcast_to(_points(path.waypoints_m)[0], (frames, 3)).copy(), np.zeros((frames, 3))
        return _piecewise(path, times, duration_s, fps)
    if isinstance(path, CirclePath):
        e1, e2, _ = circle_basis(path.axis)
        angle = np.radians(path.phase_deg) + 2.0 * np.pi * path.turns * u
        rate = (2.0 * np.pi * path.turns * du_dt)[:, None]
        cos, sin = np.cos(angle)[:, None], np.sin(angle)[:, None]
        position = np.asarray(path.center_m) + path.radius_m * (cos * e1 + sin * e2)
        velocity = path.radius_m * rate * (-sin * e1 + cos * e2)
        return position, velocity
    if isinstance(path, LissajousPath):
        amplitude, frequency = np.asarray(path.amplitude_m), np.asarray(path.frequency)
        angle = 2.0 * np.pi * frequency * u[:, None] + np.radians(np.asarray(path.phase_deg))
        position = np.asarray(path.center_m) + amplitude * np.sin(angle)
        velocity = amplitude * 2.0 * np.pi * frequency * du_dt[:, None] * np.cos(angle)
        return position, velocity
    if isinstance(path, RandomSmoothPath):
        position, dp_du = _natural_cubic_spline(random_smooth_knots(path), u)
        return position, dp_du * du_dt[:, None]
    raise ConfigError(f"path.kind={getattr(path, 'kind', path)!r}: unknown path kind")


# ------------------------------------------------------------------------------------- orientation


def _heading_rotations(velocity: np.ndarray) -> np.ndarray:
    """Rotations whose local +X is along ``velocity`` with local +Z as close to world +Z as possible.

    Frames without a usable heading (at rest, or moving straight up/down) keep the previous frame's
    rotation; leading ones take the first usable frame's; with none at all, identity.
    """
    frames = len(velocity)
    speed = np.linalg.norm(velocity, axis=-1)
    forward = velocity / np.where(speed > 0.0, speed, 1.0)[:, None]
    side = np.cross(np.array([0.0, 0.0, 1.0]), forward)
    side_norm = np.linalg.norm(side, axis=-1)
    usable = (speed > 1e-9) & (side_norm > 1e-9)
    rotation = np.broadcast_to(np.eye(3), (frames, 3, 3)).copy()
    if not np.any(usable):
        return rotation
    side = side / np.where(side_norm > 0.0, side_norm, 1.0)[:, None]
    up = np.cross(forward, side)
    rotation[usable] = np.stack([forward, side, up], axis=-1)[usable]
    source = np.where(usable, np.arange(frames), -1)
    source = np.maximum.accumulate(source)
    source = np.where(source < 0, int(np.argmax(usable)), source)
    return rotation[source]


def evaluate_orientation(
    orientation: OrientationSpec, velocity_m_per_s: np.ndarray, times_s: np.ndarray
) -> np.ndarray:
    """Object rotation (F, 3, 3) (local to world) at ``times_s`` (F,).

    fixed: ``euler(euler_deg)``; spin: ``euler(euler_deg + spin_deg_per_s * t)`` (Blender XYZ Euler,
    angles growing linearly, as keyframed Euler rotation does); along_velocity: a heading rotation whose
    local +X points along the velocity and local +Z stays upright, applied after the base Euler rotation
    (``heading @ euler(euler_deg)``).
    """
    times = np.asarray(times_s, dtype=np.float64)
    base_rad = np.radians(np.asarray(orientation.euler_deg, dtype=np.float64))
    if orientation.mode == "fixed":
        return np.broadcast_to(euler_xyz_to_matrix(base_rad), (len(times), 3, 3)).copy()
    if orientation.mode == "spin":
        spin_rad = np.radians(np.asarray(orientation.spin_deg_per_s, dtype=np.float64))
        return euler_xyz_to_matrix(base_rad + times[:, None] * spin_rad)
    if orientation.mode == "along_velocity":
        velocity = np.asarray(velocity_m_per_s, dtype=np.float64)
        if velocity.shape != (len(times), 3):
            raise ConfigError(f"velocity_m_per_s: shape {velocity.shape} must be ({len(times)}, 3)")
        return _heading_rotations(velocity) @ euler_xyz_to_matrix(base_rad)
    raise ConfigError(f"orientation.mode={orientation.mode!r}: must be fixed, spin or along_velocity")
