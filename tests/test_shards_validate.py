"""``validate_dataset``: a good dataset passes; each kind of damage is reported naming the shard and row."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from synthgen.dataset import ClipRow, DatasetStore, VideoEncoding, WriteSettings, encode_row, write_dataset
from synthgen.dataset.testing import example_row
from synthgen.dataset.validate import validate_dataset
from synthgen.errors import DataError


def _write(tmp_path: Path, rows: list[ClipRow], per_shard: int = 2) -> Path:
    root = tmp_path / "ds"
    write_dataset(
        iter(rows),
        root,
        num_clips=len(rows),
        clips_per_shard=per_shard,
        encoding=VideoEncoding(lossless=True),
    )
    return root


def test_a_freshly_written_dataset_is_valid(tmp_path: Path) -> None:
    report = validate_dataset(_write(tmp_path, [example_row(i) for i in range(3)]))
    assert report.ok, report.problems
    assert (report.num_rows, report.num_files) == (3, 2)


def test_changed_shard_bytes_are_reported_naming_the_file(tmp_path: Path) -> None:
    root = _write(tmp_path, [example_row(i) for i in range(3)])
    shard = root / "data" / "shard-00001-000.parquet"
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard.write_bytes(bytes(data))
    report = validate_dataset(root)
    assert (
        len(report.problems) == 1 and "shard-00001-000.parquet: size or sha256 differs" in report.problems[0]
    )


def test_reference_of_the_wrong_size_is_reported_naming_the_row(tmp_path: Path) -> None:
    rows = [example_row(i) for i in range(2)]
    rows[1] = rows[1].replace(reference_video=example_row(1).video[:, :32, :32])
    report = validate_dataset(_write(tmp_path, rows))
    assert len(report.problems) == 1
    assert "shard-00000-000.parquet row 1 (example-000001): reference is (9, 32, 32)" in report.problems[0]


def test_label_frame_count_disagreeing_with_num_frames_is_reported(tmp_path: Path) -> None:
    rows = [example_row(0)]
    rows[0] = rows[0].replace(labels={**rows[0].labels, "times_s": np.zeros(8)})
    report = validate_dataset(_write(tmp_path, rows))
    assert report.problems == [
        f"{tmp_path / 'ds' / 'data' / 'shard-00000-000.parquet'} row 0 (example-000000): "
        "label_times_s axis 0 (F) is 8, but num_frames says 9"
    ]


def test_audio_length_must_match_the_clip_duration(tmp_path: Path) -> None:
    row = example_row(0)
    assert row.audio is not None
    rows = [row.replace(audio=row.audio[:-10])]
    report = validate_dataset(_write(tmp_path, rows))
    assert len(report.problems) == 1 and "audio has 5990 samples" in report.problems[0]


def test_pairing_listing_a_fact_as_shared_and_differing_is_reported(tmp_path: Path) -> None:
    rows = [example_row(0).replace(pairing={"shared": ["camera"], "differs": ["camera"]})]
    report = validate_dataset(_write(tmp_path, rows))
    assert len(report.problems) == 1 and "['camera'] as both shared and differing" in report.problems[0]


def test_missing_manifest_is_merged_from_shard_records(tmp_path: Path) -> None:
    root = _write(tmp_path, [example_row(i) for i in range(3)])
    (root / "_manifest.json").unlink()
    assert validate_dataset(root).ok
    assert json.loads((root / "_manifest.json").read_text())["num_rows"] == 3


def test_uncommitted_shard_makes_the_dataset_incomplete(tmp_path: Path) -> None:
    root = _write(tmp_path, [example_row(i) for i in range(3)])
    (root / "_manifest.json").unlink()
    (root / "_shards" / "shard-00001.json").unlink()
    report = validate_dataset(root)
    assert (
        len(report.problems) == 1
        and "incomplete, 1 of 2 shards not committed (first: shard 1)" in report.problems[0]
    )


def test_a_folder_without_dataset_record_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"_dataset\.json: missing"):
        validate_dataset(tmp_path)


def test_a_missing_failures_file_is_reported_not_raised(tmp_path: Path) -> None:
    root = _write(tmp_path, [example_row(0)])
    (root / "_failures.jsonl").unlink()
    report = validate_dataset(root)
    assert len(report.problems) == 1 and "_failures.jsonl: missing" in report.problems[0]


def test_a_malformed_failures_line_is_reported_naming_the_line(tmp_path: Path) -> None:
    root = _write(tmp_path, [example_row(0)])
    (root / "_failures.jsonl").write_text("{not json\n")
    report = validate_dataset(root)
    assert len(report.problems) == 1 and "_failures.jsonl line 1: not a JSON object" in report.problems[0]


@pytest.mark.parametrize(
    ("name", "body", "message"),
    [
        ("_dataset.json", {"dataset_name": "x"}, r"_dataset\.json: malformed, no key 'num_clips'"),
        ("_manifest.json", [1, 2], r"_manifest\.json: malformed, expected a JSON object"),
        (
            "_manifest.json",
            {"num_clips": 1, "files": [{"path": "x"}]},
            r"_manifest\.json: malformed, every entry",
        ),
    ],
)
def test_a_malformed_dataset_file_is_a_data_error_naming_it(
    tmp_path: Path, name: str, body: Any, message: str
) -> None:
    root = _write(tmp_path, [example_row(0)])
    (root / name).write_text(json.dumps(body))
    with pytest.raises(DataError, match=message):
        validate_dataset(root)


def test_a_reference_factor_below_one_is_reported_not_divided_by(tmp_path: Path) -> None:
    store = DatasetStore(tmp_path / "ds")
    settings = WriteSettings(dataset_name="example", num_clips=1, clips_per_shard=1, config_hash="h",
                             encoding=VideoEncoding(lossless=True))  # fmt: skip
    store.claim(settings)
    writer = store.open_shard(0, settings)
    encoded = encode_row(example_row(0), settings.encoding)
    encoded.scalars["reference_temporal_factor"] = 0  # a shard written by another tool
    writer.add_encoded(encoded)
    store.commit(writer)
    assert store.finalize() is not None
    root = store.root
    report = validate_dataset(root)
    assert (
        len(report.problems) == 1 and "reference_temporal_factor=0; both must be >= 1" in report.problems[0]
    )
