"""Packaging: the extras each machine installs, the core without Blender or torch, and the built wheel.

A missing extra is simulated with a ``sitecustomize`` that marks its modules as absent (``sys.modules[name]
= None`` makes ``import name`` fail); it sits on PYTHONPATH, so the worker processes a run spawns see it
too. The wheel tests build the wheel from this checkout and run both apps from a non-editable install.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from synthgen.extras import EXTRAS, MissingExtraError, installed_extras, require_extra

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
TRAIN_MODULES = ["torch", "diffusers", "peft", "transformers", "accelerate"]
GENERATE = str(Path(sys.executable).with_name("synthgen-generate"))
TINY_GENERATE = [
    "dataset.num_clips=1",
    "clip.width=64",
    "clip.height=64",
    "clip.num_frames=9",
    "render.samples=1",
]


def _requirements(names: list[str], python: str) -> dict[str, Requirement]:
    """Requirement strings that apply on Python ``python`` (markers evaluated), by distribution name."""
    environment = {"python_version": python, "python_full_version": f"{python}.0", "extra": ""}
    out = {}
    for text in names:
        requirement = Requirement(text)
        if requirement.marker is None or requirement.marker.evaluate(environment):
            assert requirement.name not in out, f"{requirement.name} listed twice for Python {python}"
            out[requirement.name] = requirement
    return out


def _blocking(tmp_path: Path, modules: list[str]) -> dict[str, str]:
    """Environment in which ``modules`` cannot be imported, in this process's children and theirs."""
    folder = tmp_path / "block"
    folder.mkdir(exist_ok=True)
    (folder / "sitecustomize.py").write_text(
        f"import sys\n\nsys.modules.update(dict.fromkeys({modules!r}))\n"
    )
    return {**os.environ, "PYTHONPATH": str(folder), "PYTHONWARNINGS": "ignore"}


def _run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True, timeout=600, check=False)


# --- the extras -------------------------------------------------------------------------------------------


def test_the_core_depends_on_neither_blender_nor_torch() -> None:
    core = {Requirement(text).name for text in PYPROJECT["dependencies"]}
    assert core >= {"numpy", "pyarrow", "pydantic", "hydra-core", "soundfile", "av", "pillow", "tqdm"}
    assert not core & {"bpy", "torch", "diffusers", "peft", "transformers", "accelerate", "ray"}


@pytest.mark.parametrize("python", ["3.11", "3.12", "3.13"])
def test_the_core_and_the_trainer_accept_numpy_1_26_and_2(python: str) -> None:
    extras = PYPROJECT["optional-dependencies"]
    for names in (PYPROJECT["dependencies"], PYPROJECT["dependencies"] + extras["train"]):
        numpy = _requirements(names, python)["numpy"]
        assert numpy.specifier.contains("1.26.4") and numpy.specifier.contains("2.3.0"), numpy


def test_only_the_render_extra_carries_bpy_and_its_numpy_pin() -> None:
    extras = PYPROJECT["optional-dependencies"]
    on_311 = _requirements(extras["render"], "3.11")
    assert str(on_311["bpy"].specifier) == "==5.0.1"
    assert not on_311["numpy"].specifier.contains("2.0.0") and not on_311["pyarrow"].specifier.contains(
        "26.0.0"
    )
    on_313 = _requirements(extras["render"], "3.13")
    assert on_313["bpy"].specifier.contains("5.3.0") and "numpy" not in on_313
    assert "bpy" in _requirements(extras["render"], "3.12")  # none is built for 3.12: the install must fail
    for extra in ("train", "ray", "dev"):
        assert "bpy" not in {Requirement(text).name for text in extras[extra]}, extra


def test_the_train_extra_brings_the_trainer_stack() -> None:
    train = _requirements(PYPROJECT["optional-dependencies"]["train"], "3.12")
    assert set(train) >= {
        "torch",
        "diffusers",
        "transformers",
        "peft",
        "accelerate",
        "tensorboard",
    }
    # safetensors (checkpoints, LoRA files) comes with the core, which every extra installs.
    assert "safetensors" in _requirements(PYPROJECT["dependencies"], "3.12")
    assert train["diffusers"].specifier.contains("0.42.0") and not train["diffusers"].specifier.contains(
        "0.41.0"
    )


def test_all_is_every_extra_and_python_3_11_to_3_13_is_supported() -> None:
    extras = PYPROJECT["optional-dependencies"]
    assert extras["all"] == ["synthgen[render,train,ray]"]
    assert set(EXTRAS) == {"render", "train", "ray"} <= set(extras)
    assert PYPROJECT["requires-python"] == ">=3.11,<3.14"


