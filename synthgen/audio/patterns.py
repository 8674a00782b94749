"""Seeded arrangement: per-bar drum patterns with fills and variation, a bass line and chord pads.

Every event lives on the 8th-note grid: step s of a bar is beat ``s // 2``; odd steps are the off-beat 8ths,
delayed by ``swing`` x an 8th. Positions are in frame units (``time_s * fps``) so on-beat events of a
snapped grid sit on exact integer frames.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from synthgen.audio.grid import beat_positions

DRUMS = ("kick", "snare", "hat_closed", "hat_open", "clap")
TONAL = ("bass", "pad")

# Purposes of the independent random streams derived from AudioSpec.seed: adding an instrument or a binding
# never changes the patterns of the others.
STREAM_PATTERNS = 1
STREAM_VOICES = 2
STREAM_PALETTE = 3
STREAM_LOOPS = 4

_MAJOR = (0, 2, 4, 5, 7, 9, 11)
_MINOR = (0, 2, 3, 5, 7, 8, 10)
# Scale degrees (0 = tonic) of common four-bar progressions.
_PROGRESSIONS = ((0, 4, 5, 3), (0, 3, 4, 4), (5, 3, 0, 4), (0, 5, 3, 4), (0, 3, 0, 4))
_FILL_PROBABILITY = 0.6
_GHOST_SNARE_PROBABILITY = 0.25
_EXTRA_KICK_PROBABILITY = 0.35
_HAT_DROP_PROBABILITY = 0.1
_BASS_OCTAVE_PROBABILITY = 0.3


def stream(seed: int, purpose: int) -> np.random.Generator:
    """An independent generator for one purpose (``STREAM_*``) of the audio of a clip."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, purpose])))


@dataclass(frozen=True)
class Events:
    """Onsets of one instrument: positions (frame units), velocities in (0, 1], MIDI notes (E, K) or (E, 0)."""

    pos: np.ndarray
    velocity: np.ndarray
    midi: np.ndarray


@dataclass(frozen=True)
class Arrangement:
    """All onsets of a clip, before synthesis."""

    frames_per_beat: float
    meter: int
    beat_pos: np.ndarray
    events: dict[str, Events]


def step_offset_beats(step: int, swing: float) -> float:
    """Offset of 8th step ``step`` from the bar start, in beats; odd steps are delayed by ``swing`` 8ths."""
    beat, off = divmod(step, 2)
    return beat + (0.5 + 0.5 * swing if off else 0.0)


def _chords(rng: np.random.Generator, num_bars: int) -> tuple[np.ndarray, np.ndarray]:
    """Per bar: bass root MIDI note (num_bars,) and pad triad MIDI notes (num_bars, 3)."""
    key = int(rng.integers(12))
    scale = _MAJOR if rng.random() < 0.5 else _MINOR
    progression = _PROGRESSIONS[int(rng.integers(len(_PROGRESSIONS)))]
    roots = np.empty(num_bars)
    triads = np.empty((num_bars, 3))
    for bar in range(num_bars):
        degree = progression[bar % len(progression)]
        tones = [scale[(degree + 2 * i) % 7] + 12 * ((degree + 2 * i) // 7) for i in range(3)]
        # Bass between A1 (MIDI 33) and G#2; pads stacked upwards from A3 (MIDI 57).
        offset = (key - 9) % 12
        roots[bar] = 33 + (offset + tones[0]) % 12
        triads[bar] = [57 + offset + tone for tone in tones]
    return roots, triads


def arrange(
    rng: np.random.Generator,
    instruments: tuple[str, ...],
    meter: int,
    swing: float,
    frames_per_beat: float,
    num_frames: int,
) -> Arrangement:
    """Seeded onsets of every instrument over a clip of ``num_frames`` frames.

    Drums: kick on even beats, snare on odd beats (the backbeat), extra kicks and ghost snares as per-bar
    variation, a snare fill on the last beat of most 4-bar phrases; closed hats on every 8th (open hat on
    the bar's last off-beat when ``hat_open`` is used); clap on the backbeat. Bass: chord root on every beat,
    sometimes an octave up on the off-beat. Pad: the bar's triad at each downbeat. Only onsets before
    position ``num_frames - 0.5`` are kept (the same rule as the beat grid).
    """
    limit = num_frames - 0.5
    steps = 2 * meter
    num_bars = int(np.ceil(limit / (frames_per_beat * meter))) + 1
    roots, triads = _chords(rng, num_bars)
    raw: dict[str, list[tuple[float, float, tuple[float, ...]]]] = {name: [] for name in DRUMS + TONAL}

    def add(name: str, bar: int, step: int, velocity: float, notes: tuple[float, ...] = ()) -> None:
        pos = (bar * meter + step_offset_beats(step, swing)) * frames_per_beat
        raw[name].append((pos, velocity, notes))

    use_open_hat = "hat_open" in instruments
    for bar in range(num_bars):
        # Draw every random number every bar, whatever the instrument list, so patterns stay stable.
        extra_kick_step = 2 * int(rng.integers(meter)) + 1
        extra_kick = rng.random() < _EXTRA_KICK_PROBABILITY
        ghost_step = 2 * int(rng.integers(meter)) + 1
        ghost = rng.random() < _GHOST_SNARE_PROBABILITY
        fill = bar % 4 == 3 and rng.random() < _FILL_PROBABILITY
        hat_drops = rng.random(steps) < _HAT_DROP_PROBABILITY
        octave_ups = rng.random(meter) < _BASS_OCTAVE_PROBABILITY
        kick_velocity = rng.uniform(0.85, 1.0, steps)
        snare_velocity = rng.uniform(0.8, 1.0, steps)

        fill_steps = {steps - 2, steps - 1} if fill else set()
        for step in range(steps):
            beat, off = divmod(step, 2)
            if not off and beat % 2 == 0:
                add("kick", bar, step, float(kick_velocity[step]))
            elif extra_kick and step == extra_kick_step and step not in fill_steps:
                add("kick", bar, step, float(kick_velocity[step]) * 0.8)
            if step in fill_steps:
                add("snare", bar, step, 0.7 + 0.3 * (step - steps + 2))
            elif not off and beat % 2 == 1:
                add("snare", bar, step, float(snare_velocity[step]))
            elif ghost and step == ghost_step:
                add("snare", bar, step, 0.45)
            if not off and beat % 2 == 1:
                add("clap", bar, step, 0.9)
            if use_open_hat and off and (step == steps - 1 or "hat_closed" not in instruments):
                add("hat_open", bar, step, 0.7)
            elif not (off and hat_drops[step]):
                add("hat_closed", bar, step, 0.8 if not off else 0.55)
        for beat in range(meter):
            add("bass", bar, 2 * beat, 0.9, (float(roots[bar]),))
            if octave_ups[beat]:
                add("bass", bar, 2 * beat + 1, 0.75, (float(roots[bar]) + 12.0,))
        add("pad", bar, 0, 0.8, tuple(float(note) for note in triads[bar]))

    events: dict[str, Events] = {}
    for name in instruments:
        kept = sorted(item for item in raw[name] if item[0] < limit)
        pos = np.array([item[0] for item in kept], dtype=np.float64)
        velocity = np.array([item[1] for item in kept], dtype=np.float64)
        width = len(kept[0][2]) if kept else 0
        midi = np.array([item[2] for item in kept], dtype=np.float64).reshape(len(kept), width)
        events[name] = Events(pos=pos, velocity=velocity, midi=midi)
    return Arrangement(
        frames_per_beat=frames_per_beat,
        meter=meter,
        beat_pos=beat_positions(frames_per_beat, num_frames),
        events=events,
    )
