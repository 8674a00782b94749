"""Dataset lint: find ambiguous reference/target pairs and say why, clip by clip.

Each row is checked by the rules that hold for every job and by the per-clip rules its control job picks
(``ControlJob.lint_rules``, ``synthgen.controls.rules``); every rule produces findings with ``level``
"error" or "warning" (``warn_only`` demotes rules). The rules of every job:

- ``misaligned_reference``: reference frame count, size ratio or fps disagree with the target and the
  recorded reference factors, the audio length is not ``num_frames / fps * sample_rate``, or the input the
  job's trainer roles name (reference video or audio) is missing.
- ``identical_reference``: the clip's reference is within ``identical_tolerance`` (mean absolute difference
  of 8x8 grey thumbnails, 0-255 scale) of more than ``max_identical_fraction`` of the other clips.

Thresholds: ``control.lint``; their defaults live in ``conf/lint/default.yaml`` only.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from importlib import resources
from typing import Any, Literal

import numpy as np
from pydantic import ValidationError

from synthgen.controls import get_job, job_names
from synthgen.controls.rules import Finding, LintRow, LintRule, LintThresholds
from synthgen.dataset.rows import LABEL_PREFIX, columns_of
from synthgen.errors import ConfigError, DataError, config_error_from_validation

# Report order of the built-in rules (findings of a clip are listed in this order; other rules follow).
RULES: tuple[str, ...] = (
    "tracks_rarely_visible",
    "near_zero_motion",
    "identical_reference",
    "misaligned_reference",
    "objects_out_of_view",
    "unfollowed_beats",
)
THUMB_SIDE = 8
THUMB_FRAMES = 5


def rule_names() -> tuple[str, ...]:
    """Every rule a finding can name: the built-in ones in report order, then those of registered jobs."""
    extra = {rule.name for name in job_names() for rule in get_job(name).lint_rules} - set(RULES)
    return RULES + tuple(sorted(extra))


def parse_thresholds(values: Mapping[str, Any]) -> LintThresholds:
    """Validate thresholds (every field; ``default_thresholds`` has the packaged ones); ConfigError names
    ``control.lint.<field>``."""
    try:
        thresholds = LintThresholds.model_validate(dict(values))
    except ValidationError as err:
        raise config_error_from_validation(err, "control.lint") from None
    known = rule_names()
    unknown = [rule for rule in thresholds.warn_only if rule not in known]
    if unknown:
        raise ConfigError(f"control.lint.warn_only={unknown[0]!r}: not a rule (rules: {', '.join(known)})")
    return thresholds


def packaged_thresholds() -> dict[str, Any]:
    """The thresholds of ``conf/lint/default.yaml`` as a mapping (the defaults of ``control.lint``)."""
    from omegaconf import OmegaConf

    text = (resources.files("synthgen.conf") / "lint" / "default.yaml").read_text(encoding="utf-8")
    values = OmegaConf.to_container(OmegaConf.create(text), resolve=True)
    assert isinstance(values, dict)
    return {str(key): value for key, value in values.items()}


def default_thresholds(**changes: Any) -> LintThresholds:
    """The packaged thresholds, validated, with ``changes`` applied."""
    return parse_thresholds({**packaged_thresholds(), **changes})


# ------------------------------------------------------------------------------------ rules of every job


def _misaligned_reference(row: LintRow, thresholds: LintThresholds) -> list[str]:
    problems: list[str] = []
    frames, height, width = int(row.num_frames), int(row.height), int(row.width)
    scale, step = int(row.reference_downscale or 1), int(row.reference_temporal_factor or 1)
    roles = get_job(row.control_job).trainer_roles
    if row.reference_video is not None:
        shape = tuple(np.asarray(row.reference_video).shape[:3])
        expected = ((frames - 1) // step + 1, height // scale, width // scale)
        if (frames - 1) % step or shape != expected:
            problems.append(
                f"reference (frames, height, width)={shape} but target {frames}x{height}x{width} with "
                f"reference_downscale={scale}, reference_temporal_factor={step} needs {expected}"
            )
    elif roles.reference_video:
        problems.append("no reference video")
    if row.reference_spec_json:
        ref_clip = json.loads(row.reference_spec_json).get("clip", {})
        if float(ref_clip.get("fps", row.fps)) != float(row.fps):
            problems.append(f"reference scene fps={ref_clip.get('fps')} but target fps={row.fps}")
        if int(ref_clip.get("num_frames", frames)) != frames:
            problems.append(f"reference scene num_frames={ref_clip.get('num_frames')} but target {frames}")
    if row.audio_sample_rate and row.audio is not None:
        exact = frames / float(row.fps) * int(row.audio_sample_rate)
        if abs(len(row.audio) - exact) > 1e-6:
            problems.append(f"audio has {len(row.audio)} samples; num_frames/fps*sample_rate = {exact:g}")
    if roles.audio_reference and not row.audio_sample_rate:
        problems.append(f"{row.control_job} clip without audio")
    return problems


MISALIGNED_REFERENCE = LintRule("misaligned_reference", _misaligned_reference)
"""Frame count, size ratio, fps and audio length agree with the target; the job's condition is there."""


