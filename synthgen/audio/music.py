"""``beat_grid`` and ``synthesize``: the labelled beat grid and the procedural mix of one clip."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from synthgen.audio.grid import (
    BeatGrid,
    beat_phase,
    beat_positions,
    check_sample_count,
    normalised_energy,
    resolve_tempo,
)
from synthgen.audio.loops import loop_stem
from synthgen.audio.patterns import STREAM_LOOPS, STREAM_PATTERNS, STREAM_VOICES, arrange, stream
from synthgen.audio.synth import mix_stems, onset_samples, render_stems
from synthgen.describe.spec import AudioSpec, ClipSettings, ClipSpec
from synthgen.errors import ConfigError


@dataclass(frozen=True)
class AudioClip:
    """The audio of one clip: mono mix, stems (summing to the mix) and the beat grid that labels them."""

    samples: np.ndarray
    """(n,) float32 mono mix, n = num_frames / fps * sample_rate; peak <= -1 dBFS."""
    stems: dict[str, np.ndarray]
    """Per instrument (and ``loop``): (n,) float32, already scaled by the mix gains."""
    sample_rate: int
    grid: BeatGrid


def _render(audio: AudioSpec, clip: ClipSettings) -> AudioClip:
    num_samples = check_sample_count(clip, audio.sample_rate)
    bpm, frames_per_beat, snapped = resolve_tempo(audio, clip)
    rate, fps = audio.sample_rate, clip.fps
    arrangement = arrange(
        stream(audio.seed, STREAM_PATTERNS),
        tuple(audio.instruments),
        audio.meter,
        audio.swing,
        frames_per_beat,
        clip.num_frames,
    )
    raw = render_stems(arrangement, fps, rate, num_samples, stream(audio.seed, STREAM_VOICES))
    if audio.loops_dir:
        raw["loop"] = loop_stem(
            audio.loops_dir, stream(audio.seed, STREAM_LOOPS), bpm, frames_per_beat, fps, rate, num_samples
        )
    stems, mix = mix_stems(raw)

    beat_pos = beat_positions(frames_per_beat, clip.num_frames)
    beat_index = np.arange(beat_pos.shape[0], dtype=np.int64)
    beat_times = beat_pos / fps
    onset_pos = {name: events.pos for name, events in arrangement.events.items()}
    grid = BeatGrid(
        bpm=bpm,
        meter=audio.meter,
        fps=fps,
        sample_rate=rate,
        num_frames=clip.num_frames,
        num_samples=num_samples,
        frames_per_beat=frames_per_beat,
        snapped=snapped,
        beat_times_s=beat_times,
        beat_frame_pos=beat_pos,
        beat_samples=onset_samples(beat_pos, fps, rate),
        beat_frames=np.floor(beat_pos + 0.5).astype(np.int64),
        bar_index=beat_index // audio.meter,
        downbeat_times_s=beat_times[beat_index % audio.meter == 0],
        onsets_s={name: pos / fps for name, pos in onset_pos.items()},
        onset_frame_pos=onset_pos,
        onset_samples={name: onset_samples(pos, fps, rate) for name, pos in onset_pos.items()},
        beat_phase=beat_phase(frames_per_beat, clip.num_frames),
        energy=normalised_energy(mix, rate, fps, clip.num_frames),
        stem_energy={
            name: normalised_energy(stem, rate, fps, clip.num_frames) for name, stem in stems.items()
        },
    )
    return AudioClip(samples=mix, stems=stems, sample_rate=rate, grid=grid)


def beat_grid(audio: AudioSpec, clip: ClipSettings) -> BeatGrid:
    """The beat grid of a clip with this audio: resolves ``snap_to_frames`` to the effective bpm.

    The energy envelope is measured on the synthesised mix, so this renders the audio (milliseconds per
    second of audio); call ``synthesize`` instead when the samples are needed too.
    """
    return _render(audio, clip).grid


def synthesize(spec: ClipSpec) -> AudioClip:
    """Procedural music for ``spec`` (deterministic in ``spec.audio.seed``), with its beat grid."""
    if spec.audio is None:
        raise ConfigError("audio=None: this clip has no audio spec; set audio (e.g. audio=beats)")
    return _render(spec.audio, spec.clip)
