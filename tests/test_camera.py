"""Camera moves hold their keyframes, move smoothly between them and have the documented signs."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synthgen.describe.spec import (
    AxisMove,
    CameraMove,
    CameraSpec,
    CraneMove,
    HandheldShake,
    IntrinsicsSpec,
    OrbitMove,
    ZoomMove,
)
from synthgen.errors import ConfigError
from synthgen.labels.camera import CameraLabels, evaluate_camera, evaluate_camera_at, handheld_offsets
from synthgen.labels.geometry import opencv_from_blender_camera_to_world
from tests.conftest import clip_settings

POSITION = np.array([2.0, -8.0, 3.0])
LOOK_AT = np.array([0.0, 0.0, 0.5])
DURATION_S = 2.0
WIDTH, HEIGHT = 64, 64

AXIS_KINDS = ["dolly", "truck", "pedestal", "pan", "tilt", "roll"]


def _move(
    kind: str, amount: float, start: float = 0.2, end: float = 0.7, easing: str = "smooth"
) -> CameraMove:
    window = {"start": start, "end": end, "easing": easing}
    if kind == "orbit":
        return OrbitMove(amount=amount, center_m=(0.0, 0.0, 0.5), **window)
    if kind == "zoom":
        return ZoomMove(amount=abs(amount) + 0.5, **window)
    if kind == "crane":
        return CraneMove(amount=amount, target_m=tuple(LOOK_AT), **window)
    return AxisMove(kind=kind, amount=amount, **window)  # type: ignore[arg-type]


def _camera(*moves: CameraMove) -> CameraSpec:
    return CameraSpec(position_m=tuple(POSITION), look_at_m=tuple(LOOK_AT), moves=moves)


def _at(camera: CameraSpec, times_s: np.ndarray) -> CameraLabels:
    return evaluate_camera_at(camera, times_s, DURATION_S, WIDTH, HEIGHT)


def _pose_signal(labels: CameraLabels) -> np.ndarray:
    """Everything a move can change, per frame: the 3x4 pose and the focal length."""
    return np.concatenate(
        [
            labels.camera_to_world_blender[:, :3, :].reshape(len(labels.focal_length_mm), -1),
            labels.focal_length_mm[:, None],
        ],
        axis=1,
    )


ALL_KINDS = [*AXIS_KINDS, "orbit", "zoom", "crane"]
amounts = st.floats(0.5, 30.0).flatmap(lambda a: st.sampled_from([a, -a]))
windows = st.tuples(st.floats(0.0, 0.8), st.floats(0.1, 1.0)).map(lambda w: (w[0], min(1.0, w[0] + w[1])))


# --------------------------------------------------------------------------------------- keyframes


@pytest.mark.parametrize("kind", ALL_KINDS)
@settings(deadline=None, max_examples=25)
@given(amount=amounts, window=windows)
def test_move_holds_start_pose_before_start_and_end_pose_after_end(
    kind: str, amount: float, window: tuple[float, float]
) -> None:
    start, end = window
    if kind == "crane" and amount < -2.0:
        amount = -2.0  # stay above the crane's target
    times = np.linspace(0.0, DURATION_S, 97)
    u = times / DURATION_S
    moved = _pose_signal(_at(_camera(_move(kind, amount, start, end)), times))
    still = _pose_signal(_at(_camera(), times))
    np.testing.assert_array_equal(moved[u <= start], still[u <= start])
    after = moved[u >= end]
    np.testing.assert_array_equal(after, np.broadcast_to(after[-1], after.shape))


def _end_labels(*moves: CameraMove) -> CameraLabels:
    return _at(_camera(*moves), np.array([DURATION_S]))


def _forward(labels: CameraLabels) -> np.ndarray:
    return -labels.camera_to_world_blender[0, :3, 2]


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


BASE_FORWARD = _unit(LOOK_AT - POSITION)
BASE_RIGHT = _unit(np.cross(BASE_FORWARD, [0.0, 0.0, 1.0]))
BASE_UP = np.cross(BASE_RIGHT, BASE_FORWARD)


def test_dolly_end_pose_moves_forward_by_amount() -> None:
    end = _end_labels(_move("dolly", 1.5))
    np.testing.assert_allclose(
        end.camera_to_world_blender[0, :3, 3], POSITION + 1.5 * BASE_FORWARD, atol=1e-12
    )
    np.testing.assert_allclose(_forward(end), BASE_FORWARD, atol=1e-12)


def test_truck_end_pose_moves_right_by_amount() -> None:
    end = _end_labels(_move("truck", 2.0))
    np.testing.assert_allclose(end.camera_to_world_blender[0, :3, 3], POSITION + 2.0 * BASE_RIGHT, atol=1e-12)


def test_pedestal_end_pose_rises_along_world_z() -> None:
    end = _end_labels(_move("pedestal", 0.75))
    np.testing.assert_allclose(
        end.camera_to_world_blender[0, :3, 3], POSITION + np.array([0.0, 0.0, 0.75]), atol=1e-12
    )
    np.testing.assert_allclose(_forward(end), BASE_FORWARD, atol=1e-12)


def test_positive_pan_turns_left() -> None:
    end = _end_labels(_move("pan", 30.0))
    angle = np.radians(30.0)
    turned = np.array(
        [
            np.cos(angle) * BASE_FORWARD[0] - np.sin(angle) * BASE_FORWARD[1],
            np.sin(angle) * BASE_FORWARD[0] + np.cos(angle) * BASE_FORWARD[1],
            BASE_FORWARD[2],
        ]
    )
    np.testing.assert_allclose(_forward(end), turned, atol=1e-12)
    # Turning left: the new forward has a component along the old left (-right) direction.
    assert np.dot(_forward(end), -BASE_RIGHT) > 0.0


def test_positive_tilt_looks_up_by_amount() -> None:
    end = _end_labels(_move("tilt", 12.0))
    elevation_before = np.degrees(np.arcsin(BASE_FORWARD[2]))
    elevation_after = np.degrees(np.arcsin(_forward(end)[2]))
    assert elevation_after == pytest.approx(elevation_before + 12.0, abs=1e-9)


def test_positive_roll_turns_image_clockwise() -> None:
    end = _end_labels(_move("roll", 20.0))
    np.testing.assert_allclose(_forward(end), BASE_FORWARD, atol=1e-12)
    # The world point right of the image centre moves towards the image bottom (y down) under clockwise turn.
    point = LOOK_AT + BASE_RIGHT
    camera_from_world = end.camera_from_world_cv[0]
    in_camera = camera_from_world[:3, :3] @ point + camera_from_world[:3, 3]
    assert in_camera[1] > 0.0
    angle = np.degrees(np.arctan2(in_camera[1], in_camera[0]))
    assert angle == pytest.approx(20.0, abs=1e-9)


def test_orbit_rotates_position_about_vertical_axis_and_keeps_aim() -> None:
    end = _end_labels(_move("orbit", 90.0))
    position = end.camera_to_world_blender[0, :3, 3]
    centre = np.array([0.0, 0.0, 0.5])
    before, after = POSITION - centre, position - centre
    np.testing.assert_allclose(after, [-before[1], before[0], before[2]], atol=1e-12)
    np.testing.assert_allclose(_forward(end), _unit(LOOK_AT - position), atol=1e-12)


def test_zoom_multiplies_focal_length_and_keeps_pose() -> None:
    end = _end_labels(ZoomMove(amount=2.5))
    start = _at(_camera(), np.array([DURATION_S]))
    assert end.focal_length_mm[0] == pytest.approx(35.0 * 2.5, rel=1e-14)
    assert end.intrinsics_px[0, 0, 0] == pytest.approx(35.0 * 2.5 / 36.0 * WIDTH, rel=1e-14)
    np.testing.assert_array_equal(end.camera_to_world_blender, start.camera_to_world_blender)


def test_crane_rises_and_keeps_looking_at_target() -> None:
    end = _end_labels(_move("crane", 2.0))
    position = end.camera_to_world_blender[0, :3, 3]
    np.testing.assert_allclose(position, POSITION + np.array([0.0, 0.0, 2.0]), atol=1e-12)
    np.testing.assert_allclose(_forward(end), _unit(LOOK_AT - position), atol=1e-12)
    # Still level: image right stays horizontal, as a tilt (not a roll) re-aims the camera.
    assert end.camera_to_world_blender[0, 2, 0] == pytest.approx(0.0, abs=1e-12)


def test_crane_target_on_camera_path_is_rejected() -> None:
    camera = CameraSpec(
        position_m=(0.0, 0.0, 0.0),
        look_at_m=(0.0, 1.0, 0.0),
        moves=(CraneMove(amount=2.0, target_m=(0.0, 0.0, 1.0)),),
    )
    with pytest.raises(ConfigError, match="target_m"):
        _at(camera, np.linspace(0.0, DURATION_S, 9))


def test_moves_compose_in_listed_order() -> None:
    dolly_then_pan = _end_labels(_move("dolly", 2.0, 0.0, 0.5), _move("pan", 90.0, 0.5, 1.0))
    pan_then_dolly = _end_labels(_move("pan", 90.0, 0.0, 0.5), _move("dolly", 2.0, 0.5, 1.0))
    np.testing.assert_allclose(
        dolly_then_pan.camera_to_world_blender[0, :3, 3], POSITION + 2.0 * BASE_FORWARD, atol=1e-12
    )
    np.testing.assert_allclose(
        pan_then_dolly.camera_to_world_blender[0, :3, 3],
        POSITION + 2.0 * _forward(pan_then_dolly),
        atol=1e-12,
    )


# -------------------------------------------------------------------------------------- smoothness


def _max_second_difference_per_step_squared(camera: CameraSpec, frames: int) -> float:
    times = np.linspace(0.0, DURATION_S, frames)
    step = times[1] - times[0]
    signal = _pose_signal(_at(camera, times))
    return float(np.max(np.abs(np.diff(signal, 2, axis=0)))) / step**2


@pytest.mark.parametrize("kind", [*ALL_KINDS, "handheld"])
def test_smooth_move_has_bounded_second_difference(kind: str) -> None:
    move = (
        HandheldShake(translation_m=0.05, rotation_deg=2.0, max_frequency_hz=3.0, seed=5)
        if kind == "handheld"
        else _move(kind, 20.0 if kind in ("pan", "tilt", "roll", "orbit") else 1.5)
    )
    camera = _camera(move)
    coarse = _max_second_difference_per_step_squared(camera, 241)
    fine = _max_second_difference_per_step_squared(camera, 1921)
    # Bounded acceleration: the second difference shrinks with the step squared, so this ratio stays ~1;
    # a velocity jump (kink) would make it grow like 1 / step (about 8x here).
    assert fine <= 1.5 * coarse
    assert fine > 0.0


def test_linear_easing_is_not_smooth_at_its_keyframes() -> None:
    camera = _camera(_move("dolly", 1.5, easing="linear"))
    assert _max_second_difference_per_step_squared(
        camera, 1921
    ) > 4.0 * _max_second_difference_per_step_squared(camera, 241)


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_smooth_move_is_at_rest_at_its_start_and_end(kind: str) -> None:
    start, end = 0.2, 0.7
    camera = _camera(_move(kind, 10.0, start, end))
    step = 1e-5 * DURATION_S

    def velocity(fraction: float) -> np.ndarray:
        t = fraction * DURATION_S
        signal = _pose_signal(_at(camera, np.array([t - step, t + step])))
        return (signal[1] - signal[0]) / (2.0 * step)

    peak = np.max(np.abs(velocity((start + end) / 2.0)))
    for fraction in (start, end):
        # Smootherstep leaves the keyframe like (t - start)^3, so the central difference is O(step^2).
        np.testing.assert_allclose(velocity(fraction), 0.0, atol=1e-7 * peak)


# -------------------------------------------------------------------------------------------- shake


@settings(deadline=None, max_examples=20)
@given(st.floats(0.5, 10.0), st.integers(0, 2**32 - 1))
def test_handheld_shake_has_no_energy_above_its_max_frequency(max_frequency_hz: float, seed: int) -> None:
    move = HandheldShake(translation_m=0.02, rotation_deg=1.0, max_frequency_hz=max_frequency_hz, seed=seed)
    rate_hz, duration_s = 120.0, 40.0
    times = np.arange(0.0, duration_s, 1.0 / rate_hz)
    translation, rotation = handheld_offsets(move, times, duration_s)
    window = np.blackman(len(times))[:, None]
    for signal in (translation, rotation):
        power = np.abs(np.fft.rfft((signal - signal.mean(axis=0)) * window, axis=0)) ** 2
        frequency = np.fft.rfftfreq(len(times), 1.0 / rate_hz)
        # The Blackman window spreads a line over +-3 bins; beyond that its leakage is below -58 dB.
        above = frequency > max_frequency_hz + 4.0 / duration_s
        assert power[above].sum() <= 1e-6 * power.sum()


def _clip_mean(signal: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Trapezoid-rule mean over the sampled interval."""
    steps = np.diff(times)[:, None]
    return np.sum((signal[1:] + signal[:-1]) * 0.5 * steps, axis=0) / (times[-1] - times[0])


