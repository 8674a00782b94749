"""Beat grid: tempo snapping, beat/onset labels, swing, phase, energy and one-line errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synthgen.audio import beat_grid, snapped_bpm
from synthgen.describe.spec import AudioSpec
from synthgen.errors import ConfigError
from tests.conftest import clip_settings

CLIP = clip_settings(width=64, height=64, num_frames=49, fps=24.0)
FPS_VALUES = st.sampled_from([1.0, 8.0, 12.0, 15.0, 23.976, 24.0, 25.0, 29.97, 30.0, 48.0, 50.0, 60.0, 120.0])


@settings(max_examples=60, deadline=None)
@given(bpm=st.floats(30.0, 300.0), fps=FPS_VALUES)
def test_snapped_tempo_has_whole_frames_per_beat_within_range(bpm: float, fps: float) -> None:
    snapped, frames = snapped_bpm(bpm, fps)
    assert 30.0 - 1e-9 <= snapped <= 300.0 + 1e-9
    assert math.isclose(60.0 * fps / snapped, frames, rel_tol=1e-12)


@settings(max_examples=60, deadline=None)
@given(bpm=st.floats(30.0, 300.0), fps=FPS_VALUES)
def test_snapped_tempo_is_the_nearest_valid_one(bpm: float, fps: float) -> None:
    snapped, _ = snapped_bpm(bpm, fps)
    valid = [60.0 * fps / n for n in range(1, 10_000) if 30.0 <= 60.0 * fps / n <= 300.0]
    assert abs(snapped - bpm) <= min(abs(v - bpm) for v in valid) + 1e-9


def test_snap_keeps_120_bpm_at_24_fps_as_12_frames_per_beat() -> None:
    assert snapped_bpm(120.0, 24.0) == (120.0, 12)


def test_snap_without_any_valid_tempo_names_snap_to_frames() -> None:
    slow = clip_settings(width=64, height=64, num_frames=9, fps=0.25)
    with pytest.raises(ConfigError, match=r"^audio\.snap_to_frames=True: no tempo") as info:
        beat_grid(AudioSpec(snap_to_frames=True), slow)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("bpm", [0.0, -10.0, 5000.0, float("nan")])
def test_absurd_bpm_raises_config_error_naming_audio_bpm(bpm: float) -> None:
    audio = AudioSpec.model_construct(**{**AudioSpec().model_dump(), "bpm": bpm})
    with pytest.raises(ConfigError, match=r"^audio\.bpm="):
        beat_grid(audio, CLIP)


def test_non_integer_sample_count_names_sample_rate() -> None:
    clip = clip_settings(width=64, height=64, num_frames=9, fps=24.0)
    with pytest.raises(ConfigError, match=r"^audio\.sample_rate=44100: .* not an integer"):
        beat_grid(AudioSpec(sample_rate=44100), clip)


@pytest.mark.parametrize("bpm", [90.0, 120.0, 133.0, 171.0])
def test_snapped_beats_sit_exactly_on_frames(bpm: float) -> None:
    grid = beat_grid(AudioSpec(bpm=bpm, snap_to_frames=True), CLIP)
    assert grid.snapped
    np.testing.assert_array_equal(grid.beat_frame_pos, grid.beat_frames.astype(np.float64))
    np.testing.assert_array_equal(np.diff(grid.beat_frames), grid.frames_per_beat)


@pytest.mark.parametrize("bpm", [90.0, 120.0, 133.0])
def test_beat_phase_is_zero_exactly_on_beat_frames_only(bpm: float) -> None:
    grid = beat_grid(AudioSpec(bpm=bpm, snap_to_frames=True), CLIP)
    np.testing.assert_array_equal(np.flatnonzero(grid.beat_phase == 0.0), grid.beat_frames)


@pytest.mark.parametrize("snap", [True, False])
def test_beat_phase_lies_in_unit_interval(snap: bool) -> None:
    grid = beat_grid(AudioSpec(bpm=97.0, snap_to_frames=snap), CLIP)
    assert np.all((grid.beat_phase >= 0.0) & (grid.beat_phase < 1.0))


def test_beat_times_follow_the_tempo() -> None:
    grid = beat_grid(AudioSpec(bpm=97.0), CLIP)
    np.testing.assert_allclose(grid.beat_times_s, np.arange(grid.beat_times_s.shape[0]) * 60.0 / 97.0)


def test_beat_samples_are_the_rounded_beat_times() -> None:
    grid = beat_grid(AudioSpec(bpm=97.0), CLIP)
    np.testing.assert_array_equal(grid.beat_samples, np.round(grid.beat_times_s * grid.sample_rate))


def test_unsnapped_beat_frames_are_the_nearest_frames() -> None:
    grid = beat_grid(AudioSpec(bpm=97.0), CLIP)
    assert np.all(np.abs(grid.beat_frames - grid.beat_times_s * CLIP.fps) <= 0.5)


def test_grid_lists_every_beat_with_a_frame_and_no_other() -> None:
    grid = beat_grid(AudioSpec(bpm=97.0), CLIP)
    next_beat_pos = grid.beat_frame_pos.shape[0] * grid.frames_per_beat
    assert grid.beat_frames.max() <= CLIP.num_frames - 1
    assert next_beat_pos >= CLIP.num_frames - 0.5


@pytest.mark.parametrize("meter", [3, 4, 7])
def test_downbeats_are_every_meter_th_beat(meter: int) -> None:
    grid = beat_grid(AudioSpec(bpm=200.0, meter=meter), CLIP)
    np.testing.assert_array_equal(grid.downbeat_times_s, grid.beat_times_s[::meter])
    np.testing.assert_array_equal(grid.bar_index, np.arange(grid.beat_times_s.shape[0]) // meter)


def test_swing_delays_off_beat_eighths_by_a_fraction_of_an_eighth() -> None:
    straight = beat_grid(AudioSpec(bpm=120.0, swing=0.0, instruments=("hat_closed",)), CLIP)
    swung = beat_grid(AudioSpec(bpm=120.0, swing=0.3, instruments=("hat_closed",)), CLIP)
    beat_s, limit_s = 0.5, (CLIP.num_frames - 0.5) / CLIP.fps

    def off_beats(times: np.ndarray) -> np.ndarray:
        return times[(times / beat_s) % 1.0 > 0.25]

    expected = off_beats(straight.onsets_s["hat_closed"]) + 0.3 * beat_s / 2.0
    np.testing.assert_allclose(off_beats(swung.onsets_s["hat_closed"]), expected[expected < limit_s])


def test_swing_leaves_beats_and_on_beat_onsets_in_place() -> None:
    straight = beat_grid(AudioSpec(bpm=120.0, swing=0.0), CLIP)
    swung = beat_grid(AudioSpec(bpm=120.0, swing=0.5), CLIP)
    np.testing.assert_array_equal(swung.beat_times_s, straight.beat_times_s)
    beat_s = 60.0 / 120.0
    for name, times in swung.onsets_s.items():
        on_beat = np.isclose(times / beat_s, np.round(times / beat_s))
        assert set(times[on_beat]) <= set(straight.onsets_s[name]), name


def test_onset_samples_are_the_rounded_onset_times() -> None:
    grid = beat_grid(AudioSpec(bpm=131.0, swing=0.2, instruments=("kick", "snare", "clap")), CLIP)
    for name, times in grid.onsets_s.items():
        np.testing.assert_array_equal(grid.onset_samples[name], np.round(times * grid.sample_rate), name)


def test_energy_is_normalised_to_unit_peak() -> None:
    grid = beat_grid(AudioSpec(), CLIP)
    assert grid.energy.shape == (CLIP.num_frames,)
    assert grid.energy.min() >= 0.0
    assert grid.energy.max() == pytest.approx(1.0)


def test_energy_rises_across_each_kick() -> None:
    grid = beat_grid(AudioSpec(instruments=("kick",)), CLIP)
    kick_frames = np.round(grid.onsets_s["kick"] * CLIP.fps).astype(int)
    kick_frames = kick_frames[(kick_frames >= 1) & (kick_frames < CLIP.num_frames - 1)]
    assert kick_frames.size > 0
    assert np.all(grid.energy[kick_frames + 1] > grid.energy[kick_frames - 1])


def test_label_arrays_store_beat_times_under_beat_times_s() -> None:
    grid = beat_grid(AudioSpec(), CLIP)
    labels = grid.label_arrays()
    np.testing.assert_array_equal(labels["beat_times_s"], grid.beat_times_s)
    assert {f"onsets_{name}_s" for name in grid.onsets_s} <= set(labels)
