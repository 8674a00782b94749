"""The per-clip pipeline: rows carry schema-named labels, bad job config fails before rendering, and every
job generates a dataset through ``synthgen-generate`` that passes ``synthgen validate`` and ``synthgen lint``
with its pairing invariant intact."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from synthgen.controls.signals.draw import intensity_centroid_xy_px
from synthgen.dataset import LABEL_DIMS, open_dataset
from synthgen.dataset.schema import CONTROL_PREFIX
from synthgen.describe.spec import ClipSpec
from synthgen.errors import ConfigError
from synthgen.labels.compute import compute_labels
from synthgen.pipeline.clip import label_arrays, make_row
from tests.conftest import clip_settings, render_spec, tiny_config

BIN = Path(sys.executable).parent
JOBS = ["motion_track", "camera_motion", "audio_to_video", "depth", "union"]


def test_label_arrays_use_the_schema_names() -> None:
    spec = ClipSpec(dataset_seed=0, clip_index=0, scene="test", clip=clip_settings(), render=render_spec())
    names = set(label_arrays(compute_labels(spec)))
    assert names <= set(LABEL_DIMS)
    assert {"camera_from_world_cv", "intrinsics_px", "position_m"} <= names


def test_bad_job_parameter_fails_at_config_load_before_rendering() -> None:
    with pytest.raises(ConfigError, match=r"control\.near_percentile=200\.0"):
        tiny_config("control=depth", control={"near_percentile": 200.0})


def test_bad_lint_threshold_fails_at_config_load_before_rendering() -> None:
    with pytest.raises(ConfigError, match=r"control\.lint\.min_motion_px"):
        tiny_config("control=depth", control={"lint": {"min_motion_px": -1.0}})


# ------------------------------------------------------------------------------------ slow, Blender


@pytest.mark.slow
@pytest.mark.blender
def test_motion_track_row_overlay_dots_sit_on_the_rendered_track_labels() -> None:
    radius = 1.5
    cfg = tiny_config(
        "control=motion_track", control={"trail_length": 0, "point_radius_px": radius, "num_tracks": 4096}
    )
    row = make_row(cfg, 0)
    xy, labels, overlay = row.labels["tracks_xy_px"], row.labels, row.reference_video
    assert overlay is not None
    visible = labels["tracks_in_frame"] & ~labels["tracks_occluded"] & ~labels["tracks_behind_camera"]
    checked = 0
    for frame in range(row.num_frames):
        points = xy[frame, visible[frame]]
        for point in points:
            gaps = np.linalg.norm(points - point, axis=1)
            inside = (point > radius + 2).all() and (
                point < np.array([row.width, row.height]) - radius - 2
            ).all()
            if np.sort(gaps)[1:2].min(initial=np.inf) > 2 * (radius + 2) and inside:
                measured = intensity_centroid_xy_px(overlay[frame], point, radius + 1.5)
                np.testing.assert_allclose(measured, point, atol=0.05)
                checked += 1
    assert checked >= 5


def generate(job: str, root: Path) -> Path:
    out = root / job
    command = [
        str(BIN / "synthgen-generate"),
        f"control={job}",
        "dataset.num_clips=3",
        "clip.width=64",
        "clip.height=64",
        "clip.num_frames=17",
        "render.samples=1",
        "render.tracks_per_object=4",
        "render.background_tracks=8",
        f"output_dir={out}",
    ]
    subprocess.run(command, check=True, capture_output=True, timeout=600)
    return out


@pytest.mark.slow
@pytest.mark.blender
@pytest.mark.parametrize("job", JOBS)
def test_generated_dataset_passes_validate_and_lint_and_keeps_its_pairing(job: str, tmp_path: Path) -> None:
    root = generate(job, tmp_path)
    for command in ("validate", "lint"):
        done = subprocess.run(
            [str(BIN / "synthgen"), command, str(root)], capture_output=True, text=True, timeout=600
        )
        assert done.returncode == 0, f"synthgen {command}: {done.stdout}{done.stderr}"
    report = json.loads((root / "lint_report.json").read_text())
    assert report["num_clips"] == 3 and report["num_errors"] == 0
    for clip in open_dataset(str(root)):
        assert clip["control_job"] == job
        pairing = json.loads(clip["pairing_json"])
        if job == "camera_motion":
            target = ClipSpec.from_json(clip["spec_json"])
            reference = ClipSpec.from_json(clip["reference_spec_json"])
            # Same path and lens; the optics (focus on one of its own objects) are each scene's own.
            assert reference.camera.model_copy(update={"optics": target.camera.optics}) == target.camera
            assert reference.objects != target.objects
            reference_camera = compute_labels(reference).camera
            np.testing.assert_array_equal(
                reference_camera.camera_from_world_cv, clip["label_camera_from_world_cv"]
            )
            np.testing.assert_array_equal(reference_camera.intrinsics_px, clip["label_intrinsics_px"])
        elif job == "audio_to_video":
            assert clip["audio"] is not None and clip["reference_video"] is None
            np.testing.assert_array_equal(
                clip["label_binding_source_frames"], clip["label_binding_event_frames"]
            )
            assert pairing["bindings"]
        else:
            assert clip["reference_video"].shape == (17, 64, 64, 3)
        if job == "union":
            assert {CONTROL_PREFIX + "depth", CONTROL_PREFIX + "motion_track"} <= set(clip)
