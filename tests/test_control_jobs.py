"""Control jobs come from a registry: each built-in job states its parts in one module, the pipeline asks the
job what it needs, and a job registered at runtime goes through config, pipeline, captions, lint, export
and the trainer's roles without any other file knowing its name."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from pydantic import Field

from synthgen.controls import (
    ControlJob,
    ControlResult,
    JobParams,
    RenderedLike,
    get_job,
    job_names,
    parse_job_params,
    register,
    unregister,
)
from synthgen.controls.job import VIDEO_REFERENCE_EXPORT, VIDEO_REFERENCE_ROLES, AudioClipLike
from synthgen.controls.rules import OBJECTS_BARELY_MOVE, OBJECTS_OUT_OF_VIEW, LintRule
from synthgen.controls.signals.resample import to_reference
from synthgen.dataset.lint import check_clip, default_thresholds, lint_clips
from synthgen.dataset.rows import ROW_FIELDS
from synthgen.describe.config import load_generate_config
from synthgen.describe.spec import ClipSpec
from synthgen.errors import ConfigError
from synthgen.labels.compute import ClipLabels
from synthgen.pipeline.clip import make_row
from synthgen.render.types import RenderedClip
from tests.conftest import TINY_OVERRIDES, tiny_config

BUILT_IN = ("audio_to_video", "camera_motion", "depth", "motion_track", "union")


def fake_render(spec: ClipSpec, labels: ClipLabels) -> RenderedClip:
    """A rendered clip without Blender: grey frames, a wall 5 m away, object 1 on a fixed square."""
    frames, height, width = spec.clip.num_frames, spec.clip.height, spec.clip.width
    ids = np.zeros((frames, height, width), np.uint16)
    ids[:, 16:32, 8:40] = 1
    return RenderedClip(
        spec=spec,
        labels=labels,
        frames_rgb=np.full((frames, height, width, 3), 90, np.uint8),
        depth_m=np.full((frames, height, width), 5.0, np.float32),
        instance_ids=ids,
        tracks=None,
        max_pose_error=0.0,
    )


# ---------------------------------------------------------------------------------- built-in jobs


def test_the_built_in_jobs_are_registered() -> None:
    assert set(BUILT_IN) <= set(job_names())


@pytest.mark.parametrize("name", BUILT_IN)
def test_each_job_states_every_part(name: str) -> None:
    job = get_job(name)
    assert job.name == name and job.caption_phrase
    assert job.lint_rules and all(isinstance(rule, LintRule) for rule in job.lint_rules)
    assert job.trainer_roles.reference_video != job.trainer_roles.audio_reference
    for field in (job.export_columns.video, job.export_columns.reference_video, job.export_columns.audio):
        assert field is None or field in ROW_FIELDS
    assert job.adherence  # metric names in synthgen.adherence (tests/test_adherence.py checks they exist)


@pytest.mark.parametrize("name", BUILT_IN)
def test_job_parameters_have_no_defaults_but_the_packaged_yaml(name: str) -> None:
    model = get_job(name).params_model
    assert model.model_config.get("frozen") and model.model_config.get("extra") == "forbid"
    for field_name, field in model.model_fields.items():
        assert field.is_required(), f"{name}: {field_name} has a default"
        assert field.description, f"{name}: {field_name} has no description"
    params, caption = parse_job_params(name, tiny_config(f"control={name}").control.params)
    assert isinstance(params, model) and caption.mention_control is False


def test_an_unknown_job_is_a_config_error_naming_control_job() -> None:
    with pytest.raises(ConfigError, match=r"^control\.job='dance': not a registered control job"):
        tiny_config(control={"job": "dance"})


def test_a_job_that_needs_audio_refuses_a_silent_config() -> None:
    with pytest.raises(ConfigError, match=r"^control\.job='audio_to_video': needs audio"):
        tiny_config("control=audio_to_video", "audio=none")


@pytest.mark.parametrize(("name", "renders"), [("camera_motion", 2), ("depth", 1)])
def test_the_pipeline_renders_a_reference_scene_only_for_jobs_that_need_one(name: str, renders: int) -> None:
    specs: list[ClipSpec] = []

    def renderer(spec: ClipSpec, labels: ClipLabels) -> RenderedClip:
        specs.append(spec)
        return fake_render(spec, labels)

    row = make_row(tiny_config(f"control={name}"), 0, renderer=renderer)
    assert len(specs) == renders
    assert (row.reference_spec_json is not None) == (renders == 2)
    assert row.control_job == name and row.reference_video is not None


# ------------------------------------------------------------------------- a job added at runtime


class MaskParams(JobParams):
    """Object masks: the grey level of object pixels."""

    level: int = Field(ge=1, le=255, description="grey level of pixels that show an object")


class MaskJob(ControlJob[MaskParams]):
    """Reference = the instance-id video as a mask: objects at ``level``, everything else black."""

    name = "mask"
    params_model = MaskParams
    needs_reference_scene = False
    needs_audio = False
    caption_phrase = "inside the object masks"
    lint_rules = (OBJECTS_BARELY_MOVE, OBJECTS_OUT_OF_VIEW)
    export_columns = VIDEO_REFERENCE_EXPORT
    trainer_roles = VIDEO_REFERENCE_ROLES

    def build(
        self,
        target: RenderedLike,
        params: MaskParams,
        *,
        reference: RenderedLike | None = None,
        audio: AudioClipLike | None = None,
    ) -> ControlResult:
        clip = target.spec.clip
        mask = np.where(np.asarray(target.instance_ids)[..., None] > 0, params.level, 0).astype(np.uint8)
        video = to_reference(
            np.repeat(mask, 3, axis=-1), clip.reference_downscale, clip.reference_temporal_factor
        )
        return ControlResult(reference_video=video, pairing={"job": self.name, "level": params.level})


MASK_YAML = """\
# Mask IC-LoRA: reference = the objects' masks from the instance-id video.
job: mask
level: 255
caption:
  trigger_word: SGMASK
  mention_control: true
