"""docs/workflow.md's commands and conf/experiment/ presets: every command composes with the app's own loader;
on tiny settings (tiny model, 64x64x9 clips, one step) the inference, check and training commands run."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from synthgen.describe.config import load_generate_config
from synthgen.trainer.config import load_train_config
from synthgen.trainer.infer_config import load_infer_config

pytestmark = pytest.mark.filterwarnings("ignore")
ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "workflow.md"
EXPERIMENTS = sorted((ROOT / "conf" / "experiment").glob("*.yaml"))
INFER_PRESETS = sorted((ROOT / "conf" / "infer").glob("*_small.yaml"))


def doc_commands() -> list[list[str]]:
    """Each command of the doc's bash blocks as argv lists (``a && b`` gives two)."""
    blocks = re.findall(r"```bash\n(.*?)```", DOC.read_text(), flags=re.S)
    out = []
    for block in blocks:
        for line in block.strip().splitlines():
            out += [shlex.split(part) for part in line.split("&&")]
    return out


def first_of_sweep(args: list[str]) -> list[str]:
    """A multirun's first job: ``-m`` dropped, ``a,b`` -> ``a``, ``range(0,8)`` -> ``0``."""
    picked = []
    for arg in args:
        if arg == "-m":
            continue
        key, _, value = arg.partition("=")
        value = "0" if value.startswith("range(") else value.split(",")[0]
        picked.append(f"{key}={value}")
    return picked


def test_every_doc_command_composes_with_its_app(tmp_path: Path) -> None:
    commands = doc_commands()
    programs = [argv[0] for argv in commands]
    assert programs == [
        "synthgen-infer", "synthgen-generate", "synthgen-infer", "synthgen-infer", "synthgen-generate",
        "synthgen", "synthgen", "synthgen-train", "synthgen-infer", "synthgen-generate",
    ]  # fmt: skip
    for argv in commands:
        prog, args = argv[0], argv[1:]
        if prog == "synthgen-generate":
            config = load_generate_config(overrides=first_of_sweep(args))
            assert config.control.job == "motion_track"  # type: ignore[attr-defined]
        elif prog == "synthgen-train":
            settings = load_train_config(overrides=[*args, f"output_dir={tmp_path}"])
            assert settings.train.validation.every > 0 and settings.data.control == "motion_track"
        elif prog == "synthgen-infer":
            infer = load_infer_config(overrides=[*args, f"output_dir={tmp_path}"])
            assert infer.lora.baseline
            if "infer=motion_track_small" in args:  # stage 3: the held-out clips of the training command
                assert infer.data.eval_clips == settings.data.eval_clips
        else:
            assert args[0] in {"validate", "lint"}


@pytest.mark.parametrize("path", EXPERIMENTS, ids=lambda p: p.stem)
def test_experiment_presets_compose_for_train_and_their_dataset_command_for_generate(
    path: Path, tmp_path: Path
) -> None:
    job = path.stem.removesuffix("_small").removesuffix("_continue")
    init = [f"lora.init_from={tmp_path / 'given.safetensors'}"] if path.stem.endswith("_continue") else []
    settings = load_train_config(
        overrides=[f"+experiment={path.stem}", f"data.path={tmp_path}", f"output_dir={tmp_path}", *init]
    )
    assert settings.data.control == job and settings.data.eval_clips == 4
    generate_line = next(line for line in path.read_text().splitlines() if "synthgen-generate" in line)
    args = shlex.split(generate_line.split("synthgen-generate", 1)[1])
    config = load_generate_config(overrides=args)
    assert config.control.job == job  # type: ignore[attr-defined]
    width, height, frames = (int(v) for v in settings.data.buckets[0].split("x"))
    assert (config.clip.width, config.clip.height, config.clip.num_frames) == (width, height, frames)  # type: ignore[attr-defined]


@pytest.mark.parametrize("path", INFER_PRESETS, ids=lambda p: p.stem)
def test_infer_presets_sample_the_held_out_clips_as_their_experiments_validation(
    path: Path, tmp_path: Path
) -> None:
    train = load_train_config(
        overrides=[f"+experiment={path.stem}", f"data.path={tmp_path}", f"output_dir={tmp_path}"]
    )
    infer = load_infer_config(
        overrides=[f"infer={path.stem}", f"data.path={tmp_path}", f"output_dir={tmp_path}"]
    )
    validation = train.train.validation
    assert validation.every > 0
    assert (infer.data.split, infer.data.eval_clips) == ("heldout", train.data.eval_clips)
    assert (infer.infer.seed, infer.infer.num_inference_steps) == (
        validation.seed,
        validation.num_inference_steps,
    )
    assert infer.infer.guidance_scale == validation.guidance_scale and infer.infer.stg_scale == 0.0
    # The rest of the sampling settings are the group's defaults (device, threads, progress bars).
    assert (
        infer.infer.device
        == load_infer_config(overrides=[f"data.path={tmp_path}", f"output_dir={tmp_path}"]).infer.device
    )


