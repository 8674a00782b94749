"""The material library, textured grounds and camera optics of the default look, sampled per clip.

A *look* is a set of ``scene.params`` keys (the ``look`` config group writes them: ``look=default`` the
photographic look, ``look=flat`` the flat colours, checker ground and sharp pinhole frames of the exactness
benchmark):

- ``hdri_light_scale``: factor on the recipe's lamps in clips lit by an environment map.
- ``material_library_probability``: share of objects given a library material (``material_families``)
  instead of the recipe's flat one; emissive objects keep theirs.
- ``ground_families``: grounds drawn for the recipe's ground (empty list: the recipe's ground stays).
- ``motion_blur_probability`` / ``shutter_fraction`` [low, high]; ``dof_probability`` / ``f_stop``
  [low, high] (focus on a random object); ``exposure_ev`` [low, high]; ``white_balance_k`` [low, high].

Every draw comes from the clip's own look stream (``look_rng``), after the recipe, motion and camera have
drawn theirs: a look changes materials and optics, never the objects, paths, camera or audio of a clip.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from synthgen.describe.spec import (
    CameraSpec,
    ColorRGB,
    MaterialFamily,
    MaterialSpec,
    ObjectSpec,
    OpticsSpec,
    WorldSpec,
)
from synthgen.errors import ConfigError

from . import SceneContext, SceneDescription
from .appearance import hsv_to_rgb, with_ground_projection

OBJECT_FAMILIES: tuple[MaterialFamily, ...] = (
    "wood",
    "marble",
    "brushed_metal",
    "rough_metal",
    "rough_plastic",
    "glossy_plastic",
    "fabric",
    "concrete",
    "rock",
    "rubber",
    "car_paint",
    "ceramic",
)
# ``checker`` is the classic checkerboard: a principled material with the checker texture.
GROUND_FAMILIES: tuple[str, ...] = ("asphalt", "tiles", "sand", "grass", "wood_floor", "checker")
# A separate stream per clip and variant, so a look never shifts the draws of the scene itself.
LOOK_STREAM = 2

Range = tuple[float, float]
# (hue, saturation, value) ranges of each family's two colours, roughness range, metallic, pattern scale
# range (per unit of object space: per object size, per metre of ground) and bump range.
_FAMILY_TABLE: dict[
    str, tuple[tuple[Range, Range, Range], tuple[Range, Range, Range], Range, float, Range, Range]
] = {
    "wood": (
        ((0.05, 0.1), (0.5, 0.8), (0.35, 0.7)),
        ((0.04, 0.08), (0.6, 0.9), (0.12, 0.3)),
        (0.35, 0.7),
        0.0,
        (1.5, 4.0),
        (0.05, 0.2),
    ),
    "marble": (
        ((0.0, 1.0), (0.0, 0.12), (0.75, 0.95)),
        ((0.0, 1.0), (0.0, 0.3), (0.1, 0.5)),
        (0.05, 0.25),
        0.0,
        (1.0, 3.0),
        (0.0, 0.05),
    ),
    "brushed_metal": (
        ((0.0, 1.0), (0.0, 0.15), (0.55, 0.95)),
        ((0.0, 1.0), (0.0, 0.1), (0.4, 0.7)),
        (0.2, 0.45),
        1.0,
        (20.0, 60.0),
        (0.02, 0.1),
    ),
    "rough_metal": (
        ((0.0, 1.0), (0.0, 0.35), (0.4, 0.9)),
        ((0.05, 0.1), (0.3, 0.7), (0.1, 0.3)),
        (0.45, 0.85),
        1.0,
        (3.0, 10.0),
        (0.1, 0.4),
    ),
    "rough_plastic": (
        ((0.0, 1.0), (0.4, 0.95), (0.35, 0.95)),
        ((0.0, 1.0), (0.3, 0.9), (0.3, 0.9)),
        (0.5, 0.9),
        0.0,
        (20.0, 60.0),
        (0.02, 0.1),
    ),
    "glossy_plastic": (
        ((0.0, 1.0), (0.5, 1.0), (0.4, 0.95)),
        ((0.0, 1.0), (0.5, 1.0), (0.4, 0.95)),
        (0.02, 0.15),
        0.0,
        (5.0, 15.0),
        (0.0, 0.02),
    ),
    "fabric": (
        ((0.0, 1.0), (0.2, 0.8), (0.2, 0.85)),
        ((0.0, 1.0), (0.2, 0.8), (0.1, 0.6)),
        (0.8, 1.0),
        0.0,
        (40.0, 120.0),
        (0.1, 0.35),
    ),
    "concrete": (
        ((0.05, 0.15), (0.0, 0.12), (0.45, 0.75)),
        ((0.05, 0.15), (0.0, 0.1), (0.25, 0.5)),
        (0.75, 0.95),
        0.0,
        (4.0, 12.0),
        (0.1, 0.35),
    ),
    "rock": (
        ((0.03, 0.12), (0.05, 0.35), (0.3, 0.6)),
        ((0.03, 0.12), (0.05, 0.3), (0.1, 0.3)),
        (0.7, 0.95),
        0.0,
        (2.0, 6.0),
        (0.3, 0.7),
    ),
    "rubber": (
        ((0.0, 1.0), (0.0, 0.6), (0.05, 0.35)),
        ((0.0, 1.0), (0.0, 0.3), (0.03, 0.2)),
        (0.6, 0.9),
        0.0,
        (30.0, 80.0),
        (0.02, 0.1),
    ),
    "car_paint": (
        ((0.0, 1.0), (0.6, 1.0), (0.3, 0.9)),
        ((0.0, 1.0), (0.5, 1.0), (0.2, 0.6)),
        (0.25, 0.45),
        0.5,
        (150.0, 300.0),
        (0.0, 0.03),
    ),
    "ceramic": (
        ((0.0, 1.0), (0.0, 0.6), (0.6, 0.95)),
        ((0.0, 1.0), (0.0, 0.4), (0.4, 0.8)),
        (0.03, 0.15),
        0.0,
        (2.0, 6.0),
        (0.0, 0.02),
    ),
    "asphalt": (
        ((0.0, 1.0), (0.0, 0.05), (0.08, 0.2)),
        ((0.0, 1.0), (0.0, 0.05), (0.25, 0.45)),
        (0.8, 0.95),
        0.0,
        (20.0, 60.0),
        (0.1, 0.35),
    ),
    "tiles": (
        ((0.0, 1.0), (0.0, 0.4), (0.4, 0.9)),
        ((0.0, 1.0), (0.0, 0.1), (0.15, 0.5)),
        (0.1, 0.4),
        0.0,
        (0.5, 1.5),
        (0.2, 0.5),
    ),
    "sand": (
        ((0.08, 0.13), (0.25, 0.5), (0.55, 0.85)),
        ((0.07, 0.12), (0.3, 0.55), (0.35, 0.6)),
        (0.85, 1.0),
        0.0,
        (0.5, 2.0),
        (0.1, 0.4),
    ),
    "grass": (
        ((0.2, 0.33), (0.5, 0.85), (0.25, 0.55)),
        ((0.15, 0.3), (0.4, 0.8), (0.1, 0.3)),
        (0.8, 1.0),
        0.0,
        (20.0, 60.0),
        (0.2, 0.5),
    ),
    "wood_floor": (
        ((0.05, 0.1), (0.4, 0.75), (0.35, 0.7)),
        ((0.04, 0.08), (0.5, 0.85), (0.1, 0.3)),
        (0.25, 0.6),
        0.0,
        (1.0, 2.0),
        (0.05, 0.2),
    ),
    "checker": (
        ((0.0, 1.0), (0.0, 0.5), (0.15, 0.6)),
        ((0.0, 1.0), (0.0, 0.5), (0.15, 0.6)),
        (0.5, 1.0),
        0.0,
        (0.2, 0.75),
        (0.0, 0.0),
    ),
}


def _hsv_color(rng: np.random.Generator, ranges: tuple[Range, Range, Range]) -> ColorRGB:
    """A colour with hue, saturation and value uniform in the family's bands (wood stays brown)."""
    hue, sat, val = ranges
    return hsv_to_rgb(float(rng.uniform(*hue)), float(rng.uniform(*sat)), float(rng.uniform(*val)))


