"""``beat_stage``: a row of objects on a dark stage that bounce, pulse or flash to the music.

Objects stand still in the description; the audio bindings (``audio.bindings``) move them, so every
motion event is on the labelled beat grid. Parameters: ``num_objects`` [low, high], ``emissive_probability``,
and the environment-map ones (``hdri_dir``, ``hdri_probability``, ``hdri_strength``; see ``appearance.with_hdri``).
"""

from __future__ import annotations

import numpy as np

from synthgen.describe.spec import MaterialSpec, ObjectSpec, OrientationSpec, StaticPath, WorldSpec

from . import SceneContext, SceneDescription
from .appearance import random_color, random_lights, random_material, resting_height_m, with_hdri

PRIMITIVES = ("sphere", "cube", "cylinder", "cone", "torus", "monkey")


def sample(rng: np.random.Generator, ctx: SceneContext) -> SceneDescription:
    """Sample 1-5 objects in a row, a dark plain background and coloured lights."""
    low, high = ctx.int_range("num_objects", (1, 3), 1, 8)
    emissive_probability = ctx.probability("emissive_probability", 0.3)
    count = int(rng.integers(low, high + 1))
    spacing = 1.4
    objects = []
    for index in range(count):
        primitive = PRIMITIVES[int(rng.integers(len(PRIMITIVES)))]
        size = float(rng.uniform(0.5, 0.9))
        material = random_material(rng, textures=("none", "noise", "checker"))
        if rng.uniform() < emissive_probability:
            material = material.model_copy(update={"emission_strength": float(rng.uniform(0.5, 2.0))})
        x = (index - (count - 1) / 2.0) * spacing
        objects.append(
            ObjectSpec(
                object_id=index + 1,
                name=f"{primitive}_{index + 1}",
                primitive=primitive,  # type: ignore[arg-type]
                size_m=size,
                material=material,
                path=StaticPath(position_m=(x, 0.0, resting_height_m(size))),
                orientation=OrientationSpec(euler_deg=(0.0, 0.0, float(rng.uniform(-30.0, 30.0)))),
                dynamic=False,
            )
        )
    stage = (0.0, 0.0, 0.6)
    lights = random_lights(rng, 2, stage)
    world = WorldSpec(
        background="plain",
        background_rgb=random_color(rng, saturation=(0.0, 0.3)),
        strength=float(rng.uniform(0.05, 0.2)),
        ground_material=MaterialSpec(
            base_color_rgb=random_color(rng, saturation=(0.0, 0.2)),
            roughness=0.4,
            texture="checker",
            texture_scale=10.0,
            secondary_color_rgb=random_color(rng, saturation=(0.0, 0.2)),
        ),
    )
    world = with_hdri(rng, ctx, world)
    radius = max(1.5, count * spacing / 2.0 + 0.5)
    return SceneDescription(tuple(objects), lights, world, stage_center_m=stage, stage_radius_m=radius)
