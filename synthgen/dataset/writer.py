"""Shard writer: rows -> atomic Parquet shards, per-shard commit records, manifest and dataset card.

Layout of a dataset folder::

    README.md                    dataset card (Hugging Face reads ``configs: data_files`` from it)
    _manifest.json               counts, hashes, versions, resolved config (written once all shards exist)
    _failures.jsonl              clips whose pipeline raised a SynthgenError: spec + error, one per line
    _dataset.json                what every job agrees on: name, num_clips, clips_per_shard, config hash
    _shards/shard-00003.json     commit record of shard 3 (its parts, hashes, clips, failures)
    data/shard-00003-000.parquet part 0 of shard 3 (a shard is split into parts by ``max_bytes``)

Clip ``i`` always belongs to shard ``i // clips_per_shard``, so a rerun knows which clips each shard holds.
A shard's parts are written under temporary names, renamed, and only then is its commit record written
(itself atomically): a shard without a commit record is partial and is discarded on resume.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from synthgen.dataset import media
from synthgen.dataset.schema import (
    BASE_FIELDS,
    CONTROL_PREFIX,
    LABEL_PREFIX,
    META_CONFIG_HASH,
    META_DATASET_NAME,
    META_SCHEMA_VERSION,
    META_SYNTHGEN_VERSION,
    META_VIDEO_ENCODING,
    SHARD_SCHEMA_VERSION,
    check_column_name,
    dataset_schema,
    jsonable,
    label_dtype_ok,
    label_to_arrow,
)
from synthgen.errors import ConfigError, DataError
from synthgen.fileio import atomic_write_text, temp_path_for

DATA_DIR = "data"
SHARDS_DIR = "_shards"
DATASET_FILE = "_dataset.json"
MANIFEST_FILE = "_manifest.json"
FAILURES_FILE = "_failures.jsonl"
CARD_FILE = "README.md"

_REQUIRED_KEYS = ("clip_id", "clip_index", "dataset_name", "dataset_seed", "scene", "control_job",
                  "spec_json", "caption", "fps", "num_frames", "height", "width", "video")  # fmt: skip
_SCALAR_COLUMNS = [f.name for f in BASE_FIELDS if not pa.types.is_binary(f.type)]


def synthgen_version() -> str:
    """The installed synthgen version (read lazily: ``synthgen/__init__`` imports this package)."""
    from synthgen import __version__

    return __version__


def config_hash(config: Mapping[str, Any]) -> str:
    """sha256 (hex, first 16 chars) of ``config`` as canonical JSON: equal content -> equal hash."""
    text = json.dumps(jsonable(dict(config)), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# ------------------------------------------------------------------------------------------ plan


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


def shard_name(shard: int) -> str:
    """``shard-00003``: the stem shared by a shard's parts and its commit record."""
    return f"shard-{shard:05d}"


# ------------------------------------------------------------------------------------- encoding


@dataclass
class EncodedRow:
    """A row with media encoded and labels converted to Arrow, ready to append to a shard."""

    clip_index: int
    clip_id: str
    scalars: dict[str, Any]
    controls: dict[str, bytes]
    labels: dict[str, pa.Array]
    label_specs: dict[str, tuple[np.dtype, int]]
    nbytes: int

    def layout(self) -> tuple[tuple[str, ...], tuple[tuple[str, str, int], ...]]:
        """(control names, (label, dtype, ndim)...): rows of one dataset must agree on this."""
        specs = tuple((name, str(dtype), ndim) for name, (dtype, ndim) in sorted(self.label_specs.items()))
        return tuple(sorted(self.controls)), specs


