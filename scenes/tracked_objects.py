"""``tracked_objects``: 1-8 primitives (or user meshes) on a textured ground under a sky, each on a path.

Parameters (``scene.params``): ``num_objects`` [low, high] (default [1, 4]), ``primitives`` (a list, or a
mapping name -> weight, of built-in primitives and procedural shape families, see ``shapes``),
``size_m`` [low, high], ``sky_probability``, ``num_lights`` [low, high], ``assets`` (asset library: a
folder, a list of folders or a mapping folder -> weight of .glb/.gltf/.obj/.blend/.usd files, see
``assets``; ``assets_dir`` is the older one-folder form), ``asset_probability``, and the environment-map ones
(``hdri_dir``, ``hdri_probability``, ``hdri_strength``; see ``appearance.with_hdri``).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from synthgen.describe.spec import ObjectSpec, OrientationSpec, StaticPath
from synthgen.errors import ConfigError

from . import SceneContext, SceneDescription
from .appearance import random_lights, random_material, random_world, resting_height_m, with_hdri
from .assets import AssetLibrary, asset_library
from .shapes import FAMILIES, sample_shape, shape_mesh

PRIMITIVES = ("sphere", "cube", "cylinder", "cone", "torus", "monkey")
SHAPES = PRIMITIVES + FAMILIES


def shape_choices(chosen: object) -> tuple[tuple[str, ...], np.ndarray]:
    """Names and draw probabilities from ``scene.params.primitives``: a list (drawn uniformly) or a mapping
    name -> weight. Names are built-in primitives or procedural shape families."""
    if isinstance(chosen, Mapping):
        names, raw = tuple(str(k) for k in chosen), [chosen[k] for k in chosen]
    elif isinstance(chosen, list | tuple):
        names, raw = tuple(str(k) for k in chosen), [1.0] * len(chosen)
    else:
        names, raw = (), []
    try:
        weights = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError):
        weights = np.full(len(names), np.nan)
    valid = bool(names) and all(n in SHAPES for n in names) and len(set(names)) == len(names)
    if not valid or not np.all(np.isfinite(weights)) or np.any(weights < 0.0) or weights.sum() <= 0.0:
        raise ConfigError(
            f"scene.params.primitives={chosen!r}: choose a list (or a mapping name -> weight >= 0, not all 0) "
            f"of distinct names from {list(SHAPES)}"
        )
    return names, weights / weights.sum()


def _library(ctx: SceneContext) -> AssetLibrary | None:
    """``scene.params.assets`` (folder, list or mapping folder -> weight), or the older ``assets_dir``."""
    if ctx.param("assets", None) is not None and ctx.param("assets_dir", None) is not None:
        raise ConfigError("scene.params.assets_dir: give the folders in scene.params.assets only")
    if ctx.param("assets_dir", None) is not None:
        return asset_library(ctx.param("assets_dir", None), "scene.params.assets_dir")
    return asset_library(ctx.param("assets", None))


def sample(rng: np.random.Generator, ctx: SceneContext) -> SceneDescription:
    """Sample the objects, lights and world of one clip."""
    low, high = ctx.int_range("num_objects", (1, 4), 1, 8)
    primitives, weights = shape_choices(ctx.param("primitives", PRIMITIVES))
    size_low, size_high = ctx.float_range("size_m", (0.5, 1.0))
    num_lights_low, num_lights_high = ctx.int_range("num_lights", (1, 2), 0, 64)
    sky_probability = ctx.probability("sky_probability", 0.5)
    assets = _library(ctx)
    asset_probability = ctx.probability("asset_probability", 0.5 if assets else 0.0)

    objects = []
    for index in range(int(rng.integers(low, high + 1))):
        size = float(rng.uniform(size_low, size_high))
        use_asset = assets is not None and bool(rng.uniform() < asset_probability)
        primitive = "mesh" if use_asset else primitives[int(rng.choice(len(primitives), p=weights))]
        asset = assets.sample(rng) if assets is not None and use_asset else None
        shape = sample_shape(rng, primitive) if primitive in FAMILIES else None
        height_fraction = float(shape_mesh(shape).extent[2]) if shape is not None else 1.0
        yaw = float(rng.uniform(0.0, 360.0))
        objects.append(
            ObjectSpec(
                object_id=index + 1,
                name=f"{primitive}_{index + 1}",
                primitive="procedural" if shape is not None else primitive,  # type: ignore[arg-type]
                asset_path=asset.name if asset else None,
                asset_dir=asset.folder if asset else None,
                asset_sha256=asset.sha256 if asset else None,
                shape=shape,
                size_m=size,
                material=random_material(rng),
                path=StaticPath(position_m=(0.0, 0.0, resting_height_m(size, height_fraction))),
                orientation=OrientationSpec(euler_deg=(0.0, 0.0, yaw)),
            )
        )
    stage = (0.0, 0.0, 0.5)
    lights = random_lights(rng, int(rng.integers(num_lights_low, num_lights_high + 1)), stage)
    world = with_hdri(rng, ctx, random_world(rng, sky_probability))
    return SceneDescription(tuple(objects), lights, world, stage_center_m=stage, stage_radius_m=2.5)
