"""The look: material library and grounds, optics sampling, white-balance maths, look presets (no Blender)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from synthgen.describe.sampling import sample_clip, sample_reference_scene
from synthgen.describe.spec import ClipSpec, MaterialSpec, OpticsSpec
from synthgen.errors import ConfigError
from synthgen.render.shading import optics_gain, planckian_rgb, white_balance_gain
from synthgen.scenes.materials import GROUND_FAMILIES, OBJECT_FAMILIES, sample_family
from tests.conftest import tiny_config

# The default look without environment maps, so these tests need no bpy to list the bundled ones.
NO_HDRI = {"params": {"hdri_probability": 0.0}}


@pytest.mark.parametrize("family", OBJECT_FAMILIES + GROUND_FAMILIES)
def test_every_family_samples_a_valid_seeded_material(family: str) -> None:
    first = sample_family(np.random.default_rng(3), family)
    again = sample_family(np.random.default_rng(3), family)
    other = sample_family(np.random.default_rng(4), family)
    assert first == again and first != other
    assert MaterialSpec.model_validate_json(first.model_dump_json()) == first
    assert first.family == ("principled" if family == "checker" else family)


def test_default_look_dresses_objects_and_ground_and_samples_optics() -> None:
    cfg = tiny_config("look=default", dataset={"num_clips": 12}, scene=NO_HDRI)
    specs = [sample_clip(cfg, i) for i in range(12)]
    families = {obj.material.family for spec in specs for obj in spec.objects}
    grounds = {spec.world.ground_material.family for spec in specs}
    assert len(families - {"principled"}) >= 4 and len(grounds) >= 3
    optics = [spec.camera.optics for spec in specs]
    assert any(o.shutter_fraction > 0 for o in optics) and any(o.shutter_fraction == 0 for o in optics)
    assert any(o.f_stop > 0 for o in optics) and all(2.0 <= o.f_stop <= 8.0 for o in optics if o.f_stop)
    for spec in specs:
        ids = {obj.object_id for obj in spec.objects}
        assert spec.camera.optics.focus_object_id in ids | {0}
        assert ClipSpec.from_json(spec.to_json()) == spec
    assert [sample_clip(cfg, i) for i in range(12)] == specs


def test_the_look_never_shifts_the_scene_camera_or_motion() -> None:
    flat = tiny_config(dataset={"num_clips": 4})
    rich = tiny_config("look=default", dataset={"num_clips": 4}, scene=NO_HDRI)
    for index in range(4):
        a, b = sample_clip(flat, index), sample_clip(rich, index)
        assert [o.path for o in a.objects] == [o.path for o in b.objects]
        assert a.camera.model_copy(update={"optics": OpticsSpec()}) == b.camera.model_copy(
            update={"optics": OpticsSpec()}
        )
        assert a.lights == b.lights and a.world.background == b.world.background


def test_flat_look_keeps_the_recipes_materials_and_a_pinhole_camera() -> None:
    cfg = tiny_config(dataset={"num_clips": 6})
    for index in range(6):
        spec = sample_clip(cfg, index)
        assert all(obj.material.family == "principled" for obj in spec.objects)
        assert spec.world.ground_material.family == "principled"
        assert spec.camera.optics == OpticsSpec() and spec.world.background != "hdri"


def test_reference_scene_focuses_on_its_own_objects() -> None:
    cfg = tiny_config(
        "look=default",
        "control=camera_motion",
        dataset={"num_clips": 6},
        scene={"params": {"dof_probability": 1.0, "hdri_probability": 0.0}},
    )
    for index in range(6):
        target = sample_clip(cfg, index)
        reference = sample_reference_scene(cfg, target)
        assert reference.camera.moves == target.camera.moves
        ClipSpec.from_json(reference.to_json())  # the focus object is one of the reference's own


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("material_families", ["wood", "gold"], "material_families"),
        ("material_families", [], "material_families"),
        ("ground_families", "sand", "ground_families"),
        ("f_stop", [8.0, 2.0], "f_stop"),
        ("white_balance_k", [1000.0, 6500.0], "white_balance_k"),
        ("motion_blur_probability", 1.5, "motion_blur_probability"),
        ("exposure_ev", "bright", "exposure_ev"),
    ],
)
def test_bad_look_values_fail_at_config_load(key: str, value: object, message: str) -> None:
    with pytest.raises(ConfigError, match=f"scene.params.{message}"):
        tiny_config("look=default", scene={"params": {"hdri_probability": 0.0, key: value}})


def test_spec_refuses_a_focus_object_that_is_not_in_the_clip() -> None:
    spec = sample_clip(tiny_config(), 0)
    camera = spec.camera.model_copy(update={"optics": OpticsSpec(f_stop=2.0, focus_object_id=99)})
    with pytest.raises(ConfigError, match="focus_object_id=99 names no object"):
        ClipSpec.from_json(spec.model_copy(update={"camera": camera}).to_json())


# ------------------------------------------------------------------------------- white balance maths


def test_neutral_white_balance_and_zero_exposure_are_the_identity() -> None:
    np.testing.assert_allclose(white_balance_gain(6500.0), 1.0, atol=1e-12)
    np.testing.assert_allclose(optics_gain(OpticsSpec()), 1.0, atol=1e-12)


def test_d65_is_near_the_planckian_locus_at_6500_k() -> None:
    rgb = planckian_rgb(6504.0)
    # D65 white is (1, 1, 1) in linear Rec.709; the black body at its temperature is within a few percent.
    np.testing.assert_allclose(rgb / rgb[1], 1.0, atol=0.06)


@given(st.floats(2500.0, 25000.0), st.floats(2500.0, 25000.0))
def test_balancing_for_warmer_light_makes_frames_bluer(low_k: float, high_k: float) -> None:
    low_k, high_k = min(low_k, high_k), max(low_k, high_k)
    warm, cold = white_balance_gain(low_k), white_balance_gain(high_k)
    assert np.all(warm > 0) and np.all(cold > 0) and warm[1] == cold[1] == 1.0
    assert warm[2] / warm[0] >= cold[2] / cold[0] * (1 - 1e-9)


@given(st.floats(-10.0, 10.0), st.floats(2500.0, 25000.0))
def test_exposure_scales_every_channel_by_two_to_the_ev(ev: float, kelvin: float) -> None:
    gain = optics_gain(OpticsSpec(exposure_ev=ev, white_balance_k=kelvin))
    np.testing.assert_allclose(gain, 2.0**ev * white_balance_gain(kelvin), rtol=1e-12)
