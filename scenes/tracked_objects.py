"""``tracked_objects``: 1-8 primitives (or user meshes) on a textured ground under a sky, each on a path.

Parameters (``scene.params``): ``num_objects`` [low, high] (default [1, 4]), ``primitives`` (list),
``size_m`` [low, high], ``sky_probability``, ``num_lights`` [low, high], ``assets_dir`` (folder of
.glb/.gltf/.blend files used as extra shapes), ``asset_probability``, and the environment-map ones
(``hdri_dir``, ``hdri_probability``, ``hdri_strength``; see ``appearance.with_hdri``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from synthgen.describe.spec import ObjectSpec, OrientationSpec, StaticPath
from synthgen.errors import ConfigError

from . import SceneContext, SceneDescription
from .appearance import random_lights, random_material, random_world, resting_height_m, with_hdri

PRIMITIVES = ("sphere", "cube", "cylinder", "cone", "torus", "monkey")
ASSET_SUFFIXES = (".glb", ".gltf", ".blend")


def list_assets(assets_dir: str | None) -> list[str]:
    """Sorted asset files in ``assets_dir`` (sorted so sampling does not depend on directory order)."""
    if not assets_dir:
        return []
    folder = Path(assets_dir).expanduser()
    if not folder.is_dir():
        raise ConfigError(f"scene.params.assets_dir={assets_dir!r}: folder not found")
    files = sorted(str(p) for p in folder.iterdir() if p.suffix.lower() in ASSET_SUFFIXES)
    if not files:
        raise ConfigError(f"scene.params.assets_dir={assets_dir!r}: no .glb/.gltf/.blend files in it")
    return files


def sample(rng: np.random.Generator, ctx: SceneContext) -> SceneDescription:
    """Sample the objects, lights and world of one clip."""
    low, high = ctx.int_range("num_objects", (1, 4), 1, 8)
    chosen = ctx.param("primitives", PRIMITIVES)
    primitives = tuple(chosen) if isinstance(chosen, list | tuple) else ()
    if not primitives or not all(p in PRIMITIVES for p in primitives):
        raise ConfigError(f"scene.params.primitives={chosen!r}: choose a list from {list(PRIMITIVES)}")
    size_low, size_high = ctx.float_range("size_m", (0.5, 1.0))
    num_lights_low, num_lights_high = ctx.int_range("num_lights", (1, 2), 0, 64)
    sky_probability = ctx.probability("sky_probability", 0.5)
    assets = list_assets(ctx.param("assets_dir", None))
    asset_probability = ctx.probability("asset_probability", 0.5 if assets else 0.0)

    objects = []
    for index in range(int(rng.integers(low, high + 1))):
        size = float(rng.uniform(size_low, size_high))
        use_asset = bool(assets) and bool(rng.uniform() < asset_probability)
        primitive = "mesh" if use_asset else primitives[int(rng.integers(len(primitives)))]
        asset = assets[int(rng.integers(len(assets)))] if use_asset else None
        yaw = float(rng.uniform(0.0, 360.0))
        objects.append(
            ObjectSpec(
                object_id=index + 1,
                name=f"{primitive}_{index + 1}",
                primitive=primitive,  # type: ignore[arg-type]
                asset_path=asset,
                size_m=size,
                material=random_material(rng),
                path=StaticPath(position_m=(0.0, 0.0, resting_height_m(size))),
                orientation=OrientationSpec(euler_deg=(0.0, 0.0, yaw)),
            )
        )
    stage = (0.0, 0.0, 0.5)
    lights = random_lights(rng, int(rng.integers(num_lights_low, num_lights_high + 1)), stage)
    world = with_hdri(rng, ctx, random_world(rng, sky_probability))
    return SceneDescription(tuple(objects), lights, world, stage_center_m=stage, stage_radius_m=2.5)
