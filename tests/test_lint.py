"""synthgen lint: each rule rejects its kind of ambiguous pair and passes a clean one; CLI exit code + report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from synthgen.cli.main import main
from synthgen.dataset.lint import (
    LintThresholds,
    beats_followed,
    camera_motion_amount,
    check_alignment,
    check_beats,
    check_identical,
    check_motion,
    check_tracks,
    check_view,
    lint_clips,
    parse_thresholds,
    reference_thumbnail,
)
from synthgen.dataset.rows import ROW_FIELDS
from synthgen.describe.spec import ClipSettings, ClipSpec, ObjectSpec, OrbitMove, StaticPath
from synthgen.errors import ConfigError
from synthgen.labels.compute import compute_labels
from synthgen.pipeline.clip import label_arrays

T = LintThresholds()


def clip_row(
    index: int = 0, job: str = "motion_track", motion_px: float = 10.0, seed: int = 0, **spec_updates: Any
) -> dict[str, Any]:
    """A decoded row as open_dataset yields it: scalars, labels with the label_ prefix, reference video."""
    spec = ClipSpec(
        dataset_seed=0,
        clip_index=index,
        scene="test",
        clip=ClipSettings(width=64, height=64, num_frames=9, fps=24.0),
        objects=(ObjectSpec(object_id=1, name="a", path=StaticPath(position_m=(0.0, 0.0, 0.5))),),
        **spec_updates,
    )
    labels = label_arrays(compute_labels(spec))
    frames = np.arange(9, dtype=np.float64)[:, None, None]
    tracks = np.stack(np.meshgrid(np.linspace(10, 50, 3), np.linspace(10, 50, 2)), -1).reshape(1, 6, 2)
    xy = tracks + frames * np.array([motion_px / 8.0, 0.0])
    labels.update(
        tracks_xy_px=np.broadcast_to(xy, (9, 6, 2)).copy(),
        tracks_in_frame=np.ones((9, 6), bool),
        tracks_occluded=np.zeros((9, 6), bool),
        tracks_behind_camera=np.zeros((9, 6), bool),
    )
    rng = np.random.default_rng(seed)
    row: dict[str, Any] = {
        "clip_id": spec.clip_id,
        "clip_index": index,
        "control_job": job,
        "spec_json": spec.to_json(),
        "reference_spec_json": None,
        "fps": 24.0,
        "num_frames": 9,
        "height": 64,
        "width": 64,
        "reference_video": rng.integers(0, 256, (9, 64, 64, 3), dtype=np.uint8),
        "reference_downscale": 1,
        "reference_temporal_factor": 1,
        "audio_sample_rate": None,
        "audio_num_samples": None,
    }
    row.update({f"label_{name}": value for name, value in labels.items()})
    return row


def rules_of(findings: list[Any]) -> set[str]:
    return {f.rule for f in findings}


def test_clean_clip_has_no_findings() -> None:
    report = lint_clips([clip_row(i, seed=i) for i in range(4)], T)
    assert report.findings == []


def test_tracks_visible_in_too_few_frames_are_rejected() -> None:
    row = clip_row()
    row["label_tracks_occluded"][:6] = True
    assert rules_of(check_tracks(row, T)) == {"tracks_rarely_visible"}


def test_track_rule_does_not_apply_to_depth_jobs() -> None:
    row = clip_row(job="depth")
    row["label_tracks_occluded"][:] = True
    assert check_tracks(row, T) == []


def test_near_zero_track_motion_is_rejected() -> None:
    assert rules_of(check_motion(clip_row(motion_px=0.5), T)) == {"near_zero_motion"}


def test_static_camera_is_rejected_for_camera_motion() -> None:
    assert rules_of(check_motion(clip_row(job="camera_motion"), T)) == {"near_zero_motion"}


def test_orbiting_camera_passes_for_camera_motion() -> None:
    from synthgen.describe.spec import CameraSpec

    row = clip_row(job="camera_motion", camera=CameraSpec(moves=(OrbitMove(amount=30.0),)))
    assert check_motion(row, T) == []


def test_one_clearly_moving_object_is_enough_motion() -> None:
    row = clip_row(motion_px=0.0)
    row["label_tracks_object_id"] = np.array([0, 0, 0, 0, 1, 1])
    row["label_tracks_xy_px"][:, 4:, 0] += np.arange(9)[:, None] * 1.0
    assert check_motion(row, T) == []


def test_camera_motion_amount_measures_rotation_in_degrees() -> None:
    angle = np.radians(10.0)
    rotation = np.eye(4)
    rotation[:2, :2] = [[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]
    translation, rotation_deg = camera_motion_amount(np.stack([np.eye(4), rotation]))
    assert translation == 0.0
    assert rotation_deg == pytest.approx(10.0)


def test_reference_identical_across_most_clips_is_rejected() -> None:
    rows = [clip_row(i, seed=0) for i in range(4)]
    thumbs = {r["clip_id"]: reference_thumbnail(r["reference_video"]) for r in rows}
    assert len(check_identical(thumbs, T)) == 4


def test_misaligned_reference_frame_count_is_rejected() -> None:
    row = clip_row()
    row["reference_video"] = row["reference_video"][:5]
    findings = check_alignment(row, T)
    assert rules_of(findings) == {"misaligned_reference"}
    assert "(5, 64, 64)" in findings[0].message


def test_reference_size_must_follow_the_downscale_factor() -> None:
    row = clip_row()
    row["reference_downscale"] = 2
    assert rules_of(check_alignment(row, T)) == {"misaligned_reference"}
    row["reference_video"] = row["reference_video"][:, ::2, ::2]
    assert check_alignment(row, T) == []


def test_reference_scene_with_other_fps_is_rejected() -> None:
    row = clip_row(job="camera_motion")
    other = json.loads(row["spec_json"])
    other["clip"]["fps"] = 25.0
    row["reference_spec_json"] = json.dumps(other)
    assert rules_of(check_alignment(row, T)) == {"misaligned_reference"}


def test_camera_path_leaving_all_objects_out_of_view_is_rejected() -> None:
    row = clip_row()
    row["label_position_m"] = row["label_position_m"] + np.array([0.0, -20.0, 0.0])  # behind the camera
    assert rules_of(check_view(row, T)) == {"objects_out_of_view"}


def test_objects_in_view_pass() -> None:
    assert check_view(clip_row(), T) == []


def test_beats_without_motion_events_are_rejected() -> None:
    row = clip_row(job="audio_to_video")
    sources = np.zeros((1, 9), bool)
    sources[0, [0, 4, 8]] = True
    row["label_binding_source_frames"] = sources
    row["label_binding_event_frames"] = np.zeros((1, 9), bool)
    assert rules_of(check_beats(row, T)) == {"unfollowed_beats"}
    row["label_binding_event_frames"] = sources.copy()
    assert check_beats(row, T) == []


def test_audio_clip_without_bindings_is_rejected() -> None:
    assert rules_of(check_beats(clip_row(job="audio_to_video"), T)) == {"unfollowed_beats"}


def test_beats_followed_counts_events_within_tolerance() -> None:
    sources = np.array([[True, False, False, False, True, False]])
    events = np.array([[False, True, False, False, False, False]])
    assert beats_followed(sources, events, 1) == (1, 2)
    assert beats_followed(sources, events, 0) == (0, 2)


def test_warn_only_turns_a_rule_into_a_warning() -> None:
    thresholds = parse_thresholds({"warn_only": ["near_zero_motion"]})
    findings = check_motion(clip_row(motion_px=0.0), thresholds)
    assert [f.level for f in findings] == ["warning"]


def test_an_unknown_warn_only_rule_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"^control\.lint\.warn_only='nope': not a rule"):
        parse_thresholds({"warn_only": ["nope"]})


def test_bad_threshold_raises_config_error_naming_the_field() -> None:
    with pytest.raises(ConfigError, match=r"control\.lint\.min_motion_px"):
        parse_thresholds({"min_motion_px": -1})


# --------------------------------------------------------------------------------- CLI, real shards


def shard_row(index: int, motion_px: float) -> dict[str, Any]:
    row = clip_row(index, motion_px=motion_px, seed=index)
    labels = {k.removeprefix("label_"): v for k, v in row.items() if k.startswith("label_")}
    return {
        **{k: v for k, v in row.items() if not k.startswith("label_") and k in ROW_FIELDS},
        "dataset_name": "lint",
        "dataset_seed": 0,
        "scene": "test",
        "caption": "a test clip",
        "video": np.zeros((9, 64, 64, 3), np.uint8),
        "controls": {"motion_track": row["reference_video"]},
        "labels": labels,
        "pairing": {"job": "motion_track"},
    }


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    from synthgen.dataset import write_dataset

    root = tmp_path / "ds"
    hidden = shard_row(3, 10.0)
    hidden["labels"]["tracks_occluded"][:] = True
    rows = [shard_row(0, 10.0), shard_row(1, 0.0), shard_row(2, 12.0), hidden]
    config = {"control": {"job": "motion_track", "lint": {"min_motion_px": 3.0}}}
    write_dataset(rows, root, num_clips=4, config=config)
    return root


def test_lint_cli_exit_code_and_report_name_the_rejected_clips(
    dataset: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["lint", str(dataset)])
    report = json.loads((dataset / "lint_report.json").read_text())
    assert code == 1
    assert list(report["clips"]) == ["synthgen-000001", "synthgen-000003"]
    assert report["clips"]["synthgen-000001"]["findings"][0]["rule"] == "near_zero_motion"
    assert "tracks_rarely_visible" in {f["rule"] for f in report["clips"]["synthgen-000003"]["findings"]}
    assert report["thresholds"]["min_motion_px"] == 3.0  # from the dataset's config
    assert "near_zero_motion" in capsys.readouterr().out


def test_lint_cli_flags_override_the_dataset_thresholds(dataset: Path, tmp_path: Path) -> None:
    report_path = tmp_path / "r.json"
    flags = ["--min-motion-px", "0", "--min-visible-tracks", "0", "--report", str(report_path)]
    assert main(["lint", str(dataset), *flags]) == 0
    assert json.loads(report_path.read_text())["num_rejected"] == 0


def test_lint_cli_warn_only_keeps_exit_code_zero_unless_strict(dataset: Path) -> None:
    warn = ["--warn-only", "near_zero_motion", "tracks_rarely_visible"]
    assert main(["lint", str(dataset), *warn]) == 0
    assert main(["lint", str(dataset), "--strict", *warn]) == 1


def test_lint_cli_on_a_missing_dataset_exits_2(tmp_path: Path) -> None:
    assert main(["lint", str(tmp_path / "nothing")]) == 2


def test_lint_cli_of_a_manifest_that_is_no_object_is_one_line(
    dataset: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (dataset / "_manifest.json").write_text("[]")
    assert main(["lint", str(dataset)]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"synthgen lint: error: {dataset / '_manifest.json'}: malformed manifest "
        "(list indices must be integers or slices, not str)"
    ]
