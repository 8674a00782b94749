"""Ground-projected dome: an environment map's lower hemisphere projected onto the ground, sampled per clip
under a map (``scene.params.ground_projection_*``), recorded in the spec, rendered in shader nodes only."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from synthgen.describe.sampling import sample_clip
from synthgen.describe.spec import CameraSpec, WorldSpec
from synthgen.errors import ConfigError
from synthgen.render import render_clip
from tests.conftest import tiny_config
from tests.test_hdri import builtin_world, tiny_hdri_spec


def dome_config(**params: Any) -> Any:
    cfg = tiny_config(scene={"params": {"hdri_probability": 1.0, **params}})
    return cfg.model_copy(update={"dataset": cfg.dataset.model_copy(update={"num_clips": 8})})


def test_the_spec_needs_a_map_a_ground_and_a_radius_for_a_dome() -> None:
    with pytest.raises(ValueError, match="needs background='hdri', ground=true"):
        WorldSpec(ground_projection_height_m=2.0, ground_projection_radius_m=10.0)
    assert WorldSpec().ground_projection_height_m == 0.0  # older specs parse without a dome


@pytest.mark.blender
def test_domes_are_drawn_per_clip_under_a_map_within_the_ranges() -> None:
    params = {
        "ground_projection_probability": 1.0,
        "ground_projection_height_m": [1.0, 2.0],
        "ground_projection_radius_m": [8.0, 9.0],
    }
    worlds = [sample_clip(dome_config(**params), i).world for i in range(8)]
    assert all(1.0 <= w.ground_projection_height_m <= 2.0 for w in worlds)
    assert all(8.0 <= w.ground_projection_radius_m <= 9.0 for w in worlds)
    assert len({w.ground_projection_height_m for w in worlds}) == 8


@pytest.mark.blender
def test_probability_0_draws_nothing_so_the_clips_stay_as_they_were() -> None:
    off = [sample_clip(dome_config(ground_projection_probability=0.0), i) for i in range(8)]
    assert all(spec.world.ground_projection_height_m == 0.0 for spec in off)
    # Changing the unused ranges changes no clip: nothing is drawn for them.
    other = dome_config(ground_projection_probability=0.0, ground_projection_height_m=[3.0, 4.0])
    assert [sample_clip(other, i) for i in range(8)] == off


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"ground_projection_probability": 1.5}, "scene.params.ground_projection_probability=1.5"),
        ({"ground_projection_height_m": [2.0, 1.0]}, "scene.params.ground_projection_height_m"),
        ({"ground_projection_radius_m": [1.0, 2.0]}, "scene.params.ground_projection_radius_m"),
    ],
)
def test_bad_dome_parameters_are_refused_at_config_load(params: dict[str, Any], named: str) -> None:
    with pytest.raises(ConfigError, match=named.replace("[", r"\[")):
        sample_clip(tiny_config(scene={"params": params}), 0)


@pytest.mark.blender
def test_the_dome_reshades_only_the_ground() -> None:
    world = builtin_world("city.exr", strength=1.0)
    dome_world = world.model_copy(
        update={"ground_projection_height_m": 2.0, "ground_projection_radius_m": 15.0}
    )
    camera = CameraSpec(position_m=(0.0, -6.0, 1.5), look_at_m=(0.0, 0.0, 0.5))
    spec = tiny_hdri_spec(world).model_copy(update={"camera": camera})
    plain = render_clip(spec)
    dome = render_clip(spec.model_copy(update={"world": dome_world}))
    again = render_clip(spec.model_copy(update={"world": dome_world}))
    np.testing.assert_array_equal(dome.frames_rgb, again.frames_rgb)
    # Geometry is untouched: the label passes are identical.
    np.testing.assert_array_equal(dome.instance_ids, plain.instance_ids)
    np.testing.assert_array_equal(dome.depth_m, plain.depth_m)
    frame = 0
    ground = (plain.instance_ids[frame] == 0) & np.isfinite(plain.depth_m[frame])
    sky = ~np.isfinite(plain.depth_m[frame])
    assert ground.sum() > 500 and sky.sum() > 200
    difference = np.abs(dome.frames_rgb[frame].astype(int) - plain.frames_rgb[frame].astype(int)).sum(-1)
    assert difference[ground].mean() > 10.0
    # Sky pixels away from the horizon show the same map in both.
    inner_sky = sky.copy()
    inner_sky[-(64 // 4) :] = False
    inner_sky &= np.roll(sky, 2, axis=0) & np.roll(sky, -2, axis=0)
    assert inner_sky.sum() > 100 and difference[inner_sky].mean() < 1.0
