"""``synthgen-train``: the Hydra app that trains an LTX-2.3 IC-LoRA on a synthgen dataset.

Config: ``conf/train.yaml`` with groups ``model/`` (tiny, ltx-2.3-22b, path) and ``train/``
(default, cpu_quick). Examples::

    synthgen-train data.path=outputs/demo data.control=motion_track model=path model.path=/models/ltx-2.3
    synthgen-train -m lora.rank=16,32 train.lr=1e-4,3e-4 data.path=outputs/demo     # a Hydra sweep
    synthgen-train stage=eval output_dir=outputs/train/run1 data.path=outputs/demo  # held-out control gain

Errors a user can fix print ``synthgen-train: error: <one line>`` and exit with code 2; set
``HYDRA_FULL_ERROR=1`` for the traceback.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf

from synthgen.cli.hydra_app import fail, precheck
from synthgen.errors import SynthgenError
from synthgen.extras import require_extra

PROG = "synthgen-train"


def _summary(report: dict) -> str:
    parts = [f"stage={report.get('stage')}", f"clips={report.get('clips')}"]
    if report.get("losses"):
        parts.append(f"steps={report.get('steps')} final_loss={report['losses'][-1]:.4f}")
    for key in ("eval_before", "eval_after", "eval"):
        if isinstance(report.get(key), dict):
            parts.append(f"{key}.control_gain={report[key]['control_gain']:.4f}")
    if "lora" in report:
        parts.append(f"lora={report['lora']}")
    return f"{PROG}: " + " ".join(parts)


def _settings(raw: DictConfig) -> Any:
    from .config import load_train_config

    return load_train_config(raw)


def _check_before_hydra(raw: DictConfig) -> None:
    """Validate a composed config outside a Hydra run, where ``${hydra:...}`` cannot resolve yet."""
    values = OmegaConf.to_container(raw, resolve=False)
    assert isinstance(values, dict)
    if "${hydra:" in str(values.get("output_dir", "")):
        raw.output_dir = "."  # Hydra's run folder; any existing path validates the same way
    from .config import check_paths

    check_paths(_settings(raw))


@hydra.main(version_base="1.3", config_path="../conf", config_name="train")
def _task(raw: DictConfig) -> None:
    from .train import run

    try:
        settings = _settings(raw)
        report = run(settings)
    except SynthgenError as err:
        fail(PROG, err)
    print(_summary(report), file=sys.stderr)
    if os.environ.get("SYNTHGEN_TRAIN_JSON") == "1":
        print(json.dumps({k: v for k, v in report.items() if k != "losses"}))


def main() -> None:
    """Entry point of the ``synthgen-train`` console script."""
    try:
        require_extra("train", "training")
    except SynthgenError as err:
        fail(PROG, err)
    precheck(PROG, "train", validate=_check_before_hydra)
    _task()


if __name__ == "__main__":
    main()
