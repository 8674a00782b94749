"""Ground-projected dome: an environment map's lower hemisphere projected onto the ground, sampled per clip
under a map (``scene.params.ground_projection_*``), recorded in the spec, rendered in shader nodes only."""

from __future__ import annotations

import hashlib
from pathlib import Path
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


def write_band_map(path: Path) -> None:
    """An equirectangular Radiance .hdr (flat RGBE scanlines) whose colour names the elevation band:
    green above the horizon, red from 12 deg below it up to the horizon, blue further down."""
    height, width = 128, 256
    elevation = 90.0 - (np.arange(height) + 0.5) * 180.0 / height
    colour = np.where(
        elevation[:, None] >= 0.0,
        [0.0, 1.0, 0.0],
        np.where(elevation[:, None] >= -12.0, [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]),
    )
    rgbe = np.zeros((height, width, 4), np.uint8)
    rgbe[..., :3] = (colour[:, None, :] * 128).astype(np.uint8)  # mantissa 128 with exponent 129: value 1.0
    rgbe[..., 3] = 129
    header = f"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y {height} +X {width}\n".encode()
    path.write_bytes(header + rgbe.tobytes())


@pytest.mark.blender
def test_the_far_floor_runs_into_the_horizon_through_the_dome_wall(tmp_path: Path) -> None:
    """Beyond the dome's radius the floor shows the map where the view ray crosses the dome's wall, so its
    elevation climbs towards the horizon; a floor whose distance were clamped to the radius would show one
    ring at -atan(h / R) = -14 deg (blue here) all the way out."""
    write_band_map(tmp_path / "bands.hdr")
    digest = hashlib.sha256((tmp_path / "bands.hdr").read_bytes()).hexdigest()
    world = WorldSpec(
        background="hdri",
        hdri_dir=str(tmp_path),
        hdri_file="bands.hdr",
        hdri_sha256=digest,
        ground_projection_height_m=2.5,
        ground_projection_radius_m=10.0,
    )
    spec = tiny_hdri_spec(world)
    spec = spec.model_copy(
        update={
            "camera": CameraSpec(position_m=(0.0, -6.0, 2.5), look_at_m=(0.0, 10.0, 0.5)),
            "clip": spec.clip.model_copy(update={"width": 128, "height": 64}),
        }
    )
    out = render_clip(spec)
    rgb, depth = out.frames_rgb[0].astype(int), out.depth_m[0]
    ground = np.isfinite(depth) & (out.instance_ids[0] == 0)
    red = (rgb[..., 0] > rgb[..., 1] + 20) & (rgb[..., 0] > rgb[..., 2] + 20)
    blue = (rgb[..., 2] > rgb[..., 0] + 20) & (rgb[..., 2] > rgb[..., 1] + 20)
    near = ground & (depth < 9.0)  # inside the dome: the map from C, well below -12 deg
    far = ground & (depth > 20.0)  # seen through the wall: within 12 deg of the horizon
    assert near.sum() > 200 and far.sum() > 200
    assert blue[near].mean() > 0.9
    assert red[far].mean() > 0.9