def sample_family(rng: np.random.Generator, family: str) -> MaterialSpec:
    """A library material of ``family`` (any object or ground family; ``checker`` is the classic ground)."""
    if family not in _FAMILY_TABLE:
        raise ConfigError(f"material family {family!r}: choose from {sorted(_FAMILY_TABLE)}")
    first, second, roughness, metallic, scale, bump = _FAMILY_TABLE[family]
    base = _hsv_color(rng, first)
    secondary = _hsv_color(rng, second)
    fields = {
        "family": "principled" if family == "checker" else family,
        "texture": "checker" if family == "checker" else "none",
        "base_color_rgb": base,
        "secondary_color_rgb": secondary,
        "roughness": float(rng.uniform(*roughness)),
        "metallic": metallic,
        "texture_scale": float(rng.uniform(*scale)),
        "bump_strength": float(rng.uniform(*bump)),
        "pattern_offset_m": tuple(float(v) for v in rng.uniform(-50.0, 50.0, size=3)),
        "pattern_detail": float(rng.uniform(2.0, 8.0)),
        "coat": float(rng.uniform(0.6, 1.0)) if family in ("car_paint", "ceramic", "glossy_plastic") else 0.0,
        "anisotropy": float(rng.uniform(0.5, 0.9)) if family == "brushed_metal" else 0.0,
        "sheen": float(rng.uniform(0.3, 1.0)) if family in ("fabric", "rubber") else 0.0,
    }
    return MaterialSpec(**fields)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------- look


