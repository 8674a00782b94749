"""The resumable training state in one file, ``<output_dir>/checkpoints/last.safetensors``, without pickle.

Storage protocol. Tensors: the adapter weights (``adapter.<module>.lora_A.weight`` ...), AdamW's
per-parameter state (``optimizer.<index>.<name>``) and the torch noise generator's state (``generator``).
Everything else is one JSON document under the metadata key ``synthgen.checkpoint``: the step, the loss
history, the numpy batch generator's state, the schedule's and optimizer's scalar state, the evaluation
before training, the run's identity (what a resuming run must agree on) and its settings. The file is
written atomically, so a preempted run leaves the previous checkpoint or the new one, never half of one.
Loading never unpickles: a planted or corrupt file stops the run with a one-line DataError naming it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from synthgen.errors import DataError

from . import tensorfile

CHECKPOINT_NAME = "last.safetensors"
STATE_KEY = "synthgen.checkpoint"
FORMAT = 1


@dataclass
class Checkpoint:
    """What a training run needs to continue bit for bit where it stopped."""

    step: int
    losses: list[float]
    eval_before: dict[str, Any] | None
    adapter: dict[str, torch.Tensor]
    optimizer: dict[str, Any]
    scheduler: dict[str, Any]
    generator: torch.Tensor
    rng: dict[str, Any]
    identity: dict[str, Any]
    settings: dict[str, Any]


def save_checkpoint(checkpoint: Checkpoint, path: Path) -> None:
    """Write ``checkpoint`` atomically as safetensors + JSON."""
    optimizer_tensors, optimizer_json = _split_optimizer(checkpoint.optimizer)
    tensors = {
        **{f"adapter.{name}": value for name, value in checkpoint.adapter.items()},
        **optimizer_tensors,
        "generator": checkpoint.generator,
    }
    state = {
        "format": FORMAT,
        "step": checkpoint.step,
        "losses": checkpoint.losses,
        "eval_before": checkpoint.eval_before,
        "optimizer": optimizer_json,
        "scheduler": checkpoint.scheduler,
        "rng": checkpoint.rng,
        "identity": checkpoint.identity,
        "settings": checkpoint.settings,
    }
    tensorfile.write_json_state(path, tensors, STATE_KEY, state)


def load_checkpoint(path: Path) -> Checkpoint:
    """Read a checkpoint written by :func:`save_checkpoint`; anything else is a DataError naming ``path``."""
    tensors, state = tensorfile.read_json_state(path, STATE_KEY, "training checkpoint")
    if state.get("format") != FORMAT or "generator" not in tensors:
        raise DataError(f"{path}: training checkpoint of another format; use another output_dir")
    try:
        return Checkpoint(
            step=int(state["step"]),
            losses=[float(x) for x in state["losses"]],
            eval_before=state["eval_before"],
            adapter={k.removeprefix("adapter."): v for k, v in tensors.items() if k.startswith("adapter.")},
            optimizer=_join_optimizer(tensors, state["optimizer"]),
            scheduler=state["scheduler"],
            generator=tensors["generator"],
            rng=state["rng"],
            identity=state["identity"],
            settings=state["settings"],
        )
    except (KeyError, TypeError, ValueError) as err:
        raise DataError(f"{path}: training checkpoint without a valid {err} entry") from None


def _split_optimizer(state_dict: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """An optimizer's ``state_dict`` as tensors (``optimizer.<index>.<name>``) and the JSON-ready rest."""
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for index, values in state_dict["state"].items():
        for name, value in values.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optimizer.{index}.{name}"] = value
            else:
                scalars.setdefault(str(index), {})[name] = value
    return tensors, {"param_groups": state_dict["param_groups"], "scalars": scalars}


def _join_optimizer(tensors: dict[str, torch.Tensor], saved: dict[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith("optimizer."):
            _, index, name = key.split(".", 2)
            state.setdefault(int(index), {})[name] = value
    for index, values in saved["scalars"].items():
        state.setdefault(int(index), {}).update(values)
    return {"state": state, "param_groups": saved["param_groups"]}
