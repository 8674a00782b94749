"""Seeded appearance variety shared by the built-in recipes: materials, lights, world."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from synthgen.describe.spec import ColorRGB, LightSpec, MaterialSpec, TextureKind, Vec3, WorldSpec
from synthgen.errors import ConfigError

from . import SceneContext
from .environment import BUILTIN, list_hdris

TEXTURES: tuple[TextureKind, ...] = ("none", "noise", "voronoi", "checker", "wave", "brick")


def random_color(
    rng: np.random.Generator,
    saturation: tuple[float, float] = (0.4, 0.95),
    value: tuple[float, float] = (0.35, 0.95),
) -> ColorRGB:
    """A colour from HSV: hue uniform, saturation and value uniform in the given ranges."""
    hue = float(rng.uniform(0.0, 1.0))
    sat = float(rng.uniform(*saturation))
    val = float(rng.uniform(*value))
    return hsv_to_rgb(hue, sat, val)


def hsv_to_rgb(h: float, s: float, v: float) -> ColorRGB:
    """RGB of hue, saturation and value in [0, 1] (hue 1 = hue 0)."""
    i = int(h * 6.0) % 6
    f = h * 6.0 - int(h * 6.0)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    rgb = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i]
    return (float(rgb[0]), float(rgb[1]), float(rgb[2]))


def random_material(
    rng: np.random.Generator,
    textures: Sequence[TextureKind] = TEXTURES,
    metallic_probability: float = 0.2,
) -> MaterialSpec:
    """Principled-BSDF parameters with an optional procedural texture."""
    texture = textures[int(rng.integers(len(textures)))]
    metallic = float(rng.uniform(0.6, 1.0)) if rng.uniform() < metallic_probability else 0.0
    return MaterialSpec(
        base_color_rgb=random_color(rng),
        roughness=float(rng.uniform(0.1, 0.9)),
        metallic=metallic,
        texture=texture,
        texture_scale=float(rng.uniform(2.0, 12.0)),
        secondary_color_rgb=random_color(rng, saturation=(0.0, 0.6)),
    )


def random_lights(rng: np.random.Generator, count: int, stage_center_m: Vec3) -> tuple[LightSpec, ...]:
    """A key sun plus ``count - 1`` area/point fill lights around the stage."""
    lights: list[LightSpec] = []
    for index in range(count):
        azimuth = float(rng.uniform(0.0, 2.0 * np.pi))
        distance = float(rng.uniform(4.0, 8.0))
        position = (
            stage_center_m[0] + distance * float(np.cos(azimuth)),
            stage_center_m[1] + distance * float(np.sin(azimuth)),
            float(rng.uniform(3.0, 8.0)),
        )
        if index == 0:
            kind, strength = "sun", float(rng.uniform(0.8, 2.0))
        else:
            kind = "area" if rng.uniform() < 0.5 else "point"
            strength = float(rng.uniform(200.0, 800.0))
        lights.append(
            LightSpec(
                kind=kind,  # type: ignore[arg-type]
                strength=strength,
                color_temperature_k=float(rng.uniform(3500.0, 7500.0)),
                position_m=position,
                look_at_m=stage_center_m,
                size_m=float(rng.uniform(0.5, 2.0)),
            )
        )
    return tuple(lights)


def random_world(rng: np.random.Generator, sky_probability: float) -> WorldSpec:
    """Procedural sky or a plain background, and a textured ground."""
    use_sky = bool(rng.uniform() < sky_probability)
    ground_texture: TextureKind = ("checker", "noise", "voronoi", "brick", "wave")[int(rng.integers(5))]
    return WorldSpec(
        background="sky" if use_sky else "plain",
        sun_elevation_deg=float(rng.uniform(15.0, 60.0)),
        sun_azimuth_deg=float(rng.uniform(0.0, 360.0)),
        background_rgb=random_color(rng, saturation=(0.0, 0.3)),
        # Physical sky models are far brighter than a plain colour; these strengths keep both in range.
        strength=float(rng.uniform(0.05, 0.12)) if use_sky else float(rng.uniform(0.3, 1.0)),
        # A darker ground than objects keeps subjects readable against it.
        ground_material=MaterialSpec(
            base_color_rgb=random_color(rng, saturation=(0.0, 0.5), value=(0.15, 0.6)),
            roughness=float(rng.uniform(0.5, 1.0)),
            texture=ground_texture,
            texture_scale=float(rng.uniform(8.0, 30.0)),
            secondary_color_rgb=random_color(rng, saturation=(0.0, 0.5), value=(0.15, 0.6)),
        ),
    )


def resting_height_m(size_m: float, scale_z: float = 1.0) -> float:
    """Z of a unit-bounding-size primitive's centre when it rests on the ground (z = 0)."""
    return 0.5 * size_m * scale_z


