"""Asset libraries: folders with weights, sampled per clip with file hashes, resolved inside their folder only;
Blender imports .obj/.glb/.usd files the test writes itself, and bad files fail with one line naming them."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from synthgen.describe.spec import CameraSpec, ClipSpec, ObjectSpec, StaticPath
from synthgen.errors import ConfigError, DataError, RenderError
from synthgen.scenes import SceneContext
from synthgen.scenes.assets import asset_library, resolve_asset
from synthgen.scenes.tracked_objects import sample as sample_tracked_objects
from tests.conftest import clip_settings, render_spec

# A unit tetrahedron stretched along x: 4 vertices, 4 faces.
TETRA_OBJ = "v 0 0 0\nv 2 0 0\nv 0 1 0\nv 0 0 1\nf 1 3 2\nf 1 2 4\nf 1 4 3\nf 2 3 4\n"


def _write(folder: Path, name: str, text: str = TETRA_OBJ) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_folder_lists_its_asset_files_sorted_including_subfolders(tmp_path: Path) -> None:
    _write(tmp_path, "b.obj")
    _write(tmp_path, "sub/a.obj")
    _write(tmp_path, "notes.txt", "not an asset")
    library = asset_library(str(tmp_path))
    assert library is not None
    assert library.names == (("b.obj", "sub/a.obj"),)


def test_weights_pick_folders_and_a_zero_weight_folder_is_never_drawn(tmp_path: Path) -> None:
    _write(tmp_path / "rocks", "r.obj")
    _write(tmp_path / "chairs", "c.obj")
    library = asset_library({str(tmp_path / "rocks"): 1.0, str(tmp_path / "chairs"): 0.0})
    assert library is not None
    rng = np.random.default_rng(0)
    assert {library.sample(rng).name for _ in range(20)} == {"r.obj"}


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda root: str(root / "missing"), "not found"),
        (lambda root: str(root), "holds no"),
        (lambda root: {str(root): -1.0}, "weights must be"),
        (lambda root: 7, "give a folder"),
    ],
)
def test_bad_libraries_are_config_errors_naming_the_param(tmp_path: Path, make: Any, match: str) -> None:
    with pytest.raises(ConfigError, match=rf"scene\.params\.assets.*{match}"):
        asset_library(make(tmp_path))


def test_a_symlink_leading_out_of_the_folder_is_not_listed(tmp_path: Path) -> None:
    outside = _write(tmp_path / "outside", "secret.obj")
    library_dir = tmp_path / "library"
    _write(library_dir, "ok.obj")
    (library_dir / "escape.obj").symlink_to(outside)
    library = asset_library(str(library_dir))
    assert library is not None and library.names == (("ok.obj",),)


def test_sampled_objects_record_folder_relative_path_and_sha256(tmp_path: Path) -> None:
    path = _write(tmp_path, "sub/tetra.obj")
    ctx = SceneContext(
        clip=clip_settings(),
        params={"assets": [str(tmp_path)], "asset_probability": 1.0, "num_objects": [3, 3]},
    )
    scene = sample_tracked_objects(np.random.default_rng(0), ctx)
    for obj in scene.objects:
        assert (
            obj.primitive == "mesh" and obj.asset_dir == str(tmp_path) and obj.asset_path == "sub/tetra.obj"
        )
        assert obj.asset_sha256 == _sha(path)
    assert sample_tracked_objects(np.random.default_rng(0), ctx) == scene


def test_assets_and_the_older_assets_dir_together_are_refused(tmp_path: Path) -> None:
    _write(tmp_path, "a.obj")
    ctx = SceneContext(clip=clip_settings(), params={"assets": str(tmp_path), "assets_dir": str(tmp_path)})
    with pytest.raises(ConfigError, match=r"scene\.params\.assets_dir"):
        sample_tracked_objects(np.random.default_rng(0), ctx)


@pytest.mark.parametrize("bad", ["../a.obj", "/etc/a.obj", "a/../../b.obj"])
def test_an_asset_path_that_leaves_its_folder_is_refused_in_the_spec(bad: str) -> None:
    with pytest.raises(ValueError, match="not a relative path inside its folder"):
        ObjectSpec(
            object_id=1, name="a", primitive="mesh", asset_dir="/lib", asset_path=bad, asset_sha256="0" * 64
        )


def test_an_asset_folder_needs_the_file_hash() -> None:
    with pytest.raises(ValueError, match="asset_sha256"):
        ObjectSpec(object_id=1, name="a", primitive="mesh", asset_dir="/lib", asset_path="a.obj")


def test_changed_asset_bytes_are_a_data_error_naming_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "a.obj")
    recorded = _sha(path)
    assert resolve_asset(str(tmp_path), "a.obj", recorded) == path
    path.write_text(TETRA_OBJ + "v 5 5 5\n")
    with pytest.raises(DataError, match=r"a\.obj.*changed since the spec was made"):
        resolve_asset(str(tmp_path), "a.obj", recorded)


# ------------------------------------------------------------------------------------------- Blender


def _asset_spec(folder: Path, name: str, **fields: Any) -> ClipSpec:
    obj = ObjectSpec(
        object_id=1,
        name="prop",
        primitive="mesh",
        asset_dir=str(folder),
        asset_path=name,
        asset_sha256=_sha(folder / name),
        size_m=1.0,
        path=StaticPath(position_m=(0.0, 0.0, 0.5)),
    )
    return ClipSpec(
        dataset_seed=0,
        clip_index=0,
        scene="tracked_objects",
        clip=clip_settings(width=64, height=64, num_frames=1, fps=24.0),
        camera=CameraSpec(position_m=(0.0, -4.0, 2.0), look_at_m=(0.0, 0.0, 0.5)),
        objects=(obj,),
        render=render_spec(samples=1, tracks_per_object=8, background_tracks=4),
        **fields,
    )


def _rendered_extent(spec: ClipSpec) -> np.ndarray:
    import bpy

    from synthgen.render import render_clip

    clip = render_clip(spec)
    assert 1 in np.unique(clip.instance_ids)
    coords = np.array([v.co[:] for v in bpy.data.objects["prop"].data.vertices])
    return np.asarray(coords.max(axis=0) - coords.min(axis=0))


@pytest.mark.blender
def test_an_obj_asset_renders_normalised_to_unit_bounds(tmp_path: Path) -> None:
    _write(tmp_path, "tetra.obj")
    extent = _rendered_extent(_asset_spec(tmp_path, "tetra.obj"))
    # Blender's OBJ importer turns +Y up into +Z up; the largest side is still the 2 m one, now 1.
    assert np.isclose(extent.max(), 1.0, atol=1e-6) and np.isclose(sorted(extent)[0], 0.5, atol=1e-6)


@pytest.mark.blender
@pytest.mark.parametrize("suffix", [".glb", ".usda"])
def test_glb_and_usd_assets_exported_by_blender_render(tmp_path: Path, suffix: str) -> None:
    import bpy

    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.mesh.primitive_cube_add(size=1.0)
    bpy.context.active_object.scale = (4.0, 2.0, 1.0)
    path = tmp_path / f"brick{suffix}"
    if suffix == ".glb":
        bpy.ops.export_scene.gltf(filepath=str(path), export_format="GLB")
    else:
        bpy.ops.wm.usd_export(filepath=str(path))
    extent = _rendered_extent(_asset_spec(tmp_path, path.name))
    assert np.allclose(sorted(extent), [0.25, 0.5, 1.0], atol=1e-5)


@pytest.mark.blender
@pytest.mark.parametrize(
    ("name", "text", "match"),
    [
        ("empty.obj", "# no geometry\n", "holds no mesh object"),
        ("broken.glb", "not a glTF file", "broken.glb"),
    ],
)
def test_an_asset_without_mesh_or_unreadable_fails_with_one_line_naming_it(
    tmp_path: Path, name: str, text: str, match: str
) -> None:
    from synthgen.render import render_clip

    _write(tmp_path, name, text)
    with pytest.raises(RenderError, match=match) as info:
        render_clip(_asset_spec(tmp_path, name))
    assert "\n" not in str(info.value) and name in str(info.value)
