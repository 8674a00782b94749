"""Trust: data is never code, writes stay inside their root, planted files are refused (docs/security.md).

Further hostile cases live beside the code they attack: recipes named in a spec (tests/test_render.py), the
Ray launcher (tests/test_launchers.py), the trainer's checkpoint and latent cache (tests/test_trainer_*.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from synthgen import fileio
from synthgen.errors import ConfigError
from synthgen.scenes import get_recipe


def test_atomic_write_refuses_a_symlink_planted_at_its_temporary_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    planted = tmp_path / ".report.json.planted.tmp"
    planted.symlink_to(victim)
    monkeypatch.setattr(fileio, "temp_path_for", lambda path: planted)
    with pytest.raises(FileExistsError):
        fileio.atomic_write_text(tmp_path / "report.json", "{}")
    assert victim.read_text() == "precious"
    assert not (tmp_path / "report.json").exists()


def test_atomic_write_replaces_the_target_whole(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b.json"
    fileio.atomic_write_json(target, {"x": 1})
    fileio.atomic_write_json(target, {"x": 2})
    assert target.read_text() == '{"x": 2}'
    assert [p.name for p in target.parent.iterdir()] == ["b.json"]


def test_a_recipe_that_is_not_built_in_is_not_imported_without_permission(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    recipe = tmp_path / "evil.py"
    recipe.write_text(f"open({str(marker)!r}, 'w').close()\ndef sample(rng, ctx):\n    pass\n")
    with pytest.raises(ConfigError, match=r"scene.recipe=.*not a built-in recipe.*trust_recipes=True"):
        get_recipe(str(recipe), allow_code=False)
    assert not marker.exists()
    assert callable(get_recipe("tracked_objects", allow_code=False).sample)
    get_recipe(str(recipe), allow_code=True)
    assert marker.exists()
