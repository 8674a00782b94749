"""Rendering tiny clips with Blender: shapes, exact poses, tracks, occlusion, depth, determinism, errors."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from synthgen.describe.sampling import sample_clip
from synthgen.describe.spec import (
    CameraSpec,
    CirclePath,
    ClipSpec,
    LightSpec,
    MaterialSpec,
    ObjectSpec,
    StaticPath,
    WorldSpec,
)
from synthgen.errors import RenderError
from synthgen.labels.compute import compute_labels
from synthgen.render import PointTracks, RenderedClip, RenderWorker, render_clip
from synthgen.render.animate import POSE_TOLERANCE
from synthgen.scenes import BUILTIN_RECIPES
from tests.conftest import clip_settings, render_spec, tiny_config

pytestmark = pytest.mark.blender

TINY = clip_settings(width=64, height=64, num_frames=9, fps=24.0)
CLOSE_CAMERA = CameraSpec(position_m=(0.0, -5.0, 2.0), look_at_m=(0.0, 0.0, 0.5))


def tiny_spec(objects: tuple[ObjectSpec, ...], **fields: Any) -> ClipSpec:
    """A 64x64, 9-frame, 2-spp clip of the built-in ``tracked_objects`` recipe with the given objects."""
    values: dict[str, Any] = {
        "dataset_seed": 0,
        "clip_index": 0,
        "scene": "tracked_objects",
        "clip": TINY,
        "camera": CLOSE_CAMERA,
        "objects": objects,
        "render": render_spec(samples=2, tracks_per_object=12, background_tracks=8),
    }
    values.update(fields)
    return ClipSpec(**values)


MOVING_SCENE = (
    ObjectSpec(
        object_id=1,
        name="ball",
        primitive="sphere",
        size_m=1.2,
        path=CirclePath(center_m=(0.0, 0.0, 0.6), radius_m=0.8),
    ),
    ObjectSpec(
        object_id=2,
        name="crate",
        primitive="cube",
        size_m=0.9,
        material=MaterialSpec(texture="checker", base_color_rgb=(0.8, 0.2, 0.1)),
        path=StaticPath(position_m=(1.4, 0.8, 0.45)),
    ),
    ObjectSpec(
        object_id=3, name="ring", primitive="monkey", size_m=1.0, path=StaticPath(position_m=(-1.4, 0.8, 0.5))
    ),
)


@pytest.fixture(scope="module")
def moving_clip() -> RenderedClip:
    return render_clip(tiny_spec(MOVING_SCENE))


def test_frames_depth_and_ids_have_the_spec_shape(moving_clip: RenderedClip) -> None:
    f, h, w = TINY.num_frames, TINY.height, TINY.width
    assert moving_clip.frames_rgb.shape == (f, h, w, 3) and moving_clip.frames_rgb.dtype == np.uint8
    assert moving_clip.depth_m.shape == (f, h, w) and moving_clip.depth_m.dtype == np.float32
    assert moving_clip.instance_ids.shape == (f, h, w) and moving_clip.instance_ids.dtype == np.uint16


def test_every_object_appears_in_the_instance_map(moving_clip: RenderedClip) -> None:
    assert set(np.unique(moving_clip.instance_ids).tolist()) == {0, 1, 2, 3}


def test_labels_equal_blenders_evaluated_transforms(moving_clip: RenderedClip) -> None:
    import bpy

    # The clip's scene is still loaded: read it back here, independently of render_clip's own check.
    scene = bpy.context.scene
    labels = moving_clip.labels
    worst = 0.0
    for frame in range(TINY.num_frames):
        scene.frame_set(frame)
        depsgraph = bpy.context.evaluated_depsgraph_get()
        for row, obj in enumerate(moving_clip.spec.objects):
            got = np.array(bpy.data.objects[obj.name].evaluated_get(depsgraph).matrix_world)
            want = labels.objects.world_from_local[row, frame]
            worst = max(worst, float(np.abs(got - want).max() / np.abs(want).max()))
        got_camera = np.array(scene.camera.evaluated_get(depsgraph).matrix_world)
        want_camera = labels.camera.camera_to_world_blender[frame]
        worst = max(worst, float(np.abs(got_camera - want_camera).max() / np.abs(want_camera).max()))
    assert worst <= 1e-5
    assert moving_clip.max_pose_error <= 1e-5


def _visible_interior(clip: RenderedClip) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Visible object points whose pixel's 3x3 neighbourhood holds one id: (frame, point, row, col).

    The id and depth passes sample one jittered position per pixel, so only pixels away from silhouette
    edges are unambiguous.
    """
    tracks = clip.tracks
    assert tracks is not None
    frame_idx, point_idx = np.nonzero(tracks.visible & (tracks.object_id > 0)[None, :])
    xy = tracks.xy_px[frame_idx, point_idx]
    col, row = xy[:, 0].astype(int), xy[:, 1].astype(int)
    padded = np.pad(clip.instance_ids, ((0, 0), (1, 1), (1, 1)), mode="edge")
    window = np.stack([padded[frame_idx, row + dy, col + dx] for dy in range(3) for dx in range(3)], -1)
    interior = np.all(window == window[:, :1], axis=-1)
    return frame_idx[interior], point_idx[interior], row[interior], col[interior]


