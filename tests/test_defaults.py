"""One source of defaults: the packaged YAML. The library composes it exactly as ``synthgen-generate`` does,
and the config models validate without holding defaults of their own."""

from __future__ import annotations

import os
import subprocess
import sys
import types
import typing
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from hydra import initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf, open_dict
from pydantic import BaseModel

import synthgen.conf
from synthgen.describe import compose
from synthgen.describe.config import GenerateConfig, load_generate_config
from synthgen.describe.sampling import sample_clip
from synthgen.describe.spec import ClipSettings, ClipSpec, RenderSpec
from synthgen.errors import ConfigError

CONF = Path(synthgen.conf.__file__).parent
GENERATE = Path(sys.executable).with_name("synthgen-generate")
TINY = ["clip.width=64", "clip.height=64", "clip.num_frames=9"]


def _cli_config(overrides: list[str], cwd: Path) -> GenerateConfig:
    """The config the real ``synthgen-generate`` composes for ``overrides`` (printed by Hydra, not run)."""
    done = subprocess.run(
        [str(GENERATE), *overrides, "--cfg", "job", "--resolve"],
        capture_output=True,
        text=True,
        check=True,
        cwd=cwd,
        timeout=120,
    )
    return load_generate_config(OmegaConf.create(done.stdout))


@pytest.mark.parametrize(
    "overrides",
    [
        [],
        ["control=camera_motion", "clip.width=64", "clip.height=64", "clip.num_frames=9", "dataset.seed=5"],
        ["control=audio_to_video", "audio=beats_varied", "render=preview", "motion=smooth", *TINY],
    ],
    ids=["packaged_defaults", "camera_motion", "audio_to_video"],
)
def test_library_and_command_line_give_identical_configs_and_specs(
    overrides: list[str], tmp_path: Path
) -> None:
    from_cli = _cli_config(overrides, tmp_path)
    from_library = load_generate_config(overrides=overrides)
    assert from_library == from_cli
    assert from_library.config_hash() == from_cli.config_hash()
    for index in range(3):
        assert sample_clip(from_library, index).to_json() == sample_clip(from_cli, index).to_json()
    assert list(tmp_path.iterdir()) == []


def _config_models(model: type[BaseModel]) -> Iterator[type[BaseModel]]:
    """``model`` and every model class its fields hold (inside tuples, lists and optionals too)."""
    yield model
    for field in model.model_fields.values():
        pending = [field.annotation]
        while pending:
            kind = pending.pop()
            if isinstance(kind, type) and issubclass(kind, BaseModel):
                yield from _config_models(kind)
            elif isinstance(kind, types.UnionType) or typing.get_origin(kind) is not None:
                pending.extend(typing.get_args(kind))


def test_no_config_model_holds_a_default_of_its_own() -> None:
    models = set(_config_models(GenerateConfig)) | {ClipSettings, RenderSpec}
    assert {"DatasetConfig", "CameraConfig", "AudioConfig", "BindingConfig", "RenderConfig"} <= {
        m.__name__ for m in models
    }
    defaults = {
        f"{m.__name__}.{name}" for m in models for name, f in m.model_fields.items() if not f.is_required()
    }
    assert defaults == set()
    assert ClipSpec.model_fields["clip"].is_required() and ClipSpec.model_fields["render"].is_required()


def test_every_config_field_has_a_description() -> None:
    models = set(_config_models(GenerateConfig)) | {ClipSettings, RenderSpec}
    missing = {
        f"{m.__name__}.{name}" for m in models for name, f in m.model_fields.items() if not f.description
    }
    assert missing == set()


PACKAGED_OPTIONS = [
    f"{group}={path.stem}"
    for group in ("scene", "motion", "camera", "audio", "render", "control")
    for path in sorted((CONF / group).glob("*.yaml"))
    if (group, path.stem) != ("scene", "custom")  # names no recipe: the user gives scene.recipe
]


@pytest.mark.parametrize("option", PACKAGED_OPTIONS)
def test_every_packaged_group_option_sets_every_field_it_owns(option: str) -> None:
    load_generate_config(overrides=[option, *TINY])  # a field left unset would be a ConfigError naming it


def test_library_defaults_are_the_packaged_yaml() -> None:
    cfg = load_generate_config()
    assert cfg.clip.model_dump() == OmegaConf.to_container(OmegaConf.load(CONF / "generate.yaml").clip)
    assert cfg.render.model_dump() == OmegaConf.to_container(
        OmegaConf.load(CONF / "render" / "cycles_cpu.yaml")
    )


