"""Procedural music: determinism, exact length, stems, onsets on their samples, mix levels, user loops."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st

from synthgen.audio import beat_grid, synthesize
from synthgen.audio.patterns import STREAM_PATTERNS, STREAM_VOICES, Events, arrange, stream
from synthgen.audio.synth import DRUM_VOICES, PEAK_CEILING, TARGET_RMS, onset_samples, render_stem
from synthgen.describe.spec import AudioSpec, ClipSpec, audio_num_samples
from synthgen.errors import ConfigError
from tests.conftest import clip_settings, render_spec

CLIP = clip_settings(width=64, height=64, num_frames=49, fps=24.0)
ALL_INSTRUMENTS = ("kick", "snare", "hat_closed", "hat_open", "clap", "bass", "pad")


def make_spec(**audio: object) -> ClipSpec:
    return ClipSpec(
        dataset_seed=0, clip_index=0, scene="test", clip=CLIP, audio=AudioSpec(**audio), render=render_spec()
    )


def test_same_spec_gives_identical_samples() -> None:
    spec = make_spec(seed=7, swing=0.2, instruments=ALL_INSTRUMENTS)
    assert synthesize(spec).samples.tobytes() == synthesize(spec).samples.tobytes()


def test_different_seeds_give_different_music() -> None:
    first = synthesize(make_spec(seed=1)).samples
    second = synthesize(make_spec(seed=2)).samples
    assert not np.array_equal(first, second)


@pytest.mark.parametrize(("fps", "rate"), [(24.0, 48000), (25.0, 16000), (30.0, 44100)])
def test_length_is_frames_over_fps_times_sample_rate(fps: float, rate: int) -> None:
    clip = clip_settings(width=64, height=64, num_frames=49, fps=fps)
    spec = ClipSpec(
        dataset_seed=0,
        clip_index=0,
        scene="test",
        clip=clip,
        audio=AudioSpec(sample_rate=rate),
        render=render_spec(),
    )
    audio = synthesize(spec)
    assert audio.samples.shape == (audio_num_samples(49, fps, rate),)
    assert audio.samples.dtype == np.float32


def test_stems_sum_to_the_mix() -> None:
    audio = synthesize(make_spec(instruments=ALL_INSTRUMENTS))
    assert set(audio.stems) == set(ALL_INSTRUMENTS)
    total = np.sum([stem.astype(np.float64) for stem in audio.stems.values()], axis=0)
    np.testing.assert_allclose(total, audio.samples, atol=1e-6)


@pytest.mark.parametrize("seed", [0, 3])
def test_mix_peak_stays_under_minus_one_dbfs(seed: int) -> None:
    audio = synthesize(make_spec(seed=seed, instruments=ALL_INSTRUMENTS))
    assert np.abs(audio.samples).max() <= PEAK_CEILING + 1e-6


def test_mix_rms_reaches_target_unless_peak_limited() -> None:
    audio = synthesize(make_spec(instruments=("pad",)))
    rms = float(np.sqrt(np.mean(audio.samples.astype(np.float64) ** 2)))
    peak = float(np.abs(audio.samples).max())
    assert rms == pytest.approx(TARGET_RMS, rel=1e-4) or peak == pytest.approx(PEAK_CEILING, rel=1e-4)


@settings(max_examples=25, deadline=None)
@given(name=st.sampled_from(sorted(DRUM_VOICES)), onset_pos=st.floats(0.0, 40.0), seed=st.integers(0, 2**16))
def test_drum_voice_starts_exactly_on_its_onset_sample(name: str, onset_pos: float, seed: int) -> None:
    events = Events(pos=np.array([onset_pos]), velocity=np.array([1.0]), midi=np.zeros((1, 0)))
    stem = render_stem(name, events, 24.0, 48000, 98000, np.random.default_rng(seed))
    onset = int(np.floor(onset_pos / 24.0 * 48000 + 0.5))
    assert np.all(stem[:onset] == 0.0)
    assert stem[onset] != 0.0


@pytest.mark.parametrize("name", ["kick", "snare", "clap", "hat_closed", "hat_open"])
def test_each_labelled_onset_is_heard_from_its_sample_on(name: str) -> None:
    arrangement = arrange(stream(0, STREAM_PATTERNS), (name,), 4, 0.25, 12.0, CLIP.num_frames)
    events = arrangement.events[name]
    full = render_stem(name, events, 24.0, 48000, 98000, stream(0, STREAM_VOICES))
    starts = onset_samples(events.pos, 24.0, 48000)
    for index in range(events.pos.shape[0]):
        keep = np.arange(events.pos.shape[0]) != index
        without = Events(pos=events.pos[keep], velocity=events.velocity[keep], midi=events.midi[keep])
        # Earlier events draw the same noise either way, so the stems agree until this onset's sample.
        partial = render_stem(name, without, 24.0, 48000, 98000, stream(0, STREAM_VOICES))
        difference = full - partial
        assert np.all(difference[: starts[index]] == 0.0)
        assert difference[starts[index]] != 0.0


@pytest.mark.parametrize("name", sorted(DRUM_VOICES))
def test_drum_voice_fades_to_silence_before_it_is_cut(name: str) -> None:
    events = Events(pos=np.array([0.0]), velocity=np.array([1.0]), midi=np.zeros((1, 0)))
    stem = render_stem(name, events, 24.0, 48000, 48000, stream(0, STREAM_VOICES))
    end = int(np.flatnonzero(stem)[-1])
    assert abs(stem[end]) < 1e-3 * np.abs(stem).max()


def test_adding_an_instrument_keeps_the_other_patterns() -> None:
    few = beat_grid(AudioSpec(instruments=("kick", "snare")), CLIP)
    more = beat_grid(AudioSpec(instruments=ALL_INSTRUMENTS), CLIP)
    np.testing.assert_array_equal(few.onsets_s["kick"], more.onsets_s["kick"])
    np.testing.assert_array_equal(few.onsets_s["snare"], more.onsets_s["snare"])


def test_fills_add_snare_hits_in_some_phrase_endings() -> None:
    clip = clip_settings(width=64, height=64, num_frames=385, fps=24.0)
    grid = beat_grid(AudioSpec(instruments=("snare",), seed=0), clip)
    bar_s = 4 * 60.0 / grid.bpm
    last_beat_of_phrase = ((grid.onsets_s["snare"] / bar_s) % 4.0) >= 3.75
    assert last_beat_of_phrase.sum() >= 2


def test_beat_grid_equals_the_grid_of_synthesize() -> None:
    spec = make_spec(seed=5, instruments=ALL_INSTRUMENTS)
    grid = beat_grid(spec.audio, spec.clip)  # type: ignore[arg-type]
    other = synthesize(spec).grid
    np.testing.assert_array_equal(grid.energy, other.energy)
    np.testing.assert_array_equal(grid.onsets_s["kick"], other.onsets_s["kick"])


def test_synthesize_without_audio_spec_raises_config_error() -> None:
    spec = ClipSpec(dataset_seed=0, clip_index=0, scene="test", clip=CLIP, render=render_spec())
    with pytest.raises(ConfigError, match=r"^audio=None"):
        synthesize(spec)


# ------------------------------------------------------------------------------------------ loops


def write_click_loop(folder: Path, name: str, bpm: float, beats: int, rate: int = 44100) -> None:
    """A loop with a short burst on each of its beats."""
    samples = np.zeros(round(beats * 60.0 / bpm * rate))
    burst = np.exp(-np.arange(200) / 20.0) * 0.8
    for beat in range(beats):
        start = round(beat * 60.0 / bpm * rate)
        samples[start : start + 200] = burst
    sf.write(folder / name, samples, rate)


def test_user_loop_is_stretched_onto_the_beat_grid(tmp_path: Path) -> None:
    write_click_loop(tmp_path, "clicks_100bpm.wav", bpm=100.0, beats=4)
    audio = synthesize(make_spec(bpm=120.0, instruments=("pad",), loops_dir=str(tmp_path)))
    loop = np.abs(audio.stems["loop"])
    for start in audio.grid.beat_samples:
        window = loop[max(0, start - 200) : start + 200]
        assert abs(int(np.argmax(window)) - (start - max(0, start - 200))) <= 2


def test_loop_tempo_can_come_from_a_json_sidecar(tmp_path: Path) -> None:
    write_click_loop(tmp_path, "clicks.wav", bpm=90.0, beats=4)
    (tmp_path / "clicks.json").write_text(json.dumps({"bpm": 90}))
    audio = synthesize(make_spec(instruments=("kick",), loops_dir=str(tmp_path)))
    assert np.abs(audio.stems["loop"]).max() > 0.0


def test_loop_without_tempo_names_the_file(tmp_path: Path) -> None:
    write_click_loop(tmp_path, "clicks.wav", bpm=90.0, beats=4)
    with pytest.raises(ConfigError, match=r"^audio\.loops_dir: file .*clicks\.wav.* has no tempo"):
        synthesize(make_spec(loops_dir=str(tmp_path)))


def test_unreadable_loop_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "broken_120bpm.wav").write_bytes(b"not audio at all")
    with pytest.raises(ConfigError, match=r"^audio\.loops_dir: file .*broken_120bpm\.wav.* is unreadable"):
        synthesize(make_spec(loops_dir=str(tmp_path)))


def test_missing_loops_dir_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^audio\.loops_dir=.*: not a directory"):
        synthesize(make_spec(loops_dir=str(tmp_path / "nope")))
