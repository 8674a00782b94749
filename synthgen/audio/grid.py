"""The beat grid: tempo resolution (``snap_to_frames``), beat positions, per-frame phase and energy.

Positions are kept in *frame units* (``time_s * fps``) next to seconds, because frame i sits at exactly the
integer position i: when beats are snapped to frames their positions are exact integers and everything that
compares a beat with a frame (bounce contact, phase 0) is an exact comparison, free of rounding.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from synthgen.describe.spec import MAX_BPM, MIN_BPM, AudioSpec, ClipSettings, audio_num_samples
from synthgen.errors import ConfigError


@dataclass(frozen=True)
class BeatGrid:
    """Exact beat labels of one clip.

    Beat k (k = 0, 1, ...) is at ``k * 60 / bpm`` seconds; beat 0 is a downbeat at t = 0. Only beats (and
    onsets) whose nearest video frame exists are listed: position ``< num_frames - 0.5`` frames. Every
    listed onset is audible in the mix and every drum or note start in the mix is listed.
    """

    bpm: float
    """Effective tempo in beats per minute (after ``snap_to_frames``)."""
    meter: int
    """Beats per bar."""
    fps: float
    sample_rate: int
    num_frames: int
    num_samples: int
    frames_per_beat: float
    """Video frames per beat, ``60 * fps / bpm``; an integer value when snapped."""
    snapped: bool
    """True when every beat falls exactly on a video frame."""
    beat_times_s: np.ndarray
    """(B,) float64 seconds."""
    beat_frame_pos: np.ndarray
    """(B,) float64 beat positions in frame units (exact integers when snapped)."""
    beat_samples: np.ndarray
    """(B,) int64: the audio sample on which each beat's sounds start, ``round(t * sample_rate)``."""
    beat_frames: np.ndarray
    """(B,) int64: the frame of each beat (exact when snapped, else the nearest frame)."""
    bar_index: np.ndarray
    """(B,) int64: bar of each beat, ``k // meter``."""
    downbeat_times_s: np.ndarray
    """(D,) float64: times of the first beat of every bar."""
    onsets_s: dict[str, np.ndarray]
    """Per instrument: (E,) float64 onset times in seconds (swing applied)."""
    onset_frame_pos: dict[str, np.ndarray]
    """Per instrument: (E,) float64 onset positions in frame units."""
    onset_samples: dict[str, np.ndarray]
    """Per instrument: (E,) int64 first sample of each onset."""
    beat_phase: np.ndarray
    """(F,) float64 in [0, 1): fraction of the current beat elapsed at each frame."""
    energy: np.ndarray
    """(F,) float64 in [0, 1]: RMS of the mix in a one-frame window at each frame, divided by its maximum."""
    stem_energy: dict[str, np.ndarray] = field(default_factory=dict)
    """Per stem: (F,) float64 in [0, 1], the same measure on each stem, each divided by its own maximum."""

    @property
    def downbeat_frame_pos(self) -> np.ndarray:
        """(D,) float64 positions of the downbeats in frame units."""
        return self.beat_frame_pos[np.arange(self.beat_frame_pos.shape[0]) % self.meter == 0]

    def label_arrays(self) -> dict[str, np.ndarray]:
        """The grid as flat label arrays for a row's ``labels`` dict (``beat_times_s``, ``onsets_kick_s``, ...)."""
        labels: dict[str, np.ndarray] = {
            "beat_times_s": self.beat_times_s,
            "beat_samples": self.beat_samples,
            "beat_frames": self.beat_frames,
            "bar_index": self.bar_index,
            "downbeat_times_s": self.downbeat_times_s,
            "beat_phase": self.beat_phase,
            "audio_energy": self.energy,
            "bpm": np.array([self.bpm], dtype=np.float64),
        }
        for name, times in self.onsets_s.items():
            labels[f"onsets_{name}_s"] = times
        return labels


def check_sample_count(clip: ClipSettings, sample_rate: int) -> int:
    """Samples in the clip's audio, ``num_frames / fps * sample_rate``; ConfigError if not an integer."""
    count = audio_num_samples(clip.num_frames, clip.fps, sample_rate)
    if count is None:
        raise ConfigError(
            f"audio.sample_rate={sample_rate}: num_frames/fps*sample_rate = {clip.num_frames}/{clip.fps}*"
            f"{sample_rate} is not an integer; pick a sample rate that is a multiple of fps"
        )
    return count


