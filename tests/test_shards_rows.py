"""The typed row: ClipRow fields, the columns they are stored in, and the round trip through shards."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from synthgen.dataset import ClipRow, VideoEncoding, iter_rows, open_dataset, write_dataset
from synthgen.dataset.rows import (
    REQUIRED_FIELDS,
    ROW_FIELDS,
    column_of,
    columns_of,
    control_column,
    label_column,
    stored_columns,
)
from synthgen.dataset.testing import example_row
from synthgen.errors import DataError

LOSSLESS = VideoEncoding(lossless=True)


def test_row_fields_are_the_documented_row_keys() -> None:
    assert ROW_FIELDS == (
        "clip_id", "clip_index", "dataset_name", "dataset_seed", "scene", "control_job", "spec_json",
        "reference_spec_json", "caption", "fps", "num_frames", "height", "width", "video", "reference_video",
        "controls", "reference_downscale", "reference_temporal_factor", "audio", "audio_sample_rate", "labels",
        "pairing", "timings_s",
    )  # fmt: skip


def test_label_and_control_columns_carry_their_prefix() -> None:
    assert label_column("tracks_xy_px") == "label_tracks_xy_px"
    assert control_column("depth") == "control_video_depth"


def test_json_fields_are_stored_in_json_columns_and_the_rest_under_their_name() -> None:
    assert columns_of(["caption", "pairing", "timings_s", "video"]) == [
        "caption",
        "pairing_json",
        "timings_json",
        "video",
    ]


@pytest.mark.parametrize("name", ["labels", "controls", "captions"])
def test_column_of_refuses_fields_without_one_column(name: str) -> None:
    with pytest.raises(KeyError, match=name):
        column_of(name)


def test_a_row_without_a_required_field_cannot_be_built() -> None:
    values = example_row(0).as_dict()
    del values["caption"]
    with pytest.raises(DataError, match=r"row example-000000: missing key 'caption'"):
        ClipRow.from_dict(values)


def test_a_row_with_an_unknown_key_cannot_be_built() -> None:
    with pytest.raises(DataError, match=r"unknown key 'captions'"):
        ClipRow.from_dict({**example_row(0).as_dict(), "captions": "x"})


def test_optional_fields_have_defaults_and_required_ones_do_not() -> None:
    assert "video" in REQUIRED_FIELDS and "caption" in REQUIRED_FIELDS
    assert not {"reference_video", "controls", "audio", "labels", "pairing"} & set(REQUIRED_FIELDS)


def test_rows_read_back_equal_the_rows_written(tmp_path: Path) -> None:
    written = [example_row(i) for i in range(3)]
    write_dataset(written, tmp_path, num_clips=3, clips_per_shard=2, encoding=LOSSLESS)
    read = list(iter_rows(str(tmp_path)))
    assert [row.clip_index for row in read] == [0, 1, 2]
    for before, after in zip(written, read, strict=True):
        for name in ROW_FIELDS:
            if name in ("video", "reference_video"):
                np.testing.assert_array_equal(getattr(after, name), getattr(before, name))
            elif name == "audio":
                assert after.audio is not None and before.audio is not None
                np.testing.assert_allclose(after.audio, before.audio, atol=2.0**-22)
            elif name in ("labels", "controls"):
                assert getattr(after, name).keys() == getattr(before, name).keys()
                for key, value in getattr(before, name).items():
                    np.testing.assert_array_equal(getattr(after, name)[key], value)
                    assert getattr(after, name)[key].dtype == value.dtype
            else:
                assert getattr(after, name) == getattr(before, name), name


def test_every_shard_has_the_stored_columns(tmp_path: Path) -> None:
    write_dataset([example_row(0)], tmp_path, num_clips=1, encoding=LOSSLESS)
    clip = next(iter(open_dataset(str(tmp_path), columns=list(stored_columns()))))
    assert set(clip) == set(stored_columns())


def test_typed_rows_need_every_column(tmp_path: Path) -> None:
    write_dataset([example_row(0)], tmp_path, num_clips=1, encoding=LOSSLESS)
    with pytest.raises(DataError, match=r"rows\(\) needs every column"):
        next(open_dataset(str(tmp_path), columns=["caption"]).rows())


def test_write_dataset_takes_rows_as_dicts_of_the_field_names(tmp_path: Path) -> None:
    write_dataset([example_row(0).as_dict()], tmp_path, num_clips=1, encoding=LOSSLESS)
    (row,) = iter_rows(str(tmp_path))
    assert row.clip_id == "example-000000" and row.labels.keys() == example_row(0).labels.keys()


def test_write_dataset_refuses_a_dict_row_with_an_unknown_key(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"row example-000000: unknown key 'label_times_s'"):
        write_dataset([{**example_row(0).as_dict(), "label_times_s": [0.0]}], tmp_path, num_clips=1)
