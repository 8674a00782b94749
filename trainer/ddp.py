"""Data-parallel entry point for ``accelerate launch`` / ``torchrun``: Hydra overrides as arguments.

    accelerate launch --config_file conf/accelerate/ddp.yaml -m synthgen.trainer.ddp \\
        data.path=outputs/demo output_dir=outputs/train/ddp model=path model.path=/models/ltx-2.3
    torchrun --nproc_per_node 2 -m synthgen.trainer.ddp train=cpu_quick data.path=... output_dir=...

Every rank runs the same recipe (``synthgen.trainer.train.run``) on its own batches; gradients are averaged
by DDP; rank 0 writes checkpoints, the LoRA and the report, and each rank writes ``ranks/rank<N>.json``.
"""

from __future__ import annotations

import sys

from synthgen.errors import SynthgenError

# No Hydra run folder here: every rank must agree on one output folder.
DEFAULT_OUTPUT_DIR = "outputs/train/ddp"


def main(argv: list[str] | None = None) -> int:
    """Compose ``conf/train.yaml`` with ``argv`` overrides and train; returns the exit code."""
    from .config import load_train_config
    from .train import run

    overrides = list(sys.argv[1:] if argv is None else argv)
    if not any(arg.split("=", 1)[0].lstrip("+") == "output_dir" for arg in overrides):
        overrides.append(f"output_dir={DEFAULT_OUTPUT_DIR}")
    try:
        run(load_train_config(overrides=overrides))
    except SynthgenError as err:
        print(f"synthgen-train: error: {err}", file=sys.stderr)
        return err.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
