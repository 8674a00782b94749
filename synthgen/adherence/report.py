"""A folder of videos (``<clip_id>.mp4``) scored against a dataset: one entry per clip and the mean of each
number over the clips (``synthgen adherence``)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from synthgen.adherence.score import score_video
from synthgen.dataset.media import decode_video
from synthgen.dataset.reader import iter_rows, open_dataset
from synthgen.errors import DataError

VIDEO_SUFFIX = ".mp4"


def _named(names: list[str], limit: int = 5) -> str:
    shown = ", ".join(names[:limit])
    return f"{shown} (+{len(names) - limit} more)" if len(names) > limit else shown


def video_files(dataset: str | Path, videos: str | Path) -> dict[str, Path]:
    """``{clip_id: path}`` of the folder's ``<clip_id>.mp4`` files, one per clip of the dataset.

    DataError (one line) naming the missing clips or the extra files when the two do not match, or a folder
    that does not exist.
    """
    folder = Path(videos)
    if not folder.is_dir():
        raise DataError(f"--videos {folder}: not a folder")
    # Paths come from listing the folder, never from joining ids read from the dataset.
    found = {path.name.removesuffix(VIDEO_SUFFIX): path for path in folder.iterdir() if path.is_file()}
    clip_ids = [clip["clip_id"] for clip in open_dataset(str(dataset), columns=["clip_id"])]
    missing = sorted(set(clip_ids) - set(found))
    if missing:
        raise DataError(f"--videos {folder}: no <clip_id>{VIDEO_SUFFIX} for clip(s) {_named(missing)}")
    extra = sorted(path.name for clip_id, path in found.items() if clip_id not in set(clip_ids))
    if extra:
        raise DataError(f"--videos {folder}: file(s) {_named(extra)} match no clip of {dataset}")
    return {clip_id: found[clip_id] for clip_id in clip_ids}


def summarise(scores: Iterable[dict[str, Any]]) -> dict[str, dict[str, float | None]]:
    """Mean of every number over the clips that have it, per metric (None where no clip has it)."""
    collected: dict[str, dict[str, list[float | None]]] = {}
    for score in scores:
        for metric, values in score["metrics"].items():
            for name, value in values.items():
                collected.setdefault(metric, {}).setdefault(name, []).append(value)
    return {
        metric: {
            name: float(np.mean(present)) if (present := [v for v in values if v is not None]) else None
            for name, values in numbers.items()
        }
        for metric, numbers in collected.items()
    }


def score_folder(dataset: str | Path, videos: str | Path) -> dict[str, Any]:
    """Score ``videos/<clip_id>.mp4`` against every clip of ``dataset``: a JSON-ready report with
    ``clips`` (``score_video`` of each) and ``summary`` (``summarise``). Raises DataError before scoring
    anything when the folder's clips do not match the dataset's."""
    paths = video_files(dataset, videos)
    scores = []
    for row in iter_rows(str(dataset)):
        video = decode_video(paths[row.clip_id].read_bytes(), name=str(paths[row.clip_id]))
        scores.append(score_video(row, video))
    return {
        "dataset": str(dataset),
        "videos": str(videos),
        "num_clips": len(scores),
        "summary": summarise(scores),
        "clips": scores,
    }