def test_selecting_a_control_job_applies_its_group_defaults_as_on_the_command_line() -> None:
    cfg = load_generate_config(overrides=["control=camera_motion"])
    moves = OmegaConf.to_container(OmegaConf.load(CONF / "camera" / "moves.yaml"))
    assert cfg.control.job == "camera_motion" and cfg.scene.recipe == "camera_set"
    assert list(cfg.camera.moves) == moves["moves"]  # type: ignore[index]


def test_values_merge_onto_the_composed_overrides_and_win() -> None:
    merged = load_generate_config(
        {"clip": {"width": 64}, "camera": {"moves": ["orbit"]}},
        overrides=["control=camera_motion", "clip.width=96"],
    )
    spelled_out = load_generate_config(
        overrides=["control=camera_motion", "clip.width=64", "camera.moves=[orbit]"]
    )
    assert merged == spelled_out


def test_interpolations_resolve_after_values_are_merged() -> None:
    assert load_generate_config({"dataset": {"name": "clips"}}).output_dir == "outputs/clips"


def test_a_composed_dictconfig_is_validated_as_is_without_filling_gaps() -> None:
    composed = compose.compose_packaged("generate", TINY)
    assert load_generate_config(composed) == load_generate_config(overrides=TINY)
    with open_dict(composed):
        del composed["shards"]
    with pytest.raises(ConfigError, match=r"^shards: Field required"):
        load_generate_config(composed)
    with pytest.raises(TypeError):
        load_generate_config(composed, overrides=["clip.width=64"])


@pytest.mark.parametrize(
    ("overrides", "values", "named"),
    [
        (["clip.widht=64"], None, "clip.widht"),
        (["scene=nope"], None, "scene='nope': unknown option; choose from beat_stage, camera_set"),
        (["clip.num_frames=50"], None, "clip.num_frames=50"),
        ([], {"clip": {"widht": 64}}, "clip.widht"),
        ([], {"audio": {"bindings": [{"kind": "bounce"}]}}, "audio.bindings[0].target"),
    ],
)
def test_bad_overrides_and_values_raise_one_line_naming_the_key(
    overrides: list[str], values: dict | None, named: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load_generate_config(values, overrides=overrides)
    assert named in str(info.value) and "\n" not in str(info.value)


def test_override_strings_passed_as_values_are_refused_with_a_hint() -> None:
    with pytest.raises(ConfigError, match=r"overrides=\[\.\.\.\]"):
        load_generate_config(["clip.width=64"])  # type: ignore[arg-type]


def test_composing_creates_no_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    compose._compose_cached.cache_clear()
    load_generate_config(overrides=["control=depth", *TINY])
    assert list(tmp_path.iterdir()) == []


def test_a_returned_composition_can_change_without_changing_the_next_one() -> None:
    first = compose.compose_packaged("generate", TINY)
    first.clip.width = 32
    assert compose.compose_packaged("generate", TINY).clip.width == 64


def test_composing_works_inside_an_initialised_hydra_and_leaves_it_as_it_was() -> None:
    expected = load_generate_config(overrides=["control=depth", *TINY])
    with initialize_config_module("synthgen.conf", version_base="1.3"):
        running = GlobalHydra.instance().hydra
        compose._compose_cached.cache_clear()
        assert load_generate_config(overrides=["control=depth", *TINY]) == expected
        assert GlobalHydra.instance().hydra is running


_APP = """
import os
import hydra
from synthgen.describe.config import load_generate_config

@hydra.main(version_base="1.3", config_path=None, config_name=None)
def app(_cfg):
    print(load_generate_config(overrides=os.environ["OVERRIDES"].split()).config_hash())

app()
"""


def test_composing_works_inside_a_running_hydra_app(tmp_path: Path) -> None:
    script = tmp_path / "app.py"
    script.write_text(_APP)
    done = subprocess.run(
        [sys.executable, str(script), "hydra.run.dir=.", "hydra.output_subdir=null"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "OVERRIDES": "control=camera_motion clip.width=64"},
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    expected = load_generate_config(overrides=["control=camera_motion", "clip.width=64"]).config_hash()
    assert done.stdout.strip().splitlines()[-1] == expected


def _hash_of(overrides: tuple[str, ...]) -> str:
    return load_generate_config(overrides=list(overrides)).config_hash()


CASES = [("control=depth",), ("control=camera_motion",), ("motion=linear", "clip.fps=25")]


def test_composing_from_threads_gives_what_composing_in_turn_gives() -> None:
    in_turn = [_hash_of(case) for case in CASES]
    compose._compose_cached.cache_clear()
    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(_hash_of, CASES * 2)) == in_turn * 2
