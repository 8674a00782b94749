"""synthgen-infer on the tiny model (CPU): videos, side-by-side sheets and a report with adherence per clip,
with and without a LoRA trained by synthgen-train; bad input is one line, exit 2, nothing written."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from synthgen.dataset.media import decode_video
from synthgen.dataset.store import write_dataset
from synthgen.dataset.testing import example_row
from synthgen.errors import ConfigError
from synthgen.trainer.infer import ClipJob, check_ltx_shape, lora_effect, plan, read_lora, run_inference
from synthgen.trainer.infer_config import load_infer_config

pytestmark = pytest.mark.filterwarnings("ignore")
ROOT = Path(__file__).resolve().parents[1]
CLIPS = 3


def labelled_row(index: int) -> Any:
    """A tiny motion_track row with every label the adherence metric reads."""
    row = example_row(index, dataset_name="infer")
    labels = dict(row.labels)
    labels["tracks_behind_camera"] = np.zeros_like(labels["tracks_in_frame"])
    return dataclasses.replace(row, labels=labels)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("infer") / "ds"
    write_dataset((labelled_row(i) for i in range(CLIPS)), root, num_clips=CLIPS)
    return root


@pytest.fixture(scope="module")
def trained_run(dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """synthgen-train train=cpu_quick (two steps) on the same dataset, validating before and after."""
    from synthgen.trainer.config import load_train_config
    from synthgen.trainer.train import run

    out = tmp_path_factory.mktemp("train")
    settings = load_train_config(
        {
            "output_dir": str(out / "run"),
            "data": {"path": str(dataset), "cache_dir": str(out / "cache"), "buckets": ["64x64x9"], "eval_clips": 1},
            "lora": {"rank": 4, "alpha": 4},
            "eval": {"sigmas": [0.5], "noise_draws": 1},
            "train": {"steps": 2, "progress": False},
        },
        overrides=["train=cpu_quick", "train.validation.every=2", "train.validation.num_inference_steps=1",
                   "train.validation.guidance_scale=1"],
    )  # fmt: skip
    run(settings)
    return out / "run"


@pytest.fixture(scope="module")
def trained_lora(trained_run: Path) -> Path:
    return trained_run / "lora.safetensors"


def test_validation_during_training_writes_videos_and_records_adherence_before_and_after(
    trained_run: Path,
) -> None:
    for step in (0, 2):
        folder = trained_run / "validation" / f"step_{step}"
        assert decode_video((folder / "infer-000002.mp4").read_bytes()).shape == (9, 64, 64, 3)
        assert (folder / "infer-000002_side.png").exists()
    assert not (trained_run / "validation" / "step_1").exists()
    report = json.loads((trained_run / "report.json").read_text())
    before, after = report["validation_before"], report["validation_after"]
    assert (before["step"], after["step"]) == (0, 2)
    assert [c["clip_id"] for c in after["clips"]] == ["infer-000002"]  # the held-out clip (eval_clips=1)
    assert "motion_track" in before["mean"] and "control_gain" in report["eval_after"]
    assert list((trained_run / "tensorboard" / "validation").glob("events.out.tfevents.*"))


def settings_for(dataset: Path, out: Path, **values: Any) -> Any:
    base: dict[str, Any] = {"output_dir": str(out), "data": {"path": str(dataset), "eval_clips": 2}}
    for key, value in values.items():
        base.setdefault(key, {}).update(value) if isinstance(value, dict) else base.update({key: value})
    return load_infer_config(base, overrides=["infer=cpu_quick", "infer.num_inference_steps=1"])


def test_bare_model_writes_videos_sheets_and_adherence_for_each_held_out_clip(
    dataset: Path, tmp_path: Path
) -> None:
    report = run_inference(settings_for(dataset, tmp_path / "out", infer={"progress": False}))
    ids = [clip["clip_id"] for clip in report["clips"]]
    assert ids == ["infer-000001", "infer-000002"]  # the last data.eval_clips clips, as training holds out
    for clip in report["clips"]:
        video = decode_video((tmp_path / "out" / clip["video"]).read_bytes())
        assert video.shape == (9, 64, 64, 3)
        side = decode_video((tmp_path / "out" / f"{clip['clip_id']}_side.mp4").read_bytes())
        assert side.shape == (9, 64, 3 * 64, 3)  # reference | generated | target
        assert (tmp_path / "out" / f"{clip['clip_id']}_side.png").stat().st_size > 0
        assert clip["adherence"]["control_job"] == "motion_track"
        assert "motion_track" in clip["adherence"]["metrics"]
    saved = json.loads((tmp_path / "out" / "report.json").read_text())
    assert saved["lora"] is None and saved["lora_scale"] == 0.0


def test_same_seed_gives_the_same_video(dataset: Path, tmp_path: Path) -> None:
    def once(out: Path) -> np.ndarray:
        run_inference(settings_for(dataset, out, data={"clips": ["infer-000000"]}, infer={"progress": False}))
        return decode_video((out / "infer-000000.mp4").read_bytes())

    assert np.array_equal(once(tmp_path / "a"), once(tmp_path / "b"))


def test_trained_lora_with_baseline_reports_both_and_the_effect(
    dataset: Path, trained_lora: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    report = run_inference(
        settings_for(
            dataset,
            out,
            data={"clips": ["infer-000002"]},
            lora={"path": str(trained_lora), "baseline": True},
            infer={"progress": False},
        )
    )
    (clip,) = report["clips"]
    assert report["lora"] == str(trained_lora) and report["reference_downscale"] == 1
    assert (out / "infer-000002.mp4").exists() and (out / "infer-000002_baseline.mp4").exists()
    assert set(clip["lora_effect"]) == set(clip["adherence"]["metrics"])
    with_lora = decode_video((out / "infer-000002.mp4").read_bytes())
    baseline = decode_video((out / "infer-000002_baseline.mp4").read_bytes())
    assert with_lora.shape == baseline.shape


def test_lora_effect_is_lora_minus_baseline() -> None:
    a = {"metrics": {"m": {"x": 0.75, "n": None}}}
    b = {"metrics": {"m": {"x": 0.25, "n": 1.0}}}
    assert lora_effect(a, b) == {"m": {"x": 0.5, "n": None}}
    assert lora_effect(a, None) == {}


def job(width: int, height: int, frames: int, reference: tuple[int, int, int] | None) -> ClipJob:
    ref = None if reference is None else np.zeros((*reference, 3), dtype=np.uint8)
    return ClipJob("c", "p", width, height, frames, 24.0, ref, None)


@pytest.mark.parametrize(
    ("bad", "downscale", "message"),
    [
        (job(48, 64, 9, None), 1, "multiples of 32"),
        (job(64, 64, 10, None), 1, r"8k\+1"),
        (job(64, 64, 9, (9, 64, 64)), 2, "reference downscale factor 2 needs 32x32x9"),
        (job(64, 64, 9, (5, 64, 64)), 1, "needs 64x64x9"),
        (job(64, 64, 9, (9, 32, 32)), 2, None),
        (job(64, 64, 9, (9, 16, 16)), 4, "multiples of 32"),
        (job(128, 128, 9, (9, 32, 32)), 4, None),
    ],
)
def test_ltx_shape_rules(bad: ClipJob, downscale: int, message: str | None) -> None:
    if message is None:
        check_ltx_shape(bad, downscale, "clip c")
        return
    with pytest.raises(ConfigError, match=message):
        check_ltx_shape(bad, downscale, "clip c")


def test_bad_input_is_refused_at_planning(dataset: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"data.clips: no clip 'nope'"):
        plan(settings_for(dataset, tmp_path, data={"clips": ["nope"]}))
    corrupt = tmp_path / "corrupt.safetensors"
    corrupt.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    with pytest.raises(ConfigError, match=r"lora.path=.*not a readable LoRA"):
        read_lora(str(corrupt))
    with pytest.raises(ConfigError, match=r"lora.path=.*no such file"):
        plan(settings_for(dataset, tmp_path, lora={"path": str(tmp_path / "missing.safetensors")}))
    big = tmp_path / "ds4.safetensors"
    save_file(
        {"diffusion_model.transformer_blocks.0.attn1.to_q.lora_A.weight": torch.zeros(4, 32)},
        str(big),
        metadata={"reference_downscale_factor": "2"},
    )
    with pytest.raises(
        ConfigError, match="reference_downscale=1 differs from the LoRA's reference downscale factor 2"
    ):
        plan(settings_for(dataset, tmp_path, lora={"path": str(big)}))
    upstream = tmp_path / "upstream.safetensors"
    save_file(
        {"diffusion_model.transformer_blocks.0.attn1.to_q.lora_A.weight": torch.zeros(4, 32)},
        str(upstream),
        metadata={"reference_spatial_scale_factor": "2"},
    )
    assert read_lora(str(upstream)).downscale() == 2
    with pytest.raises(ConfigError, match="not both"):
        settings_for(dataset, tmp_path, reference={"video": "x.mp4", "prompt": "p"})


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    return subprocess.run(
        [sys.executable, "-m", "synthgen.trainer.infer_app", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=600,
    )


def test_cli_refuses_a_lora_for_another_model_in_one_line_and_writes_nothing(
    dataset: Path, tmp_path: Path
) -> None:
    other = tmp_path / "other.safetensors"
    save_file({"diffusion_model.blocks.0.attn.qkv.lora_A.weight": torch.zeros(4, 32),
               "diffusion_model.blocks.0.attn.qkv.lora_B.weight": torch.zeros(32, 4)}, str(other))  # fmt: skip
    out = tmp_path / "out"
    done = cli(
        "infer=cpu_quick", f"data.path={dataset}", f"lora.path={other}", f"output_dir={out}", cwd=tmp_path
    )
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("synthgen-infer: error:")]
    assert len(lines) == 1 and "match no linear layer" in lines[0], done.stderr
    assert not list(out.glob("*.mp4")) and not (out / "report.json").exists()


def test_cli_unknown_clip_is_one_line_before_hydra(dataset: Path, tmp_path: Path) -> None:
    done = cli("infer=cpu_quick", f"data.path={dataset}", "data.clips=[nope]", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"synthgen-infer: error: data.clips: no clip 'nope' in {dataset} ({CLIPS} clips)"
    ]
    assert not (tmp_path / "outputs").exists()


def test_reference_from_a_file_gives_the_target_size_and_no_adherence(tmp_path: Path) -> None:
    from synthgen.dataset.media import VideoEncoding, encode_video

    reference = tmp_path / "ref.mp4"
    frames = np.asarray(labelled_row(0).reference_video)
    reference.write_bytes(encode_video(frames, 24.0, VideoEncoding(crf=18)))
    settings = load_infer_config(
        {"output_dir": str(tmp_path / "out"), "data": {"path": None},
         "reference": {"video": str(reference), "prompt": "A square slides."}, "infer": {"progress": False}},
        overrides=["infer=cpu_quick", "infer.num_inference_steps=1"],
    )  # fmt: skip
    (clip,) = run_inference(settings)["clips"]
    assert clip["clip_id"] == "ref" and clip["adherence"] is None and clip["prompt"] == "A square slides."
    assert decode_video((tmp_path / "out" / "ref.mp4").read_bytes()).shape == (9, 64, 64, 3)
    side = decode_video((tmp_path / "out" / "ref_side.mp4").read_bytes())
    assert side.shape == (9, 64, 128, 3)  # reference | generated
    odd = tmp_path / "odd.mp4"
    odd.write_bytes(encode_video(frames[:8], 24.0, VideoEncoding(crf=18)))
    with pytest.raises(ConfigError, match=r"reference.video=.*8 frames; LTX needs 8k\+1"):
        plan(load_infer_config(
            {"output_dir": str(tmp_path / "o2"), "data": {"path": None},
             "reference": {"video": str(odd), "prompt": "p"}},
        ))  # fmt: skip


def test_a_folder_of_something_else_is_not_written_into(dataset: Path, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match=r"output_dir=.*a non-empty folder that this tool did not write"):
        run_inference(settings_for(dataset, tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_file_names_built_from_clip_ids_stay_in_the_output_folder(tmp_path: Path) -> None:
    from synthgen.errors import DataError
    from synthgen.trainer.infer import output_path

    assert output_path(tmp_path, "clip-000001_side.png") == tmp_path / "clip-000001_side.png"
    for name in ("../escape.mp4", "/abs.mp4", "a/../../b.mp4"):
        with pytest.raises(DataError, match="not a relative path inside its folder"):
            output_path(tmp_path, name)


def editor_json(frames: int = 9) -> str:
    """Two tracks as ComfyUI's LTXVSparseTrackEditor writes them, drawn on a 128 x 128 image."""
    tracks = [
        [{"x": 20.0 + 8 * t, "y": 40.0} for t in range(frames)],
        [{"x": 100.0, "y": 20.0 + 6 * t} for t in range(frames - 3)],
    ]
    return json.dumps([json.dumps(track) for track in tracks])


