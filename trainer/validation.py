"""Validation during training: the held-out clips generated with fixed seeds, written and scored.

With ``train.validation.every=N`` (0 = off), the run keeps the encoders it used for the latent cache and,
before training, every N optimizer steps and at the end, generates each held-out clip (the last
``data.eval_clips`` clips) through the same code as ``synthgen-infer`` (``synthgen.trainer.infer``), with the
adapter being trained at full strength and clip i seeded ``train.validation.seed + i``. It writes
``<output_dir>/validation/step_<N>/<clip_id>.mp4`` and a side-by-side contact sheet per clip, logs the mean
adherence numbers (``validation/<metric>/<number>``) and the contact sheets to TensorBoard, and returns the
scores the recipe records in ``report.json`` as ``validation_before`` / ``validation_after``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from synthgen.dataset.rows import ClipRow

from .config import Settings
from .infer import (
    ClipJob,
    Sampling,
    build_pipeline,
    check_ltx_shape,
    generate_clip,
    held_out,
    job_from_row,
    output_path,
    side_by_side,
    write_side_by_side,
    write_video,
)
from .model import ModelBundle


@dataclass
class Validator:
    """Generates and scores the held-out clips for one training run."""

    settings: Settings
    bundle: ModelBundle  # the run's encoders (kept after the cache is built) and its transformer
    jobs: list[ClipJob]
    downscale: int
    device: torch.device
    root: Path
    pipe: Any = None
    writer: Any = None
    last: dict[str, Any] | None = None

    def on_step(self, step: int) -> None:
        """After optimizer step ``step``: validate every ``train.validation.every`` steps."""
        if step % self.settings.train.validation.every == 0:
            self.run(step)

    def final(self, step: int) -> dict[str, Any]:
        """The scores at the last step (generated now unless that step was just validated)."""
        if self.last is not None and self.last["step"] == step:
            return self.last
        return self.run(step)

    def run(self, step: int) -> dict[str, Any]:
        """Generate, write and score every held-out clip at optimizer step ``step``; returns the scores."""
        from synthgen.adherence.report import summarise

        v = self.settings.train.validation
        if self.pipe is None:
            self.pipe = build_pipeline(self.bundle, self._model_path(), self.device)
        sampling = Sampling(v.num_inference_steps, v.guidance_scale, 0.0, "", False)
        out = self.root / "validation" / f"step_{step}"
        out.mkdir(parents=True, exist_ok=True)
        transformer = self.bundle.transformer
        was_training = transformer.training
        transformer.eval()
        scores, sheets = [], []
        try:
            for index, job in enumerate(self.jobs):
                video, audio, rate = generate_clip(
                    self.pipe, job, seed=v.seed + index, downscale=self.downscale, sampling=sampling,
                    max_text_tokens=self.bundle.max_text_tokens,
                )  # fmt: skip
                write_video(output_path(out, f"{job.clip_id}.mp4"), video, job.fps, audio, rate)
                write_side_by_side(out, job.clip_id, job, video)
                sheets.append(side_by_side(job, video)[len(video) // 2])
                scores.append(_score(job, video))
        finally:
            transformer.train(was_training)
        summary = summarise(s for s in scores if "metrics" in s)
        if self.writer is None:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(log_dir=str(self.root / "tensorboard" / "validation"))
        _log(self.writer, step, summary, sheets)
        self.last = {"step": step, "clips": scores, "mean": summary}
        return self.last

    def _model_path(self) -> str | None:
        model = self.settings.model
        return model.path if model.preset == "path" else None


def _score(job: ClipJob, video: np.ndarray) -> dict[str, Any]:
    from .infer import adherence

    scores = adherence(job, video)
    assert scores is not None  # validation clips always come from the dataset
    return scores


def _log(
    writer: Any, step: int, summary: dict[str, dict[str, float | None]], sheets: list[np.ndarray]
) -> None:
    for metric, numbers in summary.items():
        for name, value in numbers.items():
            if value is not None:
                writer.add_scalar(f"validation/{metric}/{name}", value, step)
    for index, sheet in enumerate(sheets):
        # A middle frame of reference | generated | target; TensorBoard's video panel needs moviepy.
        writer.add_image(f"validation/clip{index}", sheet, step, dataformats="HWC")
    writer.flush()


def make_validator(settings: Settings, bundle: ModelBundle, device: torch.device) -> Validator | None:
    """A validator for ``train.validation`` (None when ``every`` is 0), holding the encoders of ``bundle``
    so they outlive the cache step; the held-out clips are checked against the LTX rules here."""
    if settings.train.validation.every == 0:
        return None
    from .data import iter_rows

    assert settings.data.path is not None
    rows: list[ClipRow] = list(iter_rows(settings.data.path))
    if settings.data.max_clips > 0:
        rows = rows[: settings.data.max_clips]
    chosen = held_out(rows, settings.data.eval_clips)
    downscale = int(chosen[0].reference_downscale)
    jobs = [job_from_row(row, None, downscale) for row in chosen]
    for job in jobs:
        check_ltx_shape(job, downscale, f"train.validation: clip {job.clip_id}")
    kept = ModelBundle(
        transformer=bundle.transformer,
        vae=bundle.vae,
        audio_vae=bundle.audio_vae,
        text_encoder=bundle.text_encoder,
        tokenizer=bundle.tokenizer,
        connectors=bundle.connectors,
        model_id=bundle.model_id,
        max_text_tokens=bundle.max_text_tokens,
    )
    return Validator(settings, kept, jobs, downscale, device, Path(settings.output_dir))
