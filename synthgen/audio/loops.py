"""Optional user loops: audio files of known tempo, stretched onto the clip's beat grid.

A loop's tempo comes from its file name (``groove_120bpm.wav``, ``pad 92.5 BPM.flac``) or from a sidecar
``<stem>.json`` holding ``{"bpm": 120}``. The loop is cut to a whole number of its beats, resampled
(linear interpolation, so pitch follows tempo) to last the same number of beats at the clip's tempo, and
repeated with every repeat starting on the sample of its grid beat, so it cannot drift.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from synthgen.audio.synth import onset_samples
from synthgen.errors import ConfigError

LOOP_SUFFIXES = (".wav", ".flac", ".ogg", ".aif", ".aiff")
_BPM_IN_NAME = re.compile(r"(\d+(?:\.\d+)?)\s*bpm", re.IGNORECASE)


@dataclass(frozen=True)
class Loop:
    """A decoded loop: mono float64 samples, their rate and the loop's tempo."""

    path: Path
    bpm: float
    samples: np.ndarray
    sample_rate: int


def find_loops(loops_dir: str) -> list[Path]:
    """Sorted audio files in ``loops_dir``; ConfigError if it is missing or holds none."""
    folder = Path(loops_dir)
    if not folder.is_dir():
        raise ConfigError(f"audio.loops_dir={loops_dir!r}: not a directory")
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in LOOP_SUFFIXES and p.is_file())
    if not paths:
        raise ConfigError(f"audio.loops_dir={loops_dir!r}: holds no audio file ({', '.join(LOOP_SUFFIXES)})")
    return paths


def loop_bpm(path: Path) -> float:
    """Tempo of a loop from its sidecar ``<stem>.json`` (``{"bpm": x}``) or its name; ConfigError if neither."""
    sidecar = path.with_suffix(".json")
    if sidecar.is_file():
        try:
            value = float(json.loads(sidecar.read_text())["bpm"])
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise ConfigError(
                f'audio.loops_dir: sidecar {str(sidecar)!r} needs {{"bpm": number}} ({err})'
            ) from None
    else:
        match = _BPM_IN_NAME.search(path.stem)
        if match is None:
            raise ConfigError(
                f"audio.loops_dir: file {str(path)!r} has no tempo; name it like 'name_120bpm{path.suffix}' "
                f'or add {path.stem}.json with {{"bpm": 120}}'
            )
        value = float(match.group(1))
    if not math.isfinite(value) or not 20.0 <= value <= 400.0:
        raise ConfigError(f"audio.loops_dir: file {str(path)!r} bpm={value}: must be within [20, 400]")
    return value


def load_loop(path: Path) -> Loop:
    """Decode a loop to mono float64; ConfigError naming the file if it cannot be read or is empty."""
    bpm = loop_bpm(path)
    try:
        data, rate = sf.read(str(path), dtype="float64", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError) as err:
        raise ConfigError(f"audio.loops_dir: file {str(path)!r} is unreadable ({err})") from None
    if data.shape[0] == 0:
        raise ConfigError(f"audio.loops_dir: file {str(path)!r} holds no samples")
    return Loop(path=path, bpm=bpm, samples=data.mean(axis=1), sample_rate=int(rate))


def stretch_to_grid(loop: Loop, bpm: float, sample_rate: int) -> tuple[np.ndarray, int]:
    """The loop cut to whole beats and resampled to ``bpm`` at ``sample_rate``: (samples, beats in loop)."""
    beats = max(1, round(loop.samples.shape[0] / loop.sample_rate * loop.bpm / 60.0))
    source_len = round(beats * 60.0 / loop.bpm * loop.sample_rate)
    source = np.zeros(source_len)
    count = min(source_len, loop.samples.shape[0])
    source[:count] = loop.samples[:count]
    target_len = max(1, round(beats * 60.0 / bpm * sample_rate))
    positions = np.arange(target_len) * (source_len / target_len)
    return np.interp(positions, np.arange(source_len), source, right=0.0), beats


def loop_stem(
    loops_dir: str,
    rng: np.random.Generator,
    bpm: float,
    frames_per_beat: float,
    fps: float,
    sample_rate: int,
    num_samples: int,
) -> np.ndarray:
    """(num_samples,) float64: one loop chosen by ``rng`` from ``loops_dir``, repeated on the beat grid."""
    paths = find_loops(loops_dir)
    loop = load_loop(paths[int(rng.integers(len(paths)))])
    wave, beats = stretch_to_grid(loop, bpm, sample_rate)
    stem = np.zeros(num_samples)
    repeats = math.ceil(num_samples / sample_rate * bpm / 60.0 / beats) + 1
    starts = onset_samples(np.arange(repeats) * beats * frames_per_beat, fps, sample_rate)
    for start in starts:
        if start >= num_samples:
            break
        stop = min(num_samples, int(start) + wave.shape[0])
        stem[int(start) : stop] += wave[: stop - int(start)]
    return stem
