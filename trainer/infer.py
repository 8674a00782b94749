"""Inference with an IC-LoRA: diffusers' ``LTX2InContextPipeline`` on synthgen references, scored for adherence.

``run_inference(settings)`` plans first (clips, reference shapes against the LTX rules and the LoRA's
downscale factor, the LoRA file and its keys) and writes nothing until every check passed; then, per clip,
it writes ``<clip_id>.mp4`` (with audio when the pipeline produces it), ``<clip_id>_side.mp4`` and
``<clip_id>_side.png`` (reference | generated | dataset target, tracks and beats drawn as in
``synthgen preview``) and, at the end, ``report.json`` with each clip's adherence (``synthgen.adherence``)
and, with ``lora.baseline=true``, the same clip generated without the LoRA and the difference.

``generate_clip`` is the one generation path, shared with validation during training
(``synthgen.trainer.validation``).
"""

from __future__ import annotations

import io
import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from synthgen.dataset.rows import ClipRow
from synthgen.errors import ConfigError, DataError
from synthgen.fileio import atomic_write_bytes, atomic_write_json

from .config import MAX_SEED
from .infer_config import InferSettings
from .model import TINY_VIDEO_VAE_CONFIG, ModelBundle, load_model

if TYPE_CHECKING:
    from synthgen.controls import MotionTrackParams

ADAPTER = "ic_lora"
# LTX rules: the VAE compresses 32x in space and 8x in time (plus the first frame).
SPATIAL_UNIT = 32
TEMPORAL_UNIT = 8


@dataclass(frozen=True)
class ClipJob:
    """One video to generate: its target shape, prompt and reference, and the row whose labels score it."""

    clip_id: str
    prompt: str
    width: int
    height: int
    frames: int
    fps: float
    reference: np.ndarray | None  # uint8 (F, H / downscale, W / downscale, 3)
    row: ClipRow | None
    # From a JSON track file: float64 (F, P, 2) in the target's pixels (corner convention) and (F, P) visible.
    tracks: tuple[np.ndarray, np.ndarray] | None = None


@dataclass(frozen=True)
class LoraInfo:
    """An IC-LoRA file's converted state dict (diffusers keys) and its metadata."""

    path: Path
    state: dict[str, torch.Tensor]
    metadata: dict[str, str]

    @property
    def modules(self) -> list[str]:
        """The adapted module names (``transformer_blocks.0.attn1.to_q`` ...)."""
        names = {k.split(".lora_")[0].removeprefix("transformer.") for k in self.state if ".lora_" in k}
        return sorted(names)

    def downscale(self) -> int | None:
        """``reference_downscale_factor`` from the metadata (ltx-pipelines' key; ``reference_spatial_scale_factor``,
        the same number under ltx-core's trainer name, when only that is present), None when absent."""
        value = self.metadata.get(
            "reference_downscale_factor", self.metadata.get("reference_spatial_scale_factor")
        )
        if value is None:
            return None
        try:
            factor = int(json.loads(value))
        except (ValueError, TypeError):
            raise ConfigError(
                f"lora.path={str(self.path)!r}: metadata reference_downscale_factor={value!r} is not an integer"
            ) from None
        if factor < 1:
            raise ConfigError(
                f"lora.path={str(self.path)!r}: reference_downscale_factor={factor} must be >= 1"
            )
        return factor


@dataclass(frozen=True)
class Plan:
    """What a run will generate, all checked: clips, downscale factor, the LoRA."""

    jobs: list[ClipJob]
    downscale: int
    lora: LoraInfo | None


# ------------------------------------------------------------------------------------------------- plan


def read_lora(path: str) -> LoraInfo:
    """The LoRA at ``path`` through diffusers' own loader (public LTX-2 key layouts are converted);
    one-line ConfigError for a missing, corrupt or empty file."""
    from diffusers import LTX2InContextPipeline
    from safetensors import safe_open

    file = Path(path).expanduser()
    if not file.is_file():
        raise ConfigError(f"lora.path={path!r}: no such file")
    try:
        with safe_open(str(file), framework="pt") as handle:
            metadata = dict(handle.metadata() or {})
        state = LTX2InContextPipeline.lora_state_dict(str(file))
    except Exception as err:  # safetensors and diffusers raise several types for a damaged file
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ConfigError(f"lora.path={path!r}: not a readable LoRA .safetensors ({first})") from None
    info = LoraInfo(path=file, state=dict(state), metadata=metadata)
    if not info.modules:
        raise ConfigError(f"lora.path={path!r}: holds no lora_A/lora_B weights")
    return info


