"""Export a dataset for other trainers. ``ltx-trainer``: MP4/WAV files plus ``dataset.jsonl``.

Layout written by ``export_ltx_trainer``::

    OUT/dataset.jsonl             one line per clip: video, reference_video, audio, reference_audio, caption
    OUT/videos/<clip_id>.mp4      the target (the shard's MP4 bytes, copied, not re-encoded)
    OUT/references/<clip_id>.mp4  the reference video the IC-LoRA is conditioned on
    OUT/audio/<clip_id>.wav       the clip's audio (24-bit PCM), when it has audio
    OUT/labels/<clip_id>.json     the label arrays as nested lists (not read by the trainer)

Paths in ``dataset.jsonl`` are relative to OUT. Which row field fills which role is the control job's
``export_columns``: the job conditioned on audio (``audio_to_video``) names the clip's own audio as
``reference_audio``; the others leave it null. A role whose field is empty in a row is null in its line.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import soundfile

from synthgen.controls import get_job
from synthgen.dataset.media import decode_audio
from synthgen.dataset.reader import open_dataset
from synthgen.dataset.rows import LABEL_PREFIX, column_of
from synthgen.errors import DataError
from synthgen.fileio import (
    SAFE_NAME_PATTERN,
    atomic_write_bytes,
    atomic_write_text,
    check_output_dir,
    is_safe_name,
    safe_join,
)

ROLES = ("video", "reference_video", "audio", "reference_audio")
# Where each exportable ClipRow field goes: folder and file suffix.
_FILES = {"video": ("videos", ".mp4"), "reference_video": ("references", ".mp4"), "audio": ("audio", ".wav")}


def export_ltx_trainer(path: str, out_dir: str | Path, *, overwrite: bool = False) -> Path:
    """Write the dataset at ``path`` in the LTX-2 trainer's input layout under ``out_dir``; returns the
    path of ``dataset.jsonl``. Media bytes are copied from the shards (no re-encoding). A shard whose bytes
    differ from the manifest (sha256) raises DataError before anything is written. An ``out_dir`` holding
    anything but an earlier export is refused (ConfigError) unless ``overwrite``; a clip id that is no safe
    file name is a DataError."""
    out = check_output_dir(out_dir, "out", overwrite=overwrite, ours=_is_export_folder)
    for folder in ("videos", "references", "audio", "labels"):
        (out / folder).mkdir(parents=True, exist_ok=True)
    lines: list[str] = []
    # Every shard's sha256 is checked against the manifest before the first file is written.
    for columns in open_dataset(path, decode_media=False, verify="sha256"):
        clip_id = columns[column_of("clip_id")]
        if not is_safe_name(clip_id):
            raise DataError(
                f"{path}: clip_id={clip_id!r} is no safe file name ({SAFE_NAME_PATTERN}); not exported"
            )
        export = get_job(columns[column_of("control_job")]).export_columns
        written: dict[str, str] = {}
        entry: dict[str, Any] = {}
        for role in ROLES:
            field = getattr(export, role)
            if field is not None and columns[column_of(field)] is not None and field not in written:
                written[field] = _write_media(out, field, clip_id, columns[column_of(field)])
            entry[role] = written.get(field) if field is not None else None
        entry["caption"] = columns[column_of("caption")]
        labels = {
            name.removeprefix(LABEL_PREFIX): value.tolist()
            for name, value in columns.items()
            if name.startswith(LABEL_PREFIX)
        }
        atomic_write_text(safe_join(out, f"labels/{clip_id}.json", what="clip_id"), json.dumps(labels))
        lines.append(json.dumps(entry))
    if not lines:
        raise DataError(f"{path}: no clips to export")
    # Every file is written atomically, the index last: an interrupted export leaves no half-written file.
    jsonl = out / "dataset.jsonl"
    atomic_write_text(jsonl, "".join(line + "\n" for line in lines))
    return jsonl


def _is_export_folder(out: Path) -> bool:
    return {p.name for p in out.iterdir()} <= {
        "dataset.jsonl",
        *(folder for folder, _ in _FILES.values()),
        "labels",
    }


def _write_media(out: Path, field: str, clip_id: str, data: bytes) -> str:
    """Write one clip's stored media of ``field`` (MP4 bytes copied, FLAC audio as 24-bit WAV); returns the
    path relative to ``out``."""
    if field not in _FILES:
        raise DataError(f"export: row field {field!r} is no exportable media (have {', '.join(_FILES)})")
    folder, suffix = _FILES[field]
    relative = f"{folder}/{clip_id}{suffix}"
    if suffix == ".wav":
        samples, rate = decode_audio(data, name=f"{clip_id}: {field}")
        wav = io.BytesIO()
        soundfile.write(wav, samples, rate, format="WAV", subtype="PCM_24")
        data = wav.getvalue()
    atomic_write_bytes(safe_join(out, relative, what="clip_id"), data)
    return relative
