"""Shards: which clips each shard holds (``ShardPlan``), what every writer of a dataset agrees on
(``WriteSettings``) and the writer of one shard's Parquet parts (``ShardWriter``).

A ``ShardWriter`` writes under temporary names only; ``DatasetStore.commit`` renames the parts and records
them (the storage protocol is stated in ``synthgen.dataset.store``). Every page carries a CRC32 checksum,
which every reader verifies.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from synthgen.dataset import media
from synthgen.dataset.encode import EncodedRow, encode_row
from synthgen.dataset.rows import ClipRow
from synthgen.dataset.schema import (
    BASE_FIELDS,
    META_CONFIG_HASH,
    META_DATASET_NAME,
    META_SCHEMA_VERSION,
    META_SYNTHGEN_VERSION,
    META_VIDEO_ENCODING,
    SHARD_SCHEMA_VERSION,
    dataset_schema,
    jsonable,
)
from synthgen.errors import ConfigError, DataError
from synthgen.fileio import temp_path_for

_SCALAR_COLUMNS = [f.name for f in BASE_FIELDS if not pa.types.is_binary(f.type)]


def synthgen_version() -> str:
    """The installed synthgen version (read lazily: ``synthgen/__init__`` imports this package)."""
    from synthgen import __version__

    return __version__


def shard_name(shard: int) -> str:
    """``shard-00003``: the stem shared by a shard's parts and its commit record."""
    return f"shard-{shard:05d}"


