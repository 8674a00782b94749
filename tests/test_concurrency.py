"""Two processes on one output folder: shard claims keep them from writing the same shard or crashing each
other; stale claims (dead holder, old heartbeat) are taken over; a holder that lost its claim never commits."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from synthgen.dataset import ClipRow, VideoEncoding
from synthgen.dataset.claim import ShardClaim, lock_path, read_claim, try_claim
from synthgen.dataset.testing import example_row
from synthgen.dataset.validate import validate_dataset
from synthgen.pipeline.job import RunSettings, run_job


def _settings(root: Path, **kwargs: Any) -> RunSettings:
    base: dict[str, Any] = {
        "output_dir": root,
        "dataset_name": "example",
        "num_clips": 6,
        "clips_per_shard": 2,
        "encoding": VideoEncoding(lossless=True),
        "config_hash": "h1",
        "wait_poll_s": 0.05,
    }
    return RunSettings(**{**base, **kwargs})


def _clip_indices(root: Path) -> list[int]:
    manifest = json.loads((root / "_manifest.json").read_text())
    table = pa.concat_tables([pq.read_table(root / entry["path"]) for entry in manifest["files"]])
    return sorted(table["clip_index"].to_pylist())


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def _plant_claim(root: Path, shard: int, *, pid: int, host: str, age_s: float = 0.0) -> Path:
    path = lock_path(root, f"shard-{shard:05d}")
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {"holder": "planted", "host": host, "pid": pid, "job": "job-000-of-001", "started_at": ""}
    path.write_text(json.dumps(body))
    then = time.time() - age_s
    os.utime(path, (then, then))
    return path


class _Counter:
    def __init__(self, hook: Any = None) -> None:
        self.calls: list[int] = []
        self.hook = hook

    def __call__(self, clip_index: int) -> ClipRow:
        self.calls.append(clip_index)
        if self.hook is not None:
            self.hook(clip_index)
        return example_row(clip_index)


# ------------------------------------------------------------------------------- two processes at once


def test_two_processes_on_one_folder_write_every_clip_once_and_both_succeed(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    command = [sys.executable, "-m", "synthgen.dataset.testing", str(root), "--num-clips", "12",
               "--clips-per-shard", "2", "--delay-s", "0.1"]  # fmt: skip
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    second = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    outputs = [process.communicate(timeout=300) for process in (first, second)]
    assert [first.returncode, second.returncode] == [0, 0], outputs
    assert not any("Traceback" in out + err for out, err in outputs)
    generated = [int(re.search(r"(\d+) clips generated", out).group(1)) for out, _ in outputs]  # type: ignore[union-attr]
    assert sum(generated) == 12  # every clip rendered by exactly one of the two
    assert _clip_indices(root) == list(range(12))
    assert validate_dataset(root).ok
    assert not list((root / "_locks").glob("*.lock"))


def test_a_shard_held_by_a_live_job_is_waited_for_not_written_twice(tmp_path: Path) -> None:
    holder = try_claim(lock_path(tmp_path, "shard-00001"), "other")
    assert isinstance(holder, ShardClaim)
    counter = _Counter(lambda clip_index: clip_index == 4 and holder.release())
    summary = run_job(_settings(tmp_path), counter, progress=False)
    assert counter.calls == [0, 1, 4, 5, 2, 3]  # shard 1 skipped while held, written once released
    assert summary.dataset_complete and _clip_indices(tmp_path) == list(range(6))
    assert "shard 1 is being written by other" in (tmp_path / "_logs" / "job-000-of-001.log").read_text()


def test_a_shard_committed_meanwhile_by_the_other_job_is_not_rewritten(tmp_path: Path) -> None:
    holder = try_claim(lock_path(tmp_path, "shard-00001"), "other")
    assert isinstance(holder, ShardClaim)

    def other_job_commits(clip_index: int) -> None:
        if clip_index != 4:
            return
        other = run_job(_settings(tmp_path / "other"), example_row, progress=False)
        assert other.dataset_complete
        # Stand in for the holder committing: copy its shard 1 and record into the shared folder.
        for name in ("data/shard-00001-000.parquet", "_shards/shard-00001.json"):
            (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / name).write_bytes((tmp_path / "other" / name).read_bytes())
        holder.release()

    counter = _Counter(other_job_commits)
    summary = run_job(_settings(tmp_path), counter, progress=False)
    assert counter.calls == [0, 1, 4, 5]
    assert summary.by_other_process == 2 and summary.generated == 4
    assert validate_dataset(tmp_path).ok


# ----------------------------------------------------------------------------------- stale claims


def test_a_claim_of_a_dead_process_on_this_host_is_taken_over(tmp_path: Path) -> None:
    _plant_claim(tmp_path, 1, pid=_dead_pid(), host=socket.gethostname())
    counter = _Counter()
    run_job(_settings(tmp_path), counter, progress=False)
    assert sorted(counter.calls) == list(range(6))
    assert not list((tmp_path / "_locks").iterdir())


def test_a_claim_whose_heartbeat_stopped_is_taken_over(tmp_path: Path) -> None:
    _plant_claim(tmp_path, 1, pid=1, host="another-host", age_s=30.0)
    counter = _Counter()
    run_job(_settings(tmp_path, claim_stale_after_s=10.0), counter, progress=False)
    assert sorted(counter.calls) == list(range(6))


def test_a_fresh_claim_from_another_host_is_not_taken_over(tmp_path: Path) -> None:
    path = _plant_claim(tmp_path, 1, pid=1, host="another-host", age_s=1.0)
    claim = try_claim(path, "me", stale_after_s=10.0)
    assert not isinstance(claim, ShardClaim)
    assert claim.host == "another-host" and claim.job == "job-000-of-001"


def test_the_heartbeat_keeps_a_held_claim_fresh(tmp_path: Path) -> None:
    claim = try_claim(lock_path(tmp_path, "shard-00000"), "me", heartbeat_s=0.05)
    assert isinstance(claim, ShardClaim)
    try:
        then = time.time() - 60
        os.utime(claim.path, (then, then))
        time.sleep(0.3)
        info = read_claim(claim.path)
        assert info is not None and info.heartbeat_age_s < 5
    finally:
        claim.release()
    assert not claim.path.exists()


def test_racing_claimants_leave_exactly_one_holder(tmp_path: Path) -> None:
    path = _plant_claim(tmp_path, 0, pid=_dead_pid(), host=socket.gethostname())
    results: list[Any] = []
    barrier = threading.Barrier(8)

    def claim() -> None:
        barrier.wait()
        results.append(try_claim(path, "racer", heartbeat_s=60.0))

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    claims = [result for result in results if isinstance(result, ShardClaim)]
    try:
        assert sum(claim.still_held() for claim in claims) == 1
    finally:
        for claim in claims:
            claim.release()


# ------------------------------------------------------------------------------------- lost claims


def test_a_job_that_lost_its_claim_drops_the_shard_instead_of_committing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dead = _dead_pid()
    stolen: list[int] = []

    def steal_shard_0(clip_index: int) -> None:
        if clip_index == 1 and not stolen:  # while shard 0 is being written, another job takes it over
            stolen.append(clip_index)
            _plant_claim(tmp_path, 0, pid=dead, host=socket.gethostname())

    counter = _Counter(steal_shard_0)
    summary = run_job(_settings(tmp_path), counter, progress=False)
    assert "shard 0: another process took this job's claim over" in capsys.readouterr().err
    # The dropped shard is written again once the thief is found dead; every clip is stored once.
    assert counter.calls.count(0) == 2 and summary.dataset_complete
    assert _clip_indices(tmp_path) == list(range(6))
    assert validate_dataset(tmp_path).ok


def test_a_job_starting_while_another_writes_the_dataset_record_is_not_refused(tmp_path: Path) -> None:
    """Jobs started at once: one may see the other's ``_dataset.json`` still under its temporary name."""
    (tmp_path / "._dataset.json.0123abcd.tmp").write_text("{")
    summary = run_job(_settings(tmp_path), example_row, progress=False)
    assert summary.dataset_complete
