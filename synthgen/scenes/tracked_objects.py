"""``tracked_objects``: 1-8 primitives (or user meshes) on a textured ground under a sky, each on a path.

Parameters (``scene.params``): ``num_objects`` [low, high] (default [1, 4]), ``primitives`` (list),
``size_m`` [low, high], ``sky_probability``, ``num_lights`` [low, high], ``assets_dir`` (folder of
.glb/.gltf/.blend files used as extra shapes), ``asset_probability``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from synthgen.errors import ConfigError
from synthgen.scenes import SceneContext, SceneDescription
from synthgen.scenes.appearance import random_lights, random_material, random_world, resting_height_m
from synthgen.spec import ObjectSpec, OrientationSpec, StaticPath

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
    low, high = (int(v) for v in ctx.param("num_objects", [1, 4]))
    if not 1 <= low <= high <= 8:
        raise ConfigError(f"scene.params.num_objects={[low, high]}: must be [low, high] within 1..8")
    primitives = tuple(ctx.param("primitives", PRIMITIVES))
    unknown = sorted(set(primitives) - set(PRIMITIVES))
    if unknown or not primitives:
        raise ConfigError(f"scene.params.primitives={list(primitives)}: choose from {list(PRIMITIVES)}")
    size_low, size_high = (float(v) for v in ctx.param("size_m", [0.5, 1.0]))
    assets = list_assets(ctx.param("assets_dir", None))
    asset_probability = float(ctx.param("asset_probability", 0.5 if assets else 0.0))

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
    num_lights_low, num_lights_high = (int(v) for v in ctx.param("num_lights", [1, 2]))
    lights = random_lights(rng, int(rng.integers(num_lights_low, num_lights_high + 1)), stage)
    world = random_world(rng, float(ctx.param("sky_probability", 0.5)))
    return SceneDescription(tuple(objects), lights, world, stage_center_m=stage, stage_radius_m=2.5)