def test_tracks_on_objects_land_on_their_object_id_where_visible(moving_clip: RenderedClip) -> None:
    tracks = moving_clip.tracks
    assert isinstance(tracks, PointTracks)
    frame_idx, point_idx, row, col = _visible_interior(moving_clip)
    assert len(frame_idx) >= 20
    hit = moving_clip.instance_ids[frame_idx, row, col]
    assert np.array_equal(hit, tracks.object_id[point_idx])


def test_moving_object_tracks_follow_the_label_pose(moving_clip: RenderedClip) -> None:
    tracks = moving_clip.tracks
    assert tracks is not None
    poses = moving_clip.labels.objects.world_from_local[0]
    points = tracks.object_id == 1
    expected = np.einsum("fij,pj->fpi", poses[:, :3, :3], tracks.local_m[points]) + poses[:, None, :3, 3]
    assert np.allclose(tracks.world_m[:, points], expected, atol=1e-12)
    assert np.ptp(tracks.world_m[:, points, 0], axis=0).min() > 0.1


def test_buffer_depth_matches_track_depth_where_visible_and_interior(moving_clip: RenderedClip) -> None:
    tracks = moving_clip.tracks
    assert tracks is not None
    frame_idx, point_idx, _row, _col = _visible_interior(moving_clip)
    buffer = tracks.buffer_depth_m[frame_idx, point_idx]
    label = tracks.depth_m[frame_idx, point_idx]
    # At 64x64 one pixel spans ~9 cm here, so a slanted or concave surface (the monkey's ears) varies by
    # up to ~0.2 m within it; a wrong pixel or a ray-distance pass would be off by far more, everywhere.
    error = np.abs(buffer - label)
    assert np.median(error) < 0.02
    assert error.max() < 0.05 * label.max()


def test_a_point_hidden_behind_another_object_is_flagged_occluded() -> None:
    wall = ObjectSpec(
        object_id=1,
        name="wall",
        primitive="cube",
        size_m=1.0,
        scale_xyz=(3.0, 0.2, 3.0),
        path=StaticPath(position_m=(0.0, -2.0, 1.0)),
        tracked=False,
        dynamic=False,
    )
    hidden = ObjectSpec(
        object_id=2,
        name="hidden",
        primitive="sphere",
        size_m=0.6,
        path=StaticPath(position_m=(0.0, 0.5, 1.0)),
    )
    camera = CameraSpec(position_m=(0.0, -6.0, 1.0), look_at_m=(0.0, 0.0, 1.0))
    clip = render_clip(
        tiny_spec(
            (wall, hidden),
            camera=camera,
            render=render_spec(samples=1, tracks_per_object=16, background_tracks=0),
        )
    )
    tracks = clip.tracks
    assert tracks is not None
    on_hidden = tracks.object_id == 2
    assert tracks.in_frame[:, on_hidden].all()
    assert tracks.occluded[:, on_hidden].all()
    assert not (clip.instance_ids == 2).any()
    assert (tracks.buffer_depth_m[:, on_hidden] < tracks.depth_m[:, on_hidden] - 1.0).all()