def test_handheld_shake_is_zero_mean_over_the_clip() -> None:
    move = HandheldShake(translation_m=0.05, rotation_deg=2.0, max_frequency_hz=2.0, seed=3)
    times = np.linspace(0.0, DURATION_S, 20001)
    translation, rotation = handheld_offsets(move, times, DURATION_S)
    np.testing.assert_allclose(_clip_mean(translation, times), 0.0, atol=1e-9)
    np.testing.assert_allclose(_clip_mean(rotation, times), 0.0, atol=1e-9)


def test_handheld_shake_scales_with_its_amplitudes() -> None:
    times = np.linspace(0.0, DURATION_S, 49)
    small = handheld_offsets(HandheldShake(translation_m=0.01, rotation_deg=0.5, seed=9), times, DURATION_S)
    large = handheld_offsets(HandheldShake(translation_m=0.03, rotation_deg=1.5, seed=9), times, DURATION_S)
    np.testing.assert_allclose(large[0], 3.0 * small[0], rtol=1e-12, atol=1e-18)
    np.testing.assert_allclose(large[1], 3.0 * small[1], rtol=1e-12, atol=1e-18)


def test_handheld_shake_depends_on_its_seed() -> None:
    times = np.linspace(0.0, DURATION_S, 49)
    first = handheld_offsets(HandheldShake(seed=1), times, DURATION_S)[0]
    again = handheld_offsets(HandheldShake(seed=1), times, DURATION_S)[0]
    other = handheld_offsets(HandheldShake(seed=2), times, DURATION_S)[0]
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, other)


