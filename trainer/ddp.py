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


def main(argv: list[str] | None = None) -> int:
    """Compose ``conf/train.yaml`` with ``argv`` overrides and train; returns the exit code."""
    from hydra import compose, initialize_config_module
    from omegaconf import OmegaConf

    from .config import settings_from_dict
    from .train import run

    overrides = list(sys.argv[1:] if argv is None else argv)
    try:
        with initialize_config_module(config_module="synthgen.conf", version_base="1.3"):
            raw = compose(config_name="train", overrides=overrides)
        values = OmegaConf.to_container(raw, resolve=False)
        assert isinstance(values, dict)
        if str(values.get("output_dir", "")).startswith("${hydra:"):
            values["output_dir"] = "outputs/train/ddp"
        values = OmegaConf.to_container(OmegaConf.create(values), resolve=True)  # type: ignore[assignment]
        assert isinstance(values, dict)
        run(settings_from_dict({str(k): v for k, v in values.items()}))
    except SynthgenError as err:
        print(f"synthgen-train: error: {err}", file=sys.stderr)
        return err.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
