"""HDR environment lighting: sampled from Blender's bundled maps or a user folder, recorded with its sha256,
rendered through an Environment Texture, and refused at config load when the folder or a file is bad."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from synthgen.describe.sampling import sample_clip
from synthgen.describe.spec import ClipSpec, ObjectSpec, StaticPath, WorldSpec
from synthgen.errors import ConfigError, DataError, RenderError
from synthgen.render import render_clip
from synthgen.scenes import BUILTIN_RECIPES
from synthgen.scenes.environment import builtin_hdri_dir, list_hdris
from tests.conftest import clip_settings, render_spec, tiny_config

needs_bpy = pytest.mark.blender


def hdri_config(recipe: str = "tracked_objects", **params: Any) -> Any:
    return tiny_config(f"scene={recipe}", scene={"params": {"hdri_probability": 1.0, **params}})


@needs_bpy
def test_builtin_folder_is_found_from_bpy_and_holds_exr_maps() -> None:
    folder = builtin_hdri_dir()
    assert folder.name == "world" and folder.parent.name == "studiolights"
    names = [h.name for h in list_hdris("builtin")]
    assert names == sorted(names) and len(names) >= 1 and all(n.endswith(".exr") for n in names)


@needs_bpy
@pytest.mark.parametrize("recipe", BUILTIN_RECIPES)
def test_every_builtin_recipe_samples_a_recorded_hashed_map(recipe: str) -> None:
    spec = sample_clip(hdri_config(recipe), 0)
    world = spec.world
    assert world.background == "hdri" and world.hdri_dir == "builtin"
    assert world.hdri_file is not None
    data = (builtin_hdri_dir() / world.hdri_file).read_bytes()
    assert world.hdri_sha256 == hashlib.sha256(data).hexdigest()
    assert 0.0 <= world.hdri_rotation_deg < 360.0 and 0.5 <= world.strength <= 1.5
    # The spec round-trips through JSON with the map's name and hash, so it reproduces the clip.
    assert ClipSpec.model_validate_json(spec.model_dump_json()) == spec
    assert sample_clip(hdri_config(recipe), 0) == spec


def test_maps_are_off_by_default_so_existing_specs_are_unchanged() -> None:
    cfg = tiny_config(dataset={"num_clips": 6})
    assert cfg.scene.params["hdri_probability"] == 0.0
    assert all(sample_clip(cfg, i).world.background != "hdri" for i in range(6))


@needs_bpy
def test_user_folder_maps_are_sampled_per_clip_from_the_clip_rng(tmp_path: Path) -> None:
    for name in ("city.exr", "forest.exr", "night.exr"):
        shutil.copy(builtin_hdri_dir() / name, tmp_path / name)
    cfg = hdri_config(hdri_dir=str(tmp_path), hdri_strength=[0.2, 0.3])
    cfg = cfg.model_copy(update={"dataset": cfg.dataset.model_copy(update={"num_clips": 12})})
    worlds = [sample_clip(cfg, i).world for i in range(12)]
    assert {w.hdri_dir for w in worlds} == {str(tmp_path)}
    assert {w.hdri_file for w in worlds} <= {"city.exr", "forest.exr", "night.exr"}
    assert len({w.hdri_file for w in worlds}) > 1 and len({w.hdri_rotation_deg for w in worlds}) == 12
    assert all(0.2 <= w.strength <= 0.3 for w in worlds)


def test_missing_folder_is_refused_at_load(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(ConfigError, match=r"scene\.params\.hdri_dir=.*nope.*not found") as err:
        hdri_config(hdri_dir=str(missing))
    assert "\n" not in str(err.value)


def test_folder_without_maps_is_refused_at_load_even_when_unused(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("no maps here")
    with pytest.raises(ConfigError, match=r"no \.exr/\.hdr files in"):
        hdri_config(hdri_dir=str(tmp_path), hdri_probability=0.0)


def test_a_file_that_is_not_an_hdr_image_is_refused_at_load(tmp_path: Path) -> None:
    (tmp_path / "broken.exr").write_bytes(b"not an exr at all")
    with pytest.raises(ConfigError, match=r"broken\.exr.*bad signature"):
        hdri_config(hdri_dir=str(tmp_path))


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_an_unreadable_file_is_refused_at_load(tmp_path: Path) -> None:
    locked = tmp_path / "locked.hdr"
    locked.write_bytes(b"#?RADIANCE\n")
    locked.chmod(0)
    try:
        with pytest.raises(ConfigError, match=r"cannot read .*locked\.hdr"):
            hdri_config(hdri_dir=str(tmp_path))
    finally:
        locked.chmod(0o600)


def test_spec_refuses_a_map_name_that_leaves_its_folder() -> None:
    with pytest.raises(ValueError, match="bare file name"):
        WorldSpec(background="hdri", hdri_dir="builtin", hdri_file="../x.exr", hdri_sha256="0" * 64)
    with pytest.raises(ValueError, match="needs hdri_dir, hdri_file and hdri_sha256"):
        WorldSpec(background="hdri", hdri_dir="builtin")


# ------------------------------------------------------------------------------------------- rendering

BALL = (ObjectSpec(object_id=1, name="ball", primitive="sphere", size_m=1.0, path=StaticPath()),)


def tiny_hdri_spec(world: WorldSpec) -> ClipSpec:
    return ClipSpec(
        dataset_seed=0,
        clip_index=0,
        scene="tracked_objects",
        clip=clip_settings(width=64, height=64, num_frames=9, fps=24.0),
        objects=BALL,
        world=world,
        render=render_spec(samples=2, tracks_per_object=4, background_tracks=4),
    )


def builtin_world(name: str, rotation_deg: float = 90.0, **fields: Any) -> WorldSpec:
    digest = hashlib.sha256((builtin_hdri_dir() / name).read_bytes()).hexdigest()
    return WorldSpec(
        background="hdri",
        hdri_dir="builtin",
        hdri_file=name,
        hdri_sha256=digest,
        hdri_rotation_deg=rotation_deg,
        **fields,
    )


@needs_bpy
def test_an_environment_map_lights_and_backs_the_render_deterministically() -> None:
    plain = render_clip(tiny_hdri_spec(WorldSpec(background="plain"))).frames_rgb
    lit = render_clip(tiny_hdri_spec(builtin_world("sunset.exr"))).frames_rgb
    again = render_clip(tiny_hdri_spec(builtin_world("sunset.exr"))).frames_rgb
    turned = render_clip(tiny_hdri_spec(builtin_world("sunset.exr", rotation_deg=270.0))).frames_rgb
    assert np.abs(lit.astype(int) - plain.astype(int)).mean() > 5.0
    np.testing.assert_array_equal(lit, again)
    assert not np.array_equal(lit, turned)


@needs_bpy
def test_a_map_whose_bytes_changed_since_the_spec_is_refused() -> None:
    world = builtin_world("city.exr").model_copy(update={"hdri_sha256": "0" * 64})
    with pytest.raises((DataError, RenderError), match=r"city\.exr.*changed since the spec"):
        render_clip(tiny_hdri_spec(world))
