"""One generation job: the clips of its shards -> atomic Parquet shards, resumable after any interruption.

``synthgen-generate`` calls ``generate(cfg)`` once per Hydra job. Job ``j`` of ``n`` writes shards
``j, j+n, j+2n, ...`` (``synthgen.dataset.ShardPlan``), so jobs never touch the same file. On start a job keeps
its committed shards whose files still match their records (size and sha256), deletes partial ones and
regenerates their clips; a committed shard whose bytes changed is regenerated with a warning. The last job
to finish merges the shard records into ``_manifest.json`` (any job, or ``synthgen validate``, may do it
again safely).

A job writes a shard only while it holds the shard's claim (``synthgen.dataset.claim``). A second process
running the same job (a requeued farm task) skips shards a live job holds, writes the others, then waits
until the held ones are committed, taking over any claim whose holder died; so both finish with one copy of
every clip.

A clip whose pipeline raises a ``SynthgenError`` is recorded with its spec and error in the shard record
(and ``_failures.jsonl``) and the run goes on, unless ``fail_fast``.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING

from tqdm import tqdm

from synthgen.dataset.claim import HEARTBEAT_S, STALE_AFTER_S, ClaimInfo
from synthgen.dataset.media import VideoEncoding
from synthgen.dataset.rows import ClipRow
from synthgen.dataset.shard import ShardWriter, WriteSettings
from synthgen.dataset.store import CONFIG_HASH_DIGITS, LOGS_DIR, DatasetStore, ShardRecord
from synthgen.describe.spec import clip_id as spec_clip_id
from synthgen.errors import ConfigError, SynthgenError
from synthgen.fileio import atomic_write_text

if TYPE_CHECKING:
    from synthgen.describe.config import GenerateConfig


RowFactory = Callable[[int], ClipRow]
SpecDescriber = Callable[[int], str | None]


@dataclass(frozen=True, kw_only=True)
class RunSettings(WriteSettings):
    """What a generation job needs to know besides how to make a row (derived from ``GenerateConfig``): the
    dataset's ``WriteSettings`` plus where it goes, which share of the shards this job writes, whether a
    failing clip stops the run, and the timing of shard claims (protocol constants of
    ``synthgen.dataset.claim``; tests shorten them)."""

    output_dir: Path
    job_index: int = 0
    job_count: int = 1
    fail_fast: bool = False
    overwrite: bool = False
    claim_heartbeat_s: float = HEARTBEAT_S
    claim_stale_after_s: float = STALE_AFTER_S
    wait_poll_s: float = 1.0

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
            overwrite=cfg.overwrite,
            config_hash=cfg.config_hash()[:CONFIG_HASH_DIGITS],
            config=cfg.model_dump(mode="json", exclude={"job": True}),
        )

    @property
    def job_name(self) -> str:
        """``job-002-of-008``: names this job's log and summary files."""
        return f"job-{self.job_index:03d}-of-{self.job_count:03d}"


