"""A physics clip in Blender: the render is keyed from the simulated poses and obeys them on every frame."""

from __future__ import annotations

import numpy as np
import pytest

from synthgen.describe.sampling import sample_clip
from synthgen.describe.spec import PhysicsPath
from synthgen.render import render_clip
from synthgen.render.animate import POSE_TOLERANCE
from tests.conftest import tiny_config

pytestmark = pytest.mark.blender
pytest.importorskip("pybullet")


def test_a_sampled_physics_clip_renders_and_obeys_its_simulated_labels() -> None:
    # 9 frames at 8 fps: one second, long enough for the objects to fall and hit the ground.
    cfg = tiny_config(
        "motion=physics",
        clip={"width": 64, "height": 64, "num_frames": 9, "fps": 8},
        scene={"params": {"num_objects": [3, 3], "primitives": ["cube", "rock", "vessel"]}},
    )
    spec = sample_clip(cfg, 0)
    assert all(isinstance(obj.path, PhysicsPath) for obj in spec.objects)
    clip = render_clip(spec)
    assert clip.max_pose_error <= POSE_TOLERANCE
    heights = clip.labels.objects.position_m[..., 2]
    assert np.all(heights[:, -1] < heights[:, 0])  # every object fell
    visible = set(np.unique(clip.instance_ids)) - {0}
    assert visible and visible <= {obj.object_id for obj in spec.objects}
