"""synthgen lint: each rule rejects its kind of ambiguous pair and passes a clean one; a job's rules apply to
its rows only; CLI exit code + report; thresholds from the packaged YAML."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from synthgen.cli.main import main
from synthgen.controls.rules import (
    CAMERA_BARELY_MOVES,
    OBJECTS_BARELY_MOVE,
    OBJECTS_OUT_OF_VIEW,
    TRACKS_RARELY_VISIBLE,
    UNFOLLOWED_BEATS,
    LintThresholds,
    beats_followed,
    camera_motion_amount,
)
from synthgen.dataset.lint import (
    MISALIGNED_REFERENCE,
    check_clip,
    check_identical,
    default_thresholds,
    lint_clips,
    packaged_thresholds,
    parse_thresholds,
    reference_thumbnail,
)
from synthgen.dataset.rows import ClipRow
from synthgen.describe.spec import CameraSpec, ClipSpec, ObjectSpec, OrbitMove, StaticPath
from synthgen.errors import ConfigError
from synthgen.labels.compute import compute_labels
from synthgen.pipeline.clip import label_arrays
from tests.conftest import clip_settings, render_spec

T = default_thresholds()


def clip_row(
    index: int = 0, job: str = "motion_track", motion_px: float = 10.0, seed: int = 0, **spec_updates: Any
) -> ClipRow:
    """A row with exact camera labels of a static object and six synthetic tracks moving ``motion_px``."""
    spec = ClipSpec(
        dataset_seed=0,
        clip_index=index,
        scene="test",
        clip=clip_settings(width=64, height=64, num_frames=9, fps=24.0),
        render=render_spec(),
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
    return ClipRow(
        clip_id=spec.clip_id,
        clip_index=index,
        dataset_name="synthgen",
        dataset_seed=0,
        scene="test",
        control_job=job,
        spec_json=spec.to_json(),
        reference_spec_json=None,
        caption="a test clip",
        fps=24.0,
        num_frames=9,
        height=64,
        width=64,
        video=np.zeros((9, 64, 64, 3), np.uint8),
        reference_video=rng.integers(0, 256, (9, 64, 64, 3), dtype=np.uint8),
        controls={},
        reference_downscale=1,
        reference_temporal_factor=1,
        audio=None,
        audio_sample_rate=None,
        labels=labels,
        pairing={"job": job},
        timings_s={},
    )


def rules_of(findings: list[Any]) -> set[str]:
    return {f.rule for f in findings}


def test_clean_clip_has_no_findings() -> None:
    report = lint_clips([clip_row(i, seed=i) for i in range(4)], T)
    assert report.findings == []


def test_tracks_visible_in_too_few_frames_are_rejected() -> None:
    row = clip_row()
    row.labels["tracks_occluded"][:6] = True
    assert rules_of(TRACKS_RARELY_VISIBLE(row, T)) == {"tracks_rarely_visible"}


def test_track_rule_applies_to_track_jobs_only() -> None:
    for job, expected in [
        ("motion_track", True),
        ("union", True),
        ("depth", False),
        ("camera_motion", False),
    ]:
        row = clip_row(job=job)
        row.labels["overlay_track_index"] = np.arange(6)  # the reference drew the tracks
        row.labels["tracks_occluded"][:] = True
        assert ("tracks_rarely_visible" in rules_of(check_clip(row, T))) is expected, job


def test_near_zero_track_motion_is_rejected() -> None:
    assert rules_of(OBJECTS_BARELY_MOVE(clip_row(motion_px=0.5), T)) == {"near_zero_motion"}


def test_static_camera_is_rejected_for_camera_motion() -> None:
    assert rules_of(CAMERA_BARELY_MOVES(clip_row(), T)) == {"near_zero_motion"}
    assert "near_zero_motion" in rules_of(check_clip(clip_row(job="camera_motion"), T))


def test_orbiting_camera_passes_for_camera_motion() -> None:
    row = clip_row(job="camera_motion", camera=CameraSpec(moves=(OrbitMove(amount=30.0),)))
    assert CAMERA_BARELY_MOVES(row, T) == []
    assert "near_zero_motion" not in rules_of(check_clip(row, T))


def test_one_clearly_moving_object_is_enough_motion() -> None:
    row = clip_row(motion_px=0.0)
    labels = {**row.labels, "tracks_object_id": np.array([0, 0, 0, 0, 1, 1])}
    labels["tracks_xy_px"][:, 4:, 0] += np.arange(9)[:, None] * 1.0
    assert OBJECTS_BARELY_MOVE(row.replace(labels=labels), T) == []


def test_camera_motion_amount_measures_rotation_in_degrees() -> None:
    angle = np.radians(10.0)
    rotation = np.eye(4)
    rotation[:2, :2] = [[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]
    translation, rotation_deg = camera_motion_amount(np.stack([np.eye(4), rotation]))
    assert translation == 0.0
    assert rotation_deg == pytest.approx(10.0)


def test_reference_identical_across_most_clips_is_rejected() -> None:
    rows = [clip_row(i, seed=0) for i in range(4)]
    thumbs = {
        r.clip_id: reference_thumbnail(r.reference_video) for r in rows if r.reference_video is not None
    }
    assert len(check_identical(thumbs, T)) == 4


def test_misaligned_reference_frame_count_is_rejected() -> None:
    row = clip_row()
    assert row.reference_video is not None
    findings = MISALIGNED_REFERENCE(row.replace(reference_video=row.reference_video[:5]), T)
    assert rules_of(findings) == {"misaligned_reference"}
    assert "(5, 64, 64)" in findings[0].message


def test_reference_size_must_follow_the_downscale_factor() -> None:
    row = clip_row().replace(reference_downscale=2)
    assert rules_of(MISALIGNED_REFERENCE(row, T)) == {"misaligned_reference"}
    assert row.reference_video is not None
    assert MISALIGNED_REFERENCE(row.replace(reference_video=row.reference_video[:, ::2, ::2]), T) == []


def test_reference_scene_with_other_fps_is_rejected() -> None:
    row = clip_row(job="camera_motion")
    other = json.loads(row.spec_json)
    other["clip"]["fps"] = 25.0
    row = row.replace(reference_spec_json=json.dumps(other))
    assert rules_of(MISALIGNED_REFERENCE(row, T)) == {"misaligned_reference"}


def test_a_missing_condition_is_misaligned_per_the_jobs_trainer_roles() -> None:
    without_reference = clip_row().replace(reference_video=None)
    assert [f.message for f in MISALIGNED_REFERENCE(without_reference, T)] == ["no reference video"]
    audio_job = clip_row(job="audio_to_video").replace(reference_video=None)
    assert [f.message for f in MISALIGNED_REFERENCE(audio_job, T)] == ["audio_to_video clip without audio"]


def test_audio_length_must_match_the_clip() -> None:
    samples = np.zeros(9 * 2000 + 3, np.float32)  # 9 frames at 24 fps need 18000 samples at 48 kHz
    row = clip_row(job="audio_to_video").replace(reference_video=None, audio=samples, audio_sample_rate=48000)
    assert "audio has 18003 samples" in MISALIGNED_REFERENCE(row, T)[0].message
    assert MISALIGNED_REFERENCE(row.replace(audio=samples[:18000]), T) == []


def test_camera_path_leaving_all_objects_out_of_view_is_rejected() -> None:
    row = clip_row()
    behind = {**row.labels, "position_m": row.labels["position_m"] + np.array([0.0, -20.0, 0.0])}
    assert rules_of(OBJECTS_OUT_OF_VIEW(row.replace(labels=behind), T)) == {"objects_out_of_view"}


def test_objects_in_view_pass() -> None:
    assert OBJECTS_OUT_OF_VIEW(clip_row(), T) == []


def test_beats_without_motion_events_are_rejected() -> None:
    row = clip_row(job="audio_to_video")
    sources = np.zeros((1, 9), bool)
    sources[0, [0, 4, 8]] = True
    unfollowed = row.replace(
        labels={
            **row.labels,
            "binding_source_frames": sources,
            "binding_event_frames": np.zeros((1, 9), bool),
        }
    )
    assert rules_of(UNFOLLOWED_BEATS(unfollowed, T)) == {"unfollowed_beats"}
    followed = row.replace(
        labels={**row.labels, "binding_source_frames": sources, "binding_event_frames": sources.copy()}
    )
    assert UNFOLLOWED_BEATS(followed, T) == []


def test_audio_clip_without_bindings_is_rejected_and_only_audio_jobs_check_beats() -> None:
    assert "unfollowed_beats" in rules_of(check_clip(clip_row(job="audio_to_video"), T))
    assert "unfollowed_beats" not in rules_of(check_clip(clip_row(job="motion_track"), T))


def test_beats_followed_counts_events_within_tolerance() -> None:
    sources = np.array([[True, False, False, False, True, False]])
    events = np.array([[False, True, False, False, False, False]])
    assert beats_followed(sources, events, 1) == (1, 2)
    assert beats_followed(sources, events, 0) == (0, 2)


def test_warn_only_turns_a_rule_into_a_warning() -> None:
    thresholds = default_thresholds(warn_only=["near_zero_motion"])
    findings = OBJECTS_BARELY_MOVE(clip_row(motion_px=0.0), thresholds)
    assert [f.level for f in findings] == ["warning"]


def test_findings_of_a_clip_are_listed_in_report_order() -> None:
    row = clip_row(motion_px=0.0)
    row.labels["tracks_occluded"][:] = True
    report = lint_clips([row.replace(reference_video=None)], T)
    assert [f.rule for f in report.findings] == [
        "tracks_rarely_visible",
        "near_zero_motion",
        "misaligned_reference",
    ]


def test_an_unknown_warn_only_rule_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"^control\.lint\.warn_only='nope': not a rule"):
        default_thresholds(warn_only=["nope"])


def test_bad_threshold_raises_config_error_naming_the_field() -> None:
    with pytest.raises(ConfigError, match=r"control\.lint\.min_motion_px"):
        default_thresholds(min_motion_px=-1)


def test_thresholds_have_no_defaults_of_their_own() -> None:
    assert all(field.is_required() for field in LintThresholds.model_fields.values())
    with pytest.raises(ConfigError, match=r"^control\.lint\.\w+: Field required"):
        parse_thresholds({"min_motion_px": 1.0})


def test_packaged_thresholds_are_what_the_generator_config_holds() -> None:
    from tests.conftest import packaged_defaults

    assert packaged_thresholds() == packaged_defaults().control.lint
    assert set(packaged_thresholds()) == set(LintThresholds.model_fields)


# --------------------------------------------------------------------------------- CLI, real shards


def shard_row(index: int, motion_px: float) -> ClipRow:
    row = clip_row(index, motion_px=motion_px, seed=index)
    assert row.reference_video is not None
    return row.replace(dataset_name="lint", controls={"motion_track": row.reference_video})


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    from synthgen.dataset import write_dataset

    root = tmp_path / "ds"
    hidden = shard_row(3, 10.0)
    hidden.labels["tracks_occluded"][:] = True
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
    assert report["thresholds"]["min_visible_tracks"] == packaged_thresholds()["min_visible_tracks"]
    assert "near_zero_motion" in capsys.readouterr().out


def test_lint_cli_of_a_dataset_without_records_uses_the_packaged_thresholds(dataset: Path) -> None:
    (dataset / "_manifest.json").unlink()
    (dataset / "_dataset.json").unlink()
    main(["lint", str(dataset)])
    report = json.loads((dataset / "lint_report.json").read_text())
    assert report["thresholds"] == {
        **packaged_thresholds(),
        "warn_only": list(packaged_thresholds()["warn_only"]),
    }


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
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"synthgen lint: error: {dataset / '_manifest.json'}: malformed")
