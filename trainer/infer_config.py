"""Typed settings of ``synthgen-infer``: ``conf/infer.yaml`` (groups ``model/`` and ``infer/``) validated.

As for the trainer (``synthgen.trainer.config``), the packaged YAML is the only source of defaults and these
frozen models hold none; ``load_infer_config`` composes it with Hydra override strings exactly as the app
does. Errors are one-line ``ConfigError``\\ s naming the dotted key.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from omegaconf import DictConfig
from pydantic import BeforeValidator, Field

from synthgen.errors import ConfigError

from .config import (
    MAX_SEED,
    ModelSettings,
    _as_list,
    _Settings,
    check_checkpoint_paths,
    load_packaged_settings,
)

ClipIds = Annotated[tuple[str, ...], Field(strict=False), BeforeValidator(_as_list)]
SizePx = Annotated[tuple[int, int], Field(strict=False), BeforeValidator(_as_list)]


class InferDataSettings(_Settings):
    """``data.*``: which clips of a synthgen dataset give the references, prompts and labels."""

    path: str | None = Field(
        description="a synthgen dataset folder; null when the reference comes from files"
    )
    clips: ClipIds = Field(description="clip ids to generate; empty: the clips data.split selects")
    split: Literal["heldout", "all"] = Field(
        description="with no data.clips: heldout (the clips synthgen-train holds out) or all"
    )
    eval_clips: int = Field(
        ge=0, description="as synthgen-train's data.eval_clips: the last N clips are held out"
    )
    max_clips: int = Field(
        ge=0, description="as synthgen-train's data.max_clips: only the first N clips (0 = all)"
    )


class ReferenceSettings(_Settings):
    """``reference.*``: a reference from files instead of a dataset, and the prompt."""

    video: str | None = Field(description="an MP4 at the reference size (target size / downscale factor)")
    tracks: str | None = Field(
        description="instead of video: a JSON track file of ComfyUI's LTXVSparseTrackEditor (lists of {x, y} "
        "per frame), drawn into the motion-track reference"
    )
    style: Literal["synthgen_tracks", "ltx_sparse_tracks"] = Field(
        description="how reference.tracks are drawn: synthgen_tracks (ours) or ltx_sparse_tracks (the official "
        "LTXVDrawTracks format)"
    )
    width: int = Field(
        ge=1, le=8192, description="with reference.tracks: the generated video's width in pixels"
    )
    height: int = Field(
        ge=1, le=8192, description="with reference.tracks: the generated video's height in pixels"
    )
    num_frames: int = Field(ge=1, le=10000, description="with reference.tracks: frames to generate (8k+1)")
    tracks_size: SizePx | None = Field(
        description="[width, height] of the image reference.tracks were drawn on; null = width x height"
    )
    audio: str | None = Field(description="a WAV for audio-conditioned LoRAs (audio_to_video)")
    prompt: str | None = Field(description="the prompt; null with a dataset means each clip's caption")
    fps: float = Field(gt=0.0, le=1000.0, description="frame rate given to the model for a file reference")


class InferLoraSettings(_Settings):
    """``lora.*``: the IC-LoRA to apply, its strength and its reference downscale factor."""

    path: str | None = Field(
        description="an LTX-2/LTX-2.3 IC-LoRA .safetensors (ours or public); null = none"
    )
    scale: float = Field(ge=0.0, le=10.0, description="adapter strength; 0 = the bare model (baseline)")
    reference_downscale: int | None = Field(
        ge=1, le=16, description="reference = target / this; null = the LoRA's metadata (else 1)"
    )
    baseline: bool = Field(description="also generate each clip with lora.scale=0 and report the difference")


class SamplingSettings(_Settings):
    """``infer.*`` (group ``conf/infer/``): seeds, steps, guidance, device."""

    seed: int = Field(ge=0, le=MAX_SEED, description="noise seed; clip i of a run uses seed + i")
    num_inference_steps: int = Field(ge=1, le=1000, description="denoising steps")
    guidance_scale: float = Field(ge=1.0, le=50.0, description="classifier-free guidance; 1 = off")
    stg_scale: float = Field(ge=0.0, le=50.0, description="spatio-temporal guidance; 0 = off")
    negative_prompt: str = Field(description="the negative prompt of classifier-free guidance")
    device: str = Field(
        pattern=r"^(auto|cpu|mps|cuda(:\d+)?)$", description="auto (the first GPU, else the CPU), cpu, cuda:N"
    )
    cpu_threads: int = Field(ge=0, le=1024, description="torch threads on CPU; 0 = torch's default")
    progress: bool = Field(description="progress bars over clips and denoising steps")


class InferSettings(_Settings):
    """The whole ``synthgen-infer`` config (``conf/infer.yaml``)."""

    output_dir: str = Field(min_length=1, description="where videos, contact sheets and report.json go")
    overwrite: bool = Field(
        description="write into an output_dir holding files that synthgen-infer does not write"
    )
    model: ModelSettings = Field(description="which transformer and encoders (the group synthgen-train uses)")
    data: InferDataSettings = Field(description="the dataset clips to generate")
    reference: ReferenceSettings = Field(description="a reference from files, and the prompt")
    lora: InferLoraSettings = Field(description="the IC-LoRA")
    infer: SamplingSettings = Field(description="sampling settings")

    def to_dict(self) -> dict[str, Any]:
        """Plain nested JSON-ready dict (for the report)."""
        return self.model_dump(mode="json")


def load_infer_config(
    values: Mapping[str, Any] | DictConfig | None = None, *, overrides: Sequence[str] = ()
) -> InferSettings:
    """The validated settings: packaged ``conf/infer.yaml`` + ``overrides`` (command-line strings) + ``values``
    (a nested mapping merged on top), as ``load_train_config`` does; a ``DictConfig`` is validated as is.
    ``output_dir`` must be given outside a ``synthgen-infer`` run. ConfigError names the first bad key."""
    return load_packaged_settings("infer", InferSettings, check, values, overrides)


def check(s: InferSettings) -> None:
    """Rules across fields: exactly one reference source; a prompt for file references; model=path needs a path."""
    if s.model.preset == "path" and not s.model.path:
        raise ConfigError(f"model.path={s.model.path!r}: model=path needs a local diffusers folder")
    if s.model.preset == "ltx_checkpoint" and s.infer.num_inference_steps < 2:
        # LTX-2.3's schedule stretches its last non-zero sigma to 0.1; one step has none below 1 (0 / 0).
        raise ConfigError(
            f"infer.num_inference_steps={s.infer.num_inference_steps}: LTX-2.3's schedule needs at least 2 steps"
        )
    if s.model.preset == "ltx-2.3-22b":
        raise ConfigError(
            "model=ltx-2.3-22b: that preset has no VAE or text encoder to generate with; use model=path or model=tiny"
        )
    r = s.reference
    if (s.data.path is None) == (r.video is None and r.audio is None and r.tracks is None):
        raise ConfigError(
            f"data.path={s.data.path!r}, reference.video={r.video!r}, reference.tracks={r.tracks!r}: give a "
            "dataset (data.path) or a reference from files (reference.video / .tracks / .audio), not both"
        )
    if r.tracks is not None and r.video is not None:
        raise ConfigError(
            f"reference.tracks={r.tracks!r}, reference.video={r.video!r}: give one reference, not both"
        )
    if s.data.path is None and not s.reference.prompt:
        raise ConfigError("reference.prompt=None: a reference from files needs a prompt")
    if s.lora.baseline and s.lora.path is None:
        raise ConfigError("lora.baseline=true: needs lora.path (the baseline is the run without the LoRA)")


def check_paths(s: InferSettings) -> None:
    """The local files a run reads exist (one-line ConfigError naming the key)."""
    named = {
        "data.path": s.data.path,
        "reference.video": s.reference.video,
        "reference.audio": s.reference.audio,
        "reference.tracks": s.reference.tracks,
        "lora.path": s.lora.path,
    }
    if s.model.preset == "path":
        named["model.path"] = s.model.path
    for key, value in named.items():
        if value is not None and not Path(value).expanduser().exists():
            raise ConfigError(f"{key}={value!r}: no such file or folder")
    check_checkpoint_paths(s.model)


def _is_infer_folder(root: Path) -> bool:
    # What an inference run (and Hydra's run folder) puts into output_dir.
    return all(
        p.name in (".hydra", "report.json") or p.suffix in (".mp4", ".png", ".log") for p in root.iterdir()
    )


def check_output_dir(s: InferSettings) -> Path:
    """``output_dir`` may be written: absent, empty, an inference run's own folder, or anything with
    ``overwrite=true`` (ConfigError naming ``output_dir`` otherwise)."""
    from synthgen.fileio import check_output_dir as check_folder

    return check_folder(s.output_dir, "output_dir", overwrite=s.overwrite, ours=_is_infer_folder)