def encode_row(row: Mapping[str, Any], encoding: media.VideoEncoding) -> EncodedRow:
    """Check a pipeline row (docs/architecture.md, "Rows") and encode its media and labels.

    Raises DataError naming the clip and the key on a missing key, a wrong dtype or a shape that disagrees
    with ``num_frames``/``height``/``width``.
    """
    where = f"row {row.get('clip_id', row.get('clip_index', '?'))}"
    for key in _REQUIRED_KEYS:
        if row.get(key) is None:
            raise DataError(f"{where}: missing key {key!r}")
    num_frames, height, width = (_row_int(row, key, where) for key in ("num_frames", "height", "width"))
    try:
        fps = float(row["fps"])
    except (TypeError, ValueError):
        raise DataError(f"{where}: fps={row['fps']!r} is not a number") from None
    video = np.asarray(row["video"])
    if video.shape != (num_frames, height, width, 3) or video.dtype != np.uint8:
        raise DataError(
            f"{where}: video is {video.dtype} {video.shape}, expected uint8 ({num_frames}, {height}, {width}, 3)"
        )
    scalars: dict[str, Any] = {
        "clip_id": str(row["clip_id"]),
        "clip_index": _row_int(row, "clip_index", where),
        "dataset_name": str(row["dataset_name"]),
        "dataset_seed": _row_int(row, "dataset_seed", where),
        "scene": str(row["scene"]),
        "control_job": str(row["control_job"]),
        "spec_json": str(row["spec_json"]),
        "reference_spec_json": None
        if row.get("reference_spec_json") is None
        else str(row["reference_spec_json"]),
        "caption": str(row["caption"]),
        "fps": fps,
        "num_frames": num_frames,
        "height": height,
        "width": width,
        "video": media.encode_video(video, fps, encoding, name=f"{where}: video"),
        "reference_downscale": _row_int(row, "reference_downscale", where, default=1, minimum=1),
        "reference_temporal_factor": _row_int(row, "reference_temporal_factor", where, default=1, minimum=1),
        "pairing_json": json.dumps(jsonable(row.get("pairing") or {}), sort_keys=True),
        "timings_json": json.dumps(jsonable(row.get("timings_s") or {}), sort_keys=True),
    }
    reference = row.get("reference_video")
    scalars.update(
        reference_video=None, reference_num_frames=None, reference_height=None, reference_width=None
    )
    if reference is not None:
        reference = np.asarray(reference)
        scalars["reference_video"] = media.encode_video(
            reference, fps, encoding, name=f"{where}: reference_video"
        )
        scalars["reference_num_frames"], scalars["reference_height"], scalars["reference_width"] = (
            int(n) for n in reference.shape[:3]
        )
    scalars.update(audio=None, audio_sample_rate=None, audio_num_samples=None)
    if row.get("audio") is not None:
        rate = row.get("audio_sample_rate")
        if rate is None:
            raise DataError(f"{where}: audio given without audio_sample_rate")
        samples = np.asarray(row["audio"])
        scalars["audio"] = media.encode_audio(samples, int(rate), name=f"{where}: audio")
        scalars["audio_sample_rate"] = int(rate)
        scalars["audio_num_samples"] = int(samples.shape[0])
    controls: dict[str, bytes] = {}
    for name, frames in (row.get("controls") or {}).items():
        check_column_name(name, f"{where}: control")
        controls[name] = media.encode_video(
            np.asarray(frames), fps, encoding, name=f"{where}: control {name}"
        )
    labels: dict[str, pa.Array] = {}
    label_specs: dict[str, tuple[np.dtype, int]] = {}
    shapes: dict[str, list[int]] = {}
    for name, value in (row.get("labels") or {}).items():
        check_column_name(name, f"{where}: label")
        array = np.asarray(value)
        if not label_dtype_ok(array.dtype):
            raise DataError(
                f"{where}: label {name!r} has dtype {array.dtype}; must be a number or bool array"
            )
        if array.ndim == 0:
            array = array.reshape(1)
        labels[name] = label_to_arrow(array)
        label_specs[name] = (array.dtype, array.ndim)
        shapes[name] = [int(n) for n in array.shape]
    scalars["array_shapes_json"] = json.dumps(shapes, sort_keys=True)
    nbytes = sum(len(v) for v in controls.values()) + sum(
        len(scalars[k] or b"") for k in ("video", "reference_video", "audio")
    )
    nbytes += sum(a.nbytes for a in labels.values())
    return EncodedRow(
        scalars["clip_index"], scalars["clip_id"], scalars, controls, labels, label_specs, nbytes
    )