"""


@pytest.fixture
def mask_job(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """The mask job registered, and its ``control/mask.yaml`` as the control group's values."""
    register(MaskJob)
    (tmp_path / "control").mkdir()
    (tmp_path / "control" / "mask.yaml").write_text(MASK_YAML)
    yield yaml.safe_load((tmp_path / "control" / "mask.yaml").read_text())
    unregister("mask")


def mask_config(control: dict[str, Any], **changes: Any) -> Any:
    # "~control" drops the packaged control group, as selecting another group's file would.
    return load_generate_config({**TINY_OVERRIDES, "control": {**control, **changes}}, overrides=["~control"])


def test_a_registered_job_is_validated_at_config_load(mask_job: dict[str, Any]) -> None:
    assert mask_config(mask_job).control.job == "mask"
    with pytest.raises(ConfigError, match=r"^control\.level=0: "):
        mask_config(mask_job, level=0)
    with pytest.raises(ConfigError, match=r"^control\.levels=3: Extra inputs are not permitted"):
        mask_config(mask_job, levels=3)


def test_a_registered_job_runs_through_pipeline_captions_lint_export_and_trainer_roles(
    mask_job: dict[str, Any], tmp_path: Path
) -> None:
    from synthgen.dataset import write_dataset
    from synthgen.dataset.export import export_ltx_trainer

    cfg = mask_config(mask_job)
    rows = [make_row(cfg, index, renderer=fake_render) for index in range(2)]
    row = rows[0]
    assert row.control_job == "mask" and row.reference_video is not None
    assert (
        row.reference_video[0, 20, 20].tolist() == [255, 255, 255] and row.reference_video[0, 0, 0].max() == 0
    )
    assert row.caption.startswith("SGMASK, ") and row.caption.endswith(", inside the object masks.")

    assert {f.rule for f in check_clip(row, default_thresholds())} <= {
        "near_zero_motion",
        "objects_out_of_view",
    }
    assert lint_clips(rows, default_thresholds()).num_clips == 2

    write_dataset(rows, tmp_path / "ds", num_clips=2, config=cfg.model_dump(mode="json"))
    lines = export_ltx_trainer(str(tmp_path / "ds"), tmp_path / "ltx").read_text().splitlines()
    entry = json.loads(lines[0])
    assert entry["reference_video"] == f"references/{row.clip_id}.mp4" and "reference_audio" not in entry
    assert (tmp_path / "ltx" / entry["reference_video"]).stat().st_size > 0

    data = pytest.importorskip("synthgen.trainer.data")
    example = data.row_to_example(row, "mask", "row 0")
    assert example.reference is not None and not example.audio_is_reference


def test_an_unregistered_job_is_forgotten(mask_job: dict[str, Any]) -> None:
    unregister("mask")
    assert "mask" not in job_names()
    with pytest.raises(ConfigError, match=r"control\.job='mask'"):
        get_job("mask")