# ------------------------------------------------------------------------------------------- labels


def test_camera_labels_cover_every_frame_and_agree_with_each_other() -> None:
    clip = clip_settings(width=96, height=64, num_frames=17, fps=24.0)
    camera = CameraSpec(intrinsics=IntrinsicsSpec(shift_x=0.1), moves=(ZoomMove(amount=2.0), HandheldShake()))
    labels = evaluate_camera(camera, clip)
    assert labels.camera_to_world_blender.shape == (17, 4, 4)
    np.testing.assert_allclose(
        labels.camera_from_world_cv,
        opencv_from_blender_camera_to_world(labels.camera_to_world_blender),
        atol=0.0,
    )
    np.testing.assert_allclose(labels.intrinsics_px[:, 0, 0], labels.focal_length_mm / 36.0 * 96, rtol=1e-15)
    np.testing.assert_allclose(labels.intrinsics_px[:, 0, 2], 48.0 - 0.1 * 96, rtol=1e-15)


def test_same_camera_spec_gives_bit_identical_labels() -> None:
    clip = clip_settings(width=64, height=64, num_frames=9)
    camera = CameraSpec(
        moves=(AxisMove(kind="dolly", amount=1.0), OrbitMove(amount=45.0), HandheldShake(seed=4))
    )
    first, second = evaluate_camera(camera, clip), evaluate_camera(camera, clip)
    np.testing.assert_array_equal(first.camera_to_world_blender, second.camera_to_world_blender)
    np.testing.assert_array_equal(first.intrinsics_px, second.intrinsics_px)