def test_every_experiment_with_validation_has_an_infer_preset(tmp_path: Path) -> None:
    for path in EXPERIMENTS:
        init = [f"lora.init_from={tmp_path / 'given.safetensors'}"] if path.stem.endswith("_continue") else []
        settings = load_train_config(
            overrides=[f"+experiment={path.stem}", f"data.path={tmp_path}", f"output_dir={tmp_path}", *init]
        )
        has_preset = (ROOT / "conf" / "infer" / path.name).exists()
        assert has_preset == (settings.train.validation.every > 0), path.stem


def run_app(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    modules = {
        "synthgen-infer": "synthgen.trainer.infer_app",
        "synthgen-train": "synthgen.trainer.app",
        "synthgen": "synthgen.cli.main",
    }
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    command = [sys.executable, "-m", modules[argv[0]], *argv[1:]]
    done = subprocess.run(command, capture_output=True, text=True, cwd=cwd, env=env, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def tiny(args: list[str], **values: str) -> list[str]:
    """The doc's arguments with the real model and paths swapped for tiny ones (later overrides win)."""
    kept = [a for a in args if not a.startswith(("model=", "model.path=", *(f"{k}=" for k in values)))]
    return kept + [f"{key}={value}" for key, value in values.items()]


@pytest.mark.slow
def test_doc_commands_run_on_tiny_settings(tmp_path: Path) -> None:
    from synthgen.dataset.store import write_dataset
    from tests.test_infer import CLIPS, labelled_row

    data = tmp_path / "ds"
    write_dataset((labelled_row(i) for i in range(CLIPS)), data, num_clips=CLIPS)
    stage1, _, _official, drawn, _, check, lint, train, compare, _ = doc_commands()
    quick = {"infer.num_inference_steps": "1", "infer.progress": "false"}
    run_app(["synthgen-train", *tiny(train[1:], **{
        "data.path": str(data), "data.buckets": "[64x64x9]", "data.eval_clips": "1",
        "data.cache_dir": str(tmp_path / "cache"), "output_dir": str(tmp_path / "run"), "train.steps": "2",
        "train.progress": "false", "train.validation.every": "2", "train.validation.num_inference_steps": "1",
        "train.validation.guidance_scale": "1", "lora.rank": "4", "lora.alpha": "4",
    }), "train=cpu_quick"], tmp_path)  # fmt: skip
    lora = tmp_path / "run" / "lora.safetensors"
    assert (tmp_path / "run" / "validation" / "step_2").is_dir()
    for name, argv in (("stage1", stage1), ("compare", compare)):
        # The doc's own infer preset where it names one (made quick and CPU-only by overrides), else cpu_quick.
        preset = [] if any(a.startswith("infer=") for a in argv) else ["infer=cpu_quick"]
        on_cpu = {
            "infer.device": "cpu",
            "infer.cpu_threads": "1",
            "infer.guidance_scale": "1",
            "infer.stg_scale": "0",
        }
        run_app(["synthgen-infer", *preset, *tiny(argv[1:], **quick, **on_cpu, **{
            "data.path": str(data), "data.eval_clips": "1", "lora.path": str(lora),
            "output_dir": str(tmp_path / name),
        })], tmp_path)  # fmt: skip
        assert list((tmp_path / name).glob("*_baseline_side.png"))
        assert (tmp_path / name / "report.json").exists()
    for argv in (check, lint):
        run_app([argv[0], argv[1], str(data)], tmp_path)
    tracks = tmp_path / "drawn.json"
    tracks.write_text('[[{"x": 10, "y": 20}, {"x": 14, "y": 20}, {"x": 18, "y": 21}]]')
    run_app(["synthgen-infer", "infer=cpu_quick", *tiny(drawn[1:], **quick, **{
        "reference.tracks": str(tracks), "reference.width": "64", "reference.height": "64",
        "reference.num_frames": "9", "reference.tracks_size": "[64,64]", "lora.path": str(lora),
        "output_dir": str(tmp_path / "drawn"),
    })], tmp_path)  # fmt: skip
    assert (tmp_path / "drawn" / "drawn_baseline_side.png").exists()
