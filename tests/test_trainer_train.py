"""The training recipe end to end on the tiny model: training, resume, errors, evaluation, DDP, sweeps."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from synthgen.errors import ConfigError
from synthgen.trainer.cache import load_item
from synthgen.trainer.checkpoint import load_checkpoint
from synthgen.trainer.config import load_train_config
from synthgen.trainer.toydata import write_squares
from synthgen.trainer.train import lr_factor, run

pytestmark = pytest.mark.filterwarnings("ignore")
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def squares(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.set_num_threads(1)
    return write_squares(tmp_path_factory.mktemp("squares") / "ds", 6)


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


def quick(squares: Path, cache_dir: Path, out: Path, **train: Any) -> dict[str, Any]:
    lora = train.pop("lora", {"rank": 4, "alpha": 4})
    return {
        "output_dir": str(out),
        "data": {"path": str(squares), "cache_dir": str(cache_dir), "buckets": ["64x64x9"], "eval_clips": 2},
        "lora": lora,
        "eval": {"sigmas": [0.5], "noise_draws": 1},
        "train": {
            "device": "cpu",
            "cpu_threads": 1,
            "steps": 4,
            "lr": 1e-3,
            "batch_size": 2,
            "warmup_steps": 1,
            "progress": False,
            "gradient_checkpointing": False,
            "save_attention": False,
            **train,
        },
    }


def test_tiny_preset_trains_a_few_steps_on_cpu_well_under_a_minute(
    squares: Path, cache_dir: Path, tmp_path: Path
) -> None:
    run(load_train_config({**quick(squares, cache_dir, tmp_path / "warm"), "stage": "cache"}))
    started = time.perf_counter()
    report = run(load_train_config(quick(squares, cache_dir, tmp_path / "run", steps=5)))
    assert time.perf_counter() - started < 30.0
    assert report["steps"] == 5 and all(torch.isfinite(torch.tensor(report["losses"])))
    assert (tmp_path / "run" / "lora.safetensors").exists()
    assert (tmp_path / "run" / "checkpoints" / "last.safetensors").exists()
    assert json.loads((tmp_path / "run" / "report.json").read_text())["eval_after"]["clips"] == 2
    assert list((tmp_path / "run" / "tensorboard").rglob("events.out.tfevents.*"))


def test_training_changes_the_adapter_and_lowers_the_loss(
    squares: Path, cache_dir: Path, tmp_path: Path
) -> None:
    report = run(load_train_config(quick(squares, cache_dir, tmp_path, steps=40, lr=3e-3)))
    losses = report["losses"]
    assert sum(losses[-10:]) / 10 < sum(losses[:10]) / 10


def test_resume_after_preemption_reproduces_the_loss_curve(
    squares: Path, cache_dir: Path, tmp_path: Path
) -> None:
    settings = quick(
        squares, cache_dir, tmp_path / "straight", steps=6, deterministic=True, checkpoint_every=100
    )
    straight = run(load_train_config(settings))["losses"]
    interrupted = quick(
        squares, cache_dir, tmp_path / "resumed", steps=6, deterministic=True, checkpoint_every=100
    )
    first = run(load_train_config(interrupted), stop_after=3)
    assert first["stopped_at"] == 3 and not (tmp_path / "resumed" / "lora.safetensors").exists()
    resumed = run(load_train_config(interrupted))["losses"]
    assert resumed == straight  # bit for bit


def test_resuming_a_checkpoint_of_another_rank_is_a_config_error(
    squares: Path, cache_dir: Path, tmp_path: Path
) -> None:
    run(load_train_config(quick(squares, cache_dir, tmp_path, steps=2)), stop_after=1)
    other = quick(squares, cache_dir, tmp_path, steps=2, lora={"rank": 8, "alpha": 8})
    with pytest.raises(ConfigError, match=r"^train\.resume: .* lora\.rank=4, this run has lora\.rank=8"):
        run(load_train_config(other))


@pytest.mark.parametrize(
    ("override", "pattern"),
    [
        ({"decay": "linear"}, r"train\.decay='cosine', this run has train\.decay='linear'"),
        (
            {"lora": {"rank": 4, "alpha": 4, "dropout": 0.1}},
            r"lora\.dropout=0\.0, this run has lora\.dropout=0\.1",
        ),
    ],
)
def test_resuming_a_checkpoint_of_another_optimisation_setting_is_a_config_error(
    squares: Path, cache_dir: Path, tmp_path: Path, override: dict[str, Any], pattern: str
) -> None:
    run(load_train_config(quick(squares, cache_dir, tmp_path, steps=2)), stop_after=1)
    with pytest.raises(ConfigError, match=r"^train\.resume: .*" + pattern):
        run(load_train_config(quick(squares, cache_dir, tmp_path, steps=2, **override)))


def test_eval_stage_without_a_checkpoint_is_a_config_error(
    squares: Path, cache_dir: Path, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match=r"^stage=eval: no checkpoint at .*last\.safetensors"):
        run(load_train_config({**quick(squares, cache_dir, tmp_path), "stage": "eval"}))


def test_eval_stage_reports_control_gain_of_the_saved_checkpoint(
    squares: Path, cache_dir: Path, tmp_path: Path
) -> None:
    trained = run(load_train_config(quick(squares, cache_dir, tmp_path, steps=3)))
    report = run(load_train_config({**quick(squares, cache_dir, tmp_path), "stage": "eval"}))
    assert report["eval"] == pytest.approx(trained["eval_after"])


def test_missing_model_path_is_a_config_error(squares: Path, cache_dir: Path, tmp_path: Path) -> None:
    settings = {
        **quick(squares, cache_dir, tmp_path),
        "model": {"preset": "path", "path": str(tmp_path / "no")},
    }
    with pytest.raises(ConfigError, match=r"^model\.path=.*no such file or folder"):
        run(load_train_config(settings))


@pytest.mark.parametrize(
    ("override", "pattern"),
    [
        ({"train": {"lr": -1.0}}, r"^train\.lr=-1\.0: Input should be greater than 0"),
        ({"lora": {"rank": 0}}, r"^lora\.rank=0: Input should be greater than or equal to 1"),
        ({"train": {"stepz": 3}}, r"^train\.stepz=3: Extra inputs are not permitted"),
        ({"stage": "fly"}, r"^stage='fly'"),
    ],
)
def test_bad_settings_are_one_line_config_errors(override: dict[str, Any], pattern: str) -> None:
    with pytest.raises(ConfigError, match=pattern) as err:
        load_train_config({"data": {"path": "x"}, "output_dir": "out", **override})
    assert "\n" not in str(err.value)


@given(
    step=st.integers(0, 999),
    warmup=st.integers(0, 50),
    total=st.integers(1, 1000),
    decay=st.sampled_from(["cosine", "linear", "constant"]),
)
def test_learning_rate_factor_stays_in_unit_interval_and_warms_up_linearly(
    step: int, warmup: int, total: int, decay: str
) -> None:
    factor = lr_factor(step, warmup_steps=warmup, total_steps=total, decay=decay)
    assert 0.0 <= factor <= 1.0
    if step < warmup:
        assert factor == pytest.approx((step + 1) / warmup)


@given(total=st.integers(20, 500), a=st.integers(0, 499), b=st.integers(0, 499))
def test_learning_rate_decays_monotonically_after_warmup(total: int, a: int, b: int) -> None:
    low, high = sorted((min(a, total), min(b, total)))
    for decay in ("cosine", "linear"):
        assert lr_factor(high + 10, warmup_steps=10, total_steps=total, decay=decay) <= lr_factor(
            low + 10, warmup_steps=10, total_steps=total, decay=decay
        )


def _cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    return subprocess.run(
        [sys.executable, "-m", "synthgen.trainer.app", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_app_reports_a_bad_value_in_one_line_and_exits_2(tmp_path: Path) -> None:
    result = _cli(["train=cpu_quick", "data.path=/nonexistent/shards", f"output_dir={tmp_path}"], tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "synthgen-train: error: data.path='/nonexistent/shards': no such folder"
    )


def test_app_rejects_an_unknown_model_option_and_exits_2(tmp_path: Path) -> None:
    result = _cli(["model=huge"], tmp_path)
    assert result.returncode == 2
    assert "synthgen-train: error: model='huge': unknown option" in result.stderr


@pytest.mark.slow
def test_multirun_sweep_trains_one_lora_per_rank(squares: Path, cache_dir: Path, tmp_path: Path) -> None:
    result = _cli(
        [
            "-m",
            "train=cpu_quick",
            "train.steps=2",
            "train.progress=false",
            "lora.rank=2,4",
            f"data.path={squares}",
            f"data.cache_dir={cache_dir}",
            "data.buckets=[64x64x9]",
            f"hydra.sweep.dir={tmp_path / 'sweep'}",
        ],
        tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    ranks = sorted(
        load_checkpoint(path.parent / "checkpoints" / "last.safetensors").identity["lora.rank"]
        for path in (tmp_path / "sweep").rglob("lora.safetensors")
    )
    assert ranks == [2, 4]


@pytest.mark.slow
def test_ddp_with_two_cpu_processes_keeps_adapters_in_sync(
    squares: Path, cache_dir: Path, tmp_path: Path
) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29541",
        "-m", "synthgen.trainer.ddp", "train=cpu_quick", "train.steps=4", "train.progress=false", "lora.rank=4",
        f"data.path={squares}", f"data.cache_dir={cache_dir}", "data.buckets=[64x64x9]", f"output_dir={tmp_path}",
    ]  # fmt: skip
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    ranks = [json.loads((tmp_path / "ranks" / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["world_size"] for r in ranks] == [2, 2]
    assert ranks[0]["losses"] != ranks[1]["losses"]  # each rank trains on its own batches ...
    assert (
        ranks[0]["adapter_sha256"] == ranks[1]["adapter_sha256"]
    )  # ... and all-reduced gradients keep them equal
    assert (tmp_path / "lora.safetensors").exists()


@pytest.mark.slow
def test_control_gain_on_held_out_clips_rises_with_training(tmp_path: Path) -> None:
    dataset = write_squares(tmp_path / "ds", 32)
    settings = load_train_config(
        {
            "output_dir": str(tmp_path / "out"),
            "data": {
                "path": str(dataset),
                "cache_dir": str(tmp_path / "cache"),
                "buckets": ["64x64x9"],
                "eval_clips": 4,
            },
            "lora": {"rank": 16, "alpha": 16},
            "train": {
                "device": "cpu",
                "cpu_threads": 1,
                "steps": 800,
                "lr": 3e-3,
                "batch_size": 4,
                "warmup_steps": 5,
                "first_frame_conditioning_p": 0.0,
                "gradient_checkpointing": False,
                "save_attention": False,
                "checkpoint_every": 1000,
                "progress": False,
            },
        }
    )
    report = run(settings)
    # Before training the reference barely matters (|gain| ~ 1e-3); 0.02 is ten times that.
    assert abs(report["eval_before"]["control_gain"]) < 0.01
    assert report["eval_after"]["control_gain"] > 0.02


def test_audio_to_video_job_trains_with_the_audio_as_clean_reference(tmp_path: Path) -> None:
    dataset = write_squares(tmp_path / "ds", 4, control="audio_to_video")
    settings = quick(dataset, tmp_path / "cache", tmp_path / "out", steps=2)
    settings["data"]["control"] = "audio_to_video"
    report = run(load_train_config(settings))
    assert report["steps"] == 2 and report["eval_after"]["clips"] == 2
    item = load_item(next((tmp_path / "cache").rglob("000000.safetensors")))
    assert item.reference is None and item.audio_is_reference
    assert item.audio is not None and item.audio.shape == (item.audio_frames, 128)


def test_a_diverging_run_stops_at_the_first_non_finite_step_and_writes_no_lora(
    squares: Path, cache_dir: Path, tmp_path: Path
) -> None:
    # alpha / rank = 2.5e29 scales the adapter's gradients past float32: the first step's norm is inf.
    settings = quick(squares, cache_dir, tmp_path, steps=3, lora={"rank": 4, "alpha": 1e30})
    with pytest.raises(ConfigError, match=r"^train\.lr=0\.001: step 1 has loss .* gradient norm inf") as err:
        run(load_train_config(settings))
    assert "\n" not in str(err.value) and "lora.alpha" in str(err.value)
    assert not (tmp_path / "lora.safetensors").exists() and not (tmp_path / "report.json").exists()