def test_depth_pass_is_planar_not_ray_distance() -> None:
    # A large slab facing the camera: planar depth is constant over the image while ray length grows
    # by 1/cos(angle) towards the corners (about 20% at this field of view).
    slab = ObjectSpec(
        object_id=1,
        name="slab",
        primitive="cube",
        size_m=1.0,
        scale_xyz=(40.0, 0.01, 40.0),
        path=StaticPath(position_m=(0.0, 3.0, 1.0)),
        dynamic=False,
    )
    camera = CameraSpec(position_m=(0.0, -2.0, 1.0), look_at_m=(0.0, 0.0, 1.0))
    clip = render_clip(
        tiny_spec(
            (slab,),
            camera=camera,
            world=WorldSpec(ground=False),
            render=render_spec(samples=1, tracks_per_object=0, background_tracks=0),
        )
    )
    expected_m = 5.0 - 0.005
    assert np.allclose(clip.depth_m, expected_m, rtol=1e-5)


def test_per_frame_emission_and_colour_from_labels_reach_the_frames() -> None:
    lamp = ObjectSpec(
        object_id=1,
        name="lamp",
        primitive="cube",
        size_m=1.5,
        material=MaterialSpec(base_color_rgb=(1.0, 1.0, 1.0), emission_strength=1.0),
        path=StaticPath(position_m=(0.0, 0.0, 0.8)),
    )
    spec = tiny_spec(
        (lamp,), lights=(), world=WorldSpec(background_rgb=(0.0, 0.0, 0.0), strength=0.0, ground=False)
    )
    labels = compute_labels(spec)
    emission = np.linspace(0.0, 1.0, TINY.num_frames)[None]
    color = np.tile(np.array([1.0, 0.0, 0.0]), (1, TINY.num_frames, 1))
    color[0, 4:] = (0.0, 0.0, 1.0)
    objects = dataclasses.replace(labels.objects, emission=emission, color_rgb=color)
    clip = render_clip(spec, dataclasses.replace(labels, objects=objects))
    inside = clip.instance_ids == 1
    red = np.array([clip.frames_rgb[f, inside[f], 0].mean() for f in range(TINY.num_frames)])
    blue = np.array([clip.frames_rgb[f, inside[f], 2].mean() for f in range(TINY.num_frames)])
    assert red[0] < 1 and blue[0] < 1
    assert np.all(np.diff(red[:4]) > 0)
    assert red[4:].max() < 1 and np.all(np.diff(blue[4:]) > 0)


def test_background_tracks_lie_on_the_ground(moving_clip: RenderedClip) -> None:
    tracks = moving_clip.tracks
    assert tracks is not None
    background = tracks.object_id == 0
    assert background.sum() == moving_clip.spec.render.background_tracks
    assert np.allclose(tracks.world_m[:, background, 2], 0.0, atol=1e-6)
    # They were drawn from rays through frame 0, so every one is in frame there.
    assert tracks.in_frame[0, background].all()


def test_points_behind_the_camera_are_flagged_and_have_no_pixel() -> None:
    behind = ObjectSpec(
        object_id=1, name="behind", primitive="sphere", path=StaticPath(position_m=(0.0, -8.0, 2.0))
    )
    ahead = ObjectSpec(
        object_id=2, name="ahead", primitive="sphere", path=StaticPath(position_m=(0.0, 0.0, 0.5))
    )
    clip = render_clip(
        tiny_spec((behind, ahead), render=render_spec(samples=1, tracks_per_object=8, background_tracks=0))
    )
    tracks = clip.tracks
    assert tracks is not None
    back = tracks.object_id == 1
    assert tracks.behind_camera[:, back].all() and not tracks.behind_camera[:, ~back].any()
    assert np.isnan(tracks.xy_px[:, back]).all()
    assert not tracks.in_frame[:, back].any() and not tracks.occluded[:, back].any()


