"""Beat-synced procedural audio and audio-reactive motion with sample-exact labels (numpy only).

See docs/audio.md for the grid, the bindings and how the LTX-2 audio path consumes them.
"""

from synthgen.audio.bindings import BindingEffects, binding_effects
from synthgen.audio.grid import BeatGrid, snapped_bpm
from synthgen.audio.io import decode_audio, flac_bytes, ltx_audio_features, resample, write_wav
from synthgen.audio.music import AudioClip, beat_grid, synthesize

__all__ = [
    "AudioClip",
    "BeatGrid",
    "BindingEffects",
    "beat_grid",
    "binding_effects",
    "decode_audio",
    "flac_bytes",
    "ltx_audio_features",
    "resample",
    "snapped_bpm",
    "synthesize",
    "write_wav",
]
