"""Render the contact sheets of docs/gallery.md: 16 random clips per built-in recipe, in the default look.

    .venv/bin/python scripts/gallery.py                              # docs/img/gallery_<recipe>.png
    .venv/bin/python scripts/gallery.py --recipes camera_set --clips 8 --set look=flat
    .venv/bin/python scripts/gallery.py --recipes tracked_objects --clips 4 --num-frames 25 --frames 5 \\
        --set motion=physics --name physics                          # docs/img/gallery_physics.png

With ``--frames K`` each clip is a row of K frames evenly spaced over the clip (first to last) instead of one
tile: a film strip, for motion.

Each recipe's clips come from ``synthgen.generate`` (the product's own path: sampling, render worker,
encoding, shards) with the packaged defaults plus ``scene=<recipe>``, 256x256, 9 frames, the packaged render's
samples (4 spp on Cycles CPU); the sheet shows each clip's middle frame, decoded from the written dataset, in
a 4 x 4 grid. The time printed per recipe is the whole generate path's (render, labels, encoding) per frame,
from each clip's own ``timings_json``.

With ``--keep DIR`` the datasets are written to ``DIR/<recipe>`` one clip per shard and kept: an interrupted
run is resumed by running the same command again (complete shards are kept), and ``--partial`` draws a sheet
from whatever clips are there.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from synthgen.dataset.reader import open_dataset
from synthgen.describe.config import load_generate_config
from synthgen.pipeline.job import generate
from synthgen.scenes import BUILTIN_RECIPES

OUT = Path(__file__).resolve().parents[1] / "docs" / "img"


def sheet(tiles: list[np.ndarray], columns: int = 4, gap: int = 4) -> np.ndarray:
    """Tiles (same shape) in a grid ``columns`` wide on a dark background."""
    height, width = tiles[0].shape[:2]
    rows = -(-len(tiles) // columns)
    canvas = np.full((rows * (height + gap) + gap, columns * (width + gap) + gap, 3), 20, np.uint8)
    for index, tile in enumerate(tiles):
        r, c = divmod(index, columns)
        canvas[gap + r * (height + gap) :][:height, gap + c * (width + gap) :][:, :width] = tile
    return canvas


def recipe_sheet(
    recipe: str,
    clips: int,
    size: int,
    samples: int | None,
    overrides: list[str],
    keep: Path | None,
    partial: bool,
    num_frames: int = 9,
    frames: int = 1,
) -> tuple[np.ndarray, float, int, int]:
    """The sheet of ``recipe`` (middle frames, or ``frames`` per clip as rows), seconds per rendered frame,
    number of clips, samples."""
    with contextlib.ExitStack() as stack:
        folder = keep if keep is not None else Path(stack.enter_context(tempfile.TemporaryDirectory()))
        cfg = load_generate_config(
            overrides=[
                f"scene={recipe}",
                f"dataset.name=gallery_{recipe}",
                f"dataset.num_clips={clips}",
                f"clip.width={size}",
                f"clip.height={size}",
                f"clip.num_frames={num_frames}",
                *([f"render.samples={samples}"] if samples is not None else []),
                f"output_dir={folder}/{recipe}",
                *(["shards.max_clips=1"] if keep is not None else []),
                *overrides,
            ]
        )
        if not partial:
            generate(cfg, progress=False)
        rows = list(open_dataset(f"{folder}/{recipe}", ["video", "timings_json"]))
        if frames == 1:
            tiles = [row["video"][len(row["video"]) // 2] for row in rows]
        else:
            tiles = [
                row["video"][round(i * (len(row["video"]) - 1) / (frames - 1))]
                for row in rows
                for i in range(frames)
            ]
        seconds = sum(json.loads(row["timings_json"])["total"] for row in rows)
    per_frame = seconds / (len(rows) * cfg.clip.num_frames)
    return sheet(tiles, columns=4 if frames == 1 else frames), per_frame, len(rows), int(cfg.render.samples)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--recipes", nargs="*", default=list(BUILTIN_RECIPES))
    parser.add_argument("--clips", type=int, default=16)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--num-frames", type=int, default=9, help="clip.num_frames")
    parser.add_argument("--frames", type=int, default=1, help="frames per clip on the sheet (a row each)")
    parser.add_argument("--name", help="sheet name, gallery_<name>.png (default: the recipe's)")
    parser.add_argument("--samples", type=int, help="render.samples (default: the packaged render's)")
    parser.add_argument("--set", nargs="*", default=[], help="extra Hydra overrides")
    parser.add_argument("--out", type=Path, default=OUT, help="folder of the sheets")
    parser.add_argument("--keep", type=Path, help="keep the datasets here, one clip per shard (resumable)")
    parser.add_argument("--partial", action="store_true", help="no rendering: sheets of the kept clips")
    args = parser.parse_args()
    if args.partial and args.keep is None:
        parser.error("--partial needs --keep")
    if args.frames < 1 or args.frames > args.num_frames:
        parser.error(f"--frames must be between 1 and --num-frames ({args.num_frames})")
    if args.name and len(args.recipes) != 1:
        parser.error("--name names one sheet: give one recipe")
    args.out.mkdir(parents=True, exist_ok=True)
    for recipe in args.recipes:
        image, per_frame, count, spp = recipe_sheet(
            recipe,
            args.clips,
            args.size,
            args.samples,
            args.set,
            args.keep,
            args.partial,
            args.num_frames,
            args.frames,
        )
        path = args.out / f"gallery_{args.name or recipe}.png"
        Image.fromarray(image).save(path, optimize=True)
        print(
            f"{recipe}: {path} ({count} clips, {per_frame:.2f} s/frame at {args.size}x{args.size}, {spp} spp)"
        )


if __name__ == "__main__":
    main()
