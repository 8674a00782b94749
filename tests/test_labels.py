"""compute_labels: deterministic, complete, and consistent with the spec it came from."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from synthgen.describe.spec import (
    AudioSpec,
    AxisMove,
    BindingSpec,
    CameraSpec,
    CirclePath,
    ClipSpec,
    HandheldShake,
    MaterialSpec,
    ObjectSpec,
    OrbitMove,
    OrientationSpec,
    PiecewisePath,
    RandomSmoothPath,
    StaticPath,
    WaypointPath,
)
from synthgen.labels.camera import evaluate_camera
from synthgen.labels.compute import ClipLabels, compute_labels
from synthgen.labels.geometry import project_points
from tests.conftest import clip_settings, render_spec

TINY = clip_settings(width=64, height=64, num_frames=9, fps=24.0)


def _spec(**changes: object) -> ClipSpec:
    objects = (
        ObjectSpec(
            object_id=3,
            name="ball",
            size_m=0.4,
            path=CirclePath(radius_m=1.5),
            orientation=OrientationSpec(mode="along_velocity"),
        ),
        ObjectSpec(
            object_id=1,
            name="slab",
            primitive="cube",
            size_m=0.5,
            scale_xyz=(2.0, 1.0, 0.25),
            path=StaticPath(position_m=(0.0, 0.0, 0.5)),
            orientation=OrientationSpec(
                mode="spin", euler_deg=(0.0, 0.0, 15.0), spin_deg_per_s=(0.0, 0.0, 90.0)
            ),
            material=MaterialSpec(base_color_rgb=(0.9, 0.2, 0.1), emission_strength=2.5),
        ),
        ObjectSpec(
            object_id=7,
            name="cone",
            primitive="cone",
            path=PiecewisePath(waypoints_m=((0, 0, 0), (1, 1, 0), (2, 0, 0)), hold_frames=(1, 2, 1)),
        ),
        ObjectSpec(object_id=8, name="drift", path=RandomSmoothPath(seed=12)),
        ObjectSpec(
            object_id=9,
            name="spline",
            path=WaypointPath(kind="catmull_rom", waypoints_m=((0, 0, 0), (1, 0, 1), (2, 2, 0))),
        ),
    )
    camera = CameraSpec(
        moves=(AxisMove(kind="dolly", amount=1.0), OrbitMove(amount=20.0), HandheldShake(seed=2))
    )
    fields: dict[str, object] = {
        "dataset_seed": 0,
        "clip_index": 0,
        "scene": "test",
        "clip": TINY,
        "render": render_spec(),
        "camera": camera,
        "objects": objects,
    }
    fields.update(changes)
    return ClipSpec(**fields)  # type: ignore[arg-type]


def _arrays(labels: ClipLabels) -> dict[str, np.ndarray]:
    arrays = {"times_s": labels.times_s}
    for group in ("camera", "objects"):
        for field in dataclasses.fields(getattr(labels, group)):
            arrays[f"{group}.{field.name}"] = np.asarray(getattr(getattr(labels, group), field.name))
    return arrays


def test_same_spec_gives_bit_identical_labels() -> None:
    first = _arrays(compute_labels(_spec()))
    second = _arrays(compute_labels(ClipSpec.from_json(_spec().to_json())))
    assert first.keys() == second.keys()
    for name in first:
        assert first[name].tobytes() == second[name].tobytes(), name


def test_labels_have_one_row_per_frame_and_object_in_spec_order() -> None:
    spec = _spec()
    labels = compute_labels(spec)
    frames, count = spec.clip.num_frames, len(spec.objects)
    np.testing.assert_array_equal(labels.times_s, np.arange(frames) / spec.clip.fps)
    np.testing.assert_array_equal(labels.objects.object_ids, [3, 1, 7, 8, 9])
    assert labels.objects.object_ids.dtype == np.int32
    assert labels.objects.world_from_local.shape == (count, frames, 4, 4)
    assert labels.objects.color_rgb.shape == (count, frames, 3)
    assert labels.camera.intrinsics_px.shape == (frames, 3, 3)
    assert labels.beats is None


def test_world_from_local_scales_the_unit_primitive_by_size_and_scale_xyz() -> None:
    spec = _spec()
    poses = compute_labels(spec).objects
    for n, obj in enumerate(spec.objects):
        linear = poses.world_from_local[n, :, :3, :3]
        expected = obj.size_m * np.asarray(obj.scale_xyz)
        np.testing.assert_allclose(
            np.linalg.norm(linear, axis=1), np.broadcast_to(expected, (spec.clip.num_frames, 3)), rtol=1e-12
        )
        rotation = linear / expected
        np.testing.assert_allclose(
            rotation @ np.swapaxes(rotation, 1, 2), np.broadcast_to(np.eye(3), rotation.shape), atol=1e-12
        )


def test_world_from_local_translation_is_the_object_position() -> None:
    poses = compute_labels(_spec()).objects
    np.testing.assert_array_equal(poses.world_from_local[..., :3, 3], poses.position_m)
    np.testing.assert_array_equal(
        poses.world_from_local[..., 3, :],
        np.broadcast_to([0.0, 0.0, 0.0, 1.0], (*poses.world_from_local.shape[:2], 4)),
    )


def test_emission_and_colour_come_from_the_material_without_audio() -> None:
    spec = _spec()
    poses = compute_labels(spec).objects
    for n, obj in enumerate(spec.objects):
        np.testing.assert_array_equal(poses.emission[n], obj.material.emission_strength)
        np.testing.assert_array_equal(
            poses.color_rgb[n], np.broadcast_to(obj.material.base_color_rgb, (spec.clip.num_frames, 3))
        )


def test_camera_labels_are_the_evaluated_camera() -> None:
    spec = _spec()
    labels = compute_labels(spec)
    expected = evaluate_camera(spec.camera, spec.clip)
    np.testing.assert_array_equal(labels.camera.camera_to_world_blender, expected.camera_to_world_blender)
    np.testing.assert_array_equal(labels.camera.intrinsics_px, expected.intrinsics_px)


def test_object_at_the_look_at_point_projects_to_the_image_centre() -> None:
    spec = _spec(
        camera=CameraSpec(position_m=(1.0, -6.0, 2.0), look_at_m=(0.2, 0.3, 0.4)),
        objects=(ObjectSpec(object_id=1, name="target", path=StaticPath(position_m=(0.2, 0.3, 0.4))),),
    )
    labels = compute_labels(spec)
    projected = project_points(
        labels.objects.position_m[0][:, None, :],
        labels.camera.camera_from_world_cv,
        labels.camera.intrinsics_px,
        64,
        64,
    )
    np.testing.assert_allclose(projected.xy_px[:, 0], np.full((spec.clip.num_frames, 2), 32.0), atol=1e-9)


def test_clip_without_objects_has_empty_pose_arrays() -> None:
    labels = compute_labels(_spec(objects=()))
    assert labels.objects.world_from_local.shape == (0, TINY.num_frames, 4, 4)
    assert labels.objects.object_ids.shape == (0,)


def test_audio_clip_gets_beats_and_binding_effects() -> None:
    audio = pytest.importorskip("synthgen.audio")
    if not hasattr(audio, "binding_effects"):
        pytest.skip("synthgen.audio has no binding_effects yet")
    spec = _spec(
        clip=clip_settings(width=64, height=64, num_frames=25, fps=24.0),
        audio=AudioSpec(
            sample_rate=48000, bindings=(BindingSpec(kind="scale_pulse", target_id=1, amount=0.5),)
        ),
    )
    labels = compute_labels(spec)
    assert labels.beats is not None
    slab = spec.objects[1]
    scale = np.linalg.norm(labels.objects.world_from_local[1, :, :3, :3], axis=1)[:, 0] / (
        slab.size_m * slab.scale_xyz[0]
    )
    effects = audio.binding_effects(spec, labels.beats)
    np.testing.assert_allclose(scale, np.asarray(effects.scale)[1], rtol=1e-12)


def test_labels_from_a_passed_beat_grid_equal_labels_that_compute_their_own() -> None:
    from synthgen.audio import synthesize
    from synthgen.describe.spec import AudioSpec, BindingSpec, ClipSpec, ObjectSpec

    spec = ClipSpec(
        dataset_seed=0,
        clip_index=0,
        scene="beat_stage",
        clip=clip_settings(width=64, height=64, num_frames=25, fps=24),
        objects=(ObjectSpec(object_id=1, name="ball"),),
        audio=AudioSpec(bpm=120, snap_to_frames=True, bindings=(BindingSpec(kind="bounce", target_id=1),)),
        render=render_spec(),
    )
    own = compute_labels(spec)
    reused = compute_labels(spec, synthesize(spec).grid)
    assert np.array_equal(own.objects.world_from_local, reused.objects.world_from_local)
    assert own.beats is not None and reused.beats is not None
    assert np.array_equal(own.beats.beat_times_s, reused.beats.beat_times_s)