def snapped_bpm(requested_bpm: float, fps: float) -> tuple[float, int]:
    """The tempo nearest ``requested_bpm`` in [30, 300] with an integer number of frames per beat at ``fps``.

    Returns ``(bpm, frames_per_beat)`` with ``bpm = 60 * fps / frames_per_beat``. Ties go to the slower
    tempo. Raises ConfigError naming ``audio.snap_to_frames`` when no tempo in range works.
    """
    check_bpm(requested_bpm)
    low = max(1, math.ceil(60.0 * fps / MAX_BPM - 1e-9))
    high = math.floor(60.0 * fps / MIN_BPM + 1e-9)
    if low > high:
        raise ConfigError(
            f"audio.snap_to_frames=True: no tempo in [{MIN_BPM:g}, {MAX_BPM:g}] bpm puts every beat on a "
            f"frame at fps={fps} (needs 60*fps/bpm to be an integer)"
        )
    ideal = 60.0 * fps / requested_bpm
    candidates = {min(max(n, low), high) for n in (math.floor(ideal), math.ceil(ideal))}
    best = min(candidates, key=lambda n: (abs(60.0 * fps / n - requested_bpm), -n))
    return 60.0 * fps / best, best


def check_bpm(bpm: float) -> None:
    """ConfigError unless ``bpm`` is finite and within [30, 300]."""
    if not math.isfinite(bpm) or not MIN_BPM <= bpm <= MAX_BPM:
        raise ConfigError(f"audio.bpm={bpm!r}: must be within [{MIN_BPM:g}, {MAX_BPM:g}] beats per minute")


def resolve_tempo(audio: AudioSpec, clip: ClipSettings) -> tuple[float, float, bool]:
    """``(bpm, frames_per_beat, snapped)``: the effective tempo of a clip after ``snap_to_frames``."""
    if audio.snap_to_frames:
        bpm, frames = snapped_bpm(audio.bpm, clip.fps)
        return bpm, float(frames), True
    check_bpm(audio.bpm)
    frames_per_beat = 60.0 * clip.fps / audio.bpm
    return audio.bpm, frames_per_beat, float(frames_per_beat).is_integer()


def beat_positions(frames_per_beat: float, num_frames: int) -> np.ndarray:
    """(B,) float64 beat positions ``k * frames_per_beat`` in frame units that lie before ``num_frames - 0.5``."""
    count = math.ceil((num_frames - 0.5) / frames_per_beat)
    positions = np.arange(count, dtype=np.float64) * frames_per_beat
    return positions[positions < num_frames - 0.5]


def beat_phase(frames_per_beat: float, num_frames: int) -> np.ndarray:
    """(F,) float64 in [0, 1): fraction of the beat elapsed at each frame; exactly 0 on snapped beats."""
    frames = np.arange(num_frames, dtype=np.float64)
    if float(frames_per_beat).is_integer():
        # Integer arithmetic keeps phase exactly 0 on beat frames.
        return (np.arange(num_frames) % int(frames_per_beat)) / frames_per_beat
    beats = frames / frames_per_beat
    phase = beats - np.floor(beats)
    return np.where(phase >= 1.0, 0.0, phase)


def frame_rms(samples: np.ndarray, sample_rate: int, fps: float, num_frames: int) -> np.ndarray:
    """(F,) float64 RMS of ``samples`` in a window one frame long centred on each frame time."""
    samples = np.asarray(samples, dtype=np.float64)
    half = 0.5 * sample_rate / fps
    centres = np.arange(num_frames, dtype=np.float64) * sample_rate / fps
    starts = np.clip(np.round(centres - half).astype(np.int64), 0, samples.shape[0])
    stops = np.clip(np.round(centres + half).astype(np.int64), 0, samples.shape[0])
    cumulative = np.concatenate([[0.0], np.cumsum(samples * samples)])
    lengths = np.maximum(stops - starts, 1)
    power = np.maximum(cumulative[stops] - cumulative[starts], 0.0) / lengths
    return np.sqrt(power)


def normalised_energy(samples: np.ndarray, sample_rate: int, fps: float, num_frames: int) -> np.ndarray:
    """(F,) float64 in [0, 1]: ``frame_rms`` divided by its maximum (all zeros for silence)."""
    rms = frame_rms(samples, sample_rate, fps, num_frames)
    peak = float(rms.max(initial=0.0))
    return rms / peak if peak > 0.0 else np.zeros_like(rms)
