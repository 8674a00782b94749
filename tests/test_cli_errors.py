"""Bad command lines: one line naming the key, exit code 2, nothing written."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from synthgen.describe.config import load_generate_config
from synthgen.errors import ConfigError

BIN = Path(sys.executable).parent


def _run(tool: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    return subprocess.run(
        [str(BIN / tool), *args], capture_output=True, text=True, cwd=cwd, env=env, check=False
    )


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["objects=3"], "objects"),
        (["clip.num_frames=50"], "clip.num_frames=50"),
        (["clip.width=abc"], "clip.width"),
        (["scene=nope"], "scene='nope'"),
        (["control.num_tracks=-1"], "control.num_tracks=-1"),
        (["control.lint.min_motion_px=-2"], "control.lint.min_motion_px=-2"),
    ],
)
def test_generate_rejects_bad_overrides_in_one_line_and_writes_nothing(
    tmp_path: Path, args: list[str], named: str
) -> None:
    out = tmp_path / "dataset"
    result = _run("synthgen-generate", *args, f"output_dir={out}", cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and named in lines[0] and "Traceback" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    # The library composes the same command line and refuses it with the same line.
    with pytest.raises(ConfigError) as info:
        load_generate_config(overrides=[*args, f"output_dir={out}"])
    assert lines[0] == f"synthgen-generate: error: {info.value}"


def test_train_rejects_an_unknown_key_in_one_line(tmp_path: Path) -> None:
    result = _run("synthgen-train", "lora.rnk=3", cwd=tmp_path)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "lora.rnk" in result.stderr


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["train.steps=-3"], "train.steps=-3"),
        (["data.path=/no/such/dataset"], "data.path='/no/such/dataset'"),
    ],
)
def test_train_rejects_an_invalid_config_before_writing_anything(
    tmp_path: Path, args: list[str], named: str
) -> None:
    result = _run("synthgen-train", *args, cwd=tmp_path)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and named in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []
