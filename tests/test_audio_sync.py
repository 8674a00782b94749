"""Independent verification with librosa: labelled onsets and tempo are what a detector hears.

The measurement lives in ``benchmarks/audio_sync.py`` (the benchmark prints the full table); these tests
run it on a few clips by default and on the benchmark's 24 clips when slow tests are selected.
"""

from __future__ import annotations

import functools
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from synthgen.audio import beat_grid


def load_benchmark() -> ModuleType:
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "audio_sync.py"
    spec = importlib.util.spec_from_file_location("audio_sync_benchmark", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


BENCH = load_benchmark()


# Two snapped 24 fps cases (straight and swung) and one unsnapped case at 30 fps.
FAST_CASES = [case for case in BENCH.default_cases(4) if case.seed in (0, 2, 3)]


@functools.cache
def measured(case: Any) -> Any:
    return BENCH.run_case(case, seconds=5.0)


@pytest.mark.parametrize("case", FAST_CASES, ids=lambda c: f"seed{c.seed}")
def test_librosa_finds_labelled_kicks_and_snares_within_a_frame(case: Any) -> None:
    assert measured(case).recall >= BENCH.RECALL_BAR


@pytest.mark.parametrize("case", FAST_CASES, ids=lambda c: f"seed{c.seed}")
def test_librosa_hears_no_onset_that_the_labels_do_not_explain(case: Any) -> None:
    assert measured(case).precision >= BENCH.PRECISION_BAR


@pytest.mark.parametrize("case", FAST_CASES, ids=lambda c: f"seed{c.seed}")
def test_librosa_tempo_matches_the_label(case: Any) -> None:
    assert measured(case).tempo_error <= BENCH.TEMPO_BAR


@pytest.mark.parametrize("case", BENCH.default_cases(4), ids=lambda c: f"seed{c.seed}")
def test_bounce_ground_frames_are_the_labelled_beat_frames(case: Any) -> None:
    spec = BENCH.make_spec(case, seconds=5.0)
    assert BENCH.ground_frames_match(spec, beat_grid(spec.audio, spec.clip))


@pytest.mark.slow
def test_librosa_agrees_on_24_clips() -> None:
    results = [BENCH.run_case(case, seconds=10.0) for case in BENCH.default_cases(24)]
    failed = [(r.case.seed, r.recall, r.tempo_error, r.bounce_exact) for r in results if not BENCH.passes(r)]
    assert failed == []
