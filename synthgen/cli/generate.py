"""``synthgen-generate``: the Hydra app that generates a dataset (config: ``conf/generate.yaml``).

One run is one job; a sweep splits the dataset over jobs, run by any Hydra launcher::

    synthgen-generate -m job.index='range(0,8)' job.count=8 hydra/launcher=synthgen_joblib

Errors a user can fix (a bad value, an unknown group option, an output_dir holding files that are not a
dataset) print one line and exit with code 2, as does a job whose every clip failed; set
``HYDRA_FULL_ERROR=1`` for the traceback.
"""

from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig

from synthgen.cli.hydra_app import fail, precheck
from synthgen.describe.config import load_generate_config
from synthgen.errors import RenderError, SynthgenError
from synthgen.extras import require_extra

PROG = "synthgen-generate"


# The packaged configs by module, not by a path beside this file: in the checkout conf/ sits at the top level.
@hydra.main(version_base="1.3", config_path="pkg://synthgen.conf", config_name="generate")
def _task(raw: DictConfig) -> None:
    from synthgen.pipeline.job import generate

    try:
        require_extra("render", "rendering")  # here, not in main: --help and --cfg need no Blender
        cfg = load_generate_config(raw)
        summary = generate(cfg)
        print(summary.line(), file=sys.stderr)
        if summary.all_failed:
            raise RenderError(
                f"every clip of {summary.job} failed ({summary.failed}); the causes are in "
                f"{cfg.output_dir}/_logs/{summary.job}.log"
            )
    except SynthgenError as err:
        fail(PROG, err)


def _check(raw: DictConfig) -> None:
    """The config is valid and its output_dir may take the dataset (before Hydra starts)."""
    from synthgen.dataset.store import DatasetStore

    cfg = load_generate_config(raw)
    DatasetStore(cfg.output_dir).check_writable(overwrite=cfg.overwrite)


def main() -> None:
    """Entry point of the ``synthgen-generate`` console script."""
    precheck(PROG, "generate", validate=_check)
    _task()


if __name__ == "__main__":
    main()