def test_keys_use_constant_interpolation_without_motion_blur(moving_clip: RenderedClip) -> None:
    import bpy

    render_clip(moving_clip.spec, check_poses=False)
    modes = {
        point.interpolation
        for action in bpy.data.actions
        for layer in action.layers
        for strip in layer.strips
        for bag in strip.channelbags
        for curve in bag.fcurves
        for point in curve.keyframe_points
    }
    assert modes == {"CONSTANT"}


def test_threads_option_fixes_blenders_thread_count() -> None:
    import bpy

    spec = tiny_spec(
        MOVING_SCENE[:1],
        clip=clip_settings(width=32, height=32, num_frames=1),
        render=render_spec(samples=1, threads=1),
    )
    render_clip(spec)
    assert bpy.context.scene.render.threads_mode == "FIXED"
    assert bpy.context.scene.render.threads == 1


def test_denoise_option_runs_the_denoiser() -> None:
    small = clip_settings(width=32, height=32, num_frames=1)
    noisy = render_clip(tiny_spec(MOVING_SCENE, clip=small, render=render_spec(samples=2)))
    denoised = render_clip(tiny_spec(MOVING_SCENE, clip=small, render=render_spec(samples=2, denoise=True)))
    assert not np.array_equal(noisy.frames_rgb, denoised.frames_rgb)
    assert np.array_equal(noisy.instance_ids, denoised.instance_ids)


def test_same_seed_renders_identical_frames(moving_clip: RenderedClip) -> None:
    again = render_clip(moving_clip.spec)
    assert np.array_equal(again.frames_rgb, moving_clip.frames_rgb)
    assert np.array_equal(again.instance_ids, moving_clip.instance_ids)
    assert np.array_equal(again.depth_m, moving_clip.depth_m)


def test_rgb_equals_blenders_own_8bit_srgb_output(moving_clip: RenderedClip, tmp_path: Path) -> None:
    import bpy

    spec = moving_clip.spec
    render_clip(spec, check_poses=False)
    scene = bpy.context.scene
    scene.render.image_settings.media_type = "IMAGE"
    scene.render.image_settings.file_format = "PNG"
    scene.render.image_settings.color_depth = "8"
    scene.render.image_settings.color_mode = "RGB"
    scene.frame_set(4)
    scene.render.filepath = str(tmp_path / "frame.png")
    bpy.ops.render.render(write_still=True)
    image = bpy.data.images.load(str(tmp_path / "frame.png"))
    pixels = np.empty(len(image.pixels), dtype=np.float32)
    image.pixels.foreach_get(pixels)
    # bpy images are stored bottom row first.
    png = np.rint(pixels.reshape(spec.clip.height, spec.clip.width, 4)[::-1, :, :3] * 255.0).astype(np.int16)
    assert np.abs(png - moving_clip.frames_rgb[4].astype(np.int16)).max() <= 1


def test_glb_asset_is_normalised_to_unit_bounding_size(tmp_path: Path) -> None:
    import bpy

    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.mesh.primitive_cube_add(size=1.0)
    bpy.context.active_object.scale = (4.0, 1.0, 0.5)
    path = tmp_path / "brick.glb"
    bpy.ops.export_scene.gltf(filepath=str(path), export_format="GLB")
    asset = ObjectSpec(object_id=1, name="brick", primitive="mesh", asset_path=str(path), size_m=2.0)
    render_clip(tiny_spec((asset,), clip=clip_settings(width=64, height=64, num_frames=1)))
    coords = np.array([v.co[:] for v in bpy.data.objects["brick"].data.vertices])
    assert np.allclose(coords.max(axis=0) - coords.min(axis=0), [1.0, 0.25, 0.125], atol=1e-6)


def test_missing_asset_raises_one_line_render_error_naming_clip_and_file() -> None:
    asset = ObjectSpec(object_id=1, name="prop", primitive="mesh", asset_path="/nonexistent/prop.glb")
    with pytest.raises(RenderError) as info:
        render_clip(tiny_spec((asset,)))
    message = str(info.value)
    assert "\n" not in message
    assert (
        "synthgen-000000" in message and "tracked_objects" in message and "/nonexistent/prop.glb" in message
    )