def reference_thumbnail(reference: np.ndarray) -> np.ndarray:
    """(THUMB_FRAMES, 8, 8) float grey thumbnails of evenly spaced frames of a (F, H, W, 3) video."""
    video = np.asarray(reference, dtype=np.float64)
    picks = np.linspace(0, video.shape[0] - 1, THUMB_FRAMES).round().astype(int)
    grey = video[picks].mean(axis=-1)
    rows = np.array_split(np.arange(grey.shape[1]), THUMB_SIDE)
    cols = np.array_split(np.arange(grey.shape[2]), THUMB_SIDE)
    return np.array([[[frame[np.ix_(r, c)].mean() for c in cols] for r in rows] for frame in grey])


def check_identical(thumbnails: Mapping[str, np.ndarray], thresholds: LintThresholds) -> list[Finding]:
    """Rule ``identical_reference`` across clips (needs at least 3 clips with a reference video)."""
    ids = list(thumbnails)
    if len(ids) < 3:
        return []
    stack = np.stack([thumbnails[i] for i in ids]).reshape(len(ids), -1)
    distance = np.abs(stack[:, None, :] - stack[None, :, :]).mean(axis=-1)
    level: Literal["error", "warning"] = (
        "warning" if "identical_reference" in thresholds.warn_only else "error"
    )
    findings = []
    for row, clip_id in enumerate(ids):
        near = int((distance[row] <= thresholds.identical_tolerance).sum()) - 1
        if near / (len(ids) - 1) > thresholds.max_identical_fraction:
            message = (
                f"reference matches {near} of {len(ids) - 1} other clips within {thresholds.identical_tolerance} "
                f"(max_identical_fraction={thresholds.max_identical_fraction})"
            )
            findings.append(Finding(clip_id, "identical_reference", level, message))
    return findings


# -------------------------------------------------------------------------------------------- runner


@dataclass(frozen=True)
class LintReport:
    """All findings of a dataset and the thresholds used."""

    num_clips: int
    findings: list[Finding]
    thresholds: LintThresholds

    @property
    def num_errors(self) -> int:
        return sum(f.level == "error" for f in self.findings)

    @property
    def num_warnings(self) -> int:
        return sum(f.level == "warning" for f in self.findings)

    def rejected_clip_ids(self) -> list[str]:
        """Clips with at least one error, sorted."""
        return sorted({f.clip_id for f in self.findings if f.level == "error"})

    def to_json(self, dataset: str = "") -> str:
        """The report file: per-clip status and reasons, counts per rule, thresholds."""
        clips: dict[str, dict[str, Any]] = {}
        for finding in self.findings:
            entry = clips.setdefault(finding.clip_id, {"status": "flagged", "findings": []})
            entry["findings"].append({k: v for k, v in asdict(finding).items() if k != "clip_id"})
            if finding.level == "error":
                entry["status"] = "rejected"
        body = {
            "dataset": dataset,
            "num_clips": self.num_clips,
            "num_rejected": len(self.rejected_clip_ids()),
            "num_flagged": sum(1 for c in clips.values() if c["status"] == "flagged"),
            "num_errors": self.num_errors,
            "num_warnings": self.num_warnings,
            "rules": dict(sorted(Counter(f.rule for f in self.findings).items())),
            "thresholds": self.thresholds.model_dump(mode="json"),
            "clips": dict(sorted(clips.items())),
        }
        return json.dumps(body, indent=1, sort_keys=True)