def _row_int(row: Mapping[str, Any], key: str, where: str, *, default: int = 0, minimum: int = 0) -> int:
    value = row.get(key, default)
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise DataError(f"{where}: {key}={value!r} is not an integer") from None
    if number < minimum:
        raise DataError(f"{where}: {key}={number} must be >= {minimum}")
    return number


def _row_table(encoded: EncodedRow, schema: pa.Schema) -> pa.Table:
    arrays: list[pa.Array] = []
    for arrow_field in schema:
        name = arrow_field.name
        if name.startswith(CONTROL_PREFIX):
            arrays.append(pa.array([encoded.controls[name.removeprefix(CONTROL_PREFIX)]], type=pa.binary()))
        elif name.startswith(LABEL_PREFIX):
            arrays.append(encoded.labels[name.removeprefix(LABEL_PREFIX)])
        else:
            arrays.append(pa.array([encoded.scalars[name]], type=arrow_field.type))
    return pa.Table.from_arrays(arrays, schema=schema)


# ------------------------------------------------------------------------------------ shard writer


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


class ShardWriter:
    """Writes the clips of one shard into ``data/shard-NNNNN-PPP.parquet`` parts and commits the shard.

    A new part starts once the current one reaches ``max_bytes``; each row is its own row group, so
    readers stream one clip at a time. Nothing is visible under a final name until ``commit``.
    """

    def __init__(
        self,
        root: Path,
        shard: int,
        clip_range: range,
        *,
        encoding: media.VideoEncoding,
        max_bytes: int,
        metadata: Mapping[str, str],
    ) -> None:
        if max_bytes < 1:
            raise ConfigError(f"shards.max_bytes={max_bytes}: must be >= 1")
        self.root = root
        self.record = ShardRecord(shard, (clip_range.start, clip_range.stop))
        self.record.config_hash = str(metadata.get(META_CONFIG_HASH, ""))
        self.encoding = encoding
        self.max_bytes = max_bytes
        self.metadata = dict(metadata)
        self.metadata[META_VIDEO_ENCODING] = encoding.describe()
        self._schema: pa.Schema | None = None
        self._layout: tuple[Any, ...] | None = None
        self._writer: pq.ParquetWriter | None = None
        self._tmp_parts: list[tuple[Path, Path, int]] = []
        self._rows_in_part = 0
        (root / DATA_DIR).mkdir(parents=True, exist_ok=True)
        (root / SHARDS_DIR).mkdir(parents=True, exist_ok=True)

    def add(self, row: Mapping[str, Any]) -> EncodedRow:
        """Encode and append one pipeline row; returns the encoded row (its size is ``nbytes``)."""
        return self.add_encoded(encode_row(row, self.encoding))

    def add_encoded(self, encoded: EncodedRow) -> EncodedRow:
        """Append an already encoded row (see ``encode_row``)."""
        start, stop = self.record.clip_range
        if not start <= encoded.clip_index < stop:
            raise DataError(
                f"row {encoded.clip_id}: clip_index={encoded.clip_index} is outside shard "
                f"{self.record.shard}'s clips [{start}, {stop})"
            )
        if self._layout is None:
            self._layout = encoded.layout()
            self._schema = dataset_schema(list(encoded.controls), encoded.label_specs, self.metadata)
        elif encoded.layout() != self._layout:
            raise DataError(
                f"row {encoded.clip_id}: controls/labels {encoded.layout()} differ from the shard's first row "
                f"{self._layout}; every row of a dataset needs the same controls and label arrays"
            )
        assert self._schema is not None
        if self._writer is None:
            self._open_part()
        assert self._writer is not None
        self._writer.write_table(_row_table(encoded, self._schema), row_group_size=1)
        self._rows_in_part += 1
        self.record.clips.append(encoded.clip_index)
        if os.path.getsize(self._tmp_parts[-1][0]) >= self.max_bytes:
            self._close_part()
        return encoded

    def add_failure(self, clip_index: int, clip_id: str, error: str, spec_json: str | None) -> None:
        """Record that clip ``clip_index`` failed with ``error`` (a one-line SynthgenError message)."""
        self.record.failures.append(
            {"clip_index": clip_index, "clip_id": clip_id, "error": error, "spec_json": spec_json}
        )

    def _open_part(self) -> None:
        assert self._schema is not None
        part = len(self._tmp_parts)
        final = self.root / DATA_DIR / f"{shard_name(self.record.shard)}-{part:03d}.parquet"
        tmp = temp_path_for(final)
        media_columns = [f.name for f in self._schema if pa.types.is_binary(f.type)]
        self._writer = pq.ParquetWriter(
            tmp,
            self._schema,
            # Media bytes are already compressed; zstd on everything else (labels compress ~3x).
            compression={f.name: ("none" if f.name in media_columns else "zstd") for f in self._schema},
            use_dictionary=[name for name in _SCALAR_COLUMNS if self._schema.field(name).type == pa.string()],
            write_statistics=_SCALAR_COLUMNS,
        )
        self._tmp_parts.append((tmp, final, 0))
        self._rows_in_part = 0

    def _close_part(self) -> None:
        if self._writer is None:
            return
        self._writer.close()
        self._writer = None
        tmp, final, _ = self._tmp_parts[-1]
        self._tmp_parts[-1] = (tmp, final, self._rows_in_part)

    def commit(self) -> ShardRecord:
        """Close the last part, rename every part to its final name, then write the commit record."""
        self._close_part()
        for tmp, final, rows in self._tmp_parts:
            with open(tmp, "rb") as handle:
                os.fsync(handle.fileno())
            os.replace(tmp, final)
            self.record.files.append(
                {
                    "path": f"{DATA_DIR}/{final.name}",
                    "rows": rows,
                    "bytes": final.stat().st_size,
                    "sha256": file_sha256(final),
                }
            )
        record_path = self.root / SHARDS_DIR / f"{shard_name(self.record.shard)}.json"
        atomic_write_text(record_path, self.record.to_json())
        return self.record

    def abort(self) -> None:
        """Close and delete every uncommitted part (used when a run stops with an error)."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        for tmp, _, _ in self._tmp_parts:
            tmp.unlink(missing_ok=True)
        self._tmp_parts.clear()


# ------------------------------------------------------------------------------- dataset records


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


def read_dataset_record(root: Path) -> dict[str, Any] | None:
    """``_dataset.json`` of ``root`` as a dict, or None when there is none."""
    return _read_json_object(
        root / DATASET_FILE, ("dataset_name", "num_clips", "clips_per_shard", "config_hash")
    )


def claim_dataset(root: Path, record: Mapping[str, Any]) -> None:
    """Write ``_dataset.json`` or check that the one there describes the same dataset.

    Raises ConfigError when ``root`` holds a dataset made from a different config (a resume would mix
    two datasets); several jobs of one run write identical content, so the race is harmless.
    """
    root.mkdir(parents=True, exist_ok=True)
    existing = read_dataset_record(root)
    if existing is not None:
        for key in ("config_hash", "num_clips", "clips_per_shard"):
            if existing.get(key) != record.get(key):
                raise ConfigError(
                    f"output_dir={str(root)!r}: holds a dataset with {key}={existing.get(key)!r}, this run has "
                    f"{record.get(key)!r}; use a new output_dir or the same config to resume"
                )
        return
    atomic_write_text(root / DATASET_FILE, json.dumps(jsonable(dict(record)), indent=1, sort_keys=True))


def read_shard_records(root: Path) -> dict[int, ShardRecord]:
    """Committed shard records of ``root`` keyed by shard number."""
    records: dict[int, ShardRecord] = {}
    folder = root / SHARDS_DIR
    if not folder.is_dir():
        return records
    for path in sorted(folder.glob("shard-*.json")):
        record = ShardRecord.from_json(path.read_text(encoding="utf-8"), str(path))
        records[record.shard] = record
    return records


def shard_is_intact(root: Path, record: ShardRecord) -> bool:
    """Whether every part a commit record lists exists with the recorded size."""
    for entry in record.files:
        path = root / entry["path"]
        if not path.is_file() or path.stat().st_size != int(entry["bytes"]):
            return False
    return True


def discard_shard(root: Path, shard: int) -> None:
    """Delete a shard's commit record, parts and leftover temporary parts (a partial shard)."""
    (root / SHARDS_DIR / f"{shard_name(shard)}.json").unlink(missing_ok=True)
    stem = shard_name(shard)
    for path in (root / DATA_DIR).glob(f"{stem}-*.parquet"):
        path.unlink(missing_ok=True)
    for path in (root / DATA_DIR).glob(f".{stem}-*.tmp"):
        path.unlink(missing_ok=True)


