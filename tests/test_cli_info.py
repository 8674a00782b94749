"""``synthgen info``: versions and engine availability."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy
import pyarrow
import pytest

from synthgen.cli.info import probe_engine


def _synthgen(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "synthgen.cli.main", *args], capture_output=True, text=True, check=False
    )


def test_info_reports_the_installed_versions() -> None:
    result = _synthgen("info", "--json", "--no-engines")
    assert result.returncode == 0, result.stderr
    packages = json.loads(result.stdout)["packages"]
    assert packages["numpy"] == numpy.__version__
    assert packages["pyarrow"] == pyarrow.__version__
    assert set(packages) >= {"synthgen", "bpy", "torch", "diffusers"}


@pytest.mark.blender
def test_cycles_cpu_is_reported_available_and_an_unknown_engine_is_not() -> None:
    assert probe_engine("CYCLES", "CPU")[0] is True
    assert probe_engine("NOT_AN_ENGINE", "CPU")[0] is False


def test_unknown_subcommand_exits_non_zero() -> None:
    assert _synthgen("frobnicate").returncode != 0