def check_lora_modules(info: LoraInfo, transformer: torch.nn.Module) -> None:
    """Every module the LoRA adapts is a linear layer of ``transformer`` (else ConfigError naming one)."""
    linear = {n for n, m in transformer.named_modules() if isinstance(m, torch.nn.Linear)}
    missing = [name for name in info.modules if name not in linear]
    if missing:
        matched = len(info.modules) - len(missing)
        raise ConfigError(
            f"lora.path={str(info.path)!r}: {len(missing)} of {len(info.modules)} adapted modules match no linear "
            f"layer of the transformer (first: {missing[0]!r}; {matched} match): a LoRA for another model?"
        )


def select_rows(settings: InferSettings) -> list[ClipRow]:
    """The dataset rows to generate: ``data.clips`` by id, else the held-out (or all) clips."""
    from .data import iter_rows

    d = settings.data
    assert d.path is not None
    rows = list(iter_rows(d.path))
    if d.max_clips > 0:
        rows = rows[: d.max_clips]
    if d.clips:
        by_id = {row.clip_id: row for row in rows}
        unknown = [c for c in d.clips if c not in by_id]
        if unknown:
            raise ConfigError(f"data.clips: no clip {unknown[0]!r} in {d.path} ({len(rows)} clips)")
        return [by_id[c] for c in d.clips]
    if d.split == "all":
        return rows
    return held_out(rows, d.eval_clips)


def held_out(rows: list[ClipRow], eval_clips: int) -> list[ClipRow]:
    """The last ``eval_clips`` rows: the clips ``synthgen-train`` holds out (``data.eval_clips``)."""
    if not 0 < eval_clips < len(rows):
        raise ConfigError(
            f"data.eval_clips={eval_clips}: the held-out split needs 0 < eval_clips < {len(rows)} clips"
        )
    return rows[len(rows) - eval_clips :]


def job_from_row(row: ClipRow, prompt: str | None, downscale: int) -> ClipJob:
    """The clip job of a dataset row: the target's shape, the reference its control job consumes."""
    from synthgen.controls import get_job

    roles = get_job(row.control_job).trainer_roles
    where = f"clip {row.clip_id}"
    if roles.audio_reference:
        raise ConfigError(
            f"{where}: control job {row.control_job!r} is conditioned on audio, which LTX2InContextPipeline "
            "(diffusers 0.42.1) cannot take as a clean condition; video-reference jobs only"
        )
    reference = None if row.reference_video is None else np.asarray(row.reference_video)
    if roles.reference_video and reference is None:
        raise DataError(f"{where}: control job {row.control_job!r} needs reference_video, which is empty")
    if int(row.reference_temporal_factor) != 1:
        raise ConfigError(
            f"{where}: reference_temporal_factor={row.reference_temporal_factor}: the pipeline takes references "
            "with the target's frame count"
        )
    if reference is not None and int(row.reference_downscale) != downscale:
        raise ConfigError(
            f"{where}: the dataset's reference_downscale={row.reference_downscale} differs from the LoRA's "
            f"reference downscale factor {downscale} (set lora.reference_downscale or use a matching dataset)"
        )
    return ClipJob(
        clip_id=row.clip_id,
        prompt=prompt or row.caption,
        width=int(row.width),
        height=int(row.height),
        frames=int(row.num_frames),
        fps=float(row.fps),
        reference=reference if roles.reference_video else None,
        row=row,
    )


def job_from_files(settings: InferSettings, downscale: int) -> ClipJob:
    """The clip job of ``reference.video``: the target is the reference scaled up by ``downscale``."""
    from synthgen.dataset.media import decode_video

    r = settings.reference
    if r.audio is not None:
        raise ConfigError(
            f"reference.audio={r.audio!r}: LTX2InContextPipeline (diffusers 0.42.1) cannot take audio as a "
            "clean condition; give reference.video"
        )
    assert r.video is not None and r.prompt is not None
    try:
        reference = decode_video(Path(r.video).expanduser().read_bytes(), name=f"reference.video={r.video!r}")
    except DataError as err:
        raise ConfigError(str(err)) from None
    frames, ref_h, ref_w = reference.shape[:3]
    return ClipJob(
        clip_id=Path(r.video).stem,
        prompt=r.prompt,
        width=ref_w * downscale,
        height=ref_h * downscale,
        frames=frames,
        fps=r.fps,
        reference=reference,
        row=None,
    )