# ------------------------------------------------------------------------------------- manifest


def finalize_dataset(root: Path) -> dict[str, Any] | None:
    """Merge the shard records into ``_manifest.json``, ``_failures.jsonl`` and ``README.md``.

    Returns the manifest, or None while some shard is not committed yet (another job still runs). Any job
    may call this: the output depends only on the committed records, and files are replaced atomically.
    """
    dataset = read_dataset_record(root)
    if dataset is None:
        raise DataError(f"{root / DATASET_FILE}: missing (not a synthgen dataset folder)")
    plan = ShardPlan(int(dataset["num_clips"]), int(dataset["clips_per_shard"]))
    records = read_shard_records(root)
    if any(shard not in records for shard in range(plan.num_shards)):
        return None
    files = [entry for shard in range(plan.num_shards) for entry in records[shard].files]
    failures = [failure for shard in range(plan.num_shards) for failure in records[shard].failures]
    num_rows = sum(int(entry["rows"]) for entry in files)
    manifest = {
        "dataset_name": dataset["dataset_name"],
        "schema_version": SHARD_SCHEMA_VERSION,
        "synthgen_version": synthgen_version(),
        "versions": _library_versions(),
        "config_hash": dataset["config_hash"],
        "config": dataset.get("config", {}),
        "num_clips": plan.num_clips,
        "num_rows": num_rows,
        "num_failed": len(failures),
        "clips_per_shard": plan.clips_per_shard,
        "num_shards": plan.num_shards,
        "total_bytes": sum(int(entry["bytes"]) for entry in files),
        "files": files,
    }
    failure_lines = "".join(json.dumps(item, sort_keys=True) + "\n" for item in failures)
    atomic_write_text(root / FAILURES_FILE, failure_lines)
    atomic_write_text(root / CARD_FILE, dataset_card(manifest))
    atomic_write_text(root / MANIFEST_FILE, json.dumps(manifest, indent=1, sort_keys=True))
    return manifest


