"""Trust: data is never code, writes stay inside their root, planted files are refused (docs/security.md).

Further hostile cases live beside the code they attack: recipes named in a spec (tests/test_render.py), the
Ray launcher (tests/test_launchers.py), the trainer's checkpoint and latent cache (tests/test_trainer_*.py).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from synthgen import compute_labels, fileio, generate_dataset, load_generate_config
from synthgen.cli.main import main
from synthgen.dataset import VideoEncoding, open_dataset, write_dataset
from synthgen.dataset.rows import ClipRow
from synthgen.dataset.store import DatasetStore, file_sha256
from synthgen.dataset.testing import example_row
from synthgen.dataset.validate import validate_dataset
from synthgen.describe.sampling import sample_clip
from synthgen.errors import ConfigError, DataError, RenderError
from synthgen.pipeline.job import RunSettings, run_job
from synthgen.scenes import get_recipe
from tests.conftest import TINY_OVERRIDES, tiny_config


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


# ------------------------------------------------------------------------- path traversal from dataset content


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    root = tmp_path / "ds"
    rows = (example_row(i) for i in range(2))
    write_dataset(rows, root, num_clips=2, clips_per_shard=2, encoding=VideoEncoding(lossless=True))
    return root


def plant_clip_id(root: Path, clip_id: str) -> Path:
    """Rewrite row 0 of the first shard with ``clip_id`` (pyarrow directly, page checksums kept) and update the
    manifest and shard record so size and sha256 match: only the name check can catch it."""
    shard = root / "data" / "shard-00000-000.parquet"
    table = pq.read_table(shard)
    ids = table.column("clip_id").to_pylist()
    ids[0] = clip_id
    table = table.set_column(table.schema.get_field_index("clip_id"), "clip_id", pa.array(ids, pa.string()))
    pq.write_table(table, shard, write_page_checksum=True)
    for record in (root / "_manifest.json", root / "_shards" / "shard-00000.json"):
        body = json.loads(record.read_text())
        for entry in body["files"]:
            if entry["path"] == "data/shard-00000-000.parquet":
                entry["bytes"], entry["sha256"] = shard.stat().st_size, file_sha256(shard)
        record.write_text(json.dumps(body))
    return shard


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("clip_id", ["../../x", "a/b", "/tmp/x", "..", ".hidden", "-rf", "x\0y", ""])
def test_validate_rejects_a_clip_id_that_is_a_path_naming_shard_and_row(
    dataset: Path, clip_id: str, capsys: pytest.CaptureFixture[str]
) -> None:
    plant_clip_id(dataset, clip_id)
    assert main(["validate", str(dataset), "--no-decode"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "shard-00000-000.parquet row 0" in err[0] and f"clip_id={clip_id!r}" in err[0]


def test_export_and_preview_refuse_a_hostile_clip_id_and_write_nothing_outside(
    dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plant_clip_id(dataset, "../../../escaped")
    before = tree(tmp_path)
    out = tmp_path / "deep" / "er" / "out"
    assert main(["export", "ltx-trainer", str(dataset), str(out)]) == 2
    assert main(["preview", str(dataset), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all("'../../../escaped'" in line for line in err)
    after = {name: data for name, data in tree(tmp_path).items() if not name.startswith("deep/er/out/")}
    assert after == before


def test_a_manifest_path_that_leaves_the_dataset_is_refused(dataset: Path) -> None:
    manifest = dataset / "_manifest.json"
    body = json.loads(manifest.read_text())
    body["files"][0]["path"] = "../outside.parquet"
    manifest.write_text(json.dumps(body))
    with pytest.raises(DataError, match=r"files\[\]\.path='\.\./outside\.parquet': not a relative path"):
        open_dataset(str(dataset))
    report = validate_dataset(dataset, decode_media=False)
    assert any("'../outside.parquet'" in problem for problem in report.problems)


def test_safe_join_keeps_every_path_inside_its_root(tmp_path: Path) -> None:
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "link").symlink_to(tmp_path)
    assert fileio.safe_join(tmp_path / "root", "a/b.mp4", what="x") == tmp_path / "root" / "a" / "b.mp4"
    for hostile in ("../x", "a/../../x", "/etc/passwd", "", "a\\..\\x", "link/x"):
        with pytest.raises(DataError):
            fileio.safe_join(tmp_path / "root", hostile, what="x")


def test_rows_and_dataset_names_that_are_paths_are_refused_at_write_time() -> None:
    with pytest.raises(DataError, match=r"clip_id='\.\./x' does not match"):
        example_row(0).replace(clip_id="../x")
    for name in ("..", ".", "../up", "a/b", "-x", ".hidden", "x" * 101):
        with pytest.raises(ConfigError, match=r"^dataset\.name="):
            tiny_config(dataset={"name": name})


# ----------------------------------------------------------------------------------------- never clobber


def foreign_folder(root: Path) -> dict[str, bytes]:
    (root / "data").mkdir(parents=True)
    (root / "README.md").write_text("my notes")
    (root / "data" / "x.parquet").write_bytes(b"not ours")
    return tree(root)


@pytest.mark.parametrize("output_dir", ["", ".", "..", "outputs/..", "./", " "])
def test_an_output_dir_that_is_the_current_or_a_parent_folder_is_refused(output_dir: str) -> None:
    with pytest.raises(ConfigError, match=r"^output_dir=.*a folder of its own"):
        tiny_config(output_dir=output_dir)


def test_a_folder_that_is_no_dataset_is_not_adopted_unless_overwrite(tmp_path: Path) -> None:
    root = tmp_path / "theirs"
    before = foreign_folder(root)
    with pytest.raises(ConfigError, match=r"^output_dir=.*non-empty folder.*overwrite=true"):
        write_dataset([example_row(0)], root, num_clips=1)
    assert tree(root) == before
    write_dataset([example_row(0)], root, num_clips=1, overwrite=True)
    assert (root / "_manifest.json").is_file()


def test_synthgen_generate_refuses_a_foreign_output_dir_before_anything_runs(tmp_path: Path) -> None:
    root = tmp_path / "theirs"
    before = foreign_folder(root)
    result = subprocess.run(
        [
            str(Path(sys.executable).with_name("synthgen-generate")),
            f"output_dir={root}",
            "dataset.num_clips=1",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"synthgen-generate: error: output_dir={str(root)!r}: a non-empty folder that this tool did not "
        "write; use another folder or overwrite=true / --overwrite"
    ]
    assert tree(root) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["theirs"]


def test_a_resume_into_its_own_dataset_folder_is_allowed(dataset: Path) -> None:
    DatasetStore(dataset).check_writable()
    (dataset.parent / "sweep").mkdir()
    (dataset.parent / "sweep" / "_logs").mkdir()  # what a Hydra sweep creates before its jobs start
    DatasetStore(dataset.parent / "sweep").check_writable()


def test_export_into_a_non_empty_folder_needs_overwrite(
    dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "theirs"
    before = foreign_folder(out)
    assert main(["export", "ltx-trainer", str(dataset), str(out)]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    assert tree(out) == before
    assert main(["export", "ltx-trainer", str(dataset), str(out), "--overwrite"]) == 0
    assert (out / "README.md").read_text() == "my notes" and (out / "dataset.jsonl").is_file()


def test_preview_and_lint_report_replace_an_existing_file_only_with_overwrite(
    dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "prev"
    assert main(["preview", str(dataset), "--out", str(out)]) == 0
    first = tree(out)
    assert main(["preview", str(dataset), "--out", str(out)]) == 2
    assert tree(out) == first
    assert main(["preview", str(dataset), "--out", str(out), "--overwrite"]) == 0
    report = tmp_path / "mine.json"
    report.write_text("keep")
    assert main(["lint", str(dataset), "--quiet", "--report", str(report)]) == 2
    assert report.read_text() == "keep"
    assert main(["lint", str(dataset), "--quiet", "--report", str(report), "--overwrite"]) in (0, 1)
    assert json.loads(report.read_text())["num_clips"] == 2
    assert "exists; use --overwrite" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["export", "preview", "lint"])
@pytest.mark.parametrize("where", ["file", "proc"])
def test_output_paths_that_are_files_or_under_proc_are_one_line_errors(
    dataset: Path, tmp_path: Path, command: str, where: str, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    target = str(blocker / "out") if where == "file" else "/proc/synthgen-out"
    argv = {
        "export": ["export", "ltx-trainer", str(dataset), target],
        "preview": ["preview", str(dataset), "--out", target],
        "lint": ["lint", str(dataset), "--report", f"{target}/report.json"],
    }[command]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"synthgen {command}: error: ")
    assert blocker.read_text() == "x"


def test_a_dataset_output_dir_that_is_a_file_or_under_proc_is_refused(tmp_path: Path) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    for root in (blocker, blocker / "sub", Path("/proc/synthgen-out")):
        with pytest.raises(ConfigError, match=r"^output_dir="):
            write_dataset([example_row(0)], root, num_clips=1)


def test_training_refuses_an_output_dir_with_other_files_unless_overwrite(tmp_path: Path) -> None:
    from synthgen.trainer.config import check_output_dir, load_train_config

    theirs = tmp_path / "theirs"
    before = foreign_folder(theirs)
    settings = load_train_config({"data": {"path": "d"}, "output_dir": str(theirs)})
    with pytest.raises(ConfigError, match=r"^output_dir=.*non-empty folder"):
        check_output_dir(settings)
    assert tree(theirs) == before
    check_output_dir(load_train_config({"data": {"path": "d"}, "output_dir": str(theirs), "overwrite": True}))
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "report.json").write_text("{}")
    (run / "synthgen-train.log").write_text("")
    check_output_dir(load_train_config({"data": {"path": "d"}, "output_dir": str(run)}))  # a resume


# ------------------------------------------------------------------------------ bad input, one-line errors


@pytest.mark.parametrize(
    ("section", "values", "pattern"),
    [
        ("dataset", {"num_clips": 10**12}, r"^dataset\.num_clips=1000000000000: Input should be less than"),
        ("dataset", {"num_clips": 10**30}, r"^dataset\.num_clips="),
        (
            "clip",
            {"num_frames": 100001},
            r"^clip\.num_frames=100001: Input should be less than or equal to 1025",
        ),
        ("clip", {"width": 100000}, r"^clip\.width=100000: Input should be less than or equal to 4096"),
        ("clip", {"height": 4128}, r"^clip\.height=4128: Input should be less than or equal to 4096"),
    ],
)
def test_values_past_the_documented_bounds_are_refused_at_load(
    section: str, values: dict[str, Any], pattern: str
) -> None:
    with pytest.raises(ConfigError, match=pattern) as err:
        tiny_config(**{section: values})
    assert "\n" not in str(err.value)


def test_sample_clip_refuses_bad_arguments_with_one_line_errors() -> None:
    cfg = tiny_config()  # num_clips=2
    for bad_index in (2, -1, 10**30):
        with pytest.raises(ConfigError, match=rf"^clip_index={bad_index}: must be in 0 \.\. 1"):
            sample_clip(cfg, bad_index)
    for bad_type in ("0", 0.0, None, True):
        with pytest.raises(ConfigError, match=r"^clip_index=.*expected an integer"):
            sample_clip(cfg, bad_type)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"^cfg: expected a GenerateConfig"):
        sample_clip({"dataset": {}}, 0)  # type: ignore[arg-type]
    assert sample_clip(cfg, np.int64(1)).clip_index == 1


def test_validate_max_problems_must_be_at_least_one(
    dataset: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["validate", str(dataset), "--max-problems", "0"])
    assert exit_info.value.code == 2
    assert "--max-problems: 0 must be >= 1" in capsys.readouterr().err
    with pytest.raises(ConfigError, match=r"^max_problems=0: must be an integer >= 1"):
        validate_dataset(dataset, max_problems=0)


def test_a_job_whose_every_clip_failed_is_no_success(tmp_path: Path) -> None:
    settings = RunSettings(
        output_dir=tmp_path / "ds",
        dataset_name="broken",
        num_clips=2,
        clips_per_shard=2,
        max_bytes=1 << 20,
        encoding=VideoEncoding(lossless=True),
        config_hash="0" * 16,
        config={},
    )

    def always_fails(clip_index: int) -> ClipRow:
        raise RenderError(f"clip {clip_index}: width too large for this renderer")

    summary = run_job(settings, always_fails, progress=False)
    assert summary.all_failed and summary.failed == 2
    assert "dataset complete" not in summary.line()
    assert summary.line().endswith("every clip of this job failed")


@pytest.mark.slow
def test_a_training_error_found_at_run_time_leaves_no_hydra_run_folder(dataset: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "synthgen.trainer.app", f"data.path={dataset}", "data.control=depth"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("synthgen-train: error: data.control='depth'")
    runs = [p for p in (tmp_path / "outputs").glob("*") if p.name != "cache"]
    assert runs == []  # Hydra's outputs/<date>/<time>/ is gone with its date folder


def test_synthgen_generate_exits_2_when_every_clip_failed(tmp_path: Path) -> None:
    recipe = tmp_path / "failing.py"
    recipe.write_text("def sample(rng, ctx):\n    raise RuntimeError('this recipe always fails')\n")
    out = tmp_path / "ds"
    command = [
        *(f"clip.{key}={value}" for key, value in TINY_OVERRIDES["clip"].items()),
        "scene=custom",
        f"scene.recipe={recipe}",
        "dataset.num_clips=2",
        f"output_dir={out}",
    ]
    result = subprocess.run(
        [str(Path(sys.executable).with_name("synthgen-generate")), *command],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert "dataset complete" not in result.stderr
    assert lines[-1] == (
        "synthgen-generate: error: every clip of job-000-of-001 failed (2); the causes are in "
        f"{out}/_logs/job-000-of-001.log"
    )


def test_preview_may_write_into_the_current_folder_but_export_may_not(
    dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    assert main(["preview", str(dataset), "--out", "."]) == 0
    assert sorted(p.name for p in here.iterdir()) == ["example-000000.mp4", "example-000000.png"]
    assert main(["export", "ltx-trainer", str(dataset), "."]) == 2


@pytest.mark.parametrize(
    ("call", "pattern"),
    [
        (lambda: generate_dataset("cfg.yaml"), r"^cfg: expected a GenerateConfig"),
        (lambda: compute_labels("spec"), r"^spec: expected a ClipSpec"),
        (
            lambda: load_generate_config(overrides="clip.width=64"),
            r"^overrides='clip.width=64': expected a list",
        ),
        (lambda: load_generate_config(overrides=[64]), r"^overrides=\[64\]: expected a list"),
        (
            lambda: write_dataset([example_row(0)], "unused", num_clips="1"),
            r"^num_clips='1': must be an integer",
        ),
        (lambda: write_dataset([example_row(0)], "unused", num_clips=10**30), r"^num_clips=10+: must be an"),
        (lambda: write_dataset([example_row(0)], "unused", num_clips=0), r"^num_clips=0: must be an integer"),
    ],
)
def test_wrong_types_through_the_library_api_are_one_line_config_errors(
    call: Callable[[], object], pattern: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=pattern) as err:
        call()
    assert "\n" not in str(err.value)
    assert list(tmp_path.iterdir()) == []
