"""Generation jobs: resume after interruption, failures, job split, progress/log/summary, SIGKILL trials."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from synthgen.dataset import ClipRow, VideoEncoding, open_dataset
from synthgen.dataset.testing import example_row
from synthgen.dataset.validate import validate_dataset
from synthgen.errors import ConfigError, RenderError
from synthgen.pipeline.job import RunSettings, run_job


def _settings(root: Path, num_clips: int = 6, **kwargs: Any) -> RunSettings:
    base: dict[str, Any] = {
        "output_dir": root,
        "dataset_name": "example",
        "num_clips": num_clips,
        "clips_per_shard": 2,
        "encoding": VideoEncoding(lossless=True),
        "config_hash": "h1",
    }
    return RunSettings(**{**base, **kwargs})


def _dataset_table(root: Path) -> pa.Table:
    """Every row of the dataset sorted by clip_index, without per-run timings."""
    manifest = json.loads((root / "_manifest.json").read_text())
    table = pa.concat_tables([pq.read_table(root / entry["path"]) for entry in manifest["files"]])
    return table.sort_by("clip_index").drop_columns(["timings_json"]).replace_schema_metadata(None)


class _Counter:
    def __init__(self) -> None:
        self.calls: list[int] = []

    def __call__(self, clip_index: int) -> ClipRow:
        self.calls.append(clip_index)
        return example_row(clip_index)


def test_rerun_of_a_complete_dataset_generates_nothing(tmp_path: Path) -> None:
    run_job(_settings(tmp_path), example_row, progress=False)
    counter = _Counter()
    summary = run_job(_settings(tmp_path), counter, progress=False)
    assert counter.calls == [] and summary.resumed == 6 and summary.dataset_complete


def test_partial_shard_is_discarded_and_only_its_clips_regenerated(tmp_path: Path) -> None:
    run_job(_settings(tmp_path), example_row, progress=False)
    before = _dataset_table(tmp_path)
    (tmp_path / "_shards" / "shard-00001.json").unlink()  # as if killed between rename and commit
    (tmp_path / "data" / ".shard-00001-001.parquet.dead.tmp").write_bytes(b"partial")
    (tmp_path / "_manifest.json").unlink()
    counter = _Counter()
    run_job(_settings(tmp_path), counter, progress=False)
    assert counter.calls == [2, 3]
    assert not (tmp_path / "data" / ".shard-00001-001.parquet.dead.tmp").exists()
    assert _dataset_table(tmp_path).equals(before)


def test_truncated_committed_shard_is_regenerated(tmp_path: Path) -> None:
    run_job(_settings(tmp_path), example_row, progress=False)
    shard = tmp_path / "data" / "shard-00002-000.parquet"
    shard.write_bytes(shard.read_bytes()[:100])
    counter = _Counter()
    run_job(_settings(tmp_path), counter, progress=False)
    assert counter.calls == [4, 5] and validate_dataset(tmp_path).ok


def test_other_config_in_the_same_folder_is_refused(tmp_path: Path) -> None:
    run_job(_settings(tmp_path), example_row, progress=False)
    with pytest.raises(ConfigError, match="holds a dataset with config_hash='h1', this run has 'h2'"):
        run_job(_settings(tmp_path, config_hash="h2"), example_row, progress=False)


def _failing_at(bad: int) -> Any:
    def make_row(clip_index: int) -> ClipRow:
        if clip_index == bad:
            raise RenderError(f"clip {clip_index}: recipe 'example' failed: no light")
        return example_row(clip_index)

    return make_row


def test_failed_clip_is_recorded_with_spec_and_the_run_goes_on(tmp_path: Path) -> None:
    summary = run_job(
        _settings(tmp_path), _failing_at(3), describe_clip=lambda i: f'{{"clip": {i}}}', progress=False
    )
    assert (summary.generated, summary.failed) == (5, 1)
    failures = [json.loads(line) for line in (tmp_path / "_failures.jsonl").read_text().splitlines()]
    assert failures == [
        {
            "clip_index": 3,
            "clip_id": "example-000003",
            "error": "RenderError: clip 3: recipe 'example' failed: no light",
            "spec_json": '{"clip": 3}',
        }
    ]
    assert validate_dataset(tmp_path).ok


def test_fail_fast_stops_at_the_first_failure_and_keeps_no_partial_shard(tmp_path: Path) -> None:
    with pytest.raises(RenderError):
        run_job(_settings(tmp_path, fail_fast=True), _failing_at(3), progress=False)
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["shard-00000-000.parquet"]


def test_jobs_write_disjoint_shards_and_the_last_merges_the_manifest(tmp_path: Path) -> None:
    first = run_job(_settings(tmp_path, num_clips=7, job_index=0, job_count=2), example_row, progress=False)
    assert not first.dataset_complete and not (tmp_path / "_manifest.json").exists()
    second = run_job(_settings(tmp_path, num_clips=7, job_index=1, job_count=2), example_row, progress=False)
    assert second.dataset_complete
    records = {p.name: json.loads(p.read_text())["clips"] for p in (tmp_path / "_shards").iterdir()}
    assert records == {"shard-00000.json": [0, 1], "shard-00001.json": [2, 3], "shard-00002.json": [4, 5],
                       "shard-00003.json": [6]}  # fmt: skip
    assert validate_dataset(tmp_path).ok


def test_progress_bar_reports_rate_and_eta(tmp_path: Path) -> None:
    stream = io.StringIO()
    run_job(_settings(tmp_path, num_clips=2), example_row, progress=stream)
    assert "2/2" in stream.getvalue() and "clip/s" in stream.getvalue()


def test_job_log_and_summary_are_written(tmp_path: Path) -> None:
    run_job(_settings(tmp_path, num_clips=2, job_index=0, job_count=1), example_row, progress=False)
    log = (tmp_path / "_logs" / "job-000-of-001.log").read_text()
    summary = json.loads((tmp_path / "_logs" / "job-000-of-001.summary.json").read_text())
    assert "clip example-000001 written" in log and "shard 0 committed: 2 clips" in log
    assert summary["generated"] == 2 and summary["clips_per_s"] > 0


# ------------------------------------------------------------------------------------ SIGKILL trials


def _job_command(root: Path, num_clips: int, delay_s: float) -> list[str]:
    return [sys.executable, "-m", "synthgen.dataset.testing", str(root), "--num-clips", str(num_clips),
            "--clips-per-shard", "3", "--delay-s", str(delay_s)]  # fmt: skip


def kill_and_resume(root: Path, rng: np.random.Generator, num_clips: int = 12, delay_s: float = 0.1) -> bool:
    """Start a generation job, SIGKILL it at a random moment of its run, rerun it to completion.

    The moment is drawn after the job has started writing (its log exists), uniformly over the time its
    clips take, so interpreter start-up time does not decide where the kill lands. Returns whether the
    first run was killed before it finished.
    """
    process = subprocess.Popen(_job_command(root, num_clips, delay_s))
    log = root / "_logs" / "job-000-of-001.log"
    deadline = time.monotonic() + 60.0
    while not log.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(float(rng.uniform(0.0, num_clips * delay_s)))
    killed = process.poll() is None
    if killed:
        os.kill(process.pid, signal.SIGKILL)
    process.wait()
    subprocess.run(_job_command(root, num_clips, 0.0), check=True)
    return killed


def test_sigkilled_runs_resume_to_the_uninterrupted_dataset(tmp_path: Path) -> None:
    subprocess.run(_job_command(tmp_path / "clean", 12, 0.0), check=True)
    expected = _dataset_table(tmp_path / "clean")
    rng = np.random.default_rng(5)
    for trial in range(3):
        root = tmp_path / f"trial{trial}"
        assert kill_and_resume(root, rng)
        table = _dataset_table(root)
        assert table["clip_index"].to_pylist() == list(range(12))  # every clip exactly once
        assert table.equals(expected)  # labels and (lossless, deterministic) media bytes identical
        assert validate_dataset(root).ok


def test_clips_of_a_loaded_dataset_match_make_row(tmp_path: Path) -> None:
    run_job(_settings(tmp_path, num_clips=3), example_row, progress=False)
    for clip in open_dataset(str(tmp_path), columns=["clip_index", "video", "label_tracks_xy_px"]):
        row = example_row(clip["clip_index"])
        assert np.array_equal(clip["video"], row.video)
        assert np.array_equal(clip["label_tracks_xy_px"], row.labels["tracks_xy_px"])