@dataclasses.dataclass(frozen=True)
class LookSettings:
    """The look keys of ``scene.params``, checked (``look_settings``)."""

    material_library_probability: float
    material_families: tuple[MaterialFamily, ...]
    ground_families: tuple[str, ...]
    motion_blur_probability: float
    shutter_fraction: Range
    dof_probability: float
    f_stop: Range
    exposure_ev: Range
    white_balance_k: Range
    hdri_light_scale: float


def look_settings(ctx: SceneContext) -> LookSettings:
    """The look of ``ctx.params``; absent keys mean the flat look. ConfigError naming the key otherwise."""
    return LookSettings(
        material_library_probability=ctx.probability("material_library_probability", 0.0),
        material_families=_families(ctx, "material_families", OBJECT_FAMILIES),
        ground_families=_families(ctx, "ground_families", ()),
        motion_blur_probability=ctx.probability("motion_blur_probability", 0.0),
        shutter_fraction=_range(ctx, "shutter_fraction", (0.5, 0.5), 0.0, 1.0),
        dof_probability=ctx.probability("dof_probability", 0.0),
        f_stop=_range(ctx, "f_stop", (2.8, 8.0), 0.5, 128.0),
        exposure_ev=_range(ctx, "exposure_ev", (0.0, 0.0), -10.0, 10.0),
        white_balance_k=_range(ctx, "white_balance_k", (6500.0, 6500.0), 2500.0, 25000.0),
        hdri_light_scale=ctx.probability("hdri_light_scale", 1.0),
    )


def _families(ctx: SceneContext, name: str, default: Sequence[str]) -> tuple[Any, ...]:
    value = ctx.param(name, list(default))
    known = OBJECT_FAMILIES if name == "material_families" else GROUND_FAMILIES
    if not isinstance(value, list | tuple) or not all(v in known for v in value):
        raise ConfigError(f"scene.params.{name}={value!r}: choose a list from {list(known)}")
    if name == "material_families" and not value:
        raise ConfigError(
            f"scene.params.{name}=[]: needs at least one family (or material_library_probability=0)"
        )
    return tuple(value)


def _range(ctx: SceneContext, name: str, default: Range, lowest: float, highest: float) -> Range:
    value = ctx.param(name, list(default))
    try:
        if isinstance(value, str | bytes) or len(value) != 2:
            raise TypeError
        low, high = float(value[0]), float(value[1])
    except (TypeError, ValueError):
        raise ConfigError(f"scene.params.{name}={value!r}: must be a list [low, high]") from None
    if not lowest <= low <= high <= highest:
        raise ConfigError(
            f"scene.params.{name}={value!r}: must be [low, high] within {lowest:g}..{highest:g}"
        )
    return low, high


