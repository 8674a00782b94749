"""Deterministic sampling: config + seed + clip index -> ClipSpec."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synthgen.describe.sampling import sample_clip, sample_reference_scene
from synthgen.describe.spec import StaticPath
from synthgen.errors import ConfigError, RenderError
from synthgen.scenes import BUILTIN_RECIPES, get_recipe
from tests.conftest import tiny_config


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), index=st.integers(0, 10_000), recipe=st.sampled_from(BUILTIN_RECIPES))
def test_same_seed_and_index_give_identical_spec_json(seed: int, index: int, recipe: str) -> None:
    cfg = tiny_config(f"scene={recipe}", dataset={"seed": seed, "num_clips": 10_001})
    assert sample_clip(cfg, index).to_json() == sample_clip(cfg, index).to_json()


@pytest.mark.parametrize("recipe", BUILTIN_RECIPES)
def test_different_clip_indices_give_different_clips(recipe: str) -> None:
    cfg = tiny_config(f"scene={recipe}", dataset={"num_clips": 8})
    specs = {sample_clip(cfg, i).model_copy(update={"clip_index": 0}).to_json() for i in range(8)}
    assert len(specs) == 8


def test_different_dataset_seeds_give_different_clips() -> None:
    a = sample_clip(tiny_config(dataset={"seed": 1}), 0)
    b = sample_clip(tiny_config(dataset={"seed": 2}), 0)
    assert a.objects != b.objects


def test_sampling_a_clip_does_not_touch_global_numpy_random_state() -> None:
    np.random.seed(123)  # noqa: NPY002 - the legacy global state is what must stay untouched
    before = np.random.get_state()[1].copy()  # type: ignore[index]  # noqa: NPY002
    sample_clip(tiny_config(dataset={"num_clips": 6}), 5)
    assert np.array_equal(np.random.get_state()[1], before)  # type: ignore[index]  # noqa: NPY002


def test_clip_order_does_not_matter() -> None:
    cfg = tiny_config(dataset={"num_clips": 4})
    forward = [sample_clip(cfg, i).to_json() for i in range(4)]
    backward = [sample_clip(cfg, i).to_json() for i in reversed(range(4))][::-1]
    assert forward == backward


def test_tracked_objects_move_and_camera_set_props_stand_still() -> None:
    moving = sample_clip(tiny_config("scene=tracked_objects"), 0)
    assert moving.objects and all(not isinstance(o.path, StaticPath) for o in moving.objects)
    static_set = sample_clip(tiny_config("scene=camera_set"), 0)
    assert all(isinstance(o.path, StaticPath) for o in static_set.objects)


def test_reference_scene_shares_camera_but_not_objects() -> None:
    cfg = tiny_config("control=camera_motion", dataset={"num_clips": 4})  # also selects scene=camera_set
    target = sample_clip(cfg, 3)
    reference = sample_reference_scene(cfg, target)
    assert reference.camera == target.camera
    assert reference.objects != target.objects
    assert reference.variant == "reference" and reference.clip_id != target.clip_id


def test_audio_bindings_expand_to_every_object() -> None:
    cfg = tiny_config(
        "scene=beat_stage",
        audio={
            "enabled": True,
            "bindings": [{"kind": "bounce", "target": "all", "source": "beat", "amount": 0.5}],
        },
    )
    spec = sample_clip(cfg, 0)
    assert spec.audio is not None
    assert sorted(b.target_id for b in spec.audio.bindings) == sorted(o.object_id for o in spec.objects)


def test_unknown_recipe_is_a_config_error_naming_scene_recipe() -> None:
    with pytest.raises(ConfigError, match=r"^scene.recipe='nope'"):
        tiny_config("scene=custom", scene={"recipe": "nope"})


def test_user_recipe_loads_from_a_python_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    recipe = tmp_path / "my_recipe.py"
    recipe.write_text(
        "from synthgen.scenes import SceneDescription\n"
        "from synthgen.describe.spec import ObjectSpec, WorldSpec, LightSpec\n"
        "def sample(rng, ctx):\n"
        "    size = float(rng.uniform(0.2, 0.4))\n"
        "    return SceneDescription((ObjectSpec(object_id=1, name='pebble', size_m=size),), (LightSpec(),), WorldSpec())\n"
    )
    spec = sample_clip(tiny_config("scene=custom", scene={"recipe": str(recipe)}), 0)
    assert [o.name for o in spec.objects] == ["pebble"]


def test_user_recipe_loads_from_a_dotted_module_path() -> None:
    assert get_recipe("synthgen.scenes.beat_stage") is get_recipe("beat_stage")


def test_recipe_file_that_raises_on_import_gives_one_line_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    recipe = tmp_path / "broken.py"
    recipe.write_text("raise RuntimeError('boom')\n")
    with pytest.raises(ConfigError, match="boom") as info:
        get_recipe(str(recipe))
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("recipe", "params", "field"),
    [
        ("tracked_objects", {"num_objects": 3}, "scene.params.num_objects=3"),
        ("tracked_objects", {"num_objects": [1, 2, 3]}, "scene.params.num_objects=[1, 2, 3]"),
        ("tracked_objects", {"num_objects": ["a", "b"]}, "scene.params.num_objects="),
        ("tracked_objects", {"num_lights": [-1, 2]}, "scene.params.num_lights=[-1, 2]"),
        ("tracked_objects", {"size_m": [-1.0, 0.5]}, "scene.params.size_m=[-1.0, 0.5]"),
        ("tracked_objects", {"sky_probability": "often"}, "scene.params.sky_probability='often'"),
        ("tracked_objects", {"primitives": "cube"}, "scene.params.primitives='cube'"),
        ("camera_set", {"num_props": 7}, "scene.params.num_props=7"),
        ("beat_stage", {"emissive_probability": 2}, "scene.params.emissive_probability=2"),
    ],
)
def test_bad_recipe_params_fail_at_config_load_with_one_line_error_naming_the_param(
    recipe: str, params: dict, field: str
) -> None:
    with pytest.raises(ConfigError) as info:
        tiny_config(f"scene={recipe}", scene={"params": params})
    assert str(info.value).startswith(field) and "\n" not in str(info.value)


def _user_recipe(tmp_path, body: str) -> str:  # type: ignore[no-untyped-def]
    recipe = tmp_path / "user_recipe.py"
    recipe.write_text(
        "from synthgen.scenes import SceneDescription\n"
        "from synthgen.describe.spec import ObjectSpec, WorldSpec, LightSpec\n"
        f"def sample(rng, ctx):\n    {body}\n"
    )
    return str(recipe)


@pytest.mark.parametrize(
    ("body", "cause"),
    [
        ("raise KeyError('no props\\nsecond line')", "sample() raised KeyError: 'no props"),
        ("return 42", "sample() returned int, not a SceneDescription"),
        ("ObjectSpec(object_id=1, name='x', size_m=-1.0)", "invalid spec: size_m=-1.0"),
    ],
)
def test_recipe_whose_sample_fails_gives_one_line_error_naming_clip_and_recipe(
    tmp_path, body: str, cause: str
) -> None:  # type: ignore[no-untyped-def]
    recipe = _user_recipe(tmp_path, body)
    with pytest.raises(RenderError) as info:
        sample_clip(tiny_config("scene=custom", scene={"recipe": recipe}, dataset={"num_clips": 8}), 7)
    message = str(info.value)
    assert message.startswith(f"clip tiny-000007 (scene recipe {recipe!r}): ")
    assert cause in message and "\n" not in message
