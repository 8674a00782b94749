"""The dataset store: the one place that knows a dataset folder's layout and keeps its storage protocol.

Layout of a dataset folder::

    README.md                    dataset card (Hugging Face reads ``configs: data_files`` from it)
    _manifest.json               counts, hashes, versions, resolved config (written once all shards exist)
    _failures.jsonl              clips whose pipeline raised a SynthgenError: spec + error, one per line
    _dataset.json                what every job agrees on: name, num_clips, clips_per_shard, config hash
    _shards/shard-00003.json     commit record of shard 3 (its parts, hashes, clips, failures)
    _locks/shard-00003.lock      claim of the job writing shard 3 right now (``synthgen.dataset.claim``)
    data/shard-00003-000.parquet part 0 of shard 3 (a shard is split into parts by ``max_bytes``)

Clip ``i`` always belongs to shard ``i // clips_per_shard``, so a rerun knows which clips each shard holds.
A shard's parts are written under temporary names, renamed, and only then is its commit record written
(itself atomically): a shard without a commit record is partial and is discarded on resume. The first job
claims the folder by writing ``_dataset.json``; a job of another config is refused, so a resume never mixes
two datasets. Whichever job finds every shard committed merges the records into the manifest, failures and
card; the merge depends only on the records, so doing it twice is harmless.

A shard is written only by the job holding its claim (``lock_shard``), so two jobs on one folder (a farm's
requeued duplicate) never write the same shard. A committed shard is kept on resume only when every part
still has the size and sha256 its record lists (``shard_problem``); Parquet page checksums are written into
every part and checked by every reader.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from synthgen.dataset import media
from synthgen.dataset.card import dataset_card
from synthgen.dataset.claim import (
    HEARTBEAT_S,
    LOCKS_DIR,
    STALE_AFTER_S,
    ClaimInfo,
    ShardClaim,
    lock_path,
    try_claim,
)
from synthgen.dataset.rows import ClipRow
from synthgen.dataset.schema import SHARD_SCHEMA_VERSION, jsonable
from synthgen.dataset.shard import (
    ShardPart,
    ShardPlan,
    ShardWriter,
    WriteSettings,
    shard_name,
    synthgen_version,
)
from synthgen.errors import ConfigError, DataError
from synthgen.fileio import (
    SAFE_NAME_PATTERN,
    atomic_write_text,
    check_output_dir,
    is_safe_name,
    json_sha256,
    safe_join,
)

DATA_DIR = "data"
SHARDS_DIR = "_shards"
DATASET_FILE = "_dataset.json"
MANIFEST_FILE = "_manifest.json"
FAILURES_FILE = "_failures.jsonl"
CARD_FILE = "README.md"
LOGS_DIR = "_logs"  # the generation jobs' logs and summaries (synthgen.pipeline.job)
CONFIG_HASH_DIGITS = 16

ClipAdder = Callable[[ShardWriter, int], object]  # the return value is ignored


def config_hash(config: Mapping[str, Any]) -> str:
    """The id of a dataset's content: the first 16 hex digits of the sha256 of ``config`` as canonical JSON."""
    return json_sha256(jsonable(dict(config)))[:CONFIG_HASH_DIGITS]


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class ShardRecord:
    """The commit record of one shard: its part files, the clips it holds and the clips that failed."""

    shard: int
    clip_range: tuple[int, int]
    files: list[dict[str, Any]] = field(default_factory=list)
    clips: list[int] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)
    config_hash: str = ""

    def to_json(self) -> str:
        """The record as JSON (the content of ``_shards/shard-NNNNN.json``)."""
        body = {
            "shard": self.shard,
            "clip_range": list(self.clip_range),
            "files": self.files,
            "clips": self.clips,
            "failures": self.failures,
            "config_hash": self.config_hash,
            "schema_version": SHARD_SCHEMA_VERSION,
            "synthgen_version": synthgen_version(),
        }
        return json.dumps(body, indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str, where: str) -> ShardRecord:
        """Parse a commit record; a malformed one raises DataError naming ``where``."""
        try:
            body = json.loads(text)
            return cls(
                shard=int(body["shard"]),
                clip_range=(int(body["clip_range"][0]), int(body["clip_range"][1])),
                files=list(body["files"]),
                clips=[int(i) for i in body["clips"]],
                failures=list(body["failures"]),
                config_hash=str(body["config_hash"]),
            )
        except (ValueError, KeyError, TypeError, IndexError) as err:
            raise DataError(f"{where}: malformed shard record ({type(err).__name__}: {err})") from None


