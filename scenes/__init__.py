"""Scene recipes: small modules that *describe* a scene from a random generator.

A recipe is a module (or any object) with

- ``sample(rng: numpy.random.Generator, ctx: SceneContext) -> SceneDescription`` (required): objects,
  lights, world and the stage the camera should frame. Dynamic objects are returned standing still; the
  motion sampler gives them paths afterwards, so every recipe gets every motion kind for free.
- ``build(spec: ClipSpec, builder) -> None`` (optional): Blender-only decoration after the generic build,
  through the builder object ``synthgen.render`` passes (which exposes ``bpy``). Most recipes need none.

Recipes never import ``bpy`` at module level, so sampling runs without Blender. Built-ins are found by name;
a user's recipe by dotted module path (``my_pkg.scenes.kitchen``, optionally ``module:attribute``) or by a
``.py`` file path.

A recipe that is not built in is code: it is imported only when the caller allows it (``allow_code``). The
user's own config allows it (they named the recipe); a spec read from a dataset does not, unless the caller
opts in (``render_clip(..., trust_recipes=True)``). docs/security.md states the rule.
"""

from __future__ import annotations

import importlib
import importlib.util
import math
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol, cast, runtime_checkable

import numpy as np

from synthgen.describe.spec import ClipSettings, LightSpec, ObjectSpec, Vec3, WorldSpec
from synthgen.errors import ConfigError

BUILTIN_RECIPES = ("tracked_objects", "camera_set", "beat_stage")


@dataclass(frozen=True)
class SceneContext:
    """What a recipe may look at: its own parameters (``scene.params``) and the clip geometry."""

    clip: ClipSettings
    params: Mapping[str, Any] = field(default_factory=dict)

    def param(self, name: str, default: Any) -> Any:
        """A recipe parameter with its default."""
        return self.params.get(name, default)

    def int_range(self, name: str, default: tuple[int, int], lowest: int, highest: int) -> tuple[int, int]:
        """Parameter ``name`` as integers ``[low, high]`` with ``lowest <= low <= high <= highest``.

        Raises ``ConfigError`` naming ``scene.params.<name>`` for anything else (a scalar, a string, ...).
        """
        low, high = self._pair(name, default, int)
        if not lowest <= low <= high <= highest:
            raise ConfigError(
                f"scene.params.{name}={[low, high]}: must be [low, high] within {lowest}..{highest}"
            )
        return int(low), int(high)

    def float_range(self, name: str, default: tuple[float, float]) -> tuple[float, float]:
        """Parameter ``name`` as positive finite floats ``[low, high]`` with ``low <= high``; else ConfigError."""
        low, high = self._pair(name, default, float)
        if not (0.0 < low <= high < math.inf):
            raise ConfigError(f"scene.params.{name}={[low, high]}: must be [low, high] with 0 < low <= high")
        return float(low), float(high)

    def probability(self, name: str, default: float) -> float:
        """Parameter ``name`` as a probability in [0, 1]; ConfigError naming it otherwise."""
        value = self.params.get(name, default)
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = math.nan
        if not 0.0 <= number <= 1.0:
            raise ConfigError(f"scene.params.{name}={value!r}: must be a probability in [0, 1]")
        return number

    def _pair(self, name: str, default: Any, kind: type[int] | type[float]) -> tuple[Any, Any]:
        value = self.params.get(name, default)
        try:
            if isinstance(value, str | bytes) or len(value) != 2:
                raise TypeError
            numbers = [float(v) for v in value]
        except (TypeError, ValueError):
            raise ConfigError(f"scene.params.{name}={value!r}: must be a list [low, high]") from None
        if kind is int and not all(n.is_integer() for n in numbers):
            raise ConfigError(f"scene.params.{name}={value!r}: must be whole numbers [low, high]")
        return kind(numbers[0]), kind(numbers[1])


@dataclass(frozen=True)
class SceneDescription:
    """A recipe's output. ``stage_center_m``/``stage_radius_m`` say where the action is (camera aim)."""

    objects: tuple[ObjectSpec, ...]
    lights: tuple[LightSpec, ...]
    world: WorldSpec
    stage_center_m: Vec3 = (0.0, 0.0, 0.5)
    stage_radius_m: float = 2.0
    camera_azimuth_deg: tuple[float, float] = (-180.0, 180.0)
    """Directions (from the stage centre, counter-clockwise from +X) the camera may stand in, e.g. a room's
    open side."""


@runtime_checkable
class Recipe(Protocol):
    """The recipe interface (a module with a ``sample`` function satisfies it)."""

    def sample(self, rng: np.random.Generator, ctx: SceneContext) -> SceneDescription: ...


def get_recipe(name: str, *, allow_code: bool = True) -> Recipe:
    """Find a recipe by built-in name, dotted module path (``pkg.mod`` or ``pkg.mod:attr``) or .py path.

    ``allow_code=False`` resolves built-in names only and refuses anything that would import other code.
    Raises ``ConfigError`` naming ``scene.recipe`` when nothing matches, the module has no ``sample``, or
    the name needs code that is not allowed.
    """
    target: Any
    if name in BUILTIN_RECIPES:
        target = importlib.import_module(f"synthgen.scenes.{name}")
    elif not allow_code:
        raise ConfigError(
            f"scene.recipe={name!r}: not a built-in recipe ({', '.join(BUILTIN_RECIPES)}); importing the code a "
            "spec names needs trust_recipes=True (--trust-recipes), see docs/security.md"
        )
    elif name.endswith(".py"):
        target = _load_file(name)
    else:
        target = _load_dotted(name)
    if not callable(getattr(target, "sample", None)):
        raise ConfigError(f"scene.recipe={name!r}: recipe has no sample(rng, ctx) function")
    return cast(Recipe, target)


def _load_file(name: str) -> ModuleType:
    path = Path(name).expanduser()
    if not path.is_file():
        raise ConfigError(f"scene.recipe={name!r}: file not found")
    module_name = f"synthgen_user_recipe_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"scene.recipe={name!r}: cannot import this file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as err:
        sys.modules.pop(module_name, None)
        raise ConfigError(f"scene.recipe={name!r}: importing it raised {type(err).__name__}: {err}") from None
    return module


def _load_dotted(name: str) -> Any:
    module_name, _, attribute = name.partition(":")
    if "." not in module_name and not attribute:
        raise ConfigError(
            f"scene.recipe={name!r}: unknown recipe (built-ins: {', '.join(BUILTIN_RECIPES)}; "
            "or give a dotted module path or a .py file)"
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ConfigError(f"scene.recipe={name!r}: cannot import module {module_name!r} ({err})") from None
    if not attribute:
        return module
    try:
        return getattr(module, attribute)
    except AttributeError:
        raise ConfigError(f"scene.recipe={name!r}: module {module_name!r} has no {attribute!r}") from None
