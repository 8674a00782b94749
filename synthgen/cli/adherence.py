"""``synthgen adherence DATASET --videos DIR``: score videos named ``<clip_id>.mp4`` against the dataset's
exact labels (docs/adherence.md); prints the mean of each number, ``--out`` writes the full report."""

from __future__ import annotations

import argparse
from pathlib import Path

from synthgen.adherence.report import score_folder
from synthgen.errors import ConfigError
from synthgen.fileio import atomic_write_json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``synthgen adherence``."""
    parser.add_argument("dataset", help="dataset folder (holds _dataset.json, data/*.parquet)")
    parser.add_argument(
        "--videos", required=True, help="folder of <clip_id>.mp4, one per clip of the dataset"
    )
    parser.add_argument("--out", help="write the report (per clip and mean) to this JSON file")


def run(args: argparse.Namespace) -> int:
    """Score every clip, then print the summary and write ``--out``; nothing is written on an error."""
    if args.out is not None and not Path(args.out).parent.is_dir():
        raise ConfigError(f"--out {args.out}: its folder does not exist")
    report = score_folder(args.dataset, args.videos)
    for metric, numbers in report["summary"].items():
        shown = ", ".join(
            f"{name}={'n/a' if value is None else f'{value:.4g}'}" for name, value in numbers.items()
        )
        print(f"{metric}: {shown}")
    if args.out is not None:
        atomic_write_json(args.out, report, indent=2)
        print(f"wrote {args.out} ({report['num_clips']} clips)")
    return 0
