"""Export a dataset for other trainers. ``ltx-trainer``: MP4/WAV files plus ``dataset.jsonl``.

Layout written by ``export_ltx_trainer``::

    OUT/dataset.jsonl             one line per clip: video, reference_video, audio, reference_audio, caption
    OUT/videos/<clip_id>.mp4      the target (the shard's MP4 bytes, copied, not re-encoded)
    OUT/references/<clip_id>.mp4  the reference video the IC-LoRA is conditioned on
    OUT/audio/<clip_id>.wav       the clip's audio (24-bit PCM), when it has audio
    OUT/labels/<clip_id>.json     the label arrays as nested lists (not read by the trainer)

Paths in ``dataset.jsonl`` are relative to OUT. ``reference_audio`` is the clip's own audio for the job that
is conditioned on audio (``audio_to_video``) and null otherwise (no ``union`` rule combines audio).
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import soundfile

from synthgen.dataset.media import decode_audio
from synthgen.dataset.reader import open_dataset
from synthgen.errors import DataError
from synthgen.fileio import atomic_write_bytes, atomic_write_text

_AUDIO_CONDITIONED_JOBS = ("audio_to_video",)


def export_ltx_trainer(path: str, out_dir: str | Path) -> Path:
    """Write the dataset at ``path`` in the LTX-2 trainer's input layout under ``out_dir``; returns the
    path of ``dataset.jsonl``. Media bytes are copied from the shards (no re-encoding)."""
    out = Path(out_dir)
    for folder in ("videos", "references", "audio", "labels"):
        (out / folder).mkdir(parents=True, exist_ok=True)
    lines: list[str] = []
    for clip_raw in open_dataset(path, decode_media=False):
        clip_id = clip_raw["clip_id"]
        entry: dict[str, Any] = {"video": f"videos/{clip_id}.mp4", "reference_video": None, "audio": None,
                                 "reference_audio": None, "caption": clip_raw["caption"]}  # fmt: skip
        atomic_write_bytes(out / entry["video"], clip_raw["video"])
        if clip_raw["reference_video"] is not None:
            entry["reference_video"] = f"references/{clip_id}.mp4"
            atomic_write_bytes(out / entry["reference_video"], clip_raw["reference_video"])
        if clip_raw["audio"] is not None:
            samples, rate = decode_audio(clip_raw["audio"], name=f"{clip_id}: audio")
            entry["audio"] = f"audio/{clip_id}.wav"
            wav = io.BytesIO()
            soundfile.write(wav, samples, rate, format="WAV", subtype="PCM_24")
            atomic_write_bytes(out / entry["audio"], wav.getvalue())
            if clip_raw["control_job"] in _AUDIO_CONDITIONED_JOBS:
                entry["reference_audio"] = entry["audio"]
        labels = {k.removeprefix("label_"): v.tolist() for k, v in clip_raw.items() if k.startswith("label_")}
        atomic_write_text(out / "labels" / f"{clip_id}.json", json.dumps(labels))
        lines.append(json.dumps(entry))
    if not lines:
        raise DataError(f"{path}: no clips to export")
    # Every file is written atomically, the index last: an interrupted export leaves no half-written file.
    jsonl = out / "dataset.jsonl"
    atomic_write_text(jsonl, "".join(line + "\n" for line in lines))
    return jsonl