def job_from_tracks(settings: InferSettings, downscale: int) -> ClipJob:
    """The clip job of ``reference.tracks``: the editor's JSON tracks drawn in ``reference.style`` at the
    target size / ``downscale``; the tracks, scaled to the target, are kept to score adherence against."""
    from synthgen.controls import editor_tracks_video, parse_editor_tracks

    r = settings.reference
    assert r.tracks is not None and r.prompt is not None
    name = f"reference.tracks={r.tracks!r}"
    if r.audio is not None:
        raise ConfigError(f"{name}, reference.audio={r.audio!r}: a track reference takes no audio")
    check_ltx_shape(ClipJob("tracks", r.prompt, r.width, r.height, r.num_frames, r.fps, None, None), 1, name)
    if r.width % downscale or r.height % downscale:
        raise ConfigError(
            f"{name}: size {r.width}x{r.height} is not divisible by reference downscale {downscale}"
        )
    source = r.tracks_size or (r.width, r.height)
    if min(source) < 1:
        raise ConfigError(f"reference.tracks_size={list(source)}: sides must be at least 1 pixel")
    try:
        tracks = parse_editor_tracks(Path(r.tracks).expanduser().read_text(encoding="utf-8"), name=name)
        params = motion_track_params(r.style)
        size = (r.width // downscale, r.height // downscale)
        reference = editor_tracks_video(tracks, params, *size, source_size=source, num_frames=r.num_frames)
    except DataError as err:
        raise ConfigError(str(err)) from None
    except (UnicodeDecodeError, OSError) as err:
        raise ConfigError(f"{name}: cannot read it as UTF-8 text ({err})") from None
    # Adherence compares in the target's pixels, corner convention (an index coordinate's centre is at +0.5).
    frames = min(r.num_frames, tracks.xy_px.shape[0])
    xy = np.full((r.num_frames, *tracks.xy_px.shape[1:]), np.nan)
    visible = np.zeros((r.num_frames, tracks.xy_px.shape[1]), dtype=bool)
    scale = np.array([r.width, r.height], dtype=np.float64) / np.asarray(source, dtype=np.float64)
    xy[:frames] = (tracks.xy_px[:frames] + 0.5) * scale
    visible[:frames] = tracks.visible[:frames]
    return ClipJob(
        clip_id=Path(r.tracks).stem,
        prompt=r.prompt,
        width=r.width,
        height=r.height,
        frames=r.num_frames,
        fps=r.fps,
        reference=reference,
        row=None,
        tracks=(xy, visible),
    )


def motion_track_params(style: str) -> MotionTrackParams:
    """The motion-track job's parameters in ``style``, every other key from the packaged
    ``conf/control/motion_track.yaml`` (the only source of defaults)."""
    from synthgen.controls import MotionTrackParams, parse_job_params
    from synthgen.describe.config import load_generate_config

    control = load_generate_config(overrides=["control=motion_track", f"control.style={style}"]).control
    params, _caption = parse_job_params("motion_track", control.params)
    assert isinstance(params, MotionTrackParams)
    return params


def check_ltx_shape(job: ClipJob, downscale: int, where: str) -> None:
    """LTX rules: sides multiples of 32, frames 8k+1; the reference is the target / ``downscale``,
    with the same frame count, and its own sides multiples of 32."""
    if job.width % SPATIAL_UNIT or job.height % SPATIAL_UNIT or job.width <= 0 or job.height <= 0:
        raise ConfigError(f"{where}: size {job.width}x{job.height} must have sides that are multiples of 32")
    if job.frames < 1 or (job.frames - 1) % TEMPORAL_UNIT:
        raise ConfigError(f"{where}: {job.frames} frames; LTX needs 8k+1 frames (9, 17, ..., 121)")
    if job.reference is None:
        return
    ref_frames, ref_h, ref_w = job.reference.shape[:3]
    want = (job.frames, job.height // downscale, job.width // downscale)
    if (ref_frames, ref_h, ref_w) != want or job.height % downscale or job.width % downscale:
        raise ConfigError(
            f"{where}: reference is {ref_w}x{ref_h}x{ref_frames}; reference downscale factor {downscale} needs "
            f"{want[2]}x{want[1]}x{want[0]}"
        )
    if ref_w % SPATIAL_UNIT or ref_h % SPATIAL_UNIT:
        raise ConfigError(
            f"{where}: reference {ref_w}x{ref_h} must have sides that are multiples of 32 (target / {downscale})"
        )


def plan(settings: InferSettings) -> Plan:
    """Every check that needs no model: clips, shapes, the LoRA file and its downscale factor."""
    from .infer_config import check_paths

    check_paths(settings)
    lora = read_lora(settings.lora.path) if settings.lora.path is not None else None
    downscale = settings.lora.reference_downscale or (lora.downscale() if lora else None) or 1
    if settings.data.path is not None:
        jobs = [job_from_row(row, settings.reference.prompt, downscale) for row in select_rows(settings)]
        wheres = [f"clip {job.clip_id}" for job in jobs]
    elif settings.reference.tracks is not None:
        jobs = [job_from_tracks(settings, downscale)]
        wheres = [f"reference.tracks={settings.reference.tracks!r}"]
    else:
        jobs = [job_from_files(settings, downscale)]
        wheres = [f"reference.video={settings.reference.video!r}"]
    for job, where in zip(jobs, wheres, strict=True):
        check_ltx_shape(job, downscale, where)
        output_path(Path(settings.output_dir), f"{job.clip_id}_baseline_side.mp4")
    return Plan(jobs=jobs, downscale=downscale, lora=lora)


# --------------------------------------------------------------------------------------------- pipeline


def build_pipeline(bundle: ModelBundle, model_path: str | None, device: torch.device) -> Any:
    """``LTX2InContextPipeline`` over the bundle; scheduler and vocoder from the bundled checkpoint or the model
    folder, or small random ones of the real classes for the tiny preset."""
    from diffusers import FlowMatchEulerDiscreteScheduler, LTX2InContextPipeline
    from diffusers.pipelines.ltx2.vocoder import LTX2Vocoder

    if bundle.vae is None or bundle.text_encoder is None:
        raise ConfigError(f"model {bundle.model_id}: has no VAE or text encoder to generate with")
    root = Path(model_path).expanduser() if model_path else None
    if "vocoder" in bundle.extra:  # model=ltx_checkpoint: read from the bundled file with the weights
        vocoder = bundle.extra["vocoder"]
        scheduler = FlowMatchEulerDiscreteScheduler(**bundle.extra["scheduler_config"])
    elif root is not None and root.is_dir() and (root / "vocoder").is_dir():
        vocoder = LTX2Vocoder.from_pretrained(root, subfolder="vocoder")
        scheduler = FlowMatchEulerDiscreteScheduler.from_pretrained(root, subfolder="scheduler")
    else:
        if root is not None:
            raise ConfigError(
                f"model.path={model_path!r}: no vocoder/ subfolder (the pipeline decodes audio)"
            )
        prepare_tiny_for_decoding(bundle)
        vocoder = tiny_vocoder(bundle)
        scheduler = FlowMatchEulerDiscreteScheduler()
    # The components follow the transformer's dtype (bfloat16 on GPU); the transformer is left as it is, so a
    # training run's float32 adapter weights stay float32.
    dtype = next(bundle.transformer.parameters()).dtype
    for part in (bundle.vae, bundle.audio_vae, bundle.text_encoder, bundle.connectors, vocoder):
        if part is not None and next(part.parameters()).dtype != dtype:
            part.to(device=device, dtype=dtype)
        elif part is not None:
            part.to(device=device)
    pipe: Any = LTX2InContextPipeline(
        scheduler=scheduler,
        vae=bundle.vae,
        audio_vae=bundle.audio_vae,
        text_encoder=bundle.text_encoder,
        tokenizer=bundle.tokenizer,
        connectors=bundle.connectors,
        transformer=bundle.transformer,
        vocoder=vocoder,
    )
    return pipe


def prepare_tiny_for_decoding(bundle: ModelBundle) -> None:
    """Make the tiny bundle decodable: its VAE gets a decoder whose widths double per level (the decoder
    upsamples by pixel shuffle, which needs that), keeping the trainer's encoder and statistics, so
    references encode exactly as in training; the audio VAE's statistics get the packed latent width
    (latent channels x latent mel bins) that the pipeline normalises with."""
    from diffusers import AutoencoderKLLTX2Video

    old = bundle.vae
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        vae: Any = AutoencoderKLLTX2Video(
            **{**TINY_VIDEO_VAE_CONFIG, "decoder_block_out_channels": (8, 16, 32)}
        )
    kept = {k: v for k, v in old.state_dict().items() if not k.startswith("decoder.")}
    vae.load_state_dict(kept, strict=False)
    bundle.vae = vae.to(old.device).eval()
    audio = bundle.audio_vae
    width = int(audio.config.latent_channels) * int(audio.config.mel_bins) // int(audio.mel_compression_ratio)
    if audio.latents_mean.numel() != width:
        audio.latents_mean = torch.zeros(width)
        audio.latents_std = torch.ones(width)


def tiny_vocoder(bundle: ModelBundle) -> Any:
    """A small random ``LTX2Vocoder`` matching the tiny audio VAE's mel output."""
    from diffusers.pipelines.ltx2.vocoder import LTX2Vocoder

    audio = bundle.audio_vae.config
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return LTX2Vocoder(
            in_channels=int(audio.output_channels) * int(audio.mel_bins),
            hidden_channels=32,
            out_channels=2,
            upsample_kernel_sizes=[4, 4],
            upsample_factors=[2, 2],
            resnet_kernel_sizes=[3],
            resnet_dilations=[[1, 3, 5]],
            output_sampling_rate=int(audio.sample_rate),
        ).eval()


def load_lora(pipe: Any, info: LoraInfo) -> None:
    """Load the adapter into the pipeline's transformer (diffusers' loader, peft underneath)."""
    check_lora_modules(info, pipe.transformer)
    pipe.load_lora_weights(dict(info.state), adapter_name=ADAPTER)


def set_lora_scale(pipe: Any, scale: float) -> None:
    """The adapter's strength; 0 = the bare model."""
    pipe.set_adapters([ADAPTER], [scale])


# ------------------------------------------------------------------------------------------------ generate


@dataclass(frozen=True)
class Sampling:
    """The sampling knobs ``generate_clip`` needs (from ``infer.*`` or ``train.validation.*``)."""

    num_inference_steps: int
    guidance_scale: float
    stg_scale: float
    negative_prompt: str
    progress: bool


def generate_clip(
    pipe: Any, job: ClipJob, *, seed: int, downscale: int, sampling: Sampling, max_text_tokens: int
) -> tuple[np.ndarray, np.ndarray | None, int]:
    """One video: uint8 (F, H, W, 3), stereo float32 audio (samples, 2) or None, and its sample rate."""
    from diffusers.pipelines.ltx2.pipeline_ltx2_ic_lora import LTX2ReferenceCondition

    conditions = None
    if job.reference is not None:
        frames = torch.from_numpy(np.ascontiguousarray(job.reference)).permute(0, 3, 1, 2).float() / 255.0
        conditions = [LTX2ReferenceCondition(frames=frames[None], strength=1.0)]
    pipe.set_progress_bar_config(disable=not sampling.progress, leave=False, desc=f"denoise {job.clip_id}")
    generator = torch.Generator(device="cpu").manual_seed(seed % (MAX_SEED + 1))
    # The pipeline's default STG block is 28 of LTX-2.3's 48; smaller models use their last block.
    blocks = [min(28, len(pipe.transformer.transformer_blocks) - 1)]
    video, audio = pipe(
        prompt=job.prompt,
        negative_prompt=sampling.negative_prompt,
        reference_conditions=conditions,
        reference_downscale_factor=downscale,
        height=job.height,
        width=job.width,
        num_frames=job.frames,
        frame_rate=job.fps,
        num_inference_steps=sampling.num_inference_steps,
        guidance_scale=sampling.guidance_scale,
        stg_scale=sampling.stg_scale,
        modality_scale=1.0 if sampling.guidance_scale == 1.0 else 3.0,
        spatio_temporal_guidance_blocks=blocks,
        generator=generator,
        output_type="np",
        return_dict=False,
        max_sequence_length=max_text_tokens,
    )
    frames_u8 = (np.clip(np.asarray(video[0], dtype=np.float32), 0.0, 1.0) * 255.0).round().astype(np.uint8)
    rate = int(pipe.vocoder.config.output_sampling_rate)
    if audio is None:
        return frames_u8, None, rate
    wave = audio[0].float().cpu().numpy().T  # (channels, samples) -> (samples, channels)
    return frames_u8, np.ascontiguousarray(wave, dtype=np.float32), rate


# -------------------------------------------------------------------------------------------------- write


def output_path(out: Path, name: str) -> Path:
    """``out / name`` for a file name built from a clip id (data): DataError when it would leave ``out``."""
    from synthgen.fileio import safe_join

    return safe_join(out, name, what=f"output file {name!r}")


def write_video(path: Path, frames: np.ndarray, fps: float, audio: np.ndarray | None, rate: int) -> None:
    """MP4 at ``path`` through the dataset's own encoder: H.264 (crf 18, one encoder thread, so equal frames
    give equal bytes) and, when there is audio (float32 (samples, channels) in [-1, 1]), an AAC stream;
    written whole, then renamed into place."""
    from synthgen.dataset.media import VideoEncoding, encode_video

    data = encode_video(frames, fps, VideoEncoding(crf=18), name=str(path), audio=audio, audio_rate=rate)
    atomic_write_bytes(path, data)


def side_by_side(job: ClipJob, generated: np.ndarray) -> np.ndarray:
    """uint8 (F, H, W_total, 3): reference | generated | dataset target, tracks drawn on the generated and the
    target (where the labels say the points are) and a white border at beats, as ``synthgen preview``."""
    from PIL import Image, ImageDraw

    from synthgen.dataset.preview import beat_frames, draw_tracks

    row = job.row
    beats = beat_frames(row) if row is not None else set()
    out = []
    for index in range(job.frames):
        panels = []
        if job.reference is not None:
            ref = Image.fromarray(job.reference[index]).resize(
                (job.width, job.height), Image.Resampling.NEAREST
            )
            panels.append(ref)
        if row is not None:
            panels.append(draw_tracks(generated[index], row, index))
            panels.append(draw_tracks(np.asarray(row.video)[index], row, index))
        else:
            panels.append(Image.fromarray(generated[index]))
        canvas = Image.new("RGB", (sum(p.width for p in panels), job.height))
        for slot, panel in enumerate(panels):
            canvas.paste(panel, (slot * job.width, 0))
        if index in beats:
            ImageDraw.Draw(canvas).rectangle(
                (0, 0, canvas.width - 1, canvas.height - 1),
                outline=(255, 255, 255),
                width=max(2, job.height // 32),
            )
        out.append(np.asarray(canvas))
    return np.stack(out)


def write_side_by_side(out_dir: Path, name: str, job: ClipJob, generated: np.ndarray) -> tuple[Path, Path]:
    """``<name>_side.mp4`` and its PNG contact sheet."""
    from synthgen.dataset.media import VideoEncoding, encode_video
    from synthgen.dataset.preview import contact_sheet

    frames = side_by_side(job, generated)
    mp4, png = output_path(out_dir, f"{name}_side.mp4"), output_path(out_dir, f"{name}_side.png")
    atomic_write_bytes(mp4, encode_video(frames, job.fps, VideoEncoding(crf=18), name=str(mp4)))
    sheet = io.BytesIO()
    contact_sheet(frames).save(sheet, format="PNG")
    atomic_write_bytes(png, sheet.getvalue())
    return mp4, png


def adherence(job: ClipJob, video: np.ndarray) -> dict[str, Any] | None:
    """The clip's adherence scores (``synthgen.adherence.score_video``); for a JSON track reference, the
    video's motion against those tracks (``synthgen.adherence.tracks.tracks_adherence``); None without labels
    (a reference video).

    A row that lacks a label its metric needs (a dataset written before that label existed) is scored as
    ``{"error": "<one line>"}``: the videos are still worth keeping, and the report says why there is no score.
    """
    if job.tracks is not None:
        from synthgen.adherence.tracks import tracks_adherence

        values = tracks_adherence(*job.tracks, video)
        return {"clip_id": job.clip_id, "control_job": "motion_track", "metrics": {"motion_track": values}}
    if job.row is None:
        return None
    from synthgen.adherence import score_video

    try:
        return score_video(job.row, video)
    except DataError as err:
        warnings.warn(f"adherence: {err}", stacklevel=2)
        return {"clip_id": job.clip_id, "control_job": job.row.control_job, "error": str(err)}


def lora_effect(with_lora: dict[str, Any] | None, baseline: dict[str, Any] | None) -> dict[str, Any]:
    """Per metric and number: LoRA minus baseline (None where either is missing)."""
    if with_lora is None or baseline is None or "metrics" not in with_lora or "metrics" not in baseline:
        return {}
    effect: dict[str, Any] = {}
    for metric, numbers in with_lora["metrics"].items():
        base = baseline["metrics"].get(metric, {})
        effect[metric] = {
            key: (None if value is None or base.get(key) is None else float(value) - float(base[key]))
            for key, value in numbers.items()
            if isinstance(value, int | float) or value is None
        }
    return effect


# -------------------------------------------------------------------------------------------------- run


def resolve_device(name: str) -> torch.device:
    """``auto`` -> the first CUDA device if there is one, else CPU (as the trainer)."""
    from .train import resolve_device as trainer_device

    try:
        return trainer_device(name)
    except ConfigError as err:
        raise ConfigError(str(err).replace("train.device", "infer.device")) from None


def load_bundle(settings: InferSettings, device: torch.device) -> ModelBundle:
    """The model of ``model.*``, all components on ``device`` (bfloat16 transformer on GPU)."""
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    m = settings.model
    return load_model(
        m.preset,
        path=m.path,
        components_path=m.components_path,
        checkpoint=m.checkpoint,
        gemma=m.gemma,
        device=device,
        dtype=dtype,
        seed=m.seed,
    )


def run_inference(settings: InferSettings) -> dict[str, Any]:
    """Plan, load, generate every clip (and its baseline when asked), write videos and ``report.json``."""
    from tqdm import tqdm

    from .infer_config import check_output_dir

    s = settings.infer
    check_output_dir(settings)
    the_plan = plan(settings)
    device = resolve_device(s.device)
    if s.cpu_threads > 0:
        torch.set_num_threads(s.cpu_threads)
    bundle = load_bundle(settings, device)
    pipe = build_pipeline(bundle, settings.model.path if settings.model.preset == "path" else None, device)
    if the_plan.lora is not None:
        load_lora(pipe, the_plan.lora)  # its keys checked against the model before anything is written
    sampling = Sampling(s.num_inference_steps, s.guidance_scale, s.stg_scale, s.negative_prompt, s.progress)
    out = Path(settings.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    clips = []
    for index, job in enumerate(tqdm(the_plan.jobs, desc="clips", unit="clip", disable=not s.progress)):
        seed = s.seed + index
        clips.append(_one_clip(pipe, job, settings, the_plan, sampling, bundle, out, seed))
    report = {
        "clips": clips,
        "lora": None if the_plan.lora is None else str(the_plan.lora.path),
        "lora_scale": settings.lora.scale if the_plan.lora is not None else 0.0,
        "reference_downscale": the_plan.downscale,
        "model": bundle.model_id,
        "settings": settings.to_dict(),
    }
    atomic_write_json(out / "report.json", report, indent=1, sort_keys=True)
    return report


def _one_clip(
    pipe: Any,
    job: ClipJob,
    settings: InferSettings,
    the_plan: Plan,
    sampling: Sampling,
    bundle: ModelBundle,
    out: Path,
    seed: int,
) -> dict[str, Any]:
    runs = [("", settings.lora.scale if the_plan.lora is not None else 0.0)]
    if settings.lora.baseline:
        runs.append(("_baseline", 0.0))
    entry: dict[str, Any] = {"clip_id": job.clip_id, "seed": seed, "prompt": job.prompt}
    for suffix, scale in runs:
        if the_plan.lora is not None:
            set_lora_scale(pipe, scale)
        video, audio, rate = generate_clip(
            pipe, job, seed=seed, downscale=the_plan.downscale, sampling=sampling,
            max_text_tokens=bundle.max_text_tokens,
        )  # fmt: skip
        name = f"{job.clip_id}{suffix}"
        write_video(output_path(out, f"{name}.mp4"), video, job.fps, audio, rate)
        write_side_by_side(out, name, job, video)
        key = "baseline" if suffix else "adherence"
        entry[key] = adherence(job, video)
        entry["video" if not suffix else "baseline_video"] = f"{name}.mp4"
    if settings.lora.baseline:
        entry["lora_effect"] = lora_effect(entry["adherence"], entry["baseline"])
    return entry
