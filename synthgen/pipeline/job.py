"""One generation job: the clips of its shards -> atomic Parquet shards, resumable after any interruption.

``synthgen-generate`` calls ``generate(cfg)`` once per Hydra job. Job ``j`` of ``n`` writes shards
``j, j+n, j+2n, ...`` (``synthgen.dataset.ShardPlan``), so jobs never touch the same file. On start a job keeps
its committed shards, deletes partial ones and regenerates their clips; the last job to finish merges the
shard records into ``_manifest.json`` (any job, or ``synthgen validate``, may do it again safely).

A clip whose pipeline raises a ``SynthgenError`` is recorded with its spec and error in the shard record
(and ``_failures.jsonl``) and the run goes on, unless ``fail_fast``.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from tqdm import tqdm

from synthgen.dataset.media import VideoEncoding
from synthgen.dataset.writer import (
    ShardPlan,
    ShardWriter,
    claim_dataset,
    dataset_record,
    discard_shard,
    finalize_dataset,
    read_shard_records,
    shard_is_intact,
    shard_metadata,
)
from synthgen.describe.spec import clip_id as spec_clip_id
from synthgen.errors import SynthgenError
from synthgen.fileio import atomic_write_text

if TYPE_CHECKING:
    from synthgen.describe.config import GenerateConfig

LOGS_DIR = "_logs"

RowFactory = Callable[[int], Mapping[str, Any]]
SpecDescriber = Callable[[int], str | None]


@dataclass(frozen=True)
class RunSettings:
    """What a generation job needs to know besides how to make a row (derived from ``GenerateConfig``)."""

    output_dir: Path
    dataset_name: str
    num_clips: int
    clips_per_shard: int = 64
    max_bytes: int = 1 << 30
    encoding: VideoEncoding = field(default_factory=VideoEncoding)
    job_index: int = 0
    job_count: int = 1
    fail_fast: bool = False
    config_hash: str = ""
    config: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_config(cls, cfg: GenerateConfig) -> RunSettings:
        """Settings of ``cfg``'s job: output folder, shard bounds, encoding, job split and config hash."""
        return cls(
            output_dir=Path(cfg.output_dir),
            dataset_name=cfg.dataset.name,
            num_clips=cfg.dataset.num_clips,
            clips_per_shard=cfg.shards.max_clips,
            max_bytes=cfg.shards.max_bytes,
            encoding=VideoEncoding(crf=cfg.shards.video_crf, lossless=cfg.shards.lossless),
            job_index=cfg.job.index,
            job_count=cfg.job.count,
            fail_fast=cfg.fail_fast,
            config_hash=cfg.config_hash()[:16],
            config=cfg.model_dump(mode="json", exclude={"job": True}),
        )

    @property
    def job_name(self) -> str:
        """``job-002-of-008``: names this job's log and summary files."""
        return f"job-{self.job_index:03d}-of-{self.job_count:03d}"


@dataclass
class JobSummary:
    """What one job did: clips generated, failed and kept from an earlier run; wall time; throughput."""

    job: str
    shards: int
    generated: int = 0
    failed: int = 0
    resumed: int = 0
    seconds: float = 0.0
    dataset_complete: bool = False

    @property
    def clips_per_s(self) -> float:
        """Clips generated (or failed) per wall-clock second."""
        return (self.generated + self.failed) / self.seconds if self.seconds > 0 else 0.0

    def line(self) -> str:
        """One-line human summary."""
        state = "dataset complete" if self.dataset_complete else "other jobs still running"
        return (
            f"{self.job}: {self.generated} clips generated, {self.failed} failed, {self.resumed} kept from an "
            f"earlier run, {self.shards} shards, {self.seconds:.1f} s ({self.clips_per_s:.2f} clips/s); {state}"
        )


