"""No silent corruption: page checksums, sha256 checks on resume and read, shards the manifest does not list."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from synthgen.dataset import ClipRow, VideoEncoding, open_dataset
from synthgen.dataset.export import export_ltx_trainer
from synthgen.dataset.testing import example_row
from synthgen.dataset.validate import validate_dataset
from synthgen.errors import DataError
from synthgen.pipeline.job import RunSettings, run_job

SHARD_1 = "data/shard-00001-000.parquet"


def _settings(root: Path, **kwargs: Any) -> RunSettings:
    base: dict[str, Any] = {
        "output_dir": root,
        "dataset_name": "example",
        "num_clips": 4,
        "clips_per_shard": 2,
        "encoding": VideoEncoding(lossless=True),
        "config_hash": "h1",
    }
    return RunSettings(**{**base, **kwargs})


def _dataset(root: Path) -> Path:
    run_job(_settings(root), example_row, progress=False)
    return root


def _flip_video_byte(part: Path) -> None:
    """Flip one byte inside the stored MP4 of the part's first row (a data page), keeping the file size."""
    needle = pq.read_table(part, columns=["video"]).column("video")[0].as_py()[200:264]
    data = bytearray(part.read_bytes())
    at = data.find(needle)
    assert at > 0, "the video bytes are stored uncompressed, so they are found in the file"
    data[at + 10] ^= 0xFF
    part.write_bytes(bytes(data))


def _table(root: Path) -> pa.Table:
    manifest = json.loads((root / "_manifest.json").read_text())
    table = pa.concat_tables([pq.read_table(root / entry["path"]) for entry in manifest["files"]])
    return table.sort_by("clip_index").drop_columns(["timings_json"]).replace_schema_metadata(None)


class _Counter:
    def __init__(self) -> None:
        self.calls: list[int] = []

    def __call__(self, clip_index: int) -> ClipRow:
        self.calls.append(clip_index)
        return example_row(clip_index)


# ------------------------------------------------------------------------------------ page checksums


def test_a_flipped_byte_inside_a_page_fails_the_read_naming_the_shard(tmp_path: Path) -> None:
    root = _dataset(tmp_path)
    _flip_video_byte(root / SHARD_1)
    dataset = open_dataset(str(root), decode_media=False)  # size unchanged: the cheap check passes
    with pytest.raises(DataError, match=r"shard-00001-000\.parquet row 0: unreadable.*CRC") as info:
        list(dataset)
    assert "\n" not in str(info.value)


def test_the_same_flip_reads_silently_without_page_checksums(tmp_path: Path) -> None:
    """The check above is the checksums' doing: a file written without them hands back the changed bytes."""
    root = _dataset(tmp_path)
    part = root / SHARD_1
    pq.write_table(pq.read_table(part), part, compression="none", write_page_checksum=False)
    _flip_video_byte(part)
    rows = list(open_dataset(str(root), decode_media=False, verify="none", columns=["clip_index"]))
    assert [row["clip_index"] for row in rows] == [0, 1, 2, 3]


# ------------------------------------------------------------------------------- validate and export


def test_validate_names_a_shard_whose_bytes_changed(tmp_path: Path) -> None:
    root = _dataset(tmp_path)
    _flip_video_byte(root / SHARD_1)
    report = validate_dataset(root)
    assert not report.ok
    assert any("shard-00001-000.parquet" in problem and "sha256" in problem for problem in report.problems)


def test_export_refuses_a_changed_shard_before_writing_anything(tmp_path: Path) -> None:
    root = _dataset(tmp_path / "ds")
    _flip_video_byte(root / SHARD_1)
    out = tmp_path / "ltx"
    with pytest.raises(DataError, match=r"shard-00001-000\.parquet: sha256 differs from the manifest"):
        export_ltx_trainer(str(root), out)
    assert not (out / "dataset.jsonl").exists()
    assert not list((out / "videos").glob("*"))


def test_open_dataset_sha256_mode_refuses_at_open(tmp_path: Path) -> None:
    root = _dataset(tmp_path)
    _flip_video_byte(root / SHARD_1)
    with pytest.raises(DataError, match=r"shard-00001-000\.parquet: sha256 differs"):
        open_dataset(str(root), verify="sha256")


