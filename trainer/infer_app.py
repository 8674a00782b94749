"""``synthgen-infer``: the Hydra app that generates videos with an IC-LoRA and scores their adherence.

Config: ``conf/infer.yaml`` with groups ``model/`` (tiny, path; shared with ``synthgen-train``) and
``infer/`` (default, cpu_quick). Examples::

    synthgen-infer data.path=outputs/demo lora.path=outputs/train/run1/lora.safetensors lora.baseline=true
    synthgen-infer model=path model.path=/models/ltx-2.3 reference.video=ref.mp4 reference.prompt="A cube."

Errors a user can fix print ``synthgen-infer: error: <one line>`` and exit with code 2 before anything is
written; set ``HYDRA_FULL_ERROR=1`` for the traceback.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import hydra
from omegaconf import DictConfig

from synthgen.cli.hydra_app import fail, precheck
from synthgen.errors import SynthgenError
from synthgen.extras import quiet_import_noise, require_extra

PROG = "synthgen-infer"


def _settings(raw: DictConfig) -> Any:
    from .infer_config import load_infer_config

    return load_infer_config(raw)


def _check_before_hydra(raw: DictConfig) -> None:
    """Validate the composed config and plan the run (clips, shapes, LoRA file) before Hydra writes anything."""
    from .app import check_before_hydra
    from .infer import plan
    from .infer_config import check_output_dir

    check_before_hydra(raw, _settings, plan, check_output_dir)


def _summary(report: dict[str, Any]) -> str:
    parts = [f"clips={len(report['clips'])}", f"lora={report['lora']}", f"scale={report['lora_scale']}"]
    return f"{PROG}: " + " ".join(parts)


@hydra.main(version_base="1.3", config_path="../conf", config_name="infer")
def _task(raw: DictConfig) -> None:
    from .app import _remove_empty_run_folder
    from .infer import run_inference
    from .infer_config import check_output_dir

    try:
        settings = _settings(raw)
        check_output_dir(settings)
        report = run_inference(settings)
    except SynthgenError as err:
        _remove_empty_run_folder()
        fail(PROG, err)
    print(_summary(report), file=sys.stderr)
    if os.environ.get("SYNTHGEN_INFER_JSON") == "1":
        print(json.dumps({k: v for k, v in report.items() if k != "settings"}))


def main() -> None:
    """Entry point of the ``synthgen-infer`` console script."""
    quiet_import_noise()
    try:
        require_extra("train", "inference")
    except SynthgenError as err:
        fail(PROG, err)
    precheck(PROG, "infer", validate=_check_before_hydra)
    _task()


if __name__ == "__main__":
    main()
