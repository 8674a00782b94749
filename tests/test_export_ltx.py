"""``synthgen export ltx-trainer`` read back by the rules of upstream's ``process_videos.py`` /
``process_dataset.py`` (Lightricks/LTX-2 packages/ltx-trainer, docs/dataset-preparation.md), for every job."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile

from synthgen.cli.main import main
from synthgen.controls import get_job, job_names
from synthgen.dataset import VideoEncoding, decode_video, write_dataset
from synthgen.dataset.export import EXPORT_INFO, export_ltx_trainer
from synthgen.dataset.rows import ClipRow
from synthgen.dataset.testing import example_row
from synthgen.errors import DataError

# docs/dataset-preparation.md, "Convention-Based Column Detection"
UPSTREAM_ROLES = {
    "video",
    "audio",
    "caption",
    "reference_video",
    "reference_audio",
    "video_mask",
    "audio_mask",
}
MEDIA_ROLES = UPSTREAM_ROLES - {"caption"}


def upstream_read(jsonl: Path) -> tuple[set[str], list[dict[str, Path | str]]]:
    """Columns from the first line's keys; on every line ``entry[column].strip()`` resolved against the
    file's folder and required to be a file (what process_videos.py does before encoding anything)."""
    lines = jsonl.read_text().splitlines()
    columns = set(json.loads(lines[0]))
    assert columns <= UPSTREAM_ROLES, f"unknown columns {columns - UPSTREAM_ROLES}"
    assert "caption" in columns and ({"video", "audio"} & columns)
    entries = []
    for line in lines:
        entry = json.loads(line)
        resolved: dict[str, Path | str] = {"caption": entry["caption"].strip()}
        for column in columns & MEDIA_ROLES:
            path = jsonl.parent / Path(entry[column].strip())  # AttributeError on null, KeyError on a gap
            assert path.is_file(), path
            resolved[column] = path
        entries.append(resolved)
    return columns, entries


def job_row(job: str, index: int, **changes: Any) -> ClipRow:
    reference = get_job(job).export_columns.reference_video is not None
    return example_row(index, with_reference=reference).replace(control_job=job, **changes)


def export(tmp_path: Path, rows: list[ClipRow]) -> Path:
    root = tmp_path / "ds"
    write_dataset(iter(rows), root, num_clips=len(rows), encoding=VideoEncoding(lossless=True))
    return export_ltx_trainer(str(root), tmp_path / "ltx")


@pytest.mark.parametrize("job", job_names())
def test_every_job_exports_what_upstream_reads(job: str, tmp_path: Path) -> None:
    rows = [job_row(job, index) for index in range(2)]
    columns, entries = upstream_read(export(tmp_path, rows))
    expected = {"caption", "video", "audio"} | (
        {"reference_video"} if get_job(job).export_columns.reference_video else set()
    )
    assert columns == expected  # audio_to_video: its audio as `audio`, never `reference_audio`
    for row, entry in zip(rows, entries, strict=True):
        target = decode_video(Path(entry["video"]).read_bytes())
        assert np.array_equal(target, row.video)
        if "reference_video" in entry:
            reference = decode_video(Path(entry["reference_video"]).read_bytes())
            assert reference.shape[0] == target.shape[0]  # upstream drops shorter references
            assert np.array_equal(reference, np.asarray(row.reference_video))
        samples, rate = soundfile.read(entry["audio"], dtype="float32")
        assert rate == row.audio_sample_rate and samples.size == np.asarray(row.audio).size


def test_silent_clips_have_no_audio_key_and_the_command_skips_audio(tmp_path: Path) -> None:
    rows = [example_row(i, audio_sample_rate=None) for i in range(2)]
    jsonl = export(tmp_path, rows)
    assert upstream_read(jsonl)[0] == {"caption", "video", "reference_video"}
    info = json.loads((jsonl.parent / EXPORT_INFO).read_text())
    assert info["process_dataset_command"].endswith("--skip-audio")


def test_export_info_and_command_state_the_reference_factors(tmp_path: Path) -> None:
    rows = [example_row(i) for i in range(2)]
    rows = [
        row.replace(
            reference_downscale=2,
            reference_video=np.ascontiguousarray(np.asarray(row.reference_video)[:, ::2, ::2]),
        )
        for row in rows
    ]
    jsonl = export(tmp_path, rows)
    info = json.loads((jsonl.parent / EXPORT_INFO).read_text())
    assert info["reference_downscale_factor"] == 2 and info["reference_temporal_scale_factor"] == 1
    assert info["clip_sizes_wxhxf"] == ["64x64x9"]
    assert info["process_dataset_command"] == (
        f'uv run python scripts/process_dataset.py {jsonl} --resolution-buckets "64x64x9" '
        "--model-path /path/to/ltx-2.3-22b-dev.safetensors --text-encoder-path /path/to/gemma-root "
        "--reference-downscale-factor 2 --reference-temporal-scale-factor 1"
    )


def test_cli_prints_the_upstream_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "ds"
    write_dataset(iter([example_row(0)]), root, num_clips=1, encoding=VideoEncoding(lossless=True))
    assert main(["export", "ltx-trainer", str(root), str(tmp_path / "ltx")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == str(tmp_path / "ltx" / "dataset.jsonl")
    assert "scripts/process_dataset.py" in out[1] and '--resolution-buckets "64x64x9"' in out[1]


def test_temporally_subsampled_references_are_refused_before_writing(tmp_path: Path) -> None:
    row = example_row(0)
    row = row.replace(
        reference_temporal_factor=2,
        reference_video=np.ascontiguousarray(np.asarray(row.reference_video)[::2]),
    )
    with pytest.raises(DataError, match=r"clip .* reference_temporal_factor=2: ltx-trainer needs full-rate"):
        export(tmp_path, [row])
    assert not (tmp_path / "ltx").exists()


def test_mixed_downscale_factors_are_refused_naming_two_clips(tmp_path: Path) -> None:
    first, second = example_row(0), example_row(1)
    second = second.replace(
        reference_downscale=2,
        reference_video=np.ascontiguousarray(np.asarray(second.reference_video)[:, ::2, ::2]),
    )
    with pytest.raises(
        DataError, match=rf"clip {first.clip_id} has reference_downscale=1 but clip {second.clip_id} 2"
    ):
        export(tmp_path, [first, second])


def test_mixed_column_sets_are_refused(tmp_path: Path) -> None:
    rows = [example_row(0), example_row(1).replace(control_job="audio_to_video", reference_video=None)]
    with pytest.raises(DataError, match="ltx-trainer takes the columns from the first line"):
        export(tmp_path, rows)
