"""Physics motion: simulated rigid bodies become the labels; release sampling; bad scenes fail per clip."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from typing import Any

import numpy as np
import pytest

from synthgen.describe.physics import bounding_radius_m
from synthgen.describe.sampling import sample_clip
from synthgen.describe.spec import (
    CameraSpec,
    ClipSpec,
    ObjectSpec,
    OrientationSpec,
    PhysicsPath,
    StaticPath,
    WorldSpec,
)
from synthgen.errors import ConfigError, RenderError
from synthgen.labels.compute import compute_labels
from synthgen.labels.geometry import euler_xyz_to_matrix
from synthgen.labels.physics import GRAVITY_M_PER_S2, quaternion_xyzw
from tests.conftest import clip_settings, render_spec, tiny_config

pytest.importorskip("pybullet")


def release(position_m: tuple[float, float, float], **fields: Any) -> PhysicsPath:
    values: dict[str, Any] = {
        "position_m": position_m,
        "velocity_m_per_s": (0.0, 0.0, 0.0),
        "angular_velocity_deg_per_s": (0.0, 0.0, 0.0),
        "friction": 0.5,
        "restitution": 0.0,
    }
    return PhysicsPath(**{**values, **fields})


def physics_spec(objects: tuple[ObjectSpec, ...], num_frames: int = 49, **fields: Any) -> ClipSpec:
    values: dict[str, Any] = {
        "dataset_seed": 0,
        "clip_index": 0,
        "scene": "tracked_objects",
        "clip": clip_settings(width=64, height=64, num_frames=num_frames, fps=24.0),
        "camera": CameraSpec(position_m=(0.0, -6.0, 3.0), look_at_m=(0.0, 0.0, 0.4)),
        "objects": objects,
        "render": render_spec(samples=2, tracks_per_object=12, background_tracks=8),
    }
    return ClipSpec(**{**values, **fields})


def ball(object_id: int, position_m: tuple[float, float, float], **fields: Any) -> ObjectSpec:
    return ObjectSpec(
        object_id=object_id,
        name=f"ball_{object_id}",
        primitive="sphere",
        size_m=0.5,
        path=release(position_m, **fields),
    )


def test_a_dropped_ball_falls_freely_then_rests_on_the_ground() -> None:
    labels = compute_labels(physics_spec((ball(1, (0.0, 0.0, 2.25)),)))
    z = labels.objects.position_m[0, :, 2]
    t = labels.times_s
    falling = t < 0.5  # contact after sqrt(2 * 2 / g) = 0.64 s
    assert np.allclose(z[falling], 2.25 - 0.5 * GRAVITY_M_PER_S2 * t[falling] ** 2, atol=1e-2)
    assert z[-1] == pytest.approx(0.25, abs=2e-3)
    assert np.allclose(labels.objects.position_m[0, :, :2], 0.0, atol=1e-9)


def test_frame_zero_is_the_release_pose() -> None:
    obj = ObjectSpec(
        object_id=1,
        name="crate",
        primitive="cube",
        size_m=0.6,
        orientation=OrientationSpec(euler_deg=(10.0, 20.0, 30.0)),
        path=release((0.5, -0.5, 1.0)),
    )
    labels = compute_labels(physics_spec((obj,)))
    pose = labels.objects.world_from_local[0, 0]
    assert np.allclose(pose[:3, 3], (0.5, -0.5, 1.0), atol=1e-12)
    assert np.allclose(pose[:3, :3] / 0.6, euler_xyz_to_matrix(np.radians((10.0, 20.0, 30.0))), atol=1e-6)


def test_thrown_ball_moves_with_its_release_velocity() -> None:
    labels = compute_labels(physics_spec((ball(1, (-1.0, 0.0, 1.0), velocity_m_per_s=(2.0, 0.0, 0.0)),)))
    assert labels.objects.velocity_m_per_s[0, 0, 0] == pytest.approx(2.0)
    assert labels.objects.position_m[0, 5, 0] == pytest.approx(-1.0 + 2.0 * 5 / 24.0, abs=1e-6)


def test_quaternion_of_a_rotation_round_trips() -> None:
    rng = np.random.default_rng(0)
    for angles in rng.uniform(-np.pi, np.pi, (50, 3)):
        matrix = euler_xyz_to_matrix(angles)
        x, y, z, w = quaternion_xyzw(matrix)
        back = np.array(
            [
                [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
            ]
        )
        assert np.allclose(back, matrix, atol=1e-12)


def test_objects_that_start_intersecting_fail_naming_clip_and_rule() -> None:
    spec = physics_spec((ball(1, (0.0, 0.0, 1.0)), ball(2, (0.1, 0.0, 1.1))))
    with pytest.raises(RenderError, match=r"clip synthgen-000000 .*start intersecting") as info:
        compute_labels(spec)
    assert "\n" not in str(info.value) and "ball_1" in str(info.value)


def test_an_object_released_into_the_ground_fails() -> None:
    with pytest.raises(RenderError, match=r"the ground and objects\[0\] \('ball_1'\) start intersecting"):
        compute_labels(physics_spec((ball(1, (0.0, 0.0, 0.1)),)))


def test_an_object_that_leaves_the_ground_fails_naming_it() -> None:
    spec = physics_spec(
        (ball(1, (0.0, 0.0, 1.0), velocity_m_per_s=(30.0, 0.0, 0.0)),), world=WorldSpec(ground_size_m=4.0)
    )
    with pytest.raises(RenderError, match=r"'ball_1'\) leaves the ground at frame \d+"):
        compute_labels(spec)


def test_physics_without_ground_fails() -> None:
    with pytest.raises(RenderError, match=r"needs world\.ground"):
        compute_labels(physics_spec((ball(1, (0.0, 0.0, 1.0)),), world=WorldSpec(ground=False)))


def test_an_asset_mesh_cannot_be_simulated() -> None:
    obj = ObjectSpec(
        object_id=1, name="thing", primitive="mesh", asset_path="a.glb", path=release((0.0, 0.0, 1.0))
    )
    with pytest.raises(RenderError, match="no solid geometry before Blender"):
        compute_labels(physics_spec((obj,)))


def test_a_static_object_is_a_collider() -> None:
    block = ObjectSpec(
        object_id=2, name="block", primitive="cube", size_m=1.0, path=StaticPath(position_m=(0.0, 0.0, 0.5))
    )
    labels = compute_labels(physics_spec((ball(1, (0.0, 0.0, 2.0)), block), num_frames=49))
    assert labels.objects.position_m[0, -1, 2] == pytest.approx(1.25, abs=5e-3)


def test_spinning_orientation_is_refused_on_a_physics_path() -> None:
    with pytest.raises(ValueError, match="a physics path sets the rotation"):
        ObjectSpec(
            object_id=1,
            name="a",
            orientation=OrientationSpec(mode="spin", spin_deg_per_s=(0.0, 0.0, 10.0)),
            path=release((0.0, 0.0, 1.0)),
        )


def test_physics_kind_without_release_settings_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"motion\.physics"):
        tiny_config(motion={"kinds": ["physics"], "physics": None})


def _physics_config() -> Any:
    return tiny_config(
        "motion=physics",
        dataset={"name": "tiny", "seed": 3, "num_clips": 20},
        clip={"width": 64, "height": 64, "num_frames": 25, "fps": 24},
        scene={"params": {"num_objects": [4, 6]}},
    )


def test_sampled_releases_start_apart_and_above_the_ground() -> None:
    cfg = _physics_config()
    for index in range(20):
        objects = sample_clip(cfg, index).objects
        centres = [np.asarray(obj.path.position_m) for obj in objects]  # type: ignore[union-attr]
        radii = [bounding_radius_m(obj) for obj in objects]
        for i, obj in enumerate(objects):
            assert isinstance(obj.path, PhysicsPath)
            assert centres[i][2] >= radii[i]
            for j in range(i):
                assert np.linalg.norm(centres[i] - centres[j]) >= radii[i] + radii[j] - 1e-9


def test_sampled_physics_clips_simulate_without_failures() -> None:
    cfg = _physics_config()
    for index in range(10):
        labels = compute_labels(sample_clip(cfg, index))
        assert np.all(labels.objects.position_m[..., 2] > 0.0)


_DIGEST = (
    "import hashlib\n"
    "from synthgen.describe.sampling import sample_clip\n"
    "from synthgen.labels.compute import compute_labels\n"
    "from tests.test_physics import _physics_config\n"
    "h = hashlib.sha256()\n"
    "for i in range(4):\n"
    "    h.update(compute_labels(sample_clip(_physics_config(), i)).objects.world_from_local.tobytes())\n"
    "print(h.hexdigest())\n"
)


def test_simulated_labels_are_bit_identical_across_processes() -> None:
    digests = {
        subprocess.run(
            [sys.executable, "-c", _DIGEST], capture_output=True, text=True, check=True
        ).stdout.strip()
        for _ in range(2)
    }
    here = hashlib.sha256()
    for i in range(4):
        here.update(compute_labels(sample_clip(_physics_config(), i)).objects.world_from_local.tobytes())
    assert digests == {here.hexdigest()}


def test_importing_the_engine_prints_nothing() -> None:
    code = "from synthgen.labels.physics import _import_pybullet; _import_pybullet()"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert (out.stdout, out.stderr) == ("", "")


def test_captions_say_physics_objects_drop_or_are_thrown() -> None:
    from synthgen.describe.captions import make_caption

    phrases = (
        "is thrown and tumbles to rest",
        "flies in and bounces",
        "drops and settles",
        "falls to the ground",
    )
    for index in range(4):
        caption = make_caption(sample_clip(_physics_config(), index))
        assert any(phrase in caption for phrase in phrases), caption
