"""The Hydra ``audio`` group: each YAML composes, validates and samples into a clip whose audio synthesises."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf

import synthgen.conf
from synthgen.audio import beat_grid, binding_effects, synthesize
from synthgen.describe.config import load_generate_config
from synthgen.describe.sampling import sample_clip
from synthgen.describe.spec import AudioSpec

AUDIO_DIR = Path(synthgen.conf.__file__).parent / "audio"
TINY = ["clip.width=64", "clip.height=64", "clip.num_frames=49", "clip.fps=24", "render.samples=1"]


def composed(option: str) -> dict:
    with initialize_config_module(config_module="synthgen.conf", version_base=None):
        cfg = compose(config_name="generate", overrides=[f"audio={option}", *TINY])
    return OmegaConf.to_container(cfg, resolve=True)  # type: ignore[return-value]


def test_beats_yaml_keys_are_audio_spec_fields_plus_group_keys() -> None:
    keys = set(OmegaConf.to_container(OmegaConf.load(AUDIO_DIR / "beats.yaml")))  # type: ignore[arg-type]
    assert keys - {"enabled", "bpm_range"} <= set(AudioSpec.model_fields)
    assert {"bpm", "sample_rate", "snap_to_frames", "meter", "swing", "instruments", "bindings"} <= keys


def test_none_yaml_gives_clips_without_audio() -> None:
    spec = sample_clip(load_generate_config(composed("none")), 0)
    assert spec.audio is None


@pytest.mark.parametrize("option", ["beats", "beats_varied"])
def test_audio_option_samples_a_clip_whose_music_and_bindings_compute(option: str) -> None:
    spec = sample_clip(load_generate_config(composed(option)), 0)
    assert spec.audio is not None
    audio = synthesize(spec)
    effects = binding_effects(spec, audio.grid)
    assert audio.samples.shape[0] == round(spec.clip.num_frames / spec.clip.fps * spec.audio.sample_rate)
    bounced = np.any(effects.position_offset_m[:, :, 2] > 0.0, axis=1)
    assert bounced.all()


def test_beats_yaml_snaps_beats_onto_frames() -> None:
    spec = sample_clip(load_generate_config(composed("beats")), 0)
    assert spec.audio is not None
    assert beat_grid(spec.audio, spec.clip).snapped