def read_manifest(root: Path) -> dict[str, Any] | None:
    """``_manifest.json`` of ``root``, or None when the dataset has not been finalised."""
    path = root / MANIFEST_FILE
    body = _read_json_object(path, ("num_clips", "files"))
    if body is not None:
        files = body["files"]
        if not isinstance(files, list) or not all(
            isinstance(entry, dict) and {"path", "bytes", "sha256"} <= entry.keys() for entry in files
        ):
            raise DataError(f"{path}: malformed, every entry of 'files' needs path, bytes and sha256")
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


def dataset_card(manifest: Mapping[str, Any]) -> str:
    """A Hugging Face dataset card: YAML front matter with ``configs: data_files`` plus a short summary."""
    name = manifest["dataset_name"]
    control = manifest.get("config", {}).get("control", {})
    job = control.get("job", "") if isinstance(control, dict) else ""
    return (
        "---\n"
        "configs:\n"
        "- config_name: default\n"
        "  data_files:\n"
        "  - split: train\n"
        f"    path: {DATA_DIR}/*.parquet\n"
        "tags:\n- synthetic\n- video\n- synthgen\n"
        "---\n\n"
        f"# {name}\n\n"
        f"Synthetic video clips with exact labels, generated by synthgen {manifest['synthgen_version']}"
        + (f" for the `{job}` control job" if job else "")
        + ".\n\n"
        f"- clips: {manifest['num_rows']} ({manifest['num_failed']} failed of {manifest['num_clips']})\n"
        f"- shards: {len(manifest['files'])} Parquet files, schema v{manifest['schema_version']}, "
        f"{manifest['total_bytes'] / 1e6:.1f} MB\n"
        f"- config hash: `{manifest['config_hash']}` (resolved config in `_manifest.json`)\n\n"
        "Read with `synthgen.open_dataset(path)`; columns are described in synthgen's docs/schema.md.\n"
    )


