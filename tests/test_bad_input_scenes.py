"""Bad scene input through ``synthgen-generate`` (issue "Scenes a video model can learn from", Bad input):
a missing or empty environment-map or asset folder is one line and exit 2 at config load with nothing
written; an asset that fails to import or holds no mesh, and a physics clip whose object leaves the ground,
are recorded per-clip failures naming the clip, the file or object and the rule (the run itself goes on)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
TINY = ["clip.width=32", "clip.height=32", "render.samples=1", "look=flat", "dataset.num_clips=2"]

pytestmark = pytest.mark.blender


def _generate(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    return subprocess.run(
        [str(BIN / "synthgen-generate"), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        check=False,
        timeout=600,
    )


@pytest.mark.parametrize(
    ("key", "folder", "rule"),
    [
        ("scene.params.hdri_dir", "missing", "not found"),
        ("scene.params.hdri_dir", "empty", "no .exr/.hdr files"),
        ("scene.params.assets", "missing", "missing"),
        ("scene.params.assets", "empty", "no "),
    ],
)
def test_a_missing_or_empty_library_folder_is_one_line_exit_2_and_nothing_written(
    tmp_path: Path, key: str, folder: str, rule: str
) -> None:
    libraries = tmp_path / "libraries"
    (libraries / "empty").mkdir(parents=True)
    (libraries / "empty" / "notes.txt").write_text("no maps or meshes here\n")
    run = tmp_path / "run"
    run.mkdir()
    out = run / "dataset"
    result = _generate(*TINY, f"{key}={libraries / folder}", f"output_dir={out}", cwd=run)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert key in lines[0] and str(libraries / folder) in lines[0] and rule in lines[0], lines[0]
    assert list(run.iterdir()) == []


def _failures(out: Path) -> list[dict[str, str]]:
    return [json.loads(line) for line in (out / "_failures.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_an_asset_without_mesh_is_a_recorded_failure_naming_clip_and_file(tmp_path: Path) -> None:
    library = tmp_path / "library"
    library.mkdir()
    (library / "empty.obj").write_text("# no geometry\n")
    out = tmp_path / "dataset"
    result = _generate(
        *TINY,
        "clip.num_frames=9",
        f"scene.params.assets={library}",
        "scene.params.asset_probability=1.0",
        f"output_dir={out}",
        cwd=tmp_path,
    )
    # Every clip failed, so the run says so (exit 2) after recording each clip's cause.
    assert result.returncode == 2 and "every clip of job-000-of-001 failed (2)" in result.stderr
    failures = _failures(out)
    assert [f["clip_id"] for f in failures] == ["demo-000000", "demo-000001"]
    for failure in failures:
        assert "\n" not in failure["error"]
        assert failure["error"].startswith(f"RenderError: clip {failure['clip_id']} ")
        assert "empty.obj" in failure["error"] and "holds no mesh object" in failure["error"]
        assert json.loads(failure["spec_json"])["clip_index"] == failure["clip_index"]


@pytest.mark.slow
def test_a_physics_object_leaving_the_ground_is_a_recorded_failure_naming_it(tmp_path: Path) -> None:
    out = tmp_path / "dataset"
    result = _generate(
        *TINY,
        "clip.num_frames=49",
        "motion=physics",
        "motion.speed_m_per_s=[60.0,60.0]",
        "motion.physics.throw_probability=1.0",
        f"output_dir={out}",
        cwd=tmp_path,
    )
    assert result.returncode == 2 and "every clip of job-000-of-001 failed (2)" in result.stderr
    for failure in _failures(out):
        assert "\n" not in failure["error"]
        assert failure["error"].startswith(
            f"RenderError: clip {failure['clip_id']} (scene recipe 'tracked_objects'): "
        )
        assert "leaves the ground at frame" in failure["error"] and "objects[" in failure["error"]
