"""DatasetStore: the one reader and writer of a dataset folder's records (claim, shards, manifest, config)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from synthgen.dataset import (
    DatasetStore,
    ShardWriter,
    VideoEncoding,
    WriteSettings,
    config_hash,
    write_dataset,
)
from synthgen.dataset.testing import example_row
from synthgen.errors import ConfigError, DataError
from synthgen.fileio import json_sha256
from synthgen.pipeline.job import RunSettings, run_job

LOSSLESS = VideoEncoding(lossless=True)
CONFIG = {"dataset": {"name": "example"}, "control": {"job": "motion_track", "lint": {"min_motion_px": 2.0}}}


def _settings(num_clips: int = 3, digest: str = "h1") -> WriteSettings:
    return WriteSettings(dataset_name="example", num_clips=num_clips, clips_per_shard=2, encoding=LOSSLESS,
                         config_hash=digest, config=CONFIG)  # fmt: skip


def _table(path: Path) -> pa.Table:
    return pq.read_table(path).replace_schema_metadata(None)


def test_the_config_is_readable_while_generating_and_after_finalize(tmp_path: Path) -> None:
    store = DatasetStore(tmp_path)
    store.claim(_settings())
    assert store.config() == CONFIG and store.manifest() is None
    store.write_shards(_settings(), [0, 1], lambda writer, i: writer.add(example_row(i)))
    assert store.finalize() is not None
    assert store.config() == CONFIG and store.manifest() is not None


def test_a_folder_of_shards_without_records_has_an_empty_config(tmp_path: Path) -> None:
    write_dataset([example_row(0)], tmp_path / "ds", num_clips=1, encoding=LOSSLESS)
    shutil.copytree(tmp_path / "ds" / "data", tmp_path / "copy" / "data")
    assert DatasetStore(tmp_path / "copy").config() == {}


def test_finalize_waits_for_every_shard(tmp_path: Path) -> None:
    store = DatasetStore(tmp_path)
    store.claim(_settings())
    store.write_shards(_settings(), [1], lambda writer, i: writer.add(example_row(i)))
    assert store.finalize() is None and not (tmp_path / "_manifest.json").exists()


def test_a_claim_of_another_config_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    store = DatasetStore(tmp_path)
    store.claim(_settings())
    before = (tmp_path / "_dataset.json").read_bytes()
    with pytest.raises(ConfigError, match=r"holds a dataset with config_hash='h1', this run has 'h2'"):
        store.claim(_settings(digest="h2"))
    assert (tmp_path / "_dataset.json").read_bytes() == before


def test_a_shard_that_fails_midway_leaves_no_part_and_keeps_committed_shards(tmp_path: Path) -> None:
    store = DatasetStore(tmp_path)
    store.claim(_settings())

    def add(writer: ShardWriter, clip_index: int) -> None:
        if clip_index == 2:
            raise DataError("clip 2: broken")
        writer.add(example_row(clip_index))

    with pytest.raises(DataError, match="clip 2: broken"):
        store.write_shards(_settings(), [0, 1], add)
    assert set(store.committed()) == {0}
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["shard-00000-000.parquet"]


def test_kept_shards_are_committed_intact_and_of_the_same_config(tmp_path: Path) -> None:
    store = DatasetStore(tmp_path)
    store.claim(_settings())
    store.write_shards(_settings(), [0, 1], lambda writer, i: writer.add(example_row(i)))
    assert store.kept_shards([0, 1], "h1") == {0, 1}
    assert store.kept_shards([0, 1], "other") == set()
    (tmp_path / "data" / "shard-00001-000.parquet").write_bytes(b"truncated")
    assert store.kept_shards([0, 1], "h1") == {0}


def test_write_dataset_and_a_generation_job_write_the_same_shards(tmp_path: Path) -> None:
    write_dataset((example_row(i) for i in range(3)), tmp_path / "a", num_clips=3, clips_per_shard=2,
                  encoding=LOSSLESS)  # fmt: skip
    settings = RunSettings(output_dir=tmp_path / "b", dataset_name="example", num_clips=3, clips_per_shard=2,
                           encoding=LOSSLESS, config_hash="h1")  # fmt: skip
    run_job(settings, example_row, progress=False)
    for name in ("shard-00000-000.parquet", "shard-00001-000.parquet"):
        assert _table(tmp_path / "a" / "data" / name).equals(_table(tmp_path / "b" / "data" / name))


def test_the_dataset_id_is_the_start_of_the_config_sha256() -> None:
    assert config_hash(CONFIG) == json_sha256(CONFIG)[:16]
    assert config_hash({"b": 1, "a": 2}) == config_hash({"a": 2, "b": 1})