def test_open_dataset_size_mode_names_a_truncated_shard(tmp_path: Path) -> None:
    root = _dataset(tmp_path)
    part = root / SHARD_1
    part.write_bytes(part.read_bytes()[:-10])
    with pytest.raises(DataError, match=r"shard-00001-000\.parquet: \d+ bytes, the manifest says \d+"):
        open_dataset(str(root))


def test_sha256_mode_needs_records_to_check_against(tmp_path: Path) -> None:
    root = _dataset(tmp_path / "ds")
    bare = tmp_path / "bare"
    shutil.copytree(root / "data", bare / "data")
    with pytest.raises(DataError, match="no manifest or shard record to verify it against"):
        open_dataset(str(bare), verify="sha256")
    assert len(open_dataset(str(bare))) == 4  # the cheap default reads a bare folder


def test_an_unknown_verify_mode_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"verify='full': must be one of sha256, size, none"):
        open_dataset(str(_dataset(tmp_path)), verify="full")  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------- resume


def test_rerun_regenerates_a_shard_whose_bytes_changed_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _dataset(tmp_path)
    before = _table(root)
    _flip_video_byte(root / SHARD_1)
    counter = _Counter()
    summary = run_job(_settings(root), counter, progress=False)
    assert counter.calls == [2, 3]
    assert summary.regenerated_shards == 1 and summary.resumed == 2 and summary.dataset_complete
    warning = "shard 1: data/shard-00001-000.parquet: sha256 differs from its record"
    assert warning in capsys.readouterr().err
    assert warning in (root / "_logs" / "job-000-of-001.log").read_text()
    assert validate_dataset(root).ok
    assert _table(root).equals(before)


def test_rerun_of_an_intact_dataset_hashes_but_keeps_everything(tmp_path: Path) -> None:
    root = _dataset(tmp_path)
    counter = _Counter()
    summary = run_job(_settings(root), counter, progress=False)
    assert counter.calls == [] and summary.regenerated_shards == 0 and summary.resumed == 4


# ------------------------------------------------------------------------------- files not listed


def _stray_parquet(root: Path) -> Path:
    stray = root / "data" / "notes.parquet"
    pq.write_table(pa.table({"x": [1, 2, 3]}), stray)
    return stray


def test_a_stray_parquet_of_another_schema_is_warned_about_and_skipped(tmp_path: Path) -> None:
    root = _dataset(tmp_path)
    _stray_parquet(root)
    with pytest.warns(
        UserWarning, match=r"1 \.parquet file\(s\) in data/ not listed .*first: data/notes\.parquet"
    ):
        dataset = open_dataset(str(root))
    assert len(dataset) == 4


def test_validate_reports_a_stray_parquet(tmp_path: Path) -> None:
    root = _dataset(tmp_path)
    stray = _stray_parquet(root)
    report = validate_dataset(root, decode_media=False)
    assert [p for p in report.problems if str(stray) in p and "not listed in the manifest" in p]


def test_a_manifest_listing_fewer_shards_than_exist_is_reported(tmp_path: Path) -> None:
    root = _dataset(tmp_path)
    manifest_path = root / "_manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["files"] = manifest["files"][:1]
    manifest_path.write_text(json.dumps(manifest))
    with pytest.warns(UserWarning, match=r"first: data/shard-00001-000\.parquet\) are not read"):
        open_dataset(str(root))
    report = validate_dataset(root, decode_media=False)
    assert any("shard-00001-000.parquet: not listed in the manifest" in p for p in report.problems)


def test_an_intact_dataset_opens_without_warning(tmp_path: Path) -> None:
    root = _dataset(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(open_dataset(str(root), verify="sha256")) == 4


def test_the_card_lists_the_shards_by_name_not_by_glob(tmp_path: Path) -> None:
    root = _dataset(tmp_path)
    _stray_parquet(root)
    front = (root / "README.md").read_text().split("---\n")[1]
    paths = yaml.safe_load(front)["configs"][0]["data_files"][0]["path"]
    assert paths == ["data/shard-00000-000.parquet", "data/shard-00001-000.parquet"]


# ------------------------------------------------------------------------------------------ trainer


def test_the_trainers_row_stream_refuses_a_changed_shard(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from synthgen.trainer.data import iter_rows

    root = _dataset(tmp_path)
    _flip_video_byte(root / SHARD_1)
    with pytest.raises(DataError, match=r"shard-00001-000\.parquet: sha256 differs"):
        next(iter_rows(root))
