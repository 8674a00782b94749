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
from synthgen.dataset.export import DENSE_LABELS, EXPORT_INFO, export_ltx_trainer
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


def dense_row(index: int) -> ClipRow:
    """An example row carrying every per-pixel label in its stored dtype (docs/schema.md)."""
    row = example_row(index)
    rng = np.random.default_rng(index)
    frames, height, width = row.num_frames, row.height, row.width
    depth = rng.uniform(1.0, 9.0, (frames, height, width)).astype(np.float32)
    depth[:, :4] = np.inf  # sky
    flow = rng.normal(0, 3, (frames, height, width, 2)).astype(np.float16)
    flow[-1] = np.nan
    dense = {
        "flow_forward_px": flow,
        "flow_backward_px": -flow,
        "flow_forward_occluded": rng.random((frames, height, width)) < 0.1,
        "flow_backward_occluded": rng.random((frames, height, width)) < 0.1,
        "object_coordinates": rng.uniform(-0.5, 0.5, (frames, height, width, 3)).astype(np.float16),
        "normals_world": rng.normal(size=(frames, height, width, 3)).astype(np.float16),
        "depth_m": depth,
        "instance_ids": rng.integers(0, 3, (frames, height, width)).astype(np.uint16),
    }
    return row.replace(labels={**row.labels, **dense})


def test_per_pixel_labels_go_to_safetensors_not_json(tmp_path: Path) -> None:
    from safetensors.numpy import load_file

    rows = [dense_row(index) for index in range(2)]
    jsonl = export(tmp_path, rows)
    for row in rows:
        small = json.loads((jsonl.parent / "labels" / f"{row.clip_id}.json").read_text())
        assert set(small) == {name for name in row.labels if name not in DENSE_LABELS}
        assert small["tracks_xy_px"] == np.asarray(row.labels["tracks_xy_px"]).tolist()
        dense = load_file(str(jsonl.parent / "labels" / f"{row.clip_id}.safetensors"))
        assert set(dense) == set(row.labels) & DENSE_LABELS and len(dense) == 8
        for name, value in dense.items():
            stored = np.asarray(row.labels[name])
            assert value.dtype == stored.dtype and value.shape == stored.shape, name
            assert np.array_equal(value, stored, equal_nan=value.dtype.kind == "f"), name
    info = json.loads((jsonl.parent / EXPORT_INFO).read_text())
    assert info["dense_labels"] == "labels/<clip_id>.safetensors"


def test_no_dense_labels_leaves_them_out_and_removes_an_earlier_file(tmp_path: Path) -> None:
    root, out = tmp_path / "ds", tmp_path / "ltx"
    row = dense_row(0)
    write_dataset(iter([row]), root, num_clips=1, encoding=VideoEncoding(lossless=True))
    assert main(["export", "ltx-trainer", str(root), str(out)]) == 0
    assert (out / "labels" / f"{row.clip_id}.safetensors").is_file()
    assert main(["export", "ltx-trainer", str(root), str(out), "--no-dense-labels"]) == 0
    assert sorted(p.name for p in (out / "labels").iterdir()) == [f"{row.clip_id}.json"]
    assert not set(json.loads((out / "labels" / f"{row.clip_id}.json").read_text())) & DENSE_LABELS
    assert json.loads((out / EXPORT_INFO).read_text())["dense_labels"] == "not exported"


def test_every_per_pixel_label_of_the_schema_is_kept_out_of_json() -> None:
    assert DENSE_LABELS == {
        "flow_forward_px",
        "flow_backward_px",
        "flow_forward_occluded",
        "flow_backward_occluded",
        "object_coordinates",
        "normals_world",
        "depth_m",
        "instance_ids",
    }
