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

import contextlib
import json
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf

from synthgen.cli.hydra_app import fail, precheck
from synthgen.errors import SynthgenError
from synthgen.extras import quiet_import_noise, require_extra

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


def check_before_hydra(
    raw: DictConfig,
    load: Callable[[DictConfig], Any],
    check_inputs: Callable[[Any], object],
    check_output_dir: Callable[[Any], object],
) -> None:
    """Validate a composed config outside a Hydra run (the pre-check of ``synthgen-train`` and
    ``synthgen-infer``): ``load`` it, ``check_inputs`` (the files the run reads), and ``check_output_dir``
    unless the output is Hydra's run folder, which does not exist yet (``${hydra:...}`` cannot resolve)."""
    values = OmegaConf.to_container(raw, resolve=False)
    assert isinstance(values, dict)
    if "${hydra:" in str(values.get("output_dir", "")):
        raw.output_dir = "."  # Hydra's run folder; any existing path validates the same way
    settings = load(raw)
    check_inputs(settings)
    if raw.output_dir != ".":
        check_output_dir(settings)


def _check_before_hydra(raw: DictConfig) -> None:
    from .config import check_output_dir, check_paths

    check_before_hydra(raw, _settings, check_paths, check_output_dir)


@hydra.main(version_base="1.3", config_path="../conf", config_name="train")
def _task(raw: DictConfig) -> None:
    from .train import run

    try:
        report = run(_settings(raw))  # run checks output_dir (library calls too)
    except SynthgenError as err:
        _remove_empty_run_folder()
        fail(PROG, err)
    print(_summary(report), file=sys.stderr)
    if os.environ.get("SYNTHGEN_TRAIN_JSON") == "1":
        print(json.dumps({k: v for k, v in report.items() if k != "losses"}))


def _remove_empty_run_folder() -> None:
    """A run stopped by a config error found only at run time leaves no ``outputs/<date>/<time>/`` behind:
    Hydra's run folder is removed when it holds nothing but Hydra's own files (and so is its date folder when
    that is left empty)."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized() or HydraConfig.get().mode != RunMode.RUN:
        return
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    if not run_dir.is_dir() or run_dir.resolve() == Path.cwd().resolve():
        return
    names = {p.name for p in run_dir.iterdir()}
    if all(name == ".hydra" or name.endswith(".log") for name in names):
        shutil.rmtree(run_dir)
        with contextlib.suppress(OSError):
            run_dir.parent.rmdir()  # only when empty


def main() -> None:
    """Entry point of the ``synthgen-train`` console script."""
    quiet_import_noise()
    try:
        require_extra("train", "training")
    except SynthgenError as err:
        fail(PROG, err)
    precheck(PROG, "train", validate=_check_before_hydra)
    _task()


if __name__ == "__main__":
    main()
