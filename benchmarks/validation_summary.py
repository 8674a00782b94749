"""Summary of a finished benchmarks/validation_run.sh folder: s/step (median of the training progress bar's
``s_step``), seconds between consecutive validation / inference MP4s (one video each: denoising, decode,
side-by-side writing, scoring), and mean motion-track adherence before/after training and with/without the
LoRA.

    python benchmarks/validation_summary.py /tmp/validation_run
"""

from __future__ import annotations

import itertools
import json
import re
import statistics
import sys
from pathlib import Path
from typing import Any

NUMBERS = ("delta_avg", "median_epe_px", "tracked_fraction")


def mp4_gaps_s(folder: Path) -> list[float]:
    """Seconds between the write times of consecutive generated MP4s (side-by-side files left out)."""
    times = sorted(p.stat().st_mtime for p in folder.glob("*.mp4") if "_side" not in p.name)
    return [round(b - a, 2) for a, b in itertools.pairwise(times)]


def mean_adherence(scores: list[dict[str, Any]]) -> dict[str, float]:
    """Mean of each motion-track number over the clips' score dicts (``{"metrics": {"motion_track": ...}}``)."""
    values = [score["metrics"]["motion_track"] for score in scores]
    return {n: round(statistics.mean(v[n] for v in values if v[n] is not None), 4) for n in NUMBERS}


def summary(root: Path) -> dict[str, Any]:
    steps = [float(x) for x in re.findall(r"s_step=([0-9.]+)", (root / "train.log").read_text())]
    train = json.loads((root / "train" / "report.json").read_text())
    infer = json.loads((root / "infer" / "report.json").read_text())
    return {
        "s_per_step_median": statistics.median(steps),
        "validation_s_between_videos": {
            step.name: mp4_gaps_s(step) for step in sorted((root / "train" / "validation").glob("step_*"))
        },
        "infer_s_between_videos": mp4_gaps_s(root / "infer"),
        "validation_before": mean_adherence(train["validation_before"]["clips"]),
        "validation_after": mean_adherence(train["validation_after"]["clips"]),
        "infer_lora": mean_adherence([clip["adherence"] for clip in infer["clips"]]),
        "infer_baseline": mean_adherence([clip["baseline"] for clip in infer["clips"]]),
        "control_gain_before_after": [
            train["eval_before"]["control_gain"],
            train["eval_after"]["control_gain"],
        ],
    }


if __name__ == "__main__":
    print(json.dumps(summary(Path(sys.argv[1])), indent=1))
