"""CLI: ``synthgen validate / preview / export`` and the one-line errors of ``synthgen-generate``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile
from PIL import Image

from synthgen.cli.main import main
from synthgen.dataset import VideoEncoding, decode_video, open_dataset, write_dataset
from synthgen.dataset.export import export_ltx_trainer
from synthgen.dataset.testing import example_row


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    root = tmp_path / "ds"
    rows = (example_row(i) for i in range(3))
    write_dataset(rows, root, num_clips=3, clips_per_shard=2, encoding=VideoEncoding(lossless=True))
    return root


def test_validate_passes_a_good_dataset(dataset: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(dataset)]) == 0
    assert "ok, 3 clips in 2 shards" in capsys.readouterr().out


def test_validate_fails_naming_the_damaged_shard(dataset: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shard = dataset / "data" / "shard-00001-000.parquet"
    shard.write_bytes(shard.read_bytes()[:-10])
    assert main(["validate", str(dataset)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "shard-00001-000.parquet" in err[0]


def test_validate_of_a_folder_that_is_no_dataset_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["validate", str(tmp_path)]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_preview_writes_mp4_and_contact_sheet_of_the_first_clip(dataset: Path, tmp_path: Path) -> None:
    assert main(["preview", str(dataset), "--out", str(tmp_path / "prev")]) == 0
    frames = decode_video((tmp_path / "prev" / "example-000000.mp4").read_bytes())
    sheet = Image.open(tmp_path / "prev" / "example-000000.png")
    # reference | target | camera panel, each 64 px wide
    assert frames.shape == (9, 64, 192, 3)
    assert sheet.size == (192, 8 * 64)


def test_preview_of_a_named_clip(dataset: Path, tmp_path: Path) -> None:
    assert main(["preview", str(dataset), "--clip", "example-000002", "--out", str(tmp_path / "p")]) == 0
    assert (tmp_path / "p" / "example-000002.png").exists()


def test_preview_flashes_beat_frames(dataset: Path, tmp_path: Path) -> None:
    from synthgen.dataset.preview import beat_frames, load_clip, preview_frames

    clip = load_clip(str(dataset))
    frames = preview_frames(clip)
    beats = beat_frames(clip)
    assert beats
    for index in range(frames.shape[0]):
        border_white = bool(np.all(frames[index, 0, :] == 255))
        assert border_white == (index in beats)


def test_an_interrupted_preview_leaves_no_file_behind(
    dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from synthgen.dataset.preview import write_preview

    def failing_replace(*args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("os.replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        write_preview(str(dataset), tmp_path / "prev")
    assert list((tmp_path / "prev").iterdir()) == []


def test_preview_of_an_unknown_clip_is_one_line(
    dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["preview", str(dataset), "--clip", "nope", "--out", str(tmp_path / "p")]) == 2
    assert "no clip with clip_id='nope'" in capsys.readouterr().err


def test_export_ltx_trainer_reads_back_as_the_dataset(dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "ltx"
    assert main(["export", "ltx-trainer", str(dataset), str(out)]) == 0
    entries = [json.loads(line) for line in (out / "dataset.jsonl").read_text().splitlines()]
    clips = list(open_dataset(str(dataset)))
    assert len(entries) == len(clips) == 3
    for entry, clip in zip(entries, clips, strict=True):
        assert set(entry) == {"video", "reference_video", "audio", "caption"}  # no null keys
        assert entry["caption"] == clip["caption"]
        assert np.array_equal(decode_video((out / entry["video"]).read_bytes()), clip["video"])
        assert np.array_equal(
            decode_video((out / entry["reference_video"]).read_bytes()), clip["reference_video"]
        )
        samples, rate = soundfile.read(out / entry["audio"], dtype="float32")
        assert rate == clip["audio_sample_rate"] and np.array_equal(samples, clip["audio"])
        labels = json.loads((out / "labels" / f"{clip['clip_id']}.json").read_text())
        assert np.array_equal(np.asarray(labels["tracks_xy_px"]), clip["label_tracks_xy_px"])


def test_export_gives_audio_conditioned_jobs_audio_and_no_reference_keys(tmp_path: Path) -> None:
    rows = [example_row(i).replace(control_job="audio_to_video", reference_video=None) for i in range(2)]
    root = tmp_path / "ds"
    write_dataset(iter(rows), root, num_clips=2, encoding=VideoEncoding(lossless=True))
    out = tmp_path / "ltx"
    assert main(["export", "ltx-trainer", str(root), str(out)]) == 0
    entry = json.loads((out / "dataset.jsonl").read_text().splitlines()[0])
    assert set(entry) == {"video", "audio", "caption"}  # upstream's audio-to-video reads `audio` only


def test_an_interrupted_export_keeps_the_earlier_index_and_leaves_no_partial_file(
    dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "ltx"
    out.mkdir()
    (out / "dataset.jsonl").write_text("earlier\n")

    def failing_replace(*args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("os.replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        export_ltx_trainer(str(dataset), out)
    assert (out / "dataset.jsonl").read_text() == "earlier\n"
    assert [p.name for p in out.rglob("*") if p.is_file()] == ["dataset.jsonl"]  # no half-written media


# ---------------------------------------------------------------------------- synthgen-generate errors


def _generate(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    command = [str(Path(sys.executable).with_name("synthgen-generate")), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=cwd)


def test_generate_invalid_value_is_one_line_and_exit_code_2(tmp_path: Path) -> None:
    result = _generate(f"output_dir={tmp_path / 'x'}", "clip.num_frames=10", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "synthgen-generate: error: clip.num_frames=10: must be 8k+1 (nearest valid: 9 or 17)"
    ]


def test_generate_unknown_group_option_is_one_line(tmp_path: Path) -> None:
    result = _generate(f"output_dir={tmp_path / 'x'}", "scene=nope", cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("synthgen-generate: error: scene='nope': unknown option")


def test_generate_unknown_launcher_is_one_line(tmp_path: Path) -> None:
    result = _generate("-m", "hydra/launcher=nope", cwd=tmp_path)
    assert result.returncode == 2 and "hydra/launcher='nope': unknown option" in result.stderr


@pytest.mark.slow
def test_generate_validate_preview_export_with_the_real_pipeline(tmp_path: Path) -> None:
    pytest.importorskip("bpy")
    root = tmp_path / "ds"
    result = _generate(f"output_dir={root}", "dataset.num_clips=2", "clip.width=64", "clip.height=64",
                       "clip.num_frames=9", "render.samples=1", cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert main(["validate", str(root)]) == 0
    assert main(["preview", str(root), "--out", str(tmp_path / "prev")]) == 0
    assert main(["export", "ltx-trainer", str(root), str(tmp_path / "ltx")]) == 0
    assert len((tmp_path / "ltx" / "dataset.jsonl").read_text().splitlines()) == 2