def with_hdri(rng: np.random.Generator, ctx: SceneContext, world: WorldSpec) -> WorldSpec:
    """``world`` lit by an environment map from ``scene.params.hdri_dir`` with ``hdri_probability``.

    The map, its rotation and ``hdri_strength`` [low, high] are drawn from the clip's ``rng``; with the
    probability at 0 nothing is drawn, so clips sampled before HDRIs existed keep their exact specs. A
    user folder is listed (and refused when bad) even then, so a typo fails at config load.
    """
    hdri_dir = ctx.param("hdri_dir", BUILTIN)
    if not isinstance(hdri_dir, str) or not hdri_dir:
        raise ConfigError(f"scene.params.hdri_dir={hdri_dir!r}: must be 'builtin' or a folder path")
    probability = ctx.probability("hdri_probability", 0.0)
    strength_low, strength_high = ctx.float_range("hdri_strength", (0.5, 1.5))
    if probability == 0.0 and hdri_dir == BUILTIN:
        return world
    hdris = list_hdris(hdri_dir)
    if probability == 0.0 or not rng.uniform() < probability:
        return world
    chosen = hdris[int(rng.integers(len(hdris)))]
    fields = world.model_dump()
    fields.update(
        background="hdri",
        hdri_dir=hdri_dir,
        hdri_file=chosen.name,
        hdri_sha256=chosen.sha256,
        hdri_rotation_deg=float(rng.uniform(0.0, 360.0)),
        strength=float(rng.uniform(strength_low, strength_high)),
    )
    return WorldSpec(**fields)


def with_ground_projection(rng: np.random.Generator, ctx: SceneContext, world: WorldSpec) -> WorldSpec:
    """``world`` with a ground-projected dome (``scene.params.ground_projection_*``) when it has an
    environment map and a ground and the draw says so; parameters are checked for every clip, nothing is
    drawn at probability 0 or without a map."""
    dome = _DomeParams.read(ctx)
    if world.background != "hdri":
        return world
    return WorldSpec(**{**world.model_dump(), **dome.sample(rng, world)})


@dataclass(frozen=True)
class _DomeParams:
    """Ground-projected dome: ``ground_projection_probability`` of the clips under an environment map
    project its lower hemisphere onto the ground from ``ground_projection_height_m`` [low, high] above the
    origin, onto a dome of radius ``ground_projection_radius_m`` [low, high] whose floor is the ground."""

    probability: float
    height_m: tuple[float, float]
    radius_m: tuple[float, float]

    @classmethod
    def read(cls, ctx: SceneContext) -> _DomeParams:
        """The parameters, checked (ConfigError naming the key) whether or not any clip uses them."""
        height = ctx.float_range("ground_projection_height_m", (1.5, 2.5))
        radius = ctx.float_range("ground_projection_radius_m", (10.0, 20.0))
        if radius[0] <= height[1]:
            raise ConfigError(
                f"scene.params.ground_projection_radius_m={list(radius)}: must exceed "
                f"ground_projection_height_m={list(height)}"
            )
        return cls(ctx.probability("ground_projection_probability", 0.0), height, radius)

    def sample(self, rng: np.random.Generator, world: WorldSpec) -> dict[str, float]:
        """The dome fields of one clip (none drawn at probability 0 or without a ground)."""
        if self.probability == 0.0 or not world.ground or not rng.uniform() < self.probability:
            return {}
        return {
            "ground_projection_height_m": float(rng.uniform(*self.height_m)),
            "ground_projection_radius_m": float(rng.uniform(*self.radius_m)),
        }
