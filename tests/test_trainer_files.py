"""What the trainer reads and writes: safetensors + JSON, never unpickled; identical runs, identical bytes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from synthgen.errors import DataError
from synthgen.trainer.cache import load_item, save_item
from synthgen.trainer.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from synthgen.trainer.config import load_train_config
from synthgen.trainer.toydata import write_squares
from synthgen.trainer.train import run

pytestmark = pytest.mark.filterwarnings("ignore")


class Planted:
    """Unpickling this creates ``marker``: stands for any code a planted pickle could run."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.marker), "w"))


def plant(path: Path, marker: Path) -> None:
    """A ``torch.save`` pickle at ``path`` whose loading would create ``marker``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"adapter": Planted(marker)}, path)


def test_a_planted_pickle_would_run_code_if_unpickled(tmp_path: Path) -> None:
    # The plant is live: the tests below would fail if the trainer unpickled it.
    plant(tmp_path / "p.pt", tmp_path / "marker")
    torch.load(tmp_path / "p.pt", weights_only=False)
    assert (tmp_path / "marker").exists()


@pytest.fixture(scope="module")
def squares(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.set_num_threads(1)
    return write_squares(tmp_path_factory.mktemp("squares") / "ds", 6)


def quick(squares: Path, cache_dir: Path, out: Path, **values: Any) -> dict[str, Any]:
    return {
        "output_dir": str(out),
        "data": {"path": str(squares), "cache_dir": str(cache_dir), "buckets": ["64x64x9"], "eval_clips": 2},
        "lora": {"rank": 4, "alpha": 4},
        "eval": {"sigmas": [0.5], "noise_draws": 1},
        "train": {
            "device": "cpu",
            "cpu_threads": 1,
            "steps": 2,
            "lr": 1e-3,
            "batch_size": 2,
            "warmup_steps": 1,
            "progress": False,
            "gradient_checkpointing": False,
            "save_attention": False,
        },
        **values,
    }


@pytest.mark.parametrize("stage", ["train", "eval"])
def test_planted_checkpoint_is_refused_without_running_its_code(
    squares: Path, tmp_path: Path, stage: str
) -> None:
    checkpoint = tmp_path / "out" / "checkpoints" / "last.safetensors"
    plant(checkpoint, tmp_path / "marker")
    settings = load_train_config(quick(squares, tmp_path / "cache", tmp_path / "out", stage=stage))
    with pytest.raises(DataError, match=r"last\.safetensors: not a readable training checkpoint") as err:
        run(settings)
    assert "\n" not in str(err.value)
    assert not (tmp_path / "marker").exists()
    assert not (tmp_path / "out" / "lora.safetensors").exists()


def test_a_checkpoint_of_the_old_pickle_format_is_never_loaded(squares: Path, tmp_path: Path) -> None:
    plant(tmp_path / "out" / "checkpoints" / "last.pt", tmp_path / "marker")
    report = run(load_train_config(quick(squares, tmp_path / "cache", tmp_path / "out")))
    assert report["steps"] == 2 and not (tmp_path / "marker").exists()


def test_planted_cache_item_is_refused_without_running_its_code(squares: Path, tmp_path: Path) -> None:
    values = quick(squares, tmp_path / "cache", tmp_path / "out", stage="cache")
    key = run(load_train_config(values))["cache_key"]
    plant(tmp_path / "cache" / key / "000001.safetensors", tmp_path / "marker")
    with pytest.raises(DataError, match=r"000001\.safetensors: not a readable latent-cache item") as err:
        run(load_train_config({**values, "stage": "train"}))
    assert "\n" not in str(err.value)
    assert not (tmp_path / "marker").exists()


def test_cache_index_naming_a_path_outside_the_cache_is_refused(squares: Path, tmp_path: Path) -> None:
    values = quick(squares, tmp_path / "cache", tmp_path / "out", stage="cache")
    index = tmp_path / "cache" / run(load_train_config(values))["cache_key"] / "index.json"
    index.write_text(json.dumps({"items": ["../../elsewhere.safetensors"], "control": "motion_track"}))
    with pytest.raises(DataError, match=r"index\.json: item name '\.\./\.\./elsewhere\.safetensors'"):
        run(load_train_config(values))


def test_cache_item_round_trips_through_safetensors_and_json(squares: Path, tmp_path: Path) -> None:
    values = quick(squares, tmp_path / "cache", tmp_path / "out", stage="cache")
    key = run(load_train_config(values))["cache_key"]
    item = load_item(tmp_path / "cache" / key / "000000.safetensors")
    save_item(item, tmp_path / "copy.safetensors")
    again = load_item(tmp_path / "copy.safetensors")
    assert again.clip_id == item.clip_id and again.bucket == "64x64x9" and again.fps == item.fps
    assert torch.equal(again.target, item.target) and again.reference is not None
    assert item.reference is not None and torch.equal(again.reference, item.reference)
    assert again.audio is None and not again.audio_is_reference


def test_checkpoint_round_trips_every_field(tmp_path: Path) -> None:
    param = torch.nn.Parameter(torch.randn(3, 2))
    optimizer = torch.optim.AdamW([param], lr=1e-3)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 0.5)
    param.sum().backward()
    optimizer.step()
    schedule.step()
    written = Checkpoint(
        step=1,
        losses=[0.1 + 1e-17, float("nan")],
        eval_before={"control_gain": 0.25, "clips": 2},
        adapter={"blocks.0.lora_A.weight": param.detach().clone()},
        optimizer=optimizer.state_dict(),
        scheduler=schedule.state_dict(),
        generator=torch.Generator().manual_seed(7).get_state(),
        rng={
            "bit_generator": "PCG64",
            "state": {"state": 2**127 + 3, "inc": 5},
            "has_uint32": 0,
            "uinteger": 0,
        },
        identity={"lora.rank": 4, "lora.target_modules": ["a", "b"]},
        settings={"stage": "train"},
    )
    save_checkpoint(written, tmp_path / "last.safetensors")
    read = load_checkpoint(tmp_path / "last.safetensors")
    assert read.step == 1 and read.losses[0] == 0.1 + 1e-17 and read.losses[1] != read.losses[1]
    assert (
        read.rng == written.rng
        and read.identity == written.identity
        and read.eval_before == written.eval_before
    )
    assert torch.equal(read.generator, written.generator)
    assert torch.equal(read.adapter["blocks.0.lora_A.weight"], param.detach())
    assert read.scheduler == written.scheduler
    state = read.optimizer["state"][0]
    assert all(
        torch.equal(state[k], optimizer.state_dict()["state"][0][k])
        for k in ("step", "exp_avg", "exp_avg_sq")
    )
    optimizer.load_state_dict(read.optimizer)  # torch accepts it back


def test_two_identical_runs_write_identical_lora_bytes(squares: Path, tmp_path: Path) -> None:
    for name in ("a", "b"):
        run(load_train_config(quick(squares, tmp_path / "cache", tmp_path / name)))
    assert (tmp_path / "a" / "lora.safetensors").read_bytes() == (
        tmp_path / "b" / "lora.safetensors"
    ).read_bytes()