class DatasetStore:
    """A dataset folder on the local disk: claim it, write and commit shards, merge and read the manifest.

    Every writer (``synthgen-generate``'s jobs, ``write_dataset``) and every reader of the records (the
    validator, ``synthgen lint``, the trainer) goes through this class; ``open_dataset`` reads the same
    layout on any filesystem.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"DatasetStore({str(self.root)!r})"

    # ------------------------------------------------------------------------------ dataset record

    def dataset_record(self) -> dict[str, Any] | None:
        """``_dataset.json`` as a dict, or None when the folder has none (not claimed yet)."""
        return _read_json_object(
            self.root / DATASET_FILE, ("dataset_name", "num_clips", "clips_per_shard", "config_hash")
        )

    def claim(self, settings: WriteSettings, *, overwrite: bool = False) -> None:
        """Write ``_dataset.json`` or check that the one there describes the same dataset.

        Raises ConfigError when the folder holds a dataset made from a different config (a resume would mix
        two datasets), or is a file, not writable, or a non-empty folder without ``_dataset.json`` (someone
        else's files) unless ``overwrite``; several jobs of one run write identical content, so the race is
        harmless.
        """
        if not is_safe_name(settings.dataset_name):
            raise ConfigError(f"dataset.name={settings.dataset_name!r}: does not match {SAFE_NAME_PATTERN}")
        self.check_writable(overwrite=overwrite)
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise ConfigError(f"output_dir={str(self.root)!r}: cannot create it ({err.strerror})") from None
        record = settings.record()
        existing = self.dataset_record()
        if existing is None:
            atomic_write_text(self.root / DATASET_FILE, json.dumps(record, indent=1, sort_keys=True))
            return
        for key in ("config_hash", "num_clips", "clips_per_shard"):
            if existing.get(key) != record.get(key):
                raise ConfigError(
                    f"output_dir={str(self.root)!r}: holds a dataset with {key}={existing.get(key)!r}, this run "
                    f"has {record.get(key)!r}; use a new output_dir or the same config to resume"
                )

    def check_writable(self, *, overwrite: bool = False) -> None:
        """ConfigError naming ``output_dir`` unless a dataset may be written here: the folder is absent,
        empty, a dataset folder already (resume), or ``overwrite``; never a file or an unwritable place."""
        check_output_dir(self.root, "output_dir", overwrite=overwrite, ours=_is_dataset_folder)

    def plan(self) -> ShardPlan:
        """The clip -> shard mapping of the claimed dataset; DataError when the folder is not claimed."""
        return self._claimed()[1]

    def _claimed(self) -> tuple[dict[str, Any], ShardPlan]:
        record = self.dataset_record()
        if record is None:
            raise DataError(f"{self.root / DATASET_FILE}: missing (not a synthgen dataset folder)")
        return record, ShardPlan(int(record["num_clips"]), int(record["clips_per_shard"]))

    def config(self) -> dict[str, Any]:
        """The resolved config the dataset was generated from (the manifest's, else ``_dataset.json``'s);
        empty for a folder of shards without records."""
        body = self.manifest() or self.dataset_record() or {}
        config = body.get("config", {})
        return dict(config) if isinstance(config, dict) else {}

    # ------------------------------------------------------------------------------------- shards

    def record_path(self, shard: int) -> Path:
        """Where the commit record of ``shard`` lives."""
        return self.root / SHARDS_DIR / f"{shard_name(shard)}.json"

    def committed(self) -> dict[int, ShardRecord]:
        """Committed shard records keyed by shard number."""
        records: dict[int, ShardRecord] = {}
        folder = self.root / SHARDS_DIR
        if not folder.is_dir():
            return records
        for path in sorted(folder.glob("shard-*.json")):
            record = ShardRecord.from_json(path.read_text(encoding="utf-8"), str(path))
            records[record.shard] = record
        return records

    def record(self, shard: int) -> ShardRecord | None:
        """The commit record of ``shard``, or None when it is not committed."""
        path = self.record_path(shard)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        return ShardRecord.from_json(text, str(path))

    def shard_problem(self, record: ShardRecord, digest: str, *, full: bool = True) -> str | None:
        """Why the committed shard of ``record`` cannot be kept, as one line naming the part (None when it can):
        made for another config hash than ``digest``, a part missing, of another size, or (``full``) with
        another sha256 than recorded."""
        if record.config_hash != digest:
            return f"committed for config hash {record.config_hash!r}, not {digest!r}"
        for entry in record.files:
            try:
                path = safe_join(
                    self.root, str(entry["path"]), what=f"{self.record_path(record.shard)}: path"
                )
            except DataError as err:
                return str(err)
            if not path.is_file():
                return f"{entry['path']} is missing"
            size = path.stat().st_size
            if size != int(entry["bytes"]):
                return f"{entry['path']} has {size} bytes, its record says {entry['bytes']}"
            if full and file_sha256(path) != entry["sha256"]:
                return f"{entry['path']}: sha256 differs from its record (the bytes changed)"
        return None

    def is_intact(self, record: ShardRecord) -> bool:
        """Whether every part a commit record lists exists with the recorded size and sha256."""
        return self.shard_problem(record, record.config_hash) is None

    def kept_shards(self, shards: Iterable[int], digest: str) -> set[int]:
        """Those of ``shards`` committed for the config of hash ``digest`` whose parts are intact (size and
        sha256 as recorded): a resume keeps these and regenerates the others."""
        committed = self.committed()
        return {
            shard
            for shard in shards
            if shard in committed and self.shard_problem(committed[shard], digest) is None
        }

    def lock_shard(
        self,
        shard: int,
        job: str,
        *,
        heartbeat_s: float = HEARTBEAT_S,
        stale_after_s: float = STALE_AFTER_S,
    ) -> ShardClaim | ClaimInfo:
        """Claim ``shard`` for ``job`` (``_locks/shard-NNNNN.lock``, protocol in ``synthgen.dataset.claim``): a
        held ``ShardClaim`` to write it under, or the live claim of the job that holds it."""
        return try_claim(
            lock_path(self.root, shard_name(shard)),
            job,
            heartbeat_s=heartbeat_s,
            stale_after_s=stale_after_s,
        )

    def discard(self, shard: int) -> None:
        """Delete a shard's commit record, parts and leftover temporary parts (a partial shard)."""
        self.record_path(shard).unlink(missing_ok=True)
        stem = shard_name(shard)
        for path in (self.root / DATA_DIR).glob(f"{stem}-*.parquet"):
            path.unlink(missing_ok=True)
        for path in (self.root / DATA_DIR).glob(f".{stem}-*.tmp"):
            path.unlink(missing_ok=True)

    def open_shard(self, shard: int, settings: WriteSettings) -> ShardWriter:
        """Discard whatever an earlier run left of ``shard`` and start writing it afresh."""
        self.discard(shard)
        (self.root / SHARDS_DIR).mkdir(parents=True, exist_ok=True)
        return ShardWriter(self.root / DATA_DIR, shard, settings)

    def commit(self, writer: ShardWriter) -> ShardRecord:
        """Rename the writer's parts to their final names, then write the shard's commit record."""
        parts = writer.finish()
        record = ShardRecord(
            writer.shard,
            (writer.clip_range.start, writer.clip_range.stop),
            files=[self._file_entry(part) for part in parts],
            clips=list(writer.clips),
            failures=list(writer.failures),
            config_hash=writer.settings.config_hash,
        )
        atomic_write_text(self.record_path(writer.shard), record.to_json())
        return record

    def write_shards(
        self,
        settings: WriteSettings,
        shards: Iterable[int],
        add_clip: ClipAdder,
        *,
        on_commit: Callable[[ShardRecord], None] | None = None,
        before_commit: Callable[[ShardWriter], None] | None = None,
    ) -> None:
        """Write and commit each of ``shards``: ``add_clip(writer, clip_index)`` adds (or records as failed)
        every clip of the shard, in order; ``before_commit(writer)`` may raise to drop the shard instead of
        committing it. On any exception the shard being written is aborted (no part is left) and the
        exception propagates; shards committed before stay."""
        for shard in shards:
            writer = self.open_shard(shard, settings)
            try:
                for clip_index in writer.clip_range:
                    add_clip(writer, clip_index)
                if before_commit is not None:
                    before_commit(writer)
                record = self.commit(writer)
            except BaseException:
                writer.abort()
                raise
            if on_commit is not None:
                on_commit(record)

    def _file_entry(self, part: ShardPart) -> dict[str, Any]:
        return {
            "path": part.path.relative_to(self.root).as_posix(),
            "rows": part.rows,
            "bytes": part.path.stat().st_size,
            "sha256": file_sha256(part.path),
        }

    # ----------------------------------------------------------------------------------- manifest

    def finalize(self) -> dict[str, Any] | None:
        """Merge the shard records into ``_manifest.json``, ``_failures.jsonl`` and ``README.md``.

        Returns the manifest, or None while some shard is not committed yet (another job still runs). Any
        job may call this: the output depends only on the committed records, and files are replaced
        atomically.
        """
        dataset, plan = self._claimed()
        records = self.committed()
        if any(shard not in records for shard in range(plan.num_shards)):
            return None
        files = [entry for shard in range(plan.num_shards) for entry in records[shard].files]
        failures = [failure for shard in range(plan.num_shards) for failure in records[shard].failures]
        manifest = {
            "dataset_name": dataset["dataset_name"],
            "schema_version": SHARD_SCHEMA_VERSION,
            "synthgen_version": synthgen_version(),
            "versions": _library_versions(),
            "config_hash": dataset["config_hash"],
            "config": dataset.get("config", {}),
            "num_clips": plan.num_clips,
            "num_rows": sum(int(entry["rows"]) for entry in files),
            "num_failed": len(failures),
            "clips_per_shard": plan.clips_per_shard,
            "num_shards": plan.num_shards,
            "total_bytes": sum(int(entry["bytes"]) for entry in files),
            "files": files,
        }
        failure_lines = "".join(json.dumps(item, sort_keys=True) + "\n" for item in failures)
        atomic_write_text(self.root / FAILURES_FILE, failure_lines)
        atomic_write_text(
            self.root / CARD_FILE, dataset_card(manifest, [str(entry["path"]) for entry in files])
        )
        atomic_write_text(self.root / MANIFEST_FILE, json.dumps(manifest, indent=1, sort_keys=True))
        return manifest

    def manifest(self) -> dict[str, Any] | None:
        """``_manifest.json``, or None when the dataset has not been finalised; DataError naming the file when
        it is malformed."""
        path = self.root / MANIFEST_FILE
        body = _read_json_object(path, ("num_clips", "files"))
        if body is not None:
            files = body["files"]
            if not isinstance(files, list) or not all(
                isinstance(entry, dict) and {"path", "bytes", "sha256"} <= entry.keys() for entry in files
            ):
                raise DataError(f"{path}: malformed, every entry of 'files' needs path, bytes and sha256")
        return body

    def failures(self) -> list[dict[str, Any]]:
        """The failed clips of a finalised dataset (``_failures.jsonl``; [] before the manifest exists).

        DataError naming the file (and line) when it is missing beside a manifest or a line is no JSON
        object with an integer ``clip_index``.
        """
        path = self.root / FAILURES_FILE
        if not path.is_file():
            if (self.root / MANIFEST_FILE).is_file():
                raise DataError(f"{path}: missing (the manifest lists no failures without it)")
            return []
        failures: list[dict[str, Any]] = []
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
                int(item["clip_index"])
            except (ValueError, KeyError, TypeError):
                raise DataError(
                    f"{path} line {number}: not a JSON object with an integer clip_index"
                ) from None
            failures.append(item)
        return failures


def _is_dataset_folder(root: Path) -> bool:
    """Whether ``root`` is a dataset folder already (it has ``_dataset.json``) or holds only what jobs
    starting at the same moment create first: the ``_logs`` folder a Hydra sweep makes, shard claims, and
    another job's ``_dataset.json`` still under its temporary name."""
    starting = {LOGS_DIR, LOCKS_DIR}
    return (root / DATASET_FILE).is_file() or all(
        p.name in starting or (p.name.startswith(f".{DATASET_FILE}.") and p.name.endswith(".tmp"))
        for p in root.iterdir()
    )


def _read_json_object(path: Path, keys: tuple[str, ...]) -> dict[str, Any] | None:
    """The JSON object in ``path`` (None when the file does not exist); DataError naming the file when it is
    not a JSON object or lacks one of ``keys``."""
    if not path.exists():
        return None
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: malformed JSON ({err})") from None
    if not isinstance(body, dict):
        raise DataError(f"{path}: malformed, expected a JSON object")
    missing = [key for key in keys if key not in body]
    if missing:
        raise DataError(f"{path}: malformed, no key {missing[0]!r}")
    return body


def _library_versions() -> dict[str, str]:
    import av
    import soundfile

    return {
        "pyarrow": pa.__version__,
        "av": av.__version__,
        "numpy": np.__version__,
        "soundfile": soundfile.__version__,
    }


# ---------------------------------------------------------------------------------- library API


def write_dataset(
    rows: Iterable[ClipRow | Mapping[str, Any]],
    path: str | os.PathLike[str],
    *,
    num_clips: int,
    clips_per_shard: int = 64,
    max_bytes: int = 1 << 30,
    encoding: media.VideoEncoding | None = None,
    config: Mapping[str, Any] | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Write rows with clip_index 0..num_clips-1 (in order) as a dataset folder at ``path``.

    A row is a ``ClipRow`` or a dict with its field names as keys (``ClipRow.from_dict``).
    ``config`` (the resolved generation config, or any JSON-able description) is stored in the manifest
    and its hash in every shard's metadata. A non-empty ``path`` that is no dataset folder is refused
    (ConfigError) unless ``overwrite``. Returns the manifest. Single-process, through the same
    ``DatasetStore`` path as a ``synthgen-generate`` job (claim, write and commit each shard, finalize).
    """
    _check_num_clips(num_clips)
    encoding = encoding or media.VideoEncoding()
    config = dict(config or {})
    iterator = (row if isinstance(row, ClipRow) else ClipRow.from_dict(row) for row in rows)
    first = next(iterator, None)
    name = first.dataset_name if first is not None else str(config.get("dataset", {}).get("name", "synthgen"))
    settings = WriteSettings(
        dataset_name=str(name),
        num_clips=num_clips,
        clips_per_shard=clips_per_shard,
        max_bytes=max_bytes,
        encoding=encoding,
        config_hash=config_hash({**config, "_shards": [clips_per_shard, max_bytes, encoding.describe()]}),
        config=config,
    )
    pending = iterator if first is None else chain([first], iterator)
    count = 0

    def add_next_row(writer: ShardWriter, clip_index: int) -> None:
        nonlocal count
        row = next(pending, None)
        if row is None:
            raise DataError(f"write_dataset: got {count} rows, num_clips={num_clips}")
        _check_order(row, clip_index, num_clips)
        writer.add(row)
        count += 1

    store = DatasetStore(path)
    store.claim(settings, overwrite=overwrite)
    store.write_shards(settings, range(settings.plan.num_shards), add_next_row)
    extra = next(pending, None)
    if extra is not None:
        _check_order(extra, num_clips, num_clips)
    manifest = store.finalize()
    assert manifest is not None
    return manifest


def _check_num_clips(num_clips: object) -> None:
    from synthgen.describe.config import MAX_NUM_CLIPS

    if isinstance(num_clips, bool) or not isinstance(num_clips, int) or not 1 <= num_clips <= MAX_NUM_CLIPS:
        raise ConfigError(f"num_clips={num_clips!r}: must be an integer in 1 .. {MAX_NUM_CLIPS:_}")


def _check_order(row: ClipRow, expected: int, num_clips: int) -> None:
    if row.clip_index != expected or row.clip_index >= num_clips:
        raise DataError(
            f"row {row.clip_id}: clip_index={row.clip_index}, expected {expected} "
            f"(rows in order, < num_clips={num_clips})"
        )


def finalize_dataset(root: str | os.PathLike[str]) -> dict[str, Any] | None:
    """``DatasetStore(root).finalize()``: merge the committed shard records into the manifest."""
    return DatasetStore(root).finalize()