def _write_recipe(tmp_path: Path, body: str) -> str:
    path = tmp_path / "my_recipe.py"
    path.write_text(
        "from synthgen.scenes import SceneDescription\n"
        "def sample(rng, ctx):\n    raise NotImplementedError\n"
        f"def build(spec, builder):\n{body}\n"
    )
    return str(path)


def test_recipe_build_hook_that_raises_gives_one_line_render_error(tmp_path: Path) -> None:
    recipe = _write_recipe(tmp_path, "    raise KeyError('no such prop')")
    with pytest.raises(RenderError) as info:
        render_clip(tiny_spec(MOVING_SCENE[:1], scene=recipe), trust_recipes=True)
    message = str(info.value)
    assert "\n" not in message and "my_recipe.py" in message and "KeyError" in message


def test_pose_check_catches_a_hook_that_moves_a_labelled_object(tmp_path: Path) -> None:
    body = "    con = builder.objects[1].constraints.new('LIMIT_LOCATION')\n    con.use_max_z = True\n    con.max_z = 0.1"
    recipe = _write_recipe(tmp_path, body)
    with pytest.raises(RenderError, match="pose check"):
        render_clip(tiny_spec(MOVING_SCENE[:1], scene=recipe), trust_recipes=True)


def test_a_spec_naming_a_recipe_file_runs_no_code_unless_the_caller_trusts_it(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    recipe = _write_recipe(tmp_path, f"    open({str(marker)!r}, 'w').close()")
    (tmp_path / "module_body.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    spec = tiny_spec(MOVING_SCENE[:1], scene=recipe)
    for untrusted in (spec, spec.model_copy(update={"scene": "module_body:sample"})):
        with pytest.raises(RenderError, match=r"not a built-in recipe.*trust_recipes=True") as info:
            render_clip(untrusted)
        assert "\n" not in str(info.value)
    with pytest.raises(RenderError, match="not a built-in recipe"):
        with RenderWorker(recycle_after=1) as worker:
            worker.render(spec)
    assert not marker.exists()
    render_clip(spec, trust_recipes=True)
    assert marker.exists()


def test_unavailable_gpu_device_raises_render_error_naming_engine() -> None:
    import bpy

    bpy.ops.wm.read_factory_settings(use_empty=True)
    prefs = bpy.context.preferences.addons["cycles"].preferences
    prefs.compute_device_type = "CUDA"
    prefs.refresh_devices()
    if any(device.type == "CUDA" for device in prefs.devices):
        pytest.skip("this machine has a CUDA device")
    spec = tiny_spec(MOVING_SCENE[:1], render=render_spec(device="cuda", samples=1))
    with pytest.raises(RenderError, match=r"engine cycles on device cuda is unavailable"):
        render_clip(spec)


def test_workbench_frames_come_with_cycles_depth_and_ids() -> None:
    spec = tiny_spec(
        MOVING_SCENE,
        clip=clip_settings(width=64, height=64, num_frames=1),
        render=render_spec(engine="workbench", samples=1),
    )
    clip = render_clip(spec)
    assert clip.frames_rgb.shape == (1, 64, 64, 3)
    assert set(np.unique(clip.instance_ids).tolist()) == {0, 1, 2, 3}
    assert np.isfinite(clip.depth_m).any()


@pytest.mark.slow
def test_eevee_renders_a_frame() -> None:
    spec = tiny_spec(
        MOVING_SCENE,
        clip=clip_settings(width=32, height=32, num_frames=1),
        render=render_spec(engine="eevee", samples=1),
    )
    clip = render_clip(spec)
    assert clip.frames_rgb.shape == (1, 32, 32, 3)
    assert clip.frames_rgb.max() > 0


def test_worker_recycles_its_process_after_n_clips() -> None:
    spec = tiny_spec(
        MOVING_SCENE[:1], clip=clip_settings(width=32, height=32, num_frames=1), render=render_spec(samples=1)
    )
    with RenderWorker(recycle_after=1) as worker:
        first = worker.render(spec)
        second = worker.render(spec, compute_labels(spec))
        assert worker.processes_started == 2
    assert np.array_equal(first.frames_rgb, second.frames_rgb)


def test_worker_passes_render_errors_through() -> None:
    asset = ObjectSpec(object_id=1, name="prop", primitive="mesh", asset_path="/nonexistent/prop.glb")
    with RenderWorker(recycle_after=5) as worker, pytest.raises(RenderError, match=r"prop\.glb"):
        worker.render(tiny_spec((asset,), clip=clip_settings(width=32, height=32, num_frames=1)))


def test_lights_and_sky_build_for_every_kind() -> None:
    lights = (
        LightSpec(kind="sun", strength=2.0),
        LightSpec(kind="area", strength=200.0, position_m=(2.0, -2.0, 3.0)),
        LightSpec(kind="point", strength=300.0, color_temperature_k=3000.0, position_m=(-2.0, -2.0, 2.0)),
    )
    world = WorldSpec(background="sky", sky_type="HOSEK_WILKIE")
    spec = tiny_spec(
        MOVING_SCENE, lights=lights, world=world, clip=clip_settings(width=32, height=32, num_frames=1)
    )
    clip = render_clip(spec)
    assert clip.frames_rgb.mean() > 10


@pytest.mark.parametrize("recipe", BUILTIN_RECIPES)
def test_each_builtin_recipe_renders_a_sampled_clip_whose_poses_equal_the_labels(recipe: str) -> None:
    audio = {
        "enabled": True,
        "bindings": [{"kind": "bounce", "target": "all", "source": "beat", "amount": 0.5}],
    }
    cfg = tiny_config(f"scene={recipe}", **({"audio": audio} if recipe == "beat_stage" else {}))
    spec = sample_clip(cfg, 0)
    clip = render_clip(spec)
    f, h, w = spec.clip.num_frames, spec.clip.height, spec.clip.width
    assert clip.frames_rgb.shape == (f, h, w, 3) and clip.depth_m.shape == (f, h, w)
    assert clip.instance_ids.shape == (f, h, w)
    assert 0.0 <= clip.max_pose_error <= POSE_TOLERANCE
    assert set(np.unique(clip.instance_ids)) <= {0, *(obj.object_id for obj in spec.objects)}
    assert np.isin([obj.object_id for obj in spec.objects], clip.instance_ids).any()


_TRACKS_DIGEST = """
import hashlib, sys
import numpy as np
from synthgen.render import render_clip
from synthgen.describe.spec import ClipSpec
spec = ClipSpec.from_json(sys.stdin.read())
tracks = render_clip(spec).tracks
digest = hashlib.sha256()
for name in ("object_id", "local_m", "xy_px", "occluded"):
    digest.update(np.ascontiguousarray(getattr(tracks, name)).tobytes())
print(digest.hexdigest())
"""


def test_tracks_are_identical_across_processes_with_different_hash_seeds() -> None:
    import os
    import subprocess
    import sys

    from synthgen.describe.spec import ClipSpec, ObjectSpec, StaticPath

    spec = ClipSpec(
        dataset_seed=0,
        clip_index=0,
        scene="tracked_objects",
        clip=clip_settings(width=32, height=32, num_frames=1),
        camera={"position_m": (0.0, -4.0, 1.5), "look_at_m": (0.0, 0.0, 0.5)},
        objects=(
            ObjectSpec(
                object_id=1,
                name="ball",
                primitive="sphere",
                size_m=1.0,
                path=StaticPath(position_m=(0, 0, 0.5)),
            ),
        ),
        render=render_spec(samples=1, tracks_per_object=32, background_tracks=4),
    )
    digests = set()
    for hash_seed in ("1", "2"):
        out = subprocess.run(
            [sys.executable, "-c", _TRACKS_DIGEST],
            input=spec.to_json(),
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": hash_seed},
        )
        digests.add(out.stdout.strip().splitlines()[-1])
    assert len(digests) == 1
