"""Trainer settings: the packaged YAML is the only source of defaults, every value is checked at load, and the
library and ``synthgen-train`` build the same settings from the same overrides."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from synthgen.errors import ConfigError
from synthgen.trainer.config import Settings, load_train_config, reference_table, settings_from_dict

OVERRIDES = [
    "train=cpu_quick",
    "lora.rank=8",
    "lora.alpha=16",
    "train.lr=0.002",
    "train.steps=7",
    "data.buckets=[64x64x9]",
    "eval.sigmas=[0.3,0.6]",
]


def _models(model: type[BaseModel]) -> list[type[BaseModel]]:
    found = [model]
    for field in model.model_fields.values():
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            found += _models(field.annotation)
    return found


def test_settings_hold_no_defaults_and_describe_every_field() -> None:
    for model in _models(Settings):
        for name, field in model.model_fields.items():
            assert field.is_required(), f"{model.__name__}.{name} has a default"
            assert field.description, f"{model.__name__}.{name} has no description"


@pytest.mark.parametrize("model", ["tiny", "ltx-2.3-22b", "path"])
@pytest.mark.parametrize("train", ["default", "cpu_quick"])
def test_every_packaged_group_option_validates(model: str, train: str, tmp_path: Path) -> None:
    extra = [f"model.path={tmp_path}"] if model == "path" else []
    settings = load_train_config(
        overrides=[f"model={model}", f"train={train}", "data.path=d", "output_dir=o", *extra]
    )
    assert settings.model.preset == model


def test_library_and_cli_build_identical_settings_for_the_same_overrides(tmp_path: Path) -> None:
    overrides = [*OVERRIDES, f"data.path={tmp_path}", f"output_dir={tmp_path / 'out'}"]
    # The app as installed, with only the recipe replaced by a probe that prints what it was given (and
    # without importing torch, which would make this test slow).
    probe = (
        "import json, sys, types\n"
        "recipe = types.ModuleType('synthgen.trainer.train')\n"
        "def probe(settings, **_):\n"
        "    print('SETTINGS=' + json.dumps(settings.to_dict(), sort_keys=True))\n"
        "    return {'stage': settings.stage, 'clips': 0}\n"
        "recipe.run = probe\n"
        "sys.modules[recipe.__name__] = recipe\n"
        "from synthgen.trainer.app import main\n"
        "sys.argv = ['synthgen-train', *sys.argv[1:]]\n"
        "main()\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe, *overrides],
        cwd=tmp_path,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    line = next(x for x in result.stdout.splitlines() if x.startswith("SETTINGS="))
    from_cli = json.loads(line.removeprefix("SETTINGS="))
    assert from_cli == load_train_config(overrides=overrides).to_dict()
    assert from_cli["lora"]["rank"] == 8 and from_cli["train"]["steps"] == 7


def test_a_nested_mapping_is_laid_over_the_packaged_defaults() -> None:
    values: dict[str, Any] = {
        "output_dir": "o",
        "data": {"path": "d", "buckets": ["64x64x9"]},
        "train": {"lr": 0.002},
    }
    expected = load_train_config(
        overrides=["output_dir=o", "data.path=d", "data.buckets=[64x64x9]", "train.lr=0.002"]
    )
    assert load_train_config(values) == expected


def test_settings_from_dict_still_works_and_says_it_is_deprecated() -> None:
    with pytest.warns(DeprecationWarning, match=r"use load_train_config\(values\)"):
        settings = settings_from_dict({"output_dir": "o", "data": {"path": "d"}})
    assert settings == load_train_config({"output_dir": "o", "data": {"path": "d"}})


def test_overrides_choose_groups_and_values_go_on_top() -> None:
    settings = load_train_config(
        {"train": {"steps": 3}}, overrides=["train=cpu_quick", "output_dir=o", "data.path=d"]
    )
    assert settings.train.device == "cpu" and settings.train.steps == 3


def test_library_call_without_output_dir_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"^output_dir: outside a synthgen-train run"):
        load_train_config(overrides=["data.path=d"])


def test_model_path_without_a_path_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"^model\.path: missing mandatory value"):
        load_train_config(overrides=["model=path", "data.path=d", "output_dir=o"])


@pytest.mark.parametrize(
    ("override", "pattern"),
    [
        ("train.lr=inf", r"^train\.lr=inf: Input should be a finite number"),
        ("train.lr=nan", r"^train\.lr=nan: Input should be a finite number"),
        ("train.lr=0", r"^train\.lr=0: Input should be greater than 0"),
        ("lora.alpha=inf", r"^lora\.alpha=inf: Input should be a finite number"),
        ("lora.alpha=0", r"^lora\.alpha=0: Input should be greater than 0"),
        ("train.log_every=0", r"^train\.log_every=0: Input should be greater than or equal to 1"),
        ("train.cpu_threads=-1", r"^train\.cpu_threads=-1: Input should be greater than or equal to 0"),
        ("data.max_clips=-1", r"^data\.max_clips=-1: Input should be greater than or equal to 0"),
        ("data.eval_clips=-1", r"^data\.eval_clips=-1: Input should be greater than or equal to 0"),
        ("train.uncheckpointed_blocks=-1", r"^train\.uncheckpointed_blocks=-1: Input should be greater"),
        ("train.seed=-1", r"^train\.seed=-1: Input should be greater than or equal to 0"),
        ("train.seed=4294967296", r"^train\.seed=4294967296: Input should be less than or equal to"),
        ("train.steps=1000000000", r"^train\.steps=1000000000: Input should be less than or equal to"),
        ("train.lr=fast", r"^train\.lr='fast': Input should be a valid number"),
        ("train.resume=1", r"^train\.resume=1: Input should be a valid boolean"),
        ("train.decay=step", r"^train\.decay='step': Input should be 'cosine', 'linear' or 'constant'"),
        ("train.device=gpu", r"^train\.device='gpu': String should match pattern"),
        ("train.first_frame_conditioning_p=1.5", r"^train\.first_frame_conditioning_p=1\.5: Input should be"),
        ("lora.dropout=1.0", r"^lora\.dropout=1\.0: Input should be less than 1"),
        ("eval.sigmas=[0.5,1.0]", r"^eval\.sigmas\[1\]=1\.0: Input should be less than 1"),
        ("eval.sigmas=[]", r"^eval\.sigmas: Tuple should have at least 1 item"),
        ("data.buckets=[64x64x10]", r"^data\.buckets: '64x64x10': frames must be 8k\+1"),
        ("data.control=dance", r"^data\.control='dance': not a registered control job"),
        ("lora.target_modules=['attn(']", r"^lora\.target_modules: 'attn\(' is not a regular expression"),
        ("+train.stepz=3", r"^train\.stepz=3: Extra inputs are not permitted"),
        ("stage=fly", r"^stage='fly': Input should be 'train', 'eval' or 'cache'"),
    ],
)
def test_bad_values_are_one_line_config_errors_at_load(override: str, pattern: str) -> None:
    with pytest.raises(ConfigError, match=pattern) as err:
        load_train_config(overrides=[override, "data.path=d", "output_dir=o"])
    assert "\n" not in str(err.value)


def test_app_refuses_a_bad_value_before_hydra_writes_anything(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "synthgen.trainer.app", "train.lr=inf", f"data.path={tmp_path}"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "synthgen-train: error: train.lr=inf: Input should be a finite number"
    )
    assert not (tmp_path / "outputs").exists()


def test_docs_config_reference_is_the_table_the_models_give() -> None:
    text = (Path(__file__).resolve().parents[1] / "docs" / "training.md").read_text()
    documented = text.split("<!-- config-reference:start -->\n", 1)[1].split(
        "\n<!-- config-reference:end -->"
    )[0]
    assert documented == reference_table()


def test_app_refuses_a_missing_model_path_before_hydra_writes_anything(tmp_path: Path) -> None:
    missing = tmp_path / "no-weights"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "synthgen.trainer.app",
            "model=path",
            f"model.path={missing}",
            f"data.path={tmp_path}",
        ],
        cwd=tmp_path,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 2
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .startswith(f"synthgen-train: error: model.path='{missing}': no such")
    )
    assert not (tmp_path / "outputs").exists()
