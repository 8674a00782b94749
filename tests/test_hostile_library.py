"""Library calls get the same protection as the CLIs: one-line errors for wrong argument types in
``render_clip``, ``synthgen.trainer.train.run`` refusing an ``output_dir`` that is not ours, and a cache
build that fails leaving no empty folder of its own behind (and never removing one it did not create)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from synthgen import sample_clip
from synthgen.dataset.rows import ClipRow
from synthgen.errors import ConfigError
from tests.conftest import tiny_config
from tests.test_hostile import foreign_folder, tree


@pytest.mark.parametrize(
    ("arguments", "pattern"),
    [
        (({"clip": {}},), r"^spec: expected a ClipSpec \(synthgen\.sample_clip\), got dict$"),
        (("spec.json",), r"^spec: expected a ClipSpec \(synthgen\.sample_clip\), got str$"),
        (("SPEC", {"frames": []}), r"^labels: expected ClipLabels .* or None, got dict$"),
    ],
)
def test_render_clip_given_a_wrong_type_is_a_one_line_config_error(
    arguments: tuple[Any, ...], pattern: str
) -> None:
    from synthgen.render.clip import render_clip

    if arguments[0] == "SPEC":
        arguments = (sample_clip(tiny_config(), 0), *arguments[1:])
    with pytest.raises(ConfigError, match=pattern) as err:
        render_clip(*arguments)
    assert "\n" not in str(err.value)


def test_train_run_called_directly_refuses_a_folder_that_is_not_ours(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from synthgen.trainer.config import load_train_config
    from synthgen.trainer.train import run

    theirs = tmp_path / "theirs"
    before = foreign_folder(theirs)
    settings = load_train_config({"data": {"path": str(tmp_path / "d")}, "output_dir": str(theirs)})
    with pytest.raises(ConfigError, match=r"^output_dir=.*a non-empty folder that this tool did not write"):
        run(settings)
    assert tree(theirs) == before


def _rows_then_failure(rows: list[ClipRow]) -> Iterator[ClipRow]:
    yield from rows
    raise RuntimeError("the shard reader failed")


def _build(rows: Iterator[ClipRow], cache_dir: Path) -> None:
    from synthgen.trainer.cache import build_cache
    from synthgen.trainer.config import parse_bucket
    from synthgen.trainer.model import build_tiny

    build_cache(
        rows, build_tiny(0), cache_dir=cache_dir, control="motion_track", buckets=[parse_bucket("64x64x9")]
    )


def test_a_failed_cache_build_removes_the_empty_folders_it_created(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    with pytest.raises(RuntimeError, match="the shard reader failed"):
        _build(_rows_then_failure([]), tmp_path / "cache" / "abc123")
    assert list(tmp_path.iterdir()) == []


def test_a_failed_cache_build_keeps_folders_it_did_not_create_and_items_it_wrote(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from synthgen.trainer.toydata import square_row

    existing = tmp_path / "cache"
    existing.mkdir()
    with pytest.raises(RuntimeError):
        _build(_rows_then_failure([]), existing / "abc123")
    assert existing.is_dir() and list(existing.iterdir()) == []
    with pytest.raises(RuntimeError):
        _build(_rows_then_failure([square_row(0)]), existing / "def456")
    # the encoded item stays for the next run to resume from; no index marks the cache complete
    assert sorted(p.name for p in (existing / "def456").iterdir()) == ["000000.safetensors"]
