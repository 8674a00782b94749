"""``synthgen validate PATH``: check a dataset; one line per problem (shard and row named), exit 1 if any."""

from __future__ import annotations

import argparse
import sys

from synthgen.dataset.store import DATA_DIR, DATASET_FILE
from synthgen.dataset.validate import validate_dataset


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``synthgen validate``."""
    parser.add_argument("path", help=f"dataset folder (holds {DATASET_FILE}, {DATA_DIR}/*.parquet)")
    parser.add_argument("--no-decode", action="store_true", help="skip decoding videos and audio (faster)")
    parser.add_argument(
        "--max-problems", type=_at_least_one, default=100, help="stop after this many problems (>= 1)"
    )


def _at_least_one(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be >= 1")
    return value


def run(args: argparse.Namespace) -> int:
    """Validate ``args.path``; print a summary line, or each problem on its own line and return 1."""
    report = validate_dataset(args.path, decode_media=not args.no_decode, max_problems=args.max_problems)
    for problem in report.problems:
        print(f"synthgen validate: {problem}", file=sys.stderr)
    if not report.ok:
        return 1
    print(
        f"{report.path}: ok, {report.num_rows} clips in {report.num_files} shards, {report.num_failed} failed clips recorded"
    )
    return 0
