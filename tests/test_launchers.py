"""``synthgen-generate -m``: Hydra launchers split the dataset over jobs that write disjoint shards.

These run the real pipeline (Blender) at tiny settings: 64x64, 9 frames, 1 sample per pixel.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from synthgen.dataset.validate import validate_dataset

pytest.importorskip("bpy")

TINY = ["clip.width=64", "clip.height=64", "clip.num_frames=9", "render.samples=1", "render.tracks_per_object=4",
        "render.background_tracks=4", "shards.max_clips=1", "dataset.num_clips=2"]  # fmt: skip


def _generate(root: Path, *overrides: str) -> subprocess.CompletedProcess[str]:
    command = [str(Path(sys.executable).with_name("synthgen-generate")), "-m", f"output_dir={root}",
               "job.index=range(0,2)", "job.count=2", *TINY, *overrides]  # fmt: skip
    env = {**os.environ, "HYDRA_FULL_ERROR": "1"}
    return subprocess.run(command, capture_output=True, text=True, timeout=600, env=env, cwd=root.parent)


def _check_two_jobs_made_one_dataset(root: Path, result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, result.stderr[-2000:]
    records = {p.name: json.loads(p.read_text())["clips"] for p in (root / "_shards").glob("*.json")}
    assert records == {"shard-00000.json": [0], "shard-00001.json": [1]}
    assert sorted(p.name for p in (root / "_logs").glob("job-*.log")) == [
        "job-000-of-002.log",
        "job-001-of-002.log",
    ]
    report = validate_dataset(root)
    assert report.ok and report.num_rows == 2, report.problems


@pytest.mark.slow
def test_joblib_launcher_runs_jobs_as_local_processes(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    _check_two_jobs_made_one_dataset(
        root, _generate(root, "hydra/launcher=synthgen_joblib", "hydra.launcher.n_jobs=2")
    )


@pytest.mark.slow
def test_submitit_local_launcher_runs_jobs(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    result = _generate(root, "hydra/launcher=synthgen_submitit_local", "hydra.launcher.cpus_per_task=1")
    _check_two_jobs_made_one_dataset(root, result)


@pytest.mark.slow
def test_slurm_launcher_config_composes() -> None:
    command = [str(Path(sys.executable).with_name("synthgen-generate")), "--cfg", "hydra", "--package",
               "hydra.launcher", "hydra/launcher=synthgen_submitit_slurm"]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "SlurmLauncher" in result.stdout and "gpus_per_node: 1" in result.stdout


@contextmanager
def _local_ray_head(num_cpus: int = 2) -> Iterator[str]:
    """A Ray head node on 127.0.0.1 started for the test; yields its address, stops its processes after."""
    temp_dir = tempfile.mkdtemp(prefix="sgray", dir="/tmp")  # Ray's socket paths must stay short
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [str(Path(sys.executable).with_name("ray")), "start", "--head", "--block", "--node-ip-address=127.0.0.1",
               f"--port={port}", f"--num-cpus={num_cpus}", "--include-dashboard=false", "--disable-usage-stats",
               f"--temp-dir={temp_dir}"]  # fmt: skip
    # Its own session, so the head and every process it starts can be stopped as one group.
    head = subprocess.Popen(
        command, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 120.0
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1.0).close()
                break
            except OSError:
                if time.monotonic() > deadline or head.poll() is not None:
                    raise RuntimeError("the local Ray head did not start") from None
                time.sleep(0.5)
        yield f"127.0.0.1:{port}"
    finally:
        os.killpg(head.pid, signal.SIGTERM)
        try:
            head.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
            head.wait()
        shutil.rmtree(temp_dir, ignore_errors=True)


@pytest.mark.slow
def test_ray_launcher_runs_jobs_on_a_local_cluster(tmp_path: Path) -> None:
    pytest.importorskip("ray")
    with _local_ray_head() as address:
        root = tmp_path / "ds"
        result = _generate(root, "hydra/launcher=synthgen_ray", f"hydra.launcher.ray.init.address={address}")
    _check_two_jobs_made_one_dataset(root, result)


@pytest.mark.slow
def test_ray_launcher_secures_the_local_ray_it_starts(tmp_path: Path) -> None:
    pytest.importorskip("ray")
    probe = tmp_path / "probe.py"
    # A job that reports the address of the Ray it runs in; a process without the token then tries to join.
    probe.write_text(
        "import json, os, ray, subprocess, sys\n"
        "from hydra_plugins.synthgen_launchers.ray_launcher import secure_local_ray_env\n"
        "secure_local_ray_env()\n"
        "ctx = ray.init(num_cpus=1, include_dashboard=False)\n"
        "address = ctx.address_info['gcs_address']\n"
        "env = {k: v for k, v in os.environ.items() if not k.startswith('RAY_')}\n"
        "code = f\"import ray; ray.init(address='{address}'); print('JOINED')\"\n"
        "intruder = subprocess.run([sys.executable, '-c', code], env=env, capture_output=True, text=True, timeout=120)\n"
        "@ray.remote\n"
        "def answer():\n    return 42\n"
        "print(json.dumps({'address': address, 'own_task': ray.get(answer.remote()),\n"
        "                  'intruder_joined': 'JOINED' in intruder.stdout}))\n"
        "ray.shutdown()\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    result = subprocess.run(
        [sys.executable, str(probe)], capture_output=True, text=True, timeout=300, env=env
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["own_task"] == 42
    assert report["intruder_joined"] is False


@pytest.mark.slow
def test_ray_launcher_starts_its_own_secured_ray_and_runs_the_jobs(tmp_path: Path) -> None:
    pytest.importorskip("ray")
    root = tmp_path / "ds"
    result = _generate(root, "hydra/launcher=synthgen_ray", "hydra.launcher.ray.remote.num_cpus=1")
    _check_two_jobs_made_one_dataset(root, result)