def _job_logger(settings: RunSettings) -> logging.Logger:
    log_dir = settings.output_dir / LOGS_DIR
    log_dir.mkdir(parents=True, exist_ok=True)
    logger = logging.getLogger(f"synthgen.pipeline.job.{settings.output_dir.resolve()}.{settings.job_name}")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    handler = logging.FileHandler(log_dir / f"{settings.job_name}.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logger.addHandler(handler)
    return logger


def run_job(
    settings: RunSettings,
    make_row: RowFactory,
    *,
    describe_clip: SpecDescriber | None = None,
    progress: bool | IO[str] = True,
) -> JobSummary:
    """Generate this job's shards of the dataset at ``settings.output_dir`` and return a summary.

    ``make_row(clip_index)`` returns a pipeline row (docs/architecture.md "Rows"); ``describe_clip`` gives the
    spec JSON recorded for a clip that failed. Committed shards of an earlier run of the same config are kept;
    partial ones are regenerated. ``progress`` is True (tqdm bar on stderr), False, or a stream to draw on.
    """
    started = time.perf_counter()
    root = settings.output_dir
    plan = ShardPlan(settings.num_clips, settings.clips_per_shard)
    shards = plan.shards_of_job(settings.job_index, settings.job_count)
    claim_dataset(root, dataset_record(settings.dataset_name, plan, settings.config_hash, settings.config))
    logger = _job_logger(settings)
    summary = JobSummary(job=settings.job_name, shards=len(shards))
    committed = read_shard_records(root)
    todo: list[int] = []
    for shard in shards:
        record = committed.get(shard)
        if (
            record is not None
            and record.config_hash == settings.config_hash
            and shard_is_intact(root, record)
        ):
            summary.resumed += len(plan.clips_of(shard))
        else:
            todo.append(shard)
    logger.info(
        "start: %d clips in %d shards for this job; %d clips kept from an earlier run",
        sum(len(plan.clips_of(s)) for s in shards),
        len(shards),
        summary.resumed,
    )
    stream = progress if not isinstance(progress, bool) else sys.stderr
    bar = tqdm(
        total=sum(len(plan.clips_of(s)) for s in todo),
        unit="clip",
        desc=settings.job_name,
        file=stream,
        disable=progress is False,
        dynamic_ncols=True,
    )
    metadata = shard_metadata(settings.dataset_name, settings.config_hash)
    try:
        for shard in todo:
            discard_shard(root, shard)
            writer = ShardWriter(
                root,
                shard,
                plan.clips_of(shard),
                encoding=settings.encoding,
                max_bytes=settings.max_bytes,
                metadata=metadata,
            )
            try:
                for clip_index in plan.clips_of(shard):
                    _one_clip(writer, clip_index, make_row, describe_clip, settings, logger, summary)
                    bar.update(1)
                record = writer.commit()
            except BaseException:
                writer.abort()
                raise
            logger.info(
                "shard %d committed: %d clips, %d failed", shard, len(record.clips), len(record.failures)
            )
    finally:
        bar.close()
    summary.seconds = time.perf_counter() - started
    summary.dataset_complete = finalize_dataset(root) is not None
    atomic_write_text(
        root / LOGS_DIR / f"{settings.job_name}.summary.json",
        json.dumps({**asdict(summary), "clips_per_s": summary.clips_per_s}, indent=1),
    )
    logger.info("done: %s", summary.line())
    return summary


def _one_clip(
    writer: ShardWriter,
    clip_index: int,
    make_row: RowFactory,
    describe_clip: SpecDescriber | None,
    settings: RunSettings,
    logger: logging.Logger,
    summary: JobSummary,
) -> None:
    clip_started = time.perf_counter()
    clip_id = spec_clip_id(settings.dataset_name, clip_index)
    try:
        writer.add(make_row(clip_index))
    except SynthgenError as err:
        logger.error("clip %s failed: %s", clip_id, err)
        if settings.fail_fast:
            raise
        spec_json = _describe(describe_clip, clip_index, logger)
        writer.add_failure(clip_index, clip_id, f"{type(err).__name__}: {err}", spec_json)
        summary.failed += 1
        return
    summary.generated += 1
    logger.info("clip %s written in %.2f s", clip_id, time.perf_counter() - clip_started)


def _describe(describe_clip: SpecDescriber | None, clip_index: int, logger: logging.Logger) -> str | None:
    if describe_clip is None:
        return None
    try:
        return describe_clip(clip_index)
    except SynthgenError as err:
        logger.error("clip %d: its spec could not be sampled either: %s", clip_index, err)
        return None


def generate(cfg: GenerateConfig, *, progress: bool | IO[str] = True) -> JobSummary:
    """Run ``cfg``'s job with the real pipeline (``synthgen.pipeline.clip.make_row``); see ``run_job``.

    Clips render in a ``RenderWorker`` child process that is replaced every ``render.recycle_after``
    clips, so Blender's memory growth stays bounded however many clips one job renders.
    """
    from synthgen.describe.sampling import sample_clip
    from synthgen.pipeline.clip import make_row
    from synthgen.render import RenderWorker

    with RenderWorker(recycle_after=cfg.render.recycle_after) as worker:
        return run_job(
            RunSettings.from_config(cfg),
            lambda clip_index: make_row(cfg, clip_index, renderer=worker.render),
            describe_clip=lambda clip_index: sample_clip(cfg, clip_index).to_json(),
            progress=progress,
        )