@pytest.mark.parametrize("style", ["synthgen_tracks", "ltx_sparse_tracks"])
def test_json_tracks_reference_generates_and_scores_against_the_tracks(tmp_path: Path, style: str) -> None:
    from synthgen.controls import MotionTrackParams, editor_tracks_video, parse_editor_tracks

    tracks = tmp_path / "drawn.json"
    tracks.write_text(editor_json())
    settings = load_infer_config(
        {"output_dir": str(tmp_path / "out"), "data": {"path": None}, "infer": {"progress": False},
         "reference": {"tracks": str(tracks), "style": style, "prompt": "Two balls.", "width": 64, "height": 64,
                       "num_frames": 9, "tracks_size": [128, 128]}},
        overrides=["infer=cpu_quick", "infer.num_inference_steps=1"],
    )  # fmt: skip
    (job,) = plan(settings).jobs
    params = MotionTrackParams.model_validate(
        {"style": style, "num_tracks": 64, "trail_length": 8, "point_radius_px": 2.0, "line_width_px": 1.0,
         "background": "black", "dim_factor": 0.35}
    )  # fmt: skip
    want = editor_tracks_video(parse_editor_tracks(editor_json()), params, 64, 64, source_size=(128, 128))
    assert job.reference is not None and np.array_equal(job.reference, want)
    (clip,) = run_inference(settings)["clips"]
    assert clip["clip_id"] == "drawn" and clip["prompt"] == "Two balls."
    numbers = clip["adherence"]["metrics"]["motion_track"]
    assert numbers["num_tracks"] == 2 and numbers["num_points"] == 8 + 5
    assert decode_video((tmp_path / "out" / "drawn.mp4").read_bytes()).shape == (9, 64, 64, 3)
    assert json.loads((tmp_path / "out" / "report.json").read_text())["clips"][0]["adherence"] is not None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[{"x": 1, "y": 2}, ', "not JSON"),
        ('[[{"x": 1}]]', "track 0 point 0"),
        ("{}", "no track found"),
    ],
)
def test_cli_malformed_json_tracks_is_one_line_exit_2_and_nothing_written(
    tmp_path: Path, text: str, message: str
) -> None:
    tracks = tmp_path / "bad.json"
    tracks.write_text(text)
    out = tmp_path / "out"
    done = cli(
        "infer=cpu_quick", "data.path=null", f"reference.tracks={tracks}", "reference.prompt=p",
        "reference.width=64", "reference.height=64", "reference.num_frames=9", f"output_dir={out}", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("synthgen-infer: error: reference.tracks="), done.stderr
    assert message in lines[0]
    assert not out.exists() and not (tmp_path / "outputs").exists()


def test_drawn_tracks_adherence_rewards_motion_that_follows_them() -> None:
    import cv2

    from synthgen.adherence.tracks import tracks_adherence

    rng = np.random.default_rng(0)
    texture = cv2.GaussianBlur(rng.integers(0, 256, (96, 96)).astype(np.uint8), (5, 5), 0)
    shifts = np.array([[1.5 * t, 0.5 * t] for t in range(5)])
    gray = [
        cv2.warpAffine(texture, np.array([[1, 0, dx], [0, 1, dy]], np.float32), (96, 96)) for dx, dy in shifts
    ]
    video = np.repeat(np.stack(gray)[..., None], 3, axis=-1)
    start = np.array([[40.5, 40.5], [50.5, 44.5], [200.0, 10.0]])  # the last one is outside the frame
    follows = start[None] + shifts[:, None]
    visible = np.ones((5, 3), dtype=bool)
    good = tracks_adherence(follows, visible, video)
    assert good["num_tracks"] == 2 and good["num_points"] == 2 * 4
    good_epe, good_avg = good["median_epe_px"], good["delta_avg"]
    assert good["delta_1"] == 1.0 and good_epe is not None and good_epe < 0.2 and good_avg is not None
    against = tracks_adherence(start[None] - shifts[:, None], visible, video)
    against_epe, against_avg = against["median_epe_px"], against["delta_avg"]
    assert (
        against_avg is not None and against_avg < good_avg and against_epe is not None and against_epe > 2.0
    )
