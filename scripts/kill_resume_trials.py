"""Kill-and-resume trials: SIGKILL a generation run at random moments, rerun it, compare with a clean run.

Each trial starts a generation job, waits until it has started writing, kills it with SIGKILL at a moment
drawn uniformly over its expected run time, reruns the same command to completion and checks that the
dataset holds every clip exactly once, passes ``synthgen validate``, leaves no shard claim behind, and that
every row's content is byte-identical to an uninterrupted run: every column (media bytes, labels, specs,
captions), all but the per-run ``timings_json``. A trial fails on any differing byte. With ``--pipeline`` a
second uninterrupted run first shows whether the pipeline itself reproduces its bytes (if it does not, the
trials cannot pass, and the line says which columns to blame on rendering rather than on resume).

    .venv/bin/python scripts/kill_resume_trials.py --trials 10                 # stand-in rows, seconds
    .venv/bin/python scripts/kill_resume_trials.py --trials 10 --pipeline     # real Blender pipeline, minutes
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from synthgen.dataset.store import DatasetStore
from synthgen.dataset.validate import validate_dataset

MEDIA = ("video", "reference_video", "audio")


def example_command(root: Path, num_clips: int, delay_s: float) -> list[str]:
    """A generation job on stand-in rows (``synthgen.dataset.testing``)."""
    return [sys.executable, "-m", "synthgen.dataset.testing", str(root), "--num-clips", str(num_clips),
            "--clips-per-shard", "3", "--delay-s", str(delay_s)]  # fmt: skip


def pipeline_command(root: Path, num_clips: int) -> list[str]:
    """A real ``synthgen-generate`` job at tiny settings (64x64, 9 frames, 1 sample per pixel)."""
    return [str(Path(sys.executable).with_name("synthgen-generate")), f"output_dir={root}",
            f"dataset.num_clips={num_clips}", "shards.max_clips=2", "shards.lossless=true", "clip.width=64",
            "clip.height=64", "clip.num_frames=9", "render.samples=1", "render.tracks_per_object=4",
            "render.background_tracks=4", "hydra.run.dir=" + str(root / "_logs" / "hydra")]  # fmt: skip


def dataset_table(root: Path) -> pa.Table:
    """All rows sorted by clip_index, without per-run timings and file metadata."""
    manifest = DatasetStore(root).manifest()
    assert manifest is not None, f"{root}: not finalised"
    table = pa.concat_tables([pq.read_table(root / entry["path"]) for entry in manifest["files"]])
    return table.sort_by("clip_index").drop_columns(["timings_json"]).replace_schema_metadata(None)


def differing_columns(a: pa.Table, b: pa.Table) -> set[str]:
    """Names of columns whose values differ between two dataset tables of the same clips."""
    return {name for name, _ in differing_cells(a, b)}


def differing_cells(a: pa.Table, b: pa.Table) -> list[tuple[str, int]]:
    """(column, clip_index) of every cell whose bytes differ between two tables sorted by clip_index; a
    column or row present in only one of them counts as differing everywhere."""
    if a.num_rows != b.num_rows or a.column_names != b.column_names:
        return [(name, -1) for name in sorted(set(a.column_names) | set(b.column_names))]
    clips = a["clip_index"].to_pylist()
    cells: list[tuple[str, int]] = []
    for name in a.column_names:
        left, right = a[name].combine_chunks(), b[name].combine_chunks()
        if left.equals(right):
            continue
        cells += [
            (name, clips[i]) for i in range(a.num_rows) if not left.slice(i, 1).equals(right.slice(i, 1))
        ]
    return cells


def run_trial(
    command: list[str], root: Path, expected_s: float, rng: np.random.Generator
) -> dict[str, object]:
    """One kill-and-resume trial; returns what happened."""
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log = root / "_logs" / "job-000-of-001.log"
    while not log.exists() and process.poll() is None:
        time.sleep(0.01)
    kill_after_s = float(rng.uniform(0.0, expected_s))
    time.sleep(kill_after_s)
    killed = process.poll() is None
    if killed:
        os.kill(process.pid, signal.SIGKILL)
    process.wait()
    committed = len(list((root / "_shards").glob("*.json"))) if (root / "_shards").exists() else 0
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    locks_left = len(list((root / "_locks").glob("*.lock"))) if (root / "_locks").exists() else 0
    return {
        "killed": killed,
        "kill_after_s": round(kill_after_s, 2),
        "shards_committed_at_kill": committed,
        "locks_left": locks_left,
    }


def main() -> int:
    """Run the trials and print one line per trial plus a verdict; exit 1 if any trial failed."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--num-clips", type=int, default=12)
    parser.add_argument("--pipeline", action="store_true", help="use the real pipeline via synthgen-generate")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", type=Path, default=None, help="keep the datasets in this folder")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    work = args.keep or Path(tempfile.mkdtemp(prefix="kill_resume_"))
    work.mkdir(parents=True, exist_ok=True)

    def command(root: Path, delay_s: float) -> list[str]:
        return (
            pipeline_command(root, args.num_clips)
            if args.pipeline
            else example_command(root, args.num_clips, delay_s)
        )

    quiet = {"check": True, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    subprocess.run(command(work / "clean", 0.0), **quiet)  # type: ignore[call-overload]
    summary = json.loads((work / "clean" / "_logs" / "job-000-of-001.summary.json").read_text())
    expected = dataset_table(work / "clean")
    if args.pipeline:
        # A second clean run tells bytes the pipeline itself does not reproduce from resume faults.
        subprocess.run(command(work / "clean2", 0.0), **quiet)  # type: ignore[call-overload]
        unstable = differing_columns(expected, dataset_table(work / "clean2"))
        print(f"columns that differ between two uninterrupted runs: {sorted(unstable) or 'none'}", flush=True)
    failures = 0
    for trial in range(args.trials):
        root = work / f"trial{trial:02d}"
        run_s = float(summary["seconds"]) if args.pipeline else args.num_clips * 0.1
        outcome = run_trial(command(root, 0.1), root, run_s, rng)
        table = dataset_table(root)
        once = table["clip_index"].to_pylist() == list(range(args.num_clips))
        cells = differing_cells(table, expected)
        media_equal = not [name for name, _ in cells if name in MEDIA]
        valid = validate_dataset(root).ok
        ok = once and valid and not cells and outcome["locks_left"] == 0
        failures += not ok
        print(f"trial {trial:2d}: {outcome} every_clip_once={once} all_bytes_identical={not cells} "
              f"media_identical={media_equal} valid={valid} differing_cells={cells[:8]} -> {'ok' if ok else 'FAILED'}")  # fmt: skip
    print(
        f"{args.trials - failures}/{args.trials} trials ok ({'pipeline' if args.pipeline else 'stand-in rows'})"
    )
    if args.keep is None:
        shutil.rmtree(work)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
