"""Camera paths: the base pose from position / look-at / roll, then each move of the spec composed in order.

Each move changes the pose produced by the moves before it, frame by frame. An ``AxisMove`` (and its
orbit, zoom and crane variants) has progress ``p = ease((u - start) / (end - start))`` with ``u = t /
duration``: p = 0 (the pose before the move) up to ``start``, p = 1 (the full move) from ``end`` on, and
for 'smooth' easing zero velocity and bounded acceleration at both ends. Handheld shake is a band-limited,
zero-mean, seeded sum of sinusoids applied in the camera's own frame. Signs are in docs/conventions.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from synthgen.describe.spec import (
    AxisMove,
    CameraSpec,
    ClipSettings,
    CraneMove,
    HandheldShake,
    OrbitMove,
    ZoomMove,
)
from synthgen.errors import ConfigError
from synthgen.labels.geometry import (
    compose_pose,
    euler_xyz_to_matrix,
    intrinsics_from_blender,
    look_at_camera_to_world,
    opencv_from_blender_camera_to_world,
    rotation_between,
    rotation_matrix_x,
    rotation_matrix_z,
)
from synthgen.labels.motion import ease

# Sinusoids per shake channel: enough for an irregular look, few enough to stay cheap.
HANDHELD_COMPONENTS = 8
# Lowest shake frequency as a fraction of max_frequency_hz; slower drift reads as a camera move, not shake.
HANDHELD_MIN_FREQUENCY_FRACTION = 0.1


@dataclass(frozen=True)
class CameraLabels:
    """Per-frame camera labels (F frames), float64.

    ``camera_to_world_blender`` (F, 4, 4): Blender camera (x right, y up, looks down -z) to world.
    ``camera_from_world_cv`` (F, 4, 4): world to OpenCV camera (x right, y down, z forward).
    ``intrinsics_px`` (F, 3, 3): K in pixels, pixel (0, 0) at the top-left corner of the image.
    ``focal_length_mm`` (F,): Blender lens per frame (zoom); ``sensor_width_mm``: sensor fit horizontal.
    """

    camera_to_world_blender: np.ndarray
    camera_from_world_cv: np.ndarray
    intrinsics_px: np.ndarray
    focal_length_mm: np.ndarray
    sensor_width_mm: float


def move_progress(move: AxisMove, u: np.ndarray) -> np.ndarray:
    """Eased progress p(u) in [0, 1] of ``move`` at clip fractions ``u``: 0 before start, 1 after end."""
    return ease((np.asarray(u, dtype=np.float64) - move.start) / (move.end - move.start), move.easing)[0]


def handheld_offsets(
    move: HandheldShake, times_s: np.ndarray, duration_s: float
) -> tuple[np.ndarray, np.ndarray]:
    """Shake at ``times_s``: camera-local translation (F, 3) in metres and XYZ Euler offsets (F, 3) in radians.

    Each of the six channels is a sum of ``HANDHELD_COMPONENTS`` sinusoids with frequencies drawn in
    [0.1, 1) x ``max_frequency_hz`` (so no energy at or above it), amplitudes ~ N(0, 1) / f, uniform phases,
    all from ``numpy.random.default_rng(move.seed)``. Each channel is scaled to an RMS of
    ``translation_m`` / ``rotation_deg`` and its mean over [0, duration_s] is removed exactly.
    """
    times = np.asarray(times_s, dtype=np.float64)
    rng = np.random.default_rng(move.seed)
    shape = (6, HANDHELD_COMPONENTS)
    frequency_hz = rng.uniform(HANDHELD_MIN_FREQUENCY_FRACTION, 1.0, shape) * move.max_frequency_hz
    amplitude = rng.normal(size=shape) / frequency_hz
    phase = rng.uniform(0.0, 2.0 * np.pi, shape)
    rms = np.sqrt(0.5 * np.sum(amplitude**2, axis=1, keepdims=True))
    scale = np.array([move.translation_m] * 3 + [np.radians(move.rotation_deg)] * 3)[:, None]
    amplitude = amplitude / np.where(rms > 0.0, rms, 1.0) * scale
    omega = 2.0 * np.pi * frequency_hz
    if duration_s > 0.0:
        # Mean of sin(w t + phi) over [0, D] is (cos(phi) - cos(w D + phi)) / (w D).
        mean = np.sum(
            amplitude * (np.cos(phase) - np.cos(omega * duration_s + phase)) / (omega * duration_s), axis=1
        )
    else:
        mean = np.sum(amplitude * np.sin(phase), axis=1)
    signal = (
        np.einsum("ck,fck->fc", amplitude, np.sin(omega[None] * times[:, None, None] + phase[None])) - mean
    )
    return signal[:, :3], signal[:, 3:]


def _apply_axis_move(
    move: AxisMove,
    progress: np.ndarray,
    position: np.ndarray,
    rotation: np.ndarray,
    focal_mm: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    amount = move.amount
    if move.kind == "dolly":
        # Camera forward is its local -Z.
        position = position - (amount * progress)[:, None] * rotation[:, :, 2]
    elif move.kind == "truck":
        position = position + (amount * progress)[:, None] * rotation[:, :, 0]
    elif move.kind == "pedestal":
        position = position + (amount * progress)[:, None] * np.array([0.0, 0.0, 1.0])
    elif move.kind == "pan":
        rotation = rotation_matrix_z(np.radians(amount * progress)) @ rotation
    elif move.kind == "tilt":
        rotation = rotation @ rotation_matrix_x(np.radians(amount * progress))
    elif move.kind == "roll":
        rotation = rotation @ rotation_matrix_z(np.radians(amount * progress))
    elif isinstance(move, OrbitMove):
        center = np.asarray(move.center_m, dtype=np.float64)
        turn = rotation_matrix_z(np.radians(amount * progress))
        position = center + np.einsum("fij,fj->fi", turn, position - center)
        rotation = turn @ rotation
    elif isinstance(move, ZoomMove):
        # Geometric interpolation: equal steps in log focal length feel like an even zoom.
        focal_mm = focal_mm * amount**progress
    elif isinstance(move, CraneMove):
        target = np.asarray(move.target_m, dtype=np.float64)
        raised = position + (amount * progress)[:, None] * np.array([0.0, 0.0, 1.0])
        if np.any(np.linalg.norm(target - position, axis=-1) == 0.0) or np.any(
            np.linalg.norm(target - raised, axis=-1) == 0.0
        ):
            raise ConfigError(f"camera.moves crane: target_m={move.target_m} is on the camera path")
        rotation = rotation_between(target - position, target - raised) @ rotation
        position = raised
    else:
        raise ConfigError(f"camera.moves kind={move.kind!r}: unknown camera move")
    return position, rotation, focal_mm


def evaluate_camera_at(
    camera: CameraSpec, times_s: np.ndarray, duration_s: float, width: int, height: int
) -> CameraLabels:
    """Camera labels at arbitrary ``times_s`` (F,) of a clip lasting ``duration_s`` on a W x H image."""
    times = np.asarray(times_s, dtype=np.float64)
    if times.ndim != 1:
        raise ConfigError(f"times_s: shape {times.shape} must be (F,)")
    u = np.clip(times / duration_s, 0.0, 1.0) if duration_s > 0.0 else np.zeros_like(times)
    base = look_at_camera_to_world(camera.position_m, camera.look_at_m, camera.roll_deg)
    position = np.broadcast_to(base[:3, 3], (len(times), 3)).copy()
    rotation = np.broadcast_to(base[:3, :3], (len(times), 3, 3)).copy()
    focal_mm = np.full(len(times), camera.intrinsics.focal_length_mm, dtype=np.float64)
    for move in camera.moves:
        if isinstance(move, HandheldShake):
            translation, euler_rad = handheld_offsets(move, times, duration_s)
            position = position + np.einsum("fij,fj->fi", rotation, translation)
            rotation = rotation @ euler_xyz_to_matrix(euler_rad)
        else:
            position, rotation, focal_mm = _apply_axis_move(
                move, move_progress(move, u), position, rotation, focal_mm
            )
    camera_to_world = compose_pose(rotation, position)
    intr = camera.intrinsics
    return CameraLabels(
        camera_to_world_blender=camera_to_world,
        camera_from_world_cv=opencv_from_blender_camera_to_world(camera_to_world),
        intrinsics_px=intrinsics_from_blender(
            focal_mm, intr.sensor_width_mm, intr.shift_x, intr.shift_y, width, height
        ),
        focal_length_mm=focal_mm,
        sensor_width_mm=float(intr.sensor_width_mm),
    )


def evaluate_camera(camera: CameraSpec, clip: ClipSettings) -> CameraLabels:
    """Camera labels at every frame of ``clip`` (frame i at t = i / fps)."""
    return evaluate_camera_at(camera, clip.frame_times_s(), clip.duration_s, clip.width, clip.height)


def with_camera_offset(labels: CameraLabels, camera_local_offset: np.ndarray) -> CameraLabels:
    """Labels with ``camera_to_world = camera_to_world @ camera_local_offset`` (F, 4, 4) applied per frame."""
    offset = np.asarray(camera_local_offset, dtype=np.float64)
    frames = len(labels.focal_length_mm)
    if offset.shape != (frames, 4, 4):
        raise ConfigError(f"camera_local_offset: shape {offset.shape} must be ({frames}, 4, 4)")
    camera_to_world = labels.camera_to_world_blender @ offset
    return CameraLabels(
        camera_to_world_blender=camera_to_world,
        camera_from_world_cv=opencv_from_blender_camera_to_world(camera_to_world),
        intrinsics_px=labels.intrinsics_px,
        focal_length_mm=labels.focal_length_mm,
        sensor_width_mm=labels.sensor_width_mm,
    )
