"""``synthgen preview PATH [--clip ID] --out DIR``: an MP4 and a PNG contact sheet of one clip."""

from __future__ import annotations

import argparse

from synthgen.dataset.preview import write_preview


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``synthgen preview``."""
    parser.add_argument("path", help="dataset folder")
    parser.add_argument("--clip", default=None, help="clip_id to preview (default: the first clip)")
    parser.add_argument("--out", required=True, help="folder for <clip_id>.mp4 and <clip_id>.png")
    parser.add_argument("--overwrite", action="store_true", help="replace this clip's existing preview files")


def run(args: argparse.Namespace) -> int:
    """Write the preview and print the two paths."""
    mp4, png = write_preview(args.path, args.out, args.clip, overwrite=args.overwrite)
    print(mp4)
    print(png)
    return 0