@dataclass(frozen=True)
class ShardPlan:
    """The fixed clip -> shard -> job mapping of a dataset of ``num_clips`` clips.

    Shard ``s`` holds clips ``[s * clips_per_shard, min((s + 1) * clips_per_shard, num_clips))``; job ``j`` of
    ``job_count`` owns shards ``j, j + job_count, ...``.
    """

    num_clips: int
    clips_per_shard: int

    def __post_init__(self) -> None:
        if self.num_clips < 0:
            raise ConfigError(f"dataset.num_clips={self.num_clips}: must be >= 0")
        if self.clips_per_shard < 1:
            raise ConfigError(f"shards.max_clips={self.clips_per_shard}: must be >= 1")

    @property
    def num_shards(self) -> int:
        """How many shards the dataset has."""
        return -(-self.num_clips // self.clips_per_shard)

    def shard_of(self, clip_index: int) -> int:
        """The shard that holds clip ``clip_index``."""
        return clip_index // self.clips_per_shard

    def clips_of(self, shard: int) -> range:
        """The clip indices of shard ``shard``."""
        start = shard * self.clips_per_shard
        return range(start, min(start + self.clips_per_shard, self.num_clips))

    def shards_of_job(self, job_index: int, job_count: int) -> range:
        """The shards job ``job_index`` of ``job_count`` writes: ``job_index, job_index + job_count, ...``.

        Strided, so jobs get equal shares of early and late shards and a small dataset still spreads.
        """
        if job_count < 1:
            raise ConfigError(f"job.count={job_count}: must be >= 1")
        if not 0 <= job_index < job_count:
            raise ConfigError(f"job.index={job_index}: must be in [0, job.count={job_count})")
        return range(job_index, self.num_shards, job_count)


@dataclass(frozen=True, kw_only=True)
class WriteSettings:
    """What every writer of one dataset agrees on: its name, size, shard bounds, video encoding and config.

    ``config_hash`` identifies the content (``synthgen.dataset.store.config_hash``); a folder holding a
    dataset of another hash is never written into.
    """

    dataset_name: str
    num_clips: int
    clips_per_shard: int = 64
    max_bytes: int = 1 << 30
    encoding: media.VideoEncoding = field(default_factory=media.VideoEncoding)
    config_hash: str = ""
    config: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        ShardPlan(self.num_clips, self.clips_per_shard)  # checks both bounds
        if self.max_bytes < 1:
            raise ConfigError(f"shards.max_bytes={self.max_bytes}: must be >= 1")

    @property
    def plan(self) -> ShardPlan:
        """The clip -> shard mapping."""
        return ShardPlan(self.num_clips, self.clips_per_shard)

    def record(self) -> dict[str, Any]:
        """The content of ``_dataset.json``: what a resumed or parallel job must agree with."""
        return {
            "dataset_name": self.dataset_name,
            "num_clips": self.num_clips,
            "clips_per_shard": self.clips_per_shard,
            "config_hash": self.config_hash,
            "schema_version": SHARD_SCHEMA_VERSION,
            "config": jsonable(dict(self.config)),
        }

    def metadata(self) -> dict[str, str]:
        """File-level metadata every shard of the dataset carries."""
        return {
            META_SCHEMA_VERSION: str(SHARD_SCHEMA_VERSION),
            META_SYNTHGEN_VERSION: synthgen_version(),
            META_CONFIG_HASH: self.config_hash,
            META_DATASET_NAME: self.dataset_name,
            META_VIDEO_ENCODING: self.encoding.describe(),
        }


@dataclass(frozen=True)
class ShardPart:
    """One finished part file of a shard: its final path and how many rows it holds."""

    path: Path
    rows: int


def _leaf_path(arrow_field: pa.Field) -> str:
    """The Parquet column path of ``arrow_field``'s values: ``name`` plus ``.list.element`` per list level."""
    path, kind = arrow_field.name, arrow_field.type
    while pa.types.is_list(kind):
        path, kind = f"{path}.list.element", kind.value_type
    return path


class ShardWriter:
    """Writes the clips of one shard into ``<folder>/shard-NNNNN-PPP.parquet`` parts (``DatasetStore.open_shard``).

    A new part starts once the current one reaches ``max_bytes``; each row is its own row group, so readers
    stream one clip at a time. Parts keep temporary names until ``finish``; only ``DatasetStore.commit``
    makes the shard count.
    """

    def __init__(self, folder: Path, shard: int, settings: WriteSettings) -> None:
        self.folder = folder
        self.shard = shard
        self.settings = settings
        self.clip_range = settings.plan.clips_of(shard)
        self.clips: list[int] = []
        self.failures: list[dict[str, Any]] = []
        self._schema: pa.Schema | None = None
        self._layout: tuple[Any, ...] | None = None
        self._writer: pq.ParquetWriter | None = None
        self._parts: list[tuple[Path, Path, int]] = []  # (temporary, final, rows)
        self._rows_in_part = 0
        folder.mkdir(parents=True, exist_ok=True)

    def add(self, row: ClipRow) -> EncodedRow:
        """Encode and append one pipeline row; returns the encoded row (its size is ``nbytes``)."""
        return self.add_encoded(encode_row(row, self.settings.encoding))

    def add_encoded(self, encoded: EncodedRow) -> EncodedRow:
        """Append an already encoded row (see ``encode_row``)."""
        if encoded.clip_index not in self.clip_range:
            raise DataError(
                f"row {encoded.clip_id}: clip_index={encoded.clip_index} is outside shard {self.shard}'s clips "
                f"[{self.clip_range.start}, {self.clip_range.stop})"
            )
        if self._layout is None:
            self._layout = encoded.layout()
            self._schema = dataset_schema(
                list(encoded.controls), encoded.label_specs, self.settings.metadata()
            )
        elif encoded.layout() != self._layout:
            raise DataError(
                f"row {encoded.clip_id}: controls/labels {encoded.layout()} differ from the shard's first row "
                f"{self._layout}; every row of a dataset needs the same controls and label arrays"
            )
        assert self._schema is not None
        if self._writer is None:
            self._open_part(self._schema)
        assert self._writer is not None
        self._writer.write_table(encoded.table(self._schema), row_group_size=1)
        self._rows_in_part += 1
        self.clips.append(encoded.clip_index)
        if os.path.getsize(self._parts[-1][0]) >= self.settings.max_bytes:
            self._close_part()
        return encoded

    def add_failure(self, clip_index: int, clip_id: str, error: str, spec_json: str | None) -> None:
        """Record that clip ``clip_index`` failed with ``error`` (a one-line SynthgenError message)."""
        self.failures.append(
            {"clip_index": clip_index, "clip_id": clip_id, "error": error, "spec_json": spec_json}
        )

    def _open_part(self, schema: pa.Schema) -> None:
        final = self.folder / f"{shard_name(self.shard)}-{len(self._parts):03d}.parquet"
        tmp = temp_path_for(final)
        media_columns = [f.name for f in schema if pa.types.is_binary(f.type)]
        self._writer = pq.ParquetWriter(
            tmp,
            schema,
            # Media bytes are already compressed; zstd on everything else (labels compress ~3x). Keys are
            # Parquet leaf paths: a label column's top-level name alone leaves it uncompressed.
            compression={_leaf_path(f): ("none" if f.name in media_columns else "zstd") for f in schema},
            use_dictionary=[name for name in _SCALAR_COLUMNS if schema.field(name).type == pa.string()],
            write_statistics=_SCALAR_COLUMNS,
            # A CRC32 per page: a flipped byte inside a shard fails the read instead of decoding wrong.
            write_page_checksum=True,
        )
        self._parts.append((tmp, final, 0))
        self._rows_in_part = 0

    def _close_part(self) -> None:
        if self._writer is None:
            return
        self._writer.close()
        self._writer = None
        tmp, final, _ = self._parts[-1]
        self._parts[-1] = (tmp, final, self._rows_in_part)

    def finish(self) -> list[ShardPart]:
        """Close the last part, fsync every part and rename it to its final name; returns the parts."""
        self._close_part()
        parts: list[ShardPart] = []
        for tmp, final, rows in self._parts:
            with open(tmp, "rb") as handle:
                os.fsync(handle.fileno())
            os.replace(tmp, final)
            parts.append(ShardPart(final, rows))
        self._parts.clear()
        return parts

    def abort(self) -> None:
        """Close and delete every part not yet finished (used when a run stops with an error)."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        for tmp, _, _ in self._parts:
            tmp.unlink(missing_ok=True)
        self._parts.clear()
