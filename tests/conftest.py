"""Shared fixtures: tiny configs so the default suite stays fast (64x64, 9 frames, 1 spp)."""

from __future__ import annotations

from typing import Any

import pytest

from synthgen.describe.config import GenerateConfig, load_generate_config

TINY_OVERRIDES: dict[str, Any] = {
    "dataset": {"name": "tiny", "seed": 0, "num_clips": 2},
    "clip": {"width": 64, "height": 64, "num_frames": 9, "fps": 24},
    "render": {"samples": 1, "tracks_per_object": 4, "background_tracks": 4},
}


def tiny_config(**sections: dict[str, Any]) -> GenerateConfig:
    """A tiny GenerateConfig; each keyword replaces/extends one top-level section."""
    data: dict[str, Any] = {key: dict(value) for key, value in TINY_OVERRIDES.items()}
    for key, value in sections.items():
        data[key] = {**data.get(key, {}), **value} if isinstance(value, dict) else value
    return load_generate_config(data)


@pytest.fixture
def tiny_cfg() -> GenerateConfig:
    return tiny_config()
