"""A dataset run renders in a recycled worker process, so Blender's memory never piles up in the job."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.blender
def test_dataset_runs_render_in_a_worker_process_not_in_the_job_process(tmp_path: Path) -> None:
    code = (
        "import sys, synthgen\n"
        "cfg = synthgen.load_generate_config({'output_dir': sys.argv[1], 'dataset': {'num_clips': 2},"
        " 'clip': {'width': 32, 'height': 32, 'num_frames': 9}, 'render': {'samples': 1, 'recycle_after': 1}})\n"
        "summary = synthgen.generate_dataset(cfg, progress=False)\n"
        "print(summary.generated, 'bpy' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "ds")],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    )
    assert out.stdout.strip().splitlines()[-1] == "2 False"
