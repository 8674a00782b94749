"""Parquet shards: the dataset format (schema v1), its writer, reader and validator. See docs/schema.md."""

from synthgen.dataset.media import VideoEncoding, decode_audio, decode_video, encode_audio, encode_video
from synthgen.dataset.reader import ClipDataset, iter_rows, open_dataset
from synthgen.dataset.rows import ClipRow
from synthgen.dataset.schema import LABEL_DIMS, SHARD_SCHEMA_VERSION
from synthgen.dataset.writer import ShardPlan, ShardWriter, encode_row, finalize_dataset, write_dataset

__all__ = [
    "LABEL_DIMS",
    "SHARD_SCHEMA_VERSION",
    "ClipDataset",
    "ClipRow",
    "ShardPlan",
    "ShardWriter",
    "VideoEncoding",
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
