"""Shared fixtures: tiny configs so the default suite stays fast (64x64, 9 frames, 1 spp).

Configs and settings are built from the packaged YAML (``load_generate_config``), so tests exercise the
defaults that ``synthgen-generate`` runs with.
"""

from __future__ import annotations

import functools
from typing import Any

import pytest
from hypothesis import settings

from synthgen.describe.config import GenerateConfig, load_generate_config
from synthgen.describe.spec import ClipSettings, RenderSpec
from synthgen.extras import installed_extras

# Property tests check values, not speed: a wall-clock deadline only measures how loaded the machine is (the
# first example of a test may also pay for composing the packaged config once).
settings.register_profile("synthgen", deadline=None)
settings.load_profile("synthgen")

TINY_OVERRIDES: dict[str, Any] = {
    "dataset": {"name": "tiny", "seed": 0, "num_clips": 2},
    "clip": {"width": 64, "height": 64, "num_frames": 9, "fps": 24},
    "render": {"samples": 1, "tracks_per_object": 4, "background_tracks": 4},
}


def tiny_config(*overrides: str, **sections: dict[str, Any]) -> GenerateConfig:
    """A tiny GenerateConfig from the packaged YAML: ``overrides`` are Hydra override strings (select groups
    here: ``"control=depth"``), and each keyword merges values into one top-level section. The look is
    ``look=flat`` (flat colours, sharp pinhole frames: the exact labels' own look) unless one is selected."""
    data: dict[str, Any] = {key: dict(value) for key, value in TINY_OVERRIDES.items()}
    for key, value in sections.items():
        data[key] = {**data.get(key, {}), **value} if isinstance(value, dict) else value
    if not any(item.startswith("look=") for item in overrides):
        overrides = ("look=flat", *overrides)
    return load_generate_config(data, overrides=overrides)


@functools.cache
def packaged_defaults() -> GenerateConfig:
    """The config ``synthgen-generate`` runs with when given no overrides."""
    return load_generate_config()


def clip_settings(**fields: Any) -> ClipSettings:
    """ClipSettings with ``fields``, and the packaged defaults (conf/generate.yaml) for the others."""
    return ClipSettings(**{**packaged_defaults().clip.model_dump(), **fields})


def render_spec(**fields: Any) -> RenderSpec:
    """RenderSpec with ``fields``, and the packaged defaults (conf/render/cycles_cpu.yaml) for the others."""
    return RenderSpec(**{**packaged_defaults().render.to_spec().model_dump(), **fields})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked ``blender`` skip where bpy is not installed (a core-only or GPU training machine)."""
    if installed_extras()["render"]:
        return
    skip = pytest.mark.skip(reason="needs bpy: pip install 'synthgen[render]'")
    for item in items:
        if "blender" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def tiny_cfg() -> GenerateConfig:
    return tiny_config()
