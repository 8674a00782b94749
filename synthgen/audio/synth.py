"""Voices synthesised from oscillators, noise and envelopes, rendered into stems and mixed.

Every voice starts on its onset sample: drum voices are non-zero on that very sample (cosine oscillators
and noise start at full amplitude), tonal voices ramp up from zero there. Times inside a voice are
``n / sample_rate`` seconds after the onset.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from synthgen.audio.patterns import Arrangement, Events

# Stem gains before normalisation: drums forward, tonal parts underneath (roughly a pop/electronic balance).
STEM_GAINS: dict[str, float] = {
    "kick": 1.0,
    "snare": 0.7,
    "hat_closed": 0.22,
    "hat_open": 0.2,
    "clap": 0.45,
    "bass": 0.35,
    "pad": 0.1,
    "loop": 0.6,
}
TARGET_RMS = 10.0 ** (-18.0 / 20.0)
PEAK_CEILING = 10.0 ** (-1.0 / 20.0)


def _times(sample_rate: int, duration_s: float) -> np.ndarray:
    return np.arange(max(1, round(duration_s * sample_rate)), dtype=np.float64) / sample_rate


def _highpassed_noise(rng: np.random.Generator, count: int) -> np.ndarray:
    noise = rng.standard_normal(count)
    # A first difference is a gentle high-pass that leaves the first sample equal to the first noise value.
    return np.diff(noise, prepend=0.0) * 0.5


def kick(sample_rate: int, velocity: float, rng: np.random.Generator) -> np.ndarray:
    """Kick drum: a cosine swept 160 -> 48 Hz with a 120 ms decay plus a 2 ms click."""
    t = _times(sample_rate, 0.35)
    freq_hz = 48.0 + 112.0 * np.exp(-t * 30.0)
    phase = 2.0 * np.pi * (np.cumsum(freq_hz) - freq_hz) / sample_rate
    body = np.cos(phase) * np.exp(-t / 0.12)
    click = np.exp(-t / 0.002)
    return velocity * (body + 0.4 * click)


def snare(sample_rate: int, velocity: float, rng: np.random.Generator) -> np.ndarray:
    """Snare drum: a 185 Hz cosine (60 ms decay) and high-passed noise (90 ms decay)."""
    t = _times(sample_rate, 0.25)
    tone = np.cos(2.0 * np.pi * 185.0 * t) * np.exp(-t / 0.06)
    rattle = _highpassed_noise(rng, t.shape[0]) * np.exp(-t / 0.09)
    return velocity * (0.5 * tone + 0.9 * rattle)


# Six detuned square-wave partials: the classic analogue metallic hi-hat source.
_HAT_PARTIALS_HZ = (205.3, 304.4, 369.6, 522.7, 540.0, 800.0)


def _hat(sample_rate: int, velocity: float, rng: np.random.Generator, decay_s: float) -> np.ndarray:
    t = _times(sample_rate, 6.0 * decay_s)
    metal = sum(np.sign(np.cos(2.0 * np.pi * 8.0 * f * t) + 1e-12) for f in _HAT_PARTIALS_HZ) / 6.0
    source = np.diff(0.5 * metal + _highpassed_noise(rng, t.shape[0]), prepend=0.0)
    return velocity * source * np.exp(-t / decay_s)


def hat_closed(sample_rate: int, velocity: float, rng: np.random.Generator) -> np.ndarray:
    """Closed hi-hat: metallic squares and noise, high-passed, 15 ms decay."""
    return _hat(sample_rate, velocity, rng, 0.015)


def hat_open(sample_rate: int, velocity: float, rng: np.random.Generator) -> np.ndarray:
    """Open hi-hat: as the closed hat with a 120 ms decay."""
    return _hat(sample_rate, velocity, rng, 0.12)


def clap(sample_rate: int, velocity: float, rng: np.random.Generator) -> np.ndarray:
    """Hand clap: three noise bursts 10 ms apart (4 ms decay each) and an 80 ms tail."""
    t = _times(sample_rate, 0.25)
    envelope = np.zeros_like(t)
    for start_s in (0.0, 0.01, 0.02):
        after = t >= start_s
        envelope[after] += np.exp(-(t[after] - start_s) / 0.004)
    tail = t >= 0.02
    envelope[tail] += 0.5 * np.exp(-(t[tail] - 0.02) / 0.08)
    return velocity * _highpassed_noise(rng, t.shape[0]) * envelope * 1.5


def midi_to_hz(note: float) -> float:
    """Equal-tempered frequency of MIDI note ``note`` (A4 = 69 = 440 Hz)."""
    return 440.0 * 2.0 ** ((note - 69.0) / 12.0)


def _note_envelope(t: np.ndarray, duration_s: float, attack_s: float, release_s: float) -> np.ndarray:
    rise = np.clip(t / attack_s, 0.0, 1.0)
    fall = np.clip((duration_s - t) / release_s, 0.0, 1.0)
    return rise * fall


def bass(sample_rate: int, velocity: float, note: float, duration_s: float) -> np.ndarray:
    """Bass note: a band-limited sawtooth (8 partials) with 3 ms attack and 20 ms release."""
    t = _times(sample_rate, duration_s)
    freq = midi_to_hz(note)
    wave = np.zeros_like(t)
    for k in range(1, 9):
        if k * freq < 0.45 * sample_rate:
            wave += np.sin(2.0 * np.pi * k * freq * t) / k
    return velocity * 0.6 * wave * _note_envelope(t, duration_s, 0.003, 0.02)


def pad(sample_rate: int, velocity: float, notes: np.ndarray, duration_s: float) -> np.ndarray:
    """Chord pad: two sines 0.3% apart and a soft octave per note, 150 ms attack, 300 ms release."""
    t = _times(sample_rate, duration_s)
    wave = np.zeros_like(t)
    for note in notes:
        freq = midi_to_hz(float(note))
        for detune in (0.9985, 1.0015):
            wave += np.sin(2.0 * np.pi * freq * detune * t)
        wave += 0.3 * np.sin(2.0 * np.pi * 2.0 * freq * t)
    return velocity * wave / max(1, len(notes)) * _note_envelope(t, duration_s, 0.15, 0.3)


DrumVoice = Callable[[int, float, np.random.Generator], np.ndarray]
DRUM_VOICES: dict[str, DrumVoice] = {
    "kick": kick,
    "snare": snare,
    "hat_closed": hat_closed,
    "hat_open": hat_open,
    "clap": clap,
}


def onset_samples(pos: np.ndarray, fps: float, sample_rate: int) -> np.ndarray:
    """(E,) int64 first sample of onsets at frame-unit positions ``pos``: ``round(pos / fps * sample_rate)``."""
    return np.floor(np.asarray(pos, dtype=np.float64) * sample_rate / fps + 0.5).astype(np.int64)


def fade_tail(wave: np.ndarray, fraction: float = 0.3) -> np.ndarray:
    """``wave`` with its last ``fraction`` faded out by a half cosine, so cutting a voice adds no click."""
    count = max(1, int(wave.shape[0] * fraction))
    fade = 0.5 + 0.5 * np.cos(np.pi * np.arange(1, count + 1) / count)
    out = wave.copy()
    out[-count:] *= fade
    return out


def _add(stem: np.ndarray, start: int, wave: np.ndarray) -> None:
    stop = min(stem.shape[0], start + wave.shape[0])
    if stop > start:
        stem[start:stop] += wave[: stop - start]


def render_stem(
    name: str,
    events: Events,
    fps: float,
    sample_rate: int,
    num_samples: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """(num_samples,) float64: every event of instrument ``name`` placed on its onset sample.

    A tonal note lasts until the next note of the same instrument (the last one until the clip ends).
    """
    stem = np.zeros(num_samples, dtype=np.float64)
    starts = onset_samples(events.pos, fps, sample_rate)
    for index, start in enumerate(starts):
        velocity = float(events.velocity[index])
        if name in DRUM_VOICES:
            # Voices are finite; an abrupt end at a few percent of the peak is an audible, detectable click.
            wave = fade_tail(DRUM_VOICES[name](sample_rate, velocity, rng))
        else:
            stop = int(starts[index + 1]) if index + 1 < starts.shape[0] else num_samples
            duration_s = max(stop - int(start), 1) / sample_rate
            if name == "bass":
                wave = bass(sample_rate, velocity, float(events.midi[index, 0]), duration_s)
            else:
                wave = pad(sample_rate, velocity, events.midi[index], duration_s)
        _add(stem, int(start), wave)
    return stem


def render_stems(
    arrangement: Arrangement, fps: float, sample_rate: int, num_samples: int, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Unmixed stems (float64, unit gain) of every instrument of ``arrangement``."""
    return {
        name: render_stem(name, events, fps, sample_rate, num_samples, rng)
        for name, events in arrangement.events.items()
    }


def mix_stems(stems: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Apply ``STEM_GAINS``, then one common gain: RMS to -18 dBFS, lowered if the peak would pass -1 dBFS.

    Returns ``(scaled stems, mix)`` as float32, with the mix the sum of the scaled stems. Loudness is plain
    RMS (no K-weighting); silence stays silent.
    """
    scaled = {name: STEM_GAINS.get(name, 0.5) * stem for name, stem in stems.items()}
    length = next(iter(stems.values())).shape[0] if stems else 0
    raw = np.zeros(length, dtype=np.float64)
    for stem in scaled.values():
        raw += stem
    rms = math.sqrt(float(np.mean(raw * raw))) if length else 0.0
    gain = TARGET_RMS / rms if rms > 0.0 else 1.0
    peak = float(np.max(np.abs(raw), initial=0.0)) * gain
    if peak > PEAK_CEILING:
        gain *= PEAK_CEILING / peak
    out = {name: (stem * gain).astype(np.float32) for name, stem in scaled.items()}
    mix = np.zeros(length, dtype=np.float64)
    for stem32 in out.values():
        mix += stem32
    return out, mix.astype(np.float32)