# ---------------------------------------------------------------------------------- library API


def write_dataset(
    rows: Iterable[Mapping[str, Any]],
    path: str | os.PathLike[str],
    *,
    num_clips: int,
    clips_per_shard: int = 64,
    max_bytes: int = 1 << 30,
    encoding: media.VideoEncoding | None = None,
    config: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Write pipeline rows with clip_index 0..num_clips-1 (in order) as a dataset folder at ``path``.

    ``config`` (the resolved generation config, or any JSON-able description) is stored in the manifest
    and its hash in every shard's metadata. Returns the manifest. Single-process; ``synthgen-generate``
    runs the same writer per job for distributed generation.
    """
    root = Path(path)
    encoding = encoding or media.VideoEncoding()
    plan = ShardPlan(num_clips, clips_per_shard)
    config = dict(config or {})
    digest = config_hash({**config, "_shards": [clips_per_shard, max_bytes, encoding.describe()]})
    first_name: str | None = None
    writer: ShardWriter | None = None
    expected = 0
    iterator: Iterator[Mapping[str, Any]] = iter(rows)
    try:
        for row in iterator:
            index = int(row.get("clip_index", -1))
            if index != expected or index >= num_clips:
                raise DataError(
                    f"row {row.get('clip_id', '?')}: clip_index={index}, expected {expected} (rows in order, < num_clips={num_clips})"
                )
            if first_name is None:
                first_name = str(row.get("dataset_name", "synthgen"))
                claim_dataset(root, dataset_record(first_name, plan, digest, config))
            shard = plan.shard_of(index)
            if writer is None:
                discard_shard(root, shard)
                writer = ShardWriter(root, shard, plan.clips_of(shard), encoding=encoding, max_bytes=max_bytes,
                                     metadata=shard_metadata(first_name, digest))  # fmt: skip
            writer.add(row)
            expected += 1
            if expected == plan.clips_of(shard).stop:
                writer.commit()
                writer = None
        if expected != num_clips:
            raise DataError(f"write_dataset: got {expected} rows, num_clips={num_clips}")
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    if first_name is None:
        claim_dataset(
            root, dataset_record(str(config.get("dataset", {}).get("name", "synthgen")), plan, digest, config)
        )
    manifest = finalize_dataset(root)
    assert manifest is not None
    return manifest


def dataset_record(name: str, plan: ShardPlan, digest: str, config: Mapping[str, Any]) -> dict[str, Any]:
    """The content of ``_dataset.json``."""
    return {
        "dataset_name": name,
        "num_clips": plan.num_clips,
        "clips_per_shard": plan.clips_per_shard,
        "config_hash": digest,
        "schema_version": SHARD_SCHEMA_VERSION,
        "config": jsonable(dict(config)),
    }


def shard_metadata(name: str, digest: str) -> dict[str, str]:
    """File-level metadata every shard of a dataset carries."""
    return {
        META_SCHEMA_VERSION: str(SHARD_SCHEMA_VERSION),
        META_SYNTHGEN_VERSION: synthgen_version(),
        META_CONFIG_HASH: digest,
        META_DATASET_NAME: name,
    }
