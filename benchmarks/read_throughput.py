"""Read throughput: clips/s decoded to uint8 arrays from synthgen shards vs the same clips as MP4 + JSON files.

The second layout is what ``synthgen export ltx-trainer`` writes (the LTX trainer's input): one MP4 per video,
labels as JSON. Both sides decode video with the same decoder (``synthgen.dataset.media.decode_video``, PyAV)
and return the same arrays: target video, reference video and every label array. After one untimed pass
over both (same page-cache state), the two readers alternate for ``--passes`` timed passes each and the
median clips/s of each is reported, so load from other processes on a shared machine hits both alike.

    .venv/bin/python benchmarks/read_throughput.py                      # stand-in clips, 256x256x49
    .venv/bin/python benchmarks/read_throughput.py --dataset outputs/demo
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from synthgen.dataset import DatasetStore, VideoEncoding, decode_video, open_dataset, write_dataset
from synthgen.dataset.export import export_ltx_trainer
from synthgen.dataset.testing import example_row


def read_shards(path: Path) -> Iterator[dict[str, Any]]:
    """Clips from the shards: videos decoded, labels reshaped (``open_dataset``)."""
    columns = ["video", "reference_video"] + [n for n in dataset_columns(path) if n.startswith("label_")]
    yield from open_dataset(str(path), columns=columns)


def dataset_columns(path: Path) -> list[str]:
    """Column names of the dataset's first shard."""
    import pyarrow.parquet as pq

    manifest = DatasetStore(path).manifest()
    if manifest is None:
        raise SystemExit(f"{path}: no _manifest.json (not a finished synthgen dataset)")
    return list(pq.read_schema(path / manifest["files"][0]["path"]).names)


def read_files(path: Path) -> Iterator[dict[str, Any]]:
    """Clips from the exported MP4 + JSON layout: the same arrays as ``read_shards``."""
    for line in (path / "dataset.jsonl").read_text().splitlines():
        entry = json.loads(line)
        clip: dict[str, Any] = {"video": decode_video((path / entry["video"]).read_bytes())}
        if entry["reference_video"]:
            clip["reference_video"] = decode_video((path / entry["reference_video"]).read_bytes())
        labels = json.loads((path / "labels" / (Path(entry["video"]).stem + ".json")).read_text())
        clip.update({f"label_{k}": np.asarray(v) for k, v in labels.items()})
        yield clip


def timed(reader: Callable[[Path], Iterator[dict[str, Any]]], path: Path) -> tuple[int, float]:
    """(clips read, seconds) of one full pass."""
    start = time.perf_counter()
    count = sum(1 for clip in reader(path) if clip["video"].dtype == np.uint8)
    return count, time.perf_counter() - start


def folder_bytes(path: Path, pattern: str) -> int:
    """Total size of the files under ``path`` matching ``pattern``."""
    return sum(p.stat().st_size for p in path.glob(pattern) if p.is_file())


def main() -> int:
    """Build or take a dataset, export it, time both readers once, print a table."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dataset", type=Path, default=None, help="an existing synthgen dataset folder")
    parser.add_argument("--clips", type=int, default=32, help="stand-in clips to write when no --dataset")
    parser.add_argument("--size", type=int, default=256, help="stand-in clip side in pixels")
    parser.add_argument("--frames", type=int, default=49, help="stand-in clip frames (8k+1)")
    parser.add_argument("--passes", type=int, default=3, help="timed passes per reader (median reported)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="read_bench_"))
    try:
        if args.dataset is None:
            source = work / "shards"
            rows = (example_row(i, height=args.size, width=args.size, num_frames=args.frames, num_points=64)
                    for i in range(args.clips))  # fmt: skip
            write_dataset(
                rows, source, num_clips=args.clips, clips_per_shard=16, encoding=VideoEncoding(crf=18)
            )
        else:
            source = args.dataset
        exported = work / "ltx"
        export_ltx_trainer(str(source), exported)
        for reader, path in ((read_shards, source), (read_files, exported)):
            timed(reader, path)  # untimed pass: same cache state for both
        shard_runs, file_runs = [], []
        for _ in range(args.passes):
            shard_runs.append(timed(read_shards, source))
            file_runs.append(timed(read_files, exported))
        shard_clips, shard_s = sorted(shard_runs, key=lambda run: run[1])[len(shard_runs) // 2]
        file_clips, file_s = sorted(file_runs, key=lambda run: run[1])[len(file_runs) // 2]
        shard_bytes = folder_bytes(source / "data", "*.parquet")
        file_bytes = folder_bytes(exported, "**/*")
        table = [
            ("shards (Parquet)", shard_clips, shard_s, shard_bytes),
            ("MP4 + JSON files", file_clips, file_s, file_bytes),
        ]
        print(f"{'layout':<18} {'clips':>5} {'median s':>8} {'clips/s':>8} {'bytes/clip':>11}")
        for name, clips, seconds, size in table:
            print(f"{name:<18} {clips:>5} {seconds:>8.2f} {clips / seconds:>8.2f} {size / clips:>11.0f}")
        ratio = (shard_clips / shard_s) / (file_clips / file_s)
        print(f"ratio shards / files: {ratio:.2f} (bar >= 1.0)")
        print("bytes: shards hold video, reference, control videos, FLAC audio and labels; files hold video,")
        print("reference, WAV audio and labels as JSON (the trainer's input has no control videos).")
    finally:
        shutil.rmtree(work)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