def test_a_missing_extra_is_one_line_naming_what_to_install() -> None:
    sys.modules["_synthgen_absent_module"] = None  # type: ignore[assignment]
    try:
        EXTRAS["_probe"] = ("json", "_synthgen_absent_module")
        with pytest.raises(MissingExtraError) as caught:
            require_extra("_probe", "probing")
        assert str(caught.value) == (
            "probing needs the _probe extra (_synthgen_absent_module not installed): pip install 'synthgen[_probe]'"
        )
        assert caught.value.exit_code == 2
    finally:
        EXTRAS.pop("_probe", None)
        sys.modules.pop("_synthgen_absent_module", None)


# --- the core without torch or Blender -----------------------------------------------------------------------


@pytest.mark.parametrize("quiet", [False, True])
def test_console_scripts_silence_optional_libraries_import_time_warnings(quiet: bool) -> None:
    """What torchao and friends log while being imported (their loggers, as torchao 0.18 does on a torch it
    was not built for) must not precede a console script's one-line error."""
    code = (
        "import logging, sys\n"
        "from synthgen.extras import IMPORT_NOISE_LOGGERS, quiet_import_noise\n"
        f"if {quiet}: quiet_import_noise()\n"
        "for name in IMPORT_NOISE_LOGGERS: logging.getLogger(name).warning('noise from %s', name)\n"
        "logging.getLogger('synthgen').warning('ours')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    noise = [line for line in done.stderr.splitlines() if line.startswith("noise from")]
    assert (noise == []) is quiet, done.stderr
    assert "ours" in done.stderr  # only those loggers are raised


def test_synthgen_train_without_the_train_extra_exits_2_naming_it(tmp_path: Path) -> None:
    env = _blocking(tmp_path, TRAIN_MODULES)
    result = _run([sys.executable, "-m", "synthgen.trainer.app", "train=cpu_quick"], env, tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [
        "synthgen-train: error: training needs the train extra "
        "(torch, diffusers, transformers, peft, accelerate not installed): pip install 'synthgen[train]'"
    ]
    assert list(tmp_path.iterdir()) == [tmp_path / "block"]


def test_synthgen_generate_without_bpy_exits_2_naming_the_render_extra_and_writes_nothing(
    tmp_path: Path,
) -> None:
    env = _blocking(tmp_path, ["bpy"])
    out = tmp_path / "data"
    result = _run([GENERATE, f"output_dir={out}", *TINY_GENERATE], env, tmp_path)
    assert result.returncode == 2, result.stderr
    # The default look's environment maps (Blender's bundled set) already need bpy at config load.
    assert result.stderr.splitlines() in (
        [
            "synthgen-generate: error: rendering needs the render extra (bpy not installed): pip install 'synthgen[render]'"
        ],
        [
            "synthgen-generate: error: scene.params.hdri_dir='builtin': needs the bpy package "
            "(pip install 'synthgen[render]')"
        ],
    )
    assert not out.exists()
    as_module = [sys.executable, "-m", "synthgen.cli.generate", "--help"]  # finds the packaged conf/ too
    help_text = _run(as_module, env, tmp_path)
    assert help_text.returncode == 0 and "error" not in help_text.stderr, help_text.stderr


def test_importing_blender_without_bpy_names_the_render_extra(tmp_path: Path) -> None:
    code = "from synthgen.render._blender import import_bpy\nimport_bpy()"
    result = _run([sys.executable, "-c", code], _blocking(tmp_path, ["bpy"]), tmp_path)
    assert "RenderError: rendering needs the render extra" in result.stderr
    assert "pip install 'synthgen[render]'" in result.stderr


def test_dataset_tools_run_without_torch_or_blender(tmp_path: Path) -> None:
    data, out = tmp_path / "data", tmp_path / "out"
    commands = [  # one interpreter for all of them: each start costs seconds on a small machine
        ("synthgen.dataset.testing", [str(data), "--num-clips", "2"]),
        ("synthgen.cli.main", ["validate", str(data)]),
        ("synthgen.cli.main", ["lint", str(data), "--report", str(out / "lint.json")]),
        ("synthgen.cli.main", ["export", "ltx-trainer", str(data), str(out / "export")]),
        ("synthgen.cli.main", ["preview", str(data), "--out", str(out / "preview")]),
    ]
    code = (
        "import importlib, json, sys\n"
        "codes = [importlib.import_module(m).main(a) for m, a in json.loads(sys.argv[1])]\n"
        "print(json.dumps(codes))\n"
    )
    env = _blocking(tmp_path, ["bpy", *TRAIN_MODULES])
    result = _run([sys.executable, "-c", code, json.dumps(commands)], env, tmp_path)
    assert result.returncode == 0, result.stderr
    made, validated, linted, exported, previewed = json.loads(result.stdout.splitlines()[-1])
    assert (made, validated, exported, previewed) == (0, 0, 0, 0)
    assert linted in (0, 1)  # 1 = pairs flagged: the stand-in rows are not real pairs


def test_info_reports_which_extras_are_installed(tmp_path: Path) -> None:
    env = _blocking(tmp_path, ["bpy", *TRAIN_MODULES])
    result = _run([sys.executable, "-m", "synthgen.cli.main", "info", "--json"], env, tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["extras"] == {"render": False, "train": False, "ray": installed_extras()["ray"]}
    assert "engines" not in report  # nothing to probe without bpy
    table = _run([sys.executable, "-m", "synthgen.cli.main", "info"], env, tmp_path).stdout
    assert "extra train                    no  (pip install 'synthgen[train]')" in table


# --- the wheel ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel built from this checkout, offline (the build backend of the running environment)."""
    # From a copy of the files a clone would hold (tracked and not ignored): setuptools' build/ folder in
    # the checkout could carry modules that no longer exist into the wheel.
    source, out = tmp_path_factory.mktemp("source"), tmp_path_factory.mktemp("wheel")
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    for name in filter(None, listed.stdout.split("\0")):
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index"]
    result = subprocess.run(
        [*command, "-w", str(out), str(source)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    (path,) = out.glob("synthgen-*.whl")
    return path


# Source folder of the checkout -> where it installs.
INSTALLED_AS = {
    "synthgen": "synthgen",
    "scenes": "synthgen/scenes",
    "trainer": "synthgen/trainer",
    "conf": "synthgen/conf",
    "hydra_plugins": "hydra_plugins",
}


def _packages_in_checkout() -> set[str]:
    """Every package folder of the checkout, named as installed (``scenes/x`` -> ``synthgen/scenes/x``)."""
    found = set()
    for source, installed in INSTALLED_AS.items():
        for init in (ROOT / source).rglob("__init__.py"):
            found.add(str(Path(installed) / init.parent.relative_to(ROOT / source)))
    return found


def test_pyproject_lists_every_package_of_the_checkout() -> None:
    listed = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    namespaces = {"hydra_plugins"}  # Hydra finds plugins in this namespace package: it has no __init__.py
    assert {name.replace(".", "/") for name in listed} == _packages_in_checkout() | namespaces


@pytest.mark.slow
def test_the_wheel_holds_every_package_the_scenes_the_trainer_and_the_configs(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    packages = {name.rpartition("/")[0] for name in names if name.endswith("/__init__.py")}
    assert packages >= _packages_in_checkout() >= {"synthgen/scenes", "synthgen/trainer", "synthgen/conf"}
    yaml = {f"synthgen/conf/{path.relative_to(ROOT / 'conf')}" for path in (ROOT / "conf").rglob("*.yaml")}
    assert yaml and yaml <= names
    assert "synthgen/py.typed" in names and not any(
        name.startswith(("scenes/", "trainer/", "conf/")) for name in names
    )


@pytest.mark.slow
@pytest.mark.blender
def test_an_installed_wheel_generates_and_trains(wheel: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    installed = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-index",
            "--target",
            str(site),
            str(wheel),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert installed.returncode == 0, installed.stderr
    env = {**os.environ, "PYTHONPATH": str(site), "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    work = tmp_path / "work"  # not the checkout: nothing may come from the source folders
    work.mkdir()
    where = "import synthgen.scenes, synthgen.trainer, synthgen.conf as c; print(c.__file__)"
    located = _run([sys.executable, "-c", where], env, work)
    assert Path(located.stdout.strip()).is_relative_to(site), located.stderr

    data = tmp_path / "data"
    generated = _run(
        [str(site / "bin" / "synthgen-generate"), f"output_dir={data}", *TINY_GENERATE], env, work
    )
    assert generated.returncode == 0, generated.stderr
    assert "1 clips generated, 0 failed" in generated.stderr

    overrides = [
        "train=cpu_quick",
        "train.steps=2",
        "lora.rank=4",
        "data.eval_clips=0",
        "data.buckets=[64x64x9]",
    ]
    paths = [f"data.path={data}", f"data.cache_dir={tmp_path / 'cache'}", f"output_dir={tmp_path / 'train'}"]
    trained = _run([str(site / "bin" / "synthgen-train"), *overrides, *paths], env, work)
    assert trained.returncode == 0, trained.stderr
    assert (tmp_path / "train" / "lora.safetensors").is_file()
