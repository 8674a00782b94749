"""Reader: stream clips of a synthgen dataset as numpy arrays (or torch tensors), decoding only what is asked.

``open_dataset`` works on a local folder and on any pyarrow or fsspec filesystem (``s3://``, ``gs://``,
``memory://``...). Filters are pyarrow expressions on scalar columns (``pc.field("scene") == "orbit"``),
evaluated before any media is decoded.

Integrity: every Parquet page's CRC32 is checked as it is read; ``verify`` adds a check of each shard file
against the manifest (or the commit records) when the dataset is opened: its size (``"size"``, the default,
costs one metadata call per file) or its size and sha256 (``"sha256"``, reads every byte once; the default
of ``synthgen export`` and the trainer's cache building).
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.fs as pafs

from synthgen.dataset import media
from synthgen.dataset.rows import SHAPES_COLUMN, ClipRow
from synthgen.dataset.schema import (
    AUDIO_COLUMN,
    CONTROL_PREFIX,
    LABEL_PREFIX,
    VIDEO_COLUMNS,
    check_schema,
    file_metadata,
    label_from_arrow,
)
from synthgen.dataset.store import DATA_DIR, MANIFEST_FILE, SHARDS_DIR
from synthgen.errors import DataError
from synthgen.fileio import check_relative_path

_SCAN_ERRORS = (pa.ArrowException, OSError, ValueError)

Verify = Literal["sha256", "size", "none"]
VERIFY_MODES: tuple[Verify, ...] = ("sha256", "size", "none")
# Every read checks each page's CRC32 (the writer stores one per page): a flipped byte fails loudly.
_PARQUET = pads.ParquetFileFormat(
    default_fragment_scan_options=pads.ParquetFragmentScanOptions(page_checksum_verification=True)
)


@dataclass(frozen=True)
class ShardFile:
    """One shard file of a dataset and what its manifest or commit record says about it (None: nothing)."""

    path: str
    num_bytes: int | None = None
    sha256: str | None = None


def _resolve_filesystem(path: str, filesystem: Any) -> tuple[pafs.FileSystem, str]:
    if filesystem is None:
        if "://" in path:
            fs, root = pafs.FileSystem.from_uri(path)
            return fs, root
        return pafs.LocalFileSystem(), str(pafs.LocalFileSystem().normalize_path(path))
    if isinstance(filesystem, pafs.FileSystem):
        return filesystem, path
    # Anything else is taken as an fsspec filesystem (pyarrow wraps it).
    return pafs.PyFileSystem(pafs.FSSpecHandler(filesystem)), path


def _read_text(fs: pafs.FileSystem, path: str) -> str | None:
    info = fs.get_file_info(path)
    if info.type != pafs.FileType.File:
        return None
    with fs.open_input_stream(path) as stream:
        return bytes(stream.read()).decode("utf-8")


def shard_files(fs: pafs.FileSystem, root: str) -> list[str]:
    """The shard files of a dataset folder, in clip order (see ``shard_entries``)."""
    return [entry.path for entry in shard_entries(fs, root)[0]]


def shard_entries(fs: pafs.FileSystem, root: str) -> tuple[list[ShardFile], str]:
    """The shard files of a dataset folder in clip order, and where the list came from.

    From ``_manifest.json`` when present (``"manifest"``); else from the committed shard records, a run in
    progress (``"records"``); else every ``data/*.parquet``, a folder of shards copied without their records
    (``"data"``, no sizes or hashes to check against).
    """
    text = _read_text(fs, posixpath.join(root, MANIFEST_FILE))
    if text is not None:
        return _entries(root, text, posixpath.join(root, MANIFEST_FILE), "malformed manifest"), "manifest"
    records = fs.get_file_info(pafs.FileSelector(posixpath.join(root, SHARDS_DIR), allow_not_found=True))
    if records:
        files: list[ShardFile] = []
        for info in sorted(records, key=lambda item: item.path):
            if info.path.endswith(".json"):
                files += _entries(root, _read_text(fs, info.path) or "", info.path, "malformed shard record")
        return files, "records"
    found = _data_parquet_files(fs, root)
    if not found:
        raise DataError(f"{root}: no shards (no {MANIFEST_FILE}, no {SHARDS_DIR}/, no {DATA_DIR}/*.parquet)")
    return [ShardFile(path) for path in found], "data"


def _entries(root: str, text: str, where: str, what: str) -> list[ShardFile]:
    try:
        return [
            ShardFile(
                posixpath.join(root, check_relative_path(entry["path"], what=f"{where}: files[].path")),
                int(entry["bytes"]),
                str(entry["sha256"]),
            )
            for entry in json.loads(text)["files"]
        ]
    except (ValueError, KeyError, TypeError) as err:
        raise DataError(f"{where}: {what} ({type(err).__name__}: {err})") from None


def _data_parquet_files(fs: pafs.FileSystem, root: str) -> list[str]:
    infos = fs.get_file_info(pafs.FileSelector(posixpath.join(root, DATA_DIR), allow_not_found=True))
    return sorted(info.path for info in infos if info.path.endswith(".parquet"))


def unlisted_files(fs: pafs.FileSystem, root: str, listed: Sequence[ShardFile]) -> list[str]:
    """The ``data/*.parquet`` files the manifest does not list: shards it lost, or files that are not ours."""
    known = {posixpath.normpath(entry.path) for entry in listed}
    return [path for path in _data_parquet_files(fs, root) if posixpath.normpath(path) not in known]


def verify_shards(fs: pafs.FileSystem, entries: Sequence[ShardFile], verify: Verify) -> None:
    """Check each shard file against its recorded size (``"size"``) or size and sha256 (``"sha256"``);
    DataError naming the first file that differs."""
    if verify not in VERIFY_MODES:
        raise DataError(f"verify={verify!r}: must be one of {', '.join(VERIFY_MODES)}")
    if verify == "none":
        return
    for entry in entries:
        if entry.num_bytes is None or entry.sha256 is None:
            if verify == "sha256":
                raise DataError(
                    f"{entry.path}: no manifest or shard record to verify it against; "
                    "open with verify='none' to read it unchecked"
                )
            continue
        info = fs.get_file_info(entry.path)
        if info.type != pafs.FileType.File:
            raise DataError(f"{entry.path}: listed in the manifest but missing")
        if info.size != entry.num_bytes:
            raise DataError(
                f"{entry.path}: {info.size} bytes, the manifest says {entry.num_bytes} (changed or truncated)"
            )
        if verify == "sha256" and _stream_sha256(fs, entry.path) != entry.sha256:
            raise DataError(f"{entry.path}: sha256 differs from the manifest (the bytes changed); not read")


def _stream_sha256(fs: pafs.FileSystem, path: str) -> str:
    digest = hashlib.sha256()
    with fs.open_input_stream(path) as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class ClipDataset:
    """An iterable over the clips of a dataset: each clip is a dict of decoded columns (see ``open_dataset``)."""

    filesystem: pafs.FileSystem
    root: str
    files: list[str]
    columns: list[str] | None
    filter: pads.Expression | None
    as_torch: bool = False
    decode_media: bool = True
    batch_rows: int = 1

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for path in self.files:
            yield from self._iter_file(path)

    def __len__(self) -> int:
        """Number of clips that pass the filter (reads only metadata when there is no filter)."""
        total = 0
        for path in self.files:
            try:
                total += self._file_dataset(path).count_rows(filter=self.filter)
            except _SCAN_ERRORS as err:
                raise DataError(
                    f"{path}: unreadable shard ({type(err).__name__}: {_first_line(err)})"
                ) from None
        return total

    def rows(self) -> Iterator[ClipRow]:
        """The clips as typed ``ClipRow``s (media decoded to arrays); needs a dataset opened with all columns."""
        if self.columns is not None or not self.decode_media or self.as_torch:
            raise DataError(
                f"{self.root}: ClipDataset.rows() needs every column decoded to numpy "
                "(open_dataset without columns=, decode_media=False or as_torch=True)"
            )
        for clip in self:
            yield ClipRow.from_columns(clip)

    def metadata(self) -> dict[str, str]:
        """The synthgen file metadata (schema version, synthgen version, config hash) of the first shard."""
        return file_metadata(self._file_dataset(self.files[0]).schema) if self.files else {}

    def _file_dataset(self, path: str) -> pads.Dataset:
        try:
            dataset = pads.dataset(path, format=_PARQUET, filesystem=self.filesystem)
        except _SCAN_ERRORS as err:
            raise DataError(f"{path}: unreadable shard ({type(err).__name__}: {_first_line(err)})") from None
        check_schema(dataset.schema, path)
        if self.columns is not None:
            missing = [name for name in self.columns if name not in dataset.schema.names]
            if missing:
                raise DataError(f"{path}: no column {missing[0]!r} (have {', '.join(dataset.schema.names)})")
        return dataset

    def _iter_file(self, path: str) -> Iterator[dict[str, Any]]:
        dataset = self._file_dataset(path)
        wanted = list(self.columns) if self.columns is not None else list(dataset.schema.names)
        # Shapes and clip ids are needed to reshape labels and to name rows in errors.
        helpers = [name for name in ("clip_id", SHAPES_COLUMN) if name not in wanted]
        row_offset = 0
        try:
            batches = dataset.to_batches(
                columns=wanted + helpers, filter=self.filter, batch_size=self.batch_rows
            )
            for batch in batches:
                for row in range(batch.num_rows):
                    clip = decode_row(
                        batch,
                        row,
                        wanted,
                        f"{path} row {row_offset + row}",
                        dataset.schema,
                        self.decode_media,
                    )
                    yield _to_torch(clip) if self.as_torch else clip
                row_offset += batch.num_rows
        except _SCAN_ERRORS as err:
            raise DataError(
                f"{path} row {row_offset}: unreadable ({type(err).__name__}: {_first_line(err)})"
            ) from None


def _first_line(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [""])[0]


def decode_row(
    batch: pa.RecordBatch,
    row: int,
    wanted: Sequence[str],
    where: str,
    schema: pa.Schema,
    decode_media: bool = True,
) -> dict[str, Any]:
    """Decode row ``row`` of ``batch`` (columns ``wanted``); ``where`` names the row in errors.

    With ``decode_media=False`` videos and audio stay encoded bytes (MP4, FLAC).
    """
    clip_id = batch.column("clip_id")[row].as_py()
    where = f"{where} ({clip_id})"
    shapes: dict[str, list[int]] = json.loads(batch.column(SHAPES_COLUMN)[row].as_py())
    clip: dict[str, Any] = {}
    for name in wanted:
        column = batch.column(name)
        if not decode_media and (
            name in VIDEO_COLUMNS or name == AUDIO_COLUMN or name.startswith(CONTROL_PREFIX)
        ):
            clip[name] = column[row].as_py()
        elif name in VIDEO_COLUMNS or name.startswith(CONTROL_PREFIX):
            value = column[row].as_py()
            clip[name] = None if value is None else media.decode_video(value, name=f"{where}: {name}")
        elif name == AUDIO_COLUMN:
            value = column[row].as_py()
            clip[name] = None if value is None else media.decode_audio(value, name=f"{where}: audio")[0]
        elif name.startswith(LABEL_PREFIX):
            label = name.removeprefix(LABEL_PREFIX)
            if label not in shapes:
                raise DataError(f"{where}: {SHAPES_COLUMN} has no shape for {name!r}")
            dtype = np.dtype(schema.field(name).metadata.get(b"dtype", b"float64").decode())
            try:
                clip[name] = label_from_arrow(column, row, tuple(shapes[label]), dtype)
            except ValueError as err:
                raise DataError(f"{where}: {name} does not fit shape {shapes[label]} ({err})") from None
        else:
            clip[name] = column[row].as_py()
    return clip


def _to_torch(clip: dict[str, Any]) -> dict[str, Any]:
    import importlib

    torch = importlib.import_module("torch")
    return {
        key: torch.from_numpy(value if value.flags.writeable else value.copy())
        if isinstance(value, np.ndarray)
        else value
        for key, value in clip.items()
    }


def open_dataset(
    path: str,
    columns: Sequence[str] | None = None,
    filter: pads.Expression | None = None,
    *,
    filesystem: Any = None,
    as_torch: bool = False,
    decode_media: bool = True,
    verify: Verify = "size",
) -> ClipDataset:
    """Open the synthgen dataset at ``path`` for streaming.

    Iterating yields one dict per clip with the requested ``columns`` (all when None): ``video``,
    ``reference_video`` and ``control_video_<name>`` decoded to uint8 (F,H,W,3) RGB; ``audio`` to float32 (n,)
    at ``audio_sample_rate`` Hz; ``label_<name>`` reshaped to their stored shapes (docs/schema.md); other
    columns as Python values. ``filter`` is a pyarrow expression on scalar columns. ``filesystem`` may be a
    ``pyarrow.fs.FileSystem`` or an fsspec filesystem; a URI (``s3://bucket/ds``) picks one itself.
    ``as_torch`` turns arrays into torch tensors (torch must be installed); ``decode_media=False`` leaves
    media as their encoded bytes (MP4 / FLAC) for copying. A missing column, a shard of
    another schema version or a corrupt file raises DataError naming the file.

    ``verify`` checks each shard file against the manifest (or commit records) before anything is read:
    ``"size"`` (default) its size, ``"sha256"`` its size and sha256 (reads every byte once; a folder without
    records then raises), ``"none"`` nothing. Page checksums are verified while reading in every mode.
    ``.parquet`` files in ``data/`` that the manifest does not list are not read, with a one-line warning.
    """
    fs, root = _resolve_filesystem(str(path), filesystem)
    root = root.rstrip("/") or "/"
    wanted = list(columns) if columns is not None else None
    entries, source = shard_entries(fs, root)
    if source == "manifest":
        unlisted = unlisted_files(fs, root, entries)
        if unlisted:
            warnings.warn(
                f"{root}: {len(unlisted)} .parquet file(s) in {DATA_DIR}/ not listed in {MANIFEST_FILE} "
                f"(first: {posixpath.relpath(unlisted[0], root)}) are not read; synthgen validate reports them",
                stacklevel=2,
            )
    verify_shards(fs, entries, verify)
    files = [entry.path for entry in entries]
    return ClipDataset(fs, root, files, wanted, filter, as_torch, decode_media)


def iter_rows(
    path: str, filter: pads.Expression | None = None, *, filesystem: Any = None, verify: Verify = "size"
) -> Iterator[ClipRow]:
    """Stream the clips of the dataset at ``path`` as typed ``ClipRow``s, every field decoded (media to
    numpy arrays, labels to their stored shapes, pairing and timings to dicts). ``filter`` and
    ``filesystem`` and ``verify`` as in ``open_dataset``; for a few columns of many clips,
    ``open_dataset(columns=...)`` reads and decodes less."""
    return open_dataset(path, filter=filter, filesystem=filesystem, verify=verify).rows()
