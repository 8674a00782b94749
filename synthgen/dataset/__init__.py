"""Parquet shards: the dataset format (schema v1), the typed row, the store that writes and commits shards,
its reader and validator. See docs/schema.md."""

from synthgen.dataset.encode import encode_row
from synthgen.dataset.media import VideoEncoding, decode_audio, decode_video, encode_audio, encode_video
from synthgen.dataset.reader import ClipDataset, iter_rows, open_dataset
from synthgen.dataset.rows import ClipRow
from synthgen.dataset.schema import LABEL_DIMS, SHARD_SCHEMA_VERSION
from synthgen.dataset.shard import ShardPlan, ShardWriter, WriteSettings
from synthgen.dataset.store import DatasetStore, config_hash, finalize_dataset, write_dataset

__all__ = [
    "LABEL_DIMS",
    "SHARD_SCHEMA_VERSION",
    "ClipDataset",
    "ClipRow",
    "DatasetStore",
    "ShardPlan",
    "ShardWriter",
    "VideoEncoding",
    "WriteSettings",
    "config_hash",
    "decode_audio",
    "decode_video",
    "encode_audio",
    "encode_row",
    "encode_video",
    "finalize_dataset",
    "iter_rows",
    "open_dataset",
    "write_dataset",
]