def look_rng(dataset_seed: int, clip_index: int, variant: str) -> np.random.Generator:
    """The clip's look stream: ``SeedSequence([dataset_seed, clip_index, 2, 0 target | 1 reference])``."""
    seq = np.random.SeedSequence([dataset_seed, clip_index, LOOK_STREAM, 0 if variant == "target" else 1])
    return np.random.Generator(np.random.PCG64(seq))


def dress(
    rng: np.random.Generator, look: LookSettings, objects: Sequence[ObjectSpec], world: WorldSpec
) -> tuple[tuple[ObjectSpec, ...], WorldSpec]:
    """Objects and world with library materials and a library ground, as ``look`` asks.

    Every object draws the same numbers whether or not it is dressed, so changing one probability does not
    reshuffle the other objects' materials.
    """
    dressed = []
    for obj in objects:
        use = rng.uniform() < look.material_library_probability
        family = look.material_families[int(rng.integers(len(look.material_families)))]
        material = sample_family(rng, family)
        if use and obj.material.emission_strength == 0.0:
            dressed.append(obj.model_copy(update={"material": material}))
        else:
            dressed.append(obj)
    if look.ground_families and world.ground:
        ground = look.ground_families[int(rng.integers(len(look.ground_families)))]
        material = sample_family(rng, ground)
        # Patterns are in the plane's own coordinates, which span the whole ground: scale per metre x size.
        material = material.model_copy(update={"texture_scale": material.texture_scale * world.ground_size_m})
        world = world.model_copy(update={"ground_material": material})
    return tuple(dressed), world


def sample_optics(
    rng: np.random.Generator, look: LookSettings, objects: Sequence[ObjectSpec], camera: CameraSpec
) -> CameraSpec:
    """``camera`` with motion blur, depth of field (focused on a random object), exposure and white balance."""
    blur = rng.uniform() < look.motion_blur_probability
    shutter = float(rng.uniform(*look.shutter_fraction))
    dof = rng.uniform() < look.dof_probability and bool(objects)
    f_stop = float(math.exp(rng.uniform(math.log(look.f_stop[0]), math.log(look.f_stop[1]))))
    focus = objects[int(rng.integers(len(objects)))].object_id if objects else 0
    optics = OpticsSpec(
        shutter_fraction=shutter if blur else 0.0,
        f_stop=f_stop if dof else 0.0,
        focus_object_id=focus if dof else 0,
        exposure_ev=float(rng.uniform(*look.exposure_ev)),
        white_balance_k=float(rng.uniform(*look.white_balance_k)),
    )
    return camera.model_copy(update={"optics": optics})


def apply_look(
    ctx: SceneContext,
    rng: np.random.Generator,
    objects: Sequence[ObjectSpec],
    scene: SceneDescription,
    camera: CameraSpec,
) -> tuple[tuple[ObjectSpec, ...], SceneDescription, CameraSpec]:
    """Materials, ground and optics of the look in ``ctx.params``, drawn from ``rng`` (``look_rng``).

    Under an environment map the recipe's lamps are dimmed by ``hdri_light_scale``: the map already lights
    the scene, and map plus full lamps burn the frame out; a share of those clips gets a ground-projected
    dome (``appearance.with_ground_projection``).
    """
    look = look_settings(ctx)
    dressed, world = dress(rng, look, objects, scene.world)
    lights = scene.lights
    if world.background == "hdri" and look.hdri_light_scale != 1.0:
        lights = tuple(
            light.model_copy(update={"strength": light.strength * look.hdri_light_scale}) for light in lights
        )
    dressed_camera = sample_optics(rng, look, dressed, camera)
    # Drawn last, so the look's earlier draws are those of looks without a dome.
    world = with_ground_projection(rng, ctx, world)
    scene = dataclasses.replace(scene, world=world, lights=lights)
    return dressed, scene, dressed_camera
