"""Shard format: media codecs, label arrays, writer, reader, and reading with pandas / DuckDB."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synthgen.dataset import (
    ClipRow,
    ShardPlan,
    VideoEncoding,
    decode_audio,
    decode_video,
    encode_audio,
    encode_video,
    open_dataset,
    write_dataset,
)
from synthgen.dataset.schema import label_from_arrow, label_to_arrow
from synthgen.dataset.testing import example_row
from synthgen.errors import DataError

LOSSLESS = VideoEncoding(lossless=True)


def _write(tmp_path: Path, num_clips: int = 4, **kwargs: Any) -> tuple[Path, list[ClipRow]]:
    rows = [example_row(i) for i in range(num_clips)]
    root = tmp_path / "ds"
    kwargs.setdefault("encoding", LOSSLESS)
    write_dataset(
        iter(rows), root, num_clips=num_clips, clips_per_shard=kwargs.pop("clips_per_shard", 2), **kwargs
    )
    return root, rows


# ------------------------------------------------------------------------------------------ media


@settings(max_examples=8, deadline=None)
@given(
    frames=st.integers(1, 3),
    half_height=st.integers(1, 12),
    half_width=st.integers(1, 12),
    seed=st.integers(0, 2**32 - 1),
)
def test_lossless_video_round_trips_every_byte(
    frames: int, half_height: int, half_width: int, seed: int
) -> None:
    video = np.random.default_rng(seed).integers(
        0, 256, (frames, 2 * half_height, 2 * half_width, 3), np.uint8
    )
    assert np.array_equal(decode_video(encode_video(video, 24.0, LOSSLESS)), video)


def test_lossy_video_keeps_shape_and_stays_close() -> None:
    video = example_row(0, height=64, width=96).video
    decoded = decode_video(encode_video(video, 24.0, VideoEncoding(crf=18)))
    assert decoded.shape == video.shape
    assert np.abs(decoded.astype(int) - video).mean() < 4.0


def test_same_frames_encode_to_same_bytes() -> None:
    video = example_row(3).video
    assert encode_video(video, 24.0, VideoEncoding()) == encode_video(video.copy(), 24.0, VideoEncoding())


def test_video_with_audio_carries_an_aac_stream_of_the_clip_length() -> None:
    import io

    import av

    video = example_row(0, height=64, width=64).video
    rate = 16000
    seconds = video.shape[0] / 24.0
    tone = np.sin(2 * np.pi * 440.0 * np.arange(int(rate * seconds)) / rate).astype(np.float32)
    data = encode_video(
        video, 24.0, VideoEncoding(crf=18), audio=np.stack([tone, tone], axis=1), audio_rate=rate
    )
    assert np.array_equal(decode_video(data).shape, video.shape)
    with av.open(io.BytesIO(data)) as container:
        (sound,) = container.streams.audio
        assert sound.codec_context.name == "aac" and sound.rate == rate and sound.channels == 2
        decoded = np.concatenate([frame.to_ndarray() for frame in container.decode(sound)], axis=1)
    assert abs(decoded.shape[1] - tone.size) <= 2048  # AAC pads to whole frames of 1024 samples
    assert np.abs(decoded).max() > 0.5


def test_odd_video_side_is_rejected_naming_the_stream() -> None:
    with pytest.raises(DataError, match="clip-7: video: height=63"):
        encode_video(np.zeros((1, 63, 64, 3), np.uint8), 24.0, LOSSLESS, name="clip-7: video")


def test_garbage_bytes_do_not_decode_as_video() -> None:
    with pytest.raises(DataError, match="cannot decode MP4"):
        decode_video(b"\x00" * 100)


@settings(max_examples=10, deadline=None)
@given(
    samples=st.lists(st.floats(-1.0, 1.0, width=32), min_size=1, max_size=500),
    rate=st.sampled_from([16000, 48000]),
)
def test_audio_round_trips_within_24_bit_quantisation(samples: list[float], rate: int) -> None:
    audio = np.asarray(samples, dtype=np.float32)
    decoded, decoded_rate = decode_audio(encode_audio(audio, rate))
    assert decoded_rate == rate
    assert decoded.dtype == np.float32 and decoded.shape == audio.shape
    assert np.abs(decoded - audio).max() <= 2.0**-23 + 1e-9


# ------------------------------------------------------------------------------------------ labels

_DTYPES = st.sampled_from([np.float64, np.float32, np.int32, np.uint16, np.bool_])


@settings(max_examples=25, deadline=None)
@given(shape=st.lists(st.integers(0, 4), min_size=1, max_size=4), dtype=_DTYPES, seed=st.integers(0, 1000))
def test_label_arrays_round_trip_with_shape_and_dtype(shape: list[int], dtype: type, seed: int) -> None:
    array: np.ndarray = (np.random.default_rng(seed).normal(size=shape) * 100).astype(dtype)
    back = label_from_arrow(label_to_arrow(array), 0, tuple(shape), np.dtype(dtype))
    assert back.dtype == array.dtype and back.shape == array.shape
    assert np.array_equal(back, array)


def test_label_column_nests_one_list_per_dimension() -> None:
    arrow = label_to_arrow(np.zeros((5, 4, 4)))
    assert arrow.type == pa.list_(pa.list_(pa.list_(pa.float64())))


# -------------------------------------------------------------------------------------------- plan


@settings(max_examples=50, deadline=None)
@given(num_clips=st.integers(0, 200), per_shard=st.integers(1, 17), jobs=st.integers(1, 9))
def test_jobs_cover_every_clip_exactly_once(num_clips: int, per_shard: int, jobs: int) -> None:
    plan = ShardPlan(num_clips, per_shard)
    clips = [
        c for job in range(jobs) for shard in plan.shards_of_job(job, jobs) for c in plan.clips_of(shard)
    ]
    assert sorted(clips) == list(range(num_clips))


@settings(max_examples=50, deadline=None)
@given(clip=st.integers(0, 10_000), per_shard=st.integers(1, 64))
def test_clip_lies_in_the_shard_it_maps_to(clip: int, per_shard: int) -> None:
    plan = ShardPlan(clip + 1, per_shard)
    assert clip in plan.clips_of(plan.shard_of(clip))


# ------------------------------------------------------------------------------------ write / read


def test_read_back_matches_written_rows(tmp_path: Path) -> None:
    root, rows = _write(tmp_path, 5)
    clips = list(open_dataset(str(root)))
    assert [c["clip_id"] for c in clips] == [r.clip_id for r in rows]
    for clip, row in zip(clips, rows, strict=True):
        assert np.array_equal(clip["video"], row.video)
        assert row.reference_video is not None
        assert np.array_equal(clip["reference_video"], row.reference_video)
        assert np.array_equal(clip["control_video_tracks"], row.controls["tracks"])
        assert row.audio is not None and np.abs(clip["audio"] - row.audio).max() <= 2.0**-23
        assert clip["caption"] == row.caption
        for name, array in row.labels.items():
            assert np.array_equal(clip[f"label_{name}"], array) and clip[f"label_{name}"].dtype == array.dtype
        assert json.loads(clip["pairing_json"]) == row.pairing


def test_columns_limit_what_is_returned(tmp_path: Path) -> None:
    root, _ = _write(tmp_path, 2)
    clip = next(iter(open_dataset(str(root), columns=["clip_id", "label_tracks_xy_px"])))
    assert set(clip) == {"clip_id", "label_tracks_xy_px"}


def test_media_can_stay_encoded(tmp_path: Path) -> None:
    root, rows = _write(tmp_path, 1, clips_per_shard=1)
    clip = next(iter(open_dataset(str(root), columns=["video"], decode_media=False)))
    assert isinstance(clip["video"], bytes) and np.array_equal(decode_video(clip["video"]), rows[0].video)


def test_filter_selects_rows_on_scalar_columns(tmp_path: Path) -> None:
    root, _ = _write(tmp_path, 5)
    dataset = open_dataset(str(root), columns=["clip_index"], filter=pc.field("clip_index") >= 3)
    assert [c["clip_index"] for c in dataset] == [3, 4]
    assert len(dataset) == 2


def test_missing_column_request_names_the_file(tmp_path: Path) -> None:
    root, _ = _write(tmp_path, 1, clips_per_shard=1)
    with pytest.raises(DataError, match=r"shard-00000-000\.parquet: no column 'label_nope'"):
        list(open_dataset(str(root), columns=["label_nope"]))


def test_max_bytes_splits_a_shard_into_parts(tmp_path: Path) -> None:
    root, _ = _write(tmp_path, 4, clips_per_shard=4, max_bytes=1)
    assert sorted(p.name for p in (root / "data").iterdir()) == [
        f"shard-00000-{i:03d}.parquet" for i in range(4)
    ]
    assert [c["clip_index"] for c in open_dataset(str(root), columns=["clip_index"])] == [0, 1, 2, 3]


def test_each_clip_is_its_own_row_group(tmp_path: Path) -> None:
    root, _ = _write(tmp_path, 3, clips_per_shard=3)
    assert pq.ParquetFile(root / "data" / "shard-00000-000.parquet").num_row_groups == 3


def test_file_metadata_names_schema_and_config(tmp_path: Path) -> None:
    root, _ = _write(tmp_path, 1, clips_per_shard=1, config={"dataset": {"name": "x"}})
    meta = pq.read_schema(root / "data" / "shard-00000-000.parquet").metadata
    manifest = json.loads((root / "_manifest.json").read_text())
    assert meta[b"synthgen.schema_version"] == b"1"
    assert meta[b"synthgen.config_hash"].decode() == manifest["config_hash"]
    assert b"synthgen.version" in meta


def test_manifest_lists_hashes_and_counts(tmp_path: Path) -> None:
    import hashlib

    root, _ = _write(tmp_path, 3)
    manifest = json.loads((root / "_manifest.json").read_text())
    assert manifest["num_rows"] == 3 and manifest["num_shards"] == 2
    for entry in manifest["files"]:
        assert hashlib.sha256((root / entry["path"]).read_bytes()).hexdigest() == entry["sha256"]


def test_dataset_card_declares_hugging_face_data_files(tmp_path: Path) -> None:
    import yaml

    root, _ = _write(tmp_path, 1, clips_per_shard=1)
    front = (root / "README.md").read_text().split("---\n")[1]
    config = yaml.safe_load(front)["configs"][0]
    assert config["data_files"][0]["path"] == ["data/shard-00000-000.parquet"]


def test_rows_with_different_label_sets_are_rejected(tmp_path: Path) -> None:
    rows = [example_row(0), example_row(1)]
    rows[1] = rows[1].replace(labels={k: v for k, v in rows[1].labels.items() if k != "times_s"})
    with pytest.raises(DataError, match="row example-000001: controls/labels"):
        write_dataset(iter(rows), tmp_path / "ds", num_clips=2, clips_per_shard=2, encoding=LOSSLESS)


def test_video_shape_must_match_row_dimensions(tmp_path: Path) -> None:
    row = example_row(0).replace(num_frames=17)
    with pytest.raises(DataError, match=r"row example-000000: video is uint8 \(9, 64, 64, 3\), expected"):
        write_dataset(iter([row]), tmp_path / "ds", num_clips=1, encoding=LOSSLESS)


def test_failed_write_leaves_no_parts_behind(tmp_path: Path) -> None:
    rows = [example_row(0), example_row(1)]
    rows[1] = rows[1].replace(video=rows[1].video[:, :10])
    with pytest.raises(DataError):
        write_dataset(iter(rows), tmp_path / "ds", num_clips=2, clips_per_shard=2, encoding=LOSSLESS)
    assert list((tmp_path / "ds" / "data").iterdir()) == []


def test_too_few_rows_leave_no_parts_behind(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="write_dataset: got 1 rows, num_clips=2"):
        write_dataset(
            iter([example_row(0)]), tmp_path / "ds", num_clips=2, clips_per_shard=2, encoding=LOSSLESS
        )
    assert list((tmp_path / "ds" / "data").iterdir()) == []


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("num_frames", "nine", r"row example-000000: num_frames='nine' is not an integer"),
        ("fps", "fast", r"row example-000000: fps='fast' is not a number"),
        ("reference_downscale", 0, r"row example-000000: reference_downscale=0 must be >= 1"),
        ("reference_temporal_factor", -2, r"row example-000000: reference_temporal_factor=-2 must be >= 1"),
    ],
)
def test_a_bad_row_value_is_a_data_error_naming_the_row_and_key(
    tmp_path: Path, key: str, value: Any, message: str
) -> None:
    row = example_row(0).replace(**{key: value})
    with pytest.raises(DataError, match=message):
        write_dataset(iter([row]), tmp_path / "ds", num_clips=1, encoding=LOSSLESS)


# ------------------------------------------------------------------------------ broken shard files


def test_truncated_shard_is_a_one_line_error_naming_the_file(tmp_path: Path) -> None:
    root, _ = _write(tmp_path, 2, clips_per_shard=1)
    shard = root / "data" / "shard-00001-000.parquet"
    shard.write_bytes(shard.read_bytes()[:-100])
    with pytest.raises(DataError, match=r"shard-00001-000\.parquet: unreadable shard") as info:
        list(open_dataset(str(root), verify="none"))  # past the manifest's size check, into the file
    assert "\n" not in str(info.value)


def _rewrite(path: Path, table_fn: Any) -> None:
    table = pq.read_table(path)
    pq.write_table(table_fn(table), path)


def test_wrong_schema_version_is_rejected_naming_the_file(tmp_path: Path) -> None:
    root, _ = _write(tmp_path, 1, clips_per_shard=1)
    shard = root / "data" / "shard-00000-000.parquet"
    _rewrite(
        shard, lambda t: t.replace_schema_metadata({**t.schema.metadata, b"synthgen.schema_version": b"2"})
    )
    with pytest.raises(DataError, match=r"shard-00000-000\.parquet: schema version 2 != 1"):
        list(open_dataset(str(root), verify="none"))


def test_missing_column_in_file_is_rejected_naming_it(tmp_path: Path) -> None:
    root, _ = _write(tmp_path, 1, clips_per_shard=1)
    shard = root / "data" / "shard-00000-000.parquet"
    _rewrite(shard, lambda t: t.drop_columns(["caption"]))
    with pytest.raises(DataError, match=r"shard-00000-000\.parquet: missing column 'caption'"):
        list(open_dataset(str(root), verify="none"))


# ------------------------------------------------------------------------------ other filesystems


def test_reads_through_an_fsspec_filesystem(tmp_path: Path) -> None:
    import fsspec

    root, rows = _write(tmp_path, 3)
    memory = fsspec.filesystem("memory")
    memory.put(str(root), "/remote/ds", recursive=True)
    clips = list(open_dataset("/remote/ds", columns=["clip_id", "video"], filesystem=memory))
    assert [c["clip_id"] for c in clips] == [r.clip_id for r in rows]
    assert np.array_equal(clips[2]["video"], rows[2].video)


def test_as_torch_returns_tensors(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    root, rows = _write(tmp_path, 1, clips_per_shard=1)
    clip = next(iter(open_dataset(str(root), columns=["video", "label_times_s"], as_torch=True)))
    assert isinstance(clip["video"], torch.Tensor) and clip["video"].dtype == torch.uint8
    assert torch.equal(clip["label_times_s"], torch.from_numpy(rows[0].labels["times_s"]))


def test_pandas_reads_the_shards(tmp_path: Path) -> None:
    pandas = pytest.importorskip("pandas")
    root, rows = _write(tmp_path, 3)
    frame = pandas.read_parquet(root / "data").sort_values("clip_index")
    assert list(frame["clip_id"]) == [r.clip_id for r in rows]
    first = frame.iloc[0]
    assert np.array_equal(
        np.stack([np.stack(f) for f in first["label_tracks_xy_px"]]), rows[0].labels["tracks_xy_px"]
    )


def test_duckdb_reads_the_shards(tmp_path: Path) -> None:
    duckdb = pytest.importorskip("duckdb")
    root, rows = _write(tmp_path, 3)
    result = duckdb.sql(
        f"SELECT clip_id, len(label_tracks_xy_px) AS frames, octet_length(video) > 0 AS has_video "
        f"FROM read_parquet('{root}/data/*.parquet') ORDER BY clip_index"
    ).fetchall()
    assert result == [(r.clip_id, r.num_frames, True) for r in rows]
