"""``synthgen export ltx-trainer PATH OUT``: MP4/WAV files + dataset.jsonl for the LTX-2 trainer."""

from __future__ import annotations

import argparse
import json

from synthgen.dataset.export import EXPORT_INFO, export_ltx_trainer

FORMATS = ("ltx-trainer",)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``synthgen export``."""
    parser.add_argument("format", choices=FORMATS, help="target layout")
    parser.add_argument("path", help="dataset folder")
    parser.add_argument(
        "out", help="output folder (created; one holding more than an earlier export needs --overwrite)"
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="write into a non-empty OUT, replacing files of the same name",
    )
    parser.add_argument(
        "--no-dense-labels",
        dest="dense_labels",
        action="store_false",
        help="leave out the per-pixel labels (written as labels/<clip_id>.safetensors by default)",
    )


def run(args: argparse.Namespace) -> int:
    """Export, then print the path of the written dataset file and upstream's command that caches it."""
    jsonl = export_ltx_trainer(args.path, args.out, overwrite=args.overwrite, dense_labels=args.dense_labels)
    info = json.loads((jsonl.parent / EXPORT_INFO).read_text())
    print(jsonl)
    print(f"next, from ltx-trainer's folder: {info['process_dataset_command']}")
    return 0