@dataclass
class JobSummary:
    """What one job did: clips generated, failed, kept from an earlier run and written by another process
    running the same job; shards regenerated because their bytes changed; wall time; throughput."""

    job: str
    shards: int
    generated: int = 0
    failed: int = 0
    resumed: int = 0
    by_other_process: int = 0
    regenerated_shards: int = 0
    seconds: float = 0.0
    dataset_complete: bool = False

    @property
    def all_failed(self) -> bool:
        """Whether this job made no clip at all and some failed (the run must not count as a success)."""
        return self.failed > 0 and not (self.generated or self.resumed or self.by_other_process)

    @property
    def clips_per_s(self) -> float:
        """Clips generated (or failed) per wall-clock second."""
        return (self.generated + self.failed) / self.seconds if self.seconds > 0 else 0.0

    def line(self) -> str:
        """One-line human summary."""
        state = "dataset complete" if self.dataset_complete else "other jobs still running"
        if self.all_failed:
            state = "every clip of this job failed"
        others = f", {self.by_other_process} written by another process" if self.by_other_process else ""
        damaged = f", {self.regenerated_shards} damaged shards regenerated" if self.regenerated_shards else ""
        return (
            f"{self.job}: {self.generated} clips generated, {self.failed} failed, {self.resumed} kept from an "
            f"earlier run{others}{damaged}, {self.shards} shards, {self.seconds:.1f} s "
            f"({self.clips_per_s:.2f} clips/s); {state}"
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
    store = DatasetStore(settings.output_dir)
    plan = settings.plan
    shards = plan.shards_of_job(settings.job_index, settings.job_count)
    store.claim(settings, overwrite=settings.overwrite)
    logger = _job_logger(settings)
    summary = JobSummary(job=settings.job_name, shards=len(shards))
    kept = store.kept_shards(shards, settings.config_hash)
    todo = [shard for shard in shards if shard not in kept]
    summary.resumed = sum(len(plan.clips_of(shard)) for shard in kept)
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
    try:
        _ShardLoop(store, settings, make_row, describe_clip, logger, summary, bar).run(todo)
    finally:
        bar.close()
    summary.seconds = time.perf_counter() - started
    summary.dataset_complete = store.finalize() is not None
    atomic_write_text(
        settings.output_dir / LOGS_DIR / f"{settings.job_name}.summary.json",
        json.dumps({**asdict(summary), "clips_per_s": summary.clips_per_s}, indent=1),
    )
    logger.info("done: %s", summary.line())
    return summary


class _ClaimLost(Exception):
    """Raised before a commit when another process has taken this job's claim on the shard over."""


@dataclass
class _ShardLoop:
    """Claims, writes and commits the shards of one job; shards held by another live process are waited for."""

    store: DatasetStore
    settings: RunSettings
    make_row: RowFactory
    describe_clip: SpecDescriber | None
    logger: logging.Logger
    summary: JobSummary
    bar: tqdm  # type: ignore[type-arg]

    def run(self, todo: list[int]) -> None:
        """Write every shard of ``todo`` or see it committed by another process; returns when all are."""
        pending, announced = list(todo), set[int]()
        while pending:
            waiting: list[int] = []
            for shard in pending:
                holder = self.claim_and_write(shard)
                if holder is not None:
                    waiting.append(shard)
                    if shard not in announced:
                        announced.add(shard)
                        self.logger.info("shard %d is being written by %s; waiting", shard, holder)
            pending = waiting
            if pending:
                time.sleep(self.settings.wait_poll_s)

    def claim_and_write(self, shard: int) -> str | None:
        """Write ``shard`` under its claim (None once it is committed), or describe the other process that
        holds it."""
        claim = self.store.lock_shard(
            shard,
            self.settings.job_name,
            heartbeat_s=self.settings.claim_heartbeat_s,
            stale_after_s=self.settings.claim_stale_after_s,
        )
        if isinstance(claim, ClaimInfo):
            return claim.describe()
        with claim:
            record = self.store.record(shard)
            if record is not None:
                problem = self.store.shard_problem(record, self.settings.config_hash)
                if problem is None:  # another process committed it since this job started
                    self.summary.by_other_process += len(self.settings.plan.clips_of(shard))
                    self.bar.update(len(self.settings.plan.clips_of(shard)))
                    return None
                self.warn(f"shard {shard}: {problem}; regenerating it")
                self.summary.regenerated_shards += 1

            def check_claim(writer: ShardWriter) -> None:
                if not claim.still_held():
                    raise _ClaimLost(shard)

            try:
                self.store.write_shards(
                    self.settings, [shard], self.add_clip, on_commit=self.on_commit, before_commit=check_claim
                )
            except _ClaimLost:
                self.warn(
                    f"shard {shard}: another process took this job's claim over; leaving the shard to it"
                )
                return "the process that took the claim over"
        return None

    def add_clip(self, writer: ShardWriter, clip_index: int) -> None:
        _one_clip(writer, clip_index, self.make_row, self.describe_clip, self.settings, self.logger)
        self.bar.update(1)

    def on_commit(self, record: ShardRecord) -> None:
        self.summary.generated += len(record.clips)
        self.summary.failed += len(record.failures)
        self.logger.info(
            "shard %d committed: %d clips, %d failed", record.shard, len(record.clips), len(record.failures)
        )

    def warn(self, message: str) -> None:
        """A line on stderr and in the job log: damage and lost claims are never silent."""
        self.logger.warning(message)
        print(f"{self.settings.job_name}: warning: {message}", file=sys.stderr, flush=True)


def _one_clip(
    writer: ShardWriter,
    clip_index: int,
    make_row: RowFactory,
    describe_clip: SpecDescriber | None,
    settings: RunSettings,
    logger: logging.Logger,
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
        return
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
    from synthgen.describe.config import GenerateConfig
    from synthgen.describe.sampling import sample_clip
    from synthgen.pipeline.clip import make_row
    from synthgen.render import RenderWorker

    if not isinstance(cfg, GenerateConfig):
        raise ConfigError(
            f"cfg: expected a GenerateConfig (synthgen.load_generate_config), got {type(cfg).__name__}"
        )

    # The recipe comes from the caller's own config, so its code may run (docs/security.md).
    with RenderWorker(recycle_after=cfg.render.recycle_after, trust_recipes=True) as worker:
        return run_job(
            RunSettings.from_config(cfg),
            lambda clip_index: make_row(cfg, clip_index, renderer=worker.render),
            describe_clip=lambda clip_index: sample_clip(cfg, clip_index).to_json(),
            progress=progress,
        )
