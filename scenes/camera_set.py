"""``camera_set``: a static set built for camera moves — a walled room (floor, four walls, props) or an open
landscape.

Nothing moves; the camera does. Every prop is tracked so camera-motion datasets carry dense static tracks.
Parameters: ``layout`` ('room', 'landscape' or 'any'), ``num_props`` [low, high], ``sky_probability``,
and the environment-map ones (``hdri_dir``, ``hdri_probability``, ``hdri_strength``; see ``appearance.with_hdri``).
"""

from __future__ import annotations

import numpy as np

from synthgen.describe.spec import ObjectSpec, OrientationSpec, StaticPath
from synthgen.errors import ConfigError

from . import SceneContext, SceneDescription
from .appearance import random_lights, random_material, random_world, resting_height_m, with_hdri

STAGE_RADIUS_M = 2.5
PROP_SPREAD_M = 5.0
PROP_PRIMITIVES = ("cube", "cylinder", "sphere", "cone", "torus", "monkey")


def _walls(rng: np.random.Generator, half_size_m: float, height_m: float) -> list[ObjectSpec]:
    wall_material = random_material(rng, textures=("none", "noise", "brick", "wave"))
    thickness = 0.2
    walls = []
    for index, (x, y, yaw) in enumerate(
        (
            (0.0, half_size_m, 0.0),
            (0.0, -half_size_m, 0.0),
            (-half_size_m, 0.0, 90.0),
            (half_size_m, 0.0, 90.0),
        )
    ):
        walls.append(
            ObjectSpec(
                object_id=index + 1,
                name=f"wall_{index + 1}",
                primitive="cube",
                size_m=1.0,
                scale_xyz=(2.0 * half_size_m, thickness, height_m),
                material=wall_material,
                path=StaticPath(position_m=(x, y, height_m / 2.0)),
                orientation=OrientationSpec(euler_deg=(0.0, 0.0, yaw)),
                dynamic=False,
            )
        )
    return walls


def sample(rng: np.random.Generator, ctx: SceneContext) -> SceneDescription:
    """Sample a static set: walls (room layout) and props scattered on the floor."""
    layout = str(ctx.param("layout", "any"))
    if layout not in ("room", "landscape", "any"):
        raise ConfigError(f"scene.params.layout={layout!r}: choose room, landscape or any")
    if layout == "any":
        layout = "room" if rng.uniform() < 0.5 else "landscape"
    low, high = ctx.int_range("num_props", (5, 10), 1, 64)
    sky_probability = ctx.probability("sky_probability", 0.0 if layout == "room" else 0.7)

    # A room is large enough that every sampled camera position (stage radius + camera.distance_m, and the
    # moves from there) stays inside it: the camera never films the back of a wall.
    half_size = float(rng.uniform(10.0, 13.0)) if layout == "room" else float(rng.uniform(6.0, 10.0))
    objects: list[ObjectSpec] = (
        _walls(rng, half_size, float(rng.uniform(2.5, 4.0))) if layout == "room" else []
    )
    for _ in range(int(rng.integers(low, high + 1))):
        primitive = PROP_PRIMITIVES[int(rng.integers(len(PROP_PRIMITIVES)))]
        size = float(rng.uniform(0.4, 1.6))
        stretch = float(rng.uniform(0.6, 2.0)) if primitive in ("cube", "cylinder") else 1.0
        spread = min(half_size * 0.8, PROP_SPREAD_M)
        position = (float(rng.uniform(-spread, spread)), float(rng.uniform(-spread, spread)), 0.0)
        object_id = len(objects) + 1
        objects.append(
            ObjectSpec(
                object_id=object_id,
                name=f"{primitive}_{object_id}",
                primitive=primitive,  # type: ignore[arg-type]
                size_m=size,
                scale_xyz=(1.0, 1.0, stretch),
                material=random_material(rng),
                path=StaticPath(position_m=(position[0], position[1], resting_height_m(size, stretch))),
                orientation=OrientationSpec(euler_deg=(0.0, 0.0, float(rng.uniform(0.0, 360.0)))),
                dynamic=False,
            )
        )
    stage = (0.0, 0.0, 1.0)
    lights = random_lights(rng, int(rng.integers(1, 3)), stage)
    world = with_hdri(rng, ctx, random_world(rng, sky_probability))
    return SceneDescription(
        tuple(objects), lights, world, stage_center_m=stage, stage_radius_m=STAGE_RADIUS_M
    )
