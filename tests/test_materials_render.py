"""Blender: every material family and ground builds and renders; optics keep the labels' passes sharp."""

from __future__ import annotations

import numpy as np
import pytest

from synthgen.describe.spec import (
    CameraSpec,
    ClipSpec,
    MaterialFamily,
    ObjectSpec,
    OpticsSpec,
    StaticPath,
    WorldSpec,
)
from synthgen.render import render_clip
from synthgen.scenes.materials import GROUND_FAMILIES, OBJECT_FAMILIES, sample_family
from tests.conftest import clip_settings, render_spec

pytestmark = [pytest.mark.blender, pytest.mark.slow]


def tiny_spec(family: MaterialFamily, ground: MaterialFamily, optics: OpticsSpec | None = None) -> ClipSpec:
    rng = np.random.default_rng(7)
    ball = ObjectSpec(
        object_id=1,
        name="ball",
        primitive="sphere",
        size_m=1.5,
        material=sample_family(rng, family),
        path=StaticPath(position_m=(0.0, 0.0, 0.75)),
    )
    return ClipSpec(
        dataset_seed=0,
        clip_index=0,
        scene="tracked_objects",
        clip=clip_settings(width=64, height=64, num_frames=1, fps=24.0),
        camera=CameraSpec(
            position_m=(0.0, -4.0, 2.0), look_at_m=(0.0, 0.0, 0.6), optics=optics or OpticsSpec()
        ),
        objects=(ball,),
        world=WorldSpec(background="plain", strength=0.5, ground_material=sample_family(rng, ground)),
        render=render_spec(samples=2, tracks_per_object=4, background_tracks=4),
    )


def test_every_family_and_ground_renders_a_pattern_and_keeps_ids() -> None:
    grounds = GROUND_FAMILIES * 2
    flat = render_clip(tiny_spec("rough_plastic", "checker", OpticsSpec()))
    for family, ground in zip(OBJECT_FAMILIES, grounds, strict=False):
        clip = render_clip(tiny_spec(family, ground))
        frame = clip.frames_rgb[0].astype(np.float64)
        ball = clip.instance_ids[0] == 1
        # The ball is where the labels put it (bump shades normals only, geometry is unchanged).
        np.testing.assert_array_equal(clip.instance_ids[0], flat.instance_ids[0])
        assert ball.sum() > 100 and frame[ball].std() > 0.5, family
        assert frame[~ball].std() > 0.5, ground


def test_blur_and_depth_of_field_change_the_image_not_the_label_passes() -> None:
    sharp = render_clip(tiny_spec("wood", "tiles"))
    optics = OpticsSpec(
        shutter_fraction=0.5, f_stop=0.5, focus_distance_m=1.0, exposure_ev=1.0, white_balance_k=4000
    )
    soft = render_clip(tiny_spec("wood", "tiles", optics))
    np.testing.assert_array_equal(soft.instance_ids, sharp.instance_ids)
    np.testing.assert_allclose(soft.depth_m, sharp.depth_m, rtol=1e-5)
    assert np.abs(soft.frames_rgb.astype(int) - sharp.frames_rgb.astype(int)).mean() > 5.0
    # Balancing for 4000 K light makes the frame bluer; +1 EV brighter.
    mean_sharp = sharp.frames_rgb.reshape(-1, 3).mean(axis=0)
    mean_soft = soft.frames_rgb.reshape(-1, 3).mean(axis=0)
    assert mean_soft.sum() > mean_sharp.sum()
    assert mean_soft[2] / mean_soft[0] > mean_sharp[2] / mean_sharp[0]


def test_the_sharp_label_pass_drops_world_and_materials_without_changing_a_label(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from synthgen.render import engine

    optics = OpticsSpec(shutter_fraction=0.5, f_stop=2.0, focus_distance_m=4.0)
    spec = tiny_spec("marble", "asphalt", optics)
    spec = spec.model_copy(
        update={
            "world": spec.world.model_copy(update={"background": "sky", "strength": 0.1}),
            "render": spec.render.model_copy(update={"dense_labels": True}),
        }
    )
    for dense in (False, True):
        case = spec.model_copy(update={"render": spec.render.model_copy(update={"dense_labels": dense})})
        stripped = render_clip(case)
        with monkeypatch.context() as patch:
            patch.setattr(engine, "use_label_shading", lambda bpy, scene, *, keep_materials: None)
            full = render_clip(case)
        np.testing.assert_array_equal(stripped.instance_ids, full.instance_ids)
        np.testing.assert_array_equal(stripped.depth_m, full.depth_m)
        assert (stripped.instance_ids == 1).sum() > 100 and np.isinf(stripped.depth_m).any()  # ball and sky
        if dense:
            assert stripped.normals_world is not None and full.normals_world is not None
            np.testing.assert_allclose(stripped.normals_world, full.normals_world, atol=1e-6)
        np.testing.assert_array_equal(stripped.frames_rgb, full.frames_rgb)  # the beauty pass is untouched