def check_clip(row: LintRow, thresholds: LintThresholds) -> list[Finding]:
    """The findings of every per-clip rule for one row: the rules of every job, then its job's own."""
    findings = MISALIGNED_REFERENCE(row, thresholds)
    for rule in get_job(row.control_job).lint_rules:
        findings.extend(rule(row, thresholds))
    return findings


def lint_clips(rows: Iterable[LintRow], thresholds: LintThresholds) -> LintReport:
    """Run every rule over decoded rows (``ClipRow``s, or anything with the fields of ``LintRow``)."""
    findings: list[Finding] = []
    thumbnails: dict[str, np.ndarray] = {}
    count = 0
    for row in rows:
        count += 1
        findings.extend(check_clip(row, thresholds))
        if row.reference_video is not None:
            thumbnails[str(row.clip_id)] = reference_thumbnail(row.reference_video)
    findings.extend(check_identical(thumbnails, thresholds))
    order = {name: position for position, name in enumerate(rule_names())}
    findings.sort(key=lambda f: (f.clip_id, order.get(f.rule, len(order))))
    return LintReport(count, findings, thresholds)


# The ClipRow fields the rules read: everything but the target video, the separate controls and the pairing
# and timing records, which lint never decodes.
_READ_FIELDS = (
    "clip_id",
    "control_job",
    "spec_json",
    "reference_spec_json",
    "fps",
    "num_frames",
    "height",
    "width",
    "reference_video",
    "reference_downscale",
    "reference_temporal_factor",
    "audio",
    "audio_sample_rate",
)


@dataclass(frozen=True)
class _LintedRow:
    """The ``LintRow`` fields of one stored clip, read without decoding its target video or controls."""

    clip_id: str
    control_job: str
    spec_json: str
    reference_spec_json: str | None
    fps: float
    num_frames: int
    height: int
    width: int
    reference_video: np.ndarray | None
    reference_downscale: int
    reference_temporal_factor: int
    audio: np.ndarray | None
    audio_sample_rate: int | None
    labels: Mapping[str, np.ndarray]


def lint_dataset(path: str, thresholds: LintThresholds) -> LintReport:
    """Lint the dataset at ``path`` (read through ``synthgen.dataset.open_dataset``).

    Only the columns of ``LintRow`` are read: target videos and separate control videos, the bulk of a
    shard, are never decoded.
    """
    import pyarrow.parquet as pq

    from synthgen.dataset import open_dataset

    dataset = open_dataset(path)
    if not dataset.files:
        raise DataError(f"{path}: no shards found (not a synthgen dataset, or nothing generated yet)")
    names = pq.read_schema(dataset.files[0], filesystem=dataset.filesystem).names
    columns = [*columns_of(_READ_FIELDS), *(name for name in names if name.startswith(LABEL_PREFIX))]
    return lint_clips((_linted(clip) for clip in open_dataset(path, columns=columns)), thresholds)


def _linted(columns: Mapping[str, Any]) -> _LintedRow:
    labels = {
        name.removeprefix(LABEL_PREFIX): value
        for name, value in columns.items()
        if name.startswith(LABEL_PREFIX)
    }
    return _LintedRow(**{name: columns[name] for name in _READ_FIELDS}, labels=labels)
