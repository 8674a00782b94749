"""audio_to_video: the reference is the clip's beat-synced audio; the target's bound motion follows the beats.

The pipeline synthesises the audio (``needs_audio``); the job adds no reference video. Its labels say which
binding drives which object, on which frames its source beats fall and on which its motion events happen
(``synthgen.controls.signals.beats``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import Field

from synthgen.controls.job import (
    AUDIO_REFERENCE_EXPORT,
    AUDIO_REFERENCE_ROLES,
    AudioClipLike,
    ControlJob,
    ControlResult,
    JobParams,
    RenderedLike,
    reference_geometry,
    register,
)
from synthgen.controls.rules import OBJECTS_BARELY_MOVE, OBJECTS_OUT_OF_VIEW, UNFOLLOWED_BEATS
from synthgen.controls.signals.beats import binding_table, event_frames, source_frames
from synthgen.errors import DataError


class AudioToVideoParams(JobParams):
    """Audio reference; motion events must fall on the frame of their beat within ``event_tolerance_frames``."""

    event_tolerance_frames: int = Field(
        ge=0, le=8, description="motion events may sit this many frames from their beat (recorded in pairing)"
    )


@register
class AudioToVideoJob(ControlJob[AudioToVideoParams]):
    """Reference = the clip's audio (column ``audio``); labels = per-binding source and event frames."""

    name = "audio_to_video"
    params_model = AudioToVideoParams
    needs_reference_scene = False
    needs_audio = True
    caption_phrase = "moving in time with the music"
    lint_rules = (OBJECTS_BARELY_MOVE, OBJECTS_OUT_OF_VIEW, UNFOLLOWED_BEATS)
    export_columns = AUDIO_REFERENCE_EXPORT
    trainer_roles = AUDIO_REFERENCE_ROLES
    adherence = ("audio_to_video",)

    def build(
        self,
        target: RenderedLike,
        params: AudioToVideoParams,
        *,
        reference: RenderedLike | None = None,
        audio: AudioClipLike | None = None,
    ) -> ControlResult:
        assert audio is not None  # needs_audio: build_controls checked
        spec = target.spec
        if spec.audio is None or not spec.audio.bindings:
            raise DataError(
                f"clip {spec.clip_id}: audio_to_video needs audio with at least one binding (audio.bindings)"
            )
        grid = audio.grid
        bindings = spec.audio.bindings
        pairing: dict[str, Any] = {
            "job": self.name,
            "reference": "audio (column audio): procedural music with an exact beat grid",
            "shared": ["time axis (frame i at i / fps; beat k at its labelled sample)", "beat grid"],
            "differs": ["the reference is sound; the target is video whose bound motion follows the beats"],
            "bindings": binding_table(spec),
            "event_tolerance_frames": params.event_tolerance_frames,
            "bpm": float(grid.bpm),
            "snapped": bool(grid.snapped),
            **reference_geometry(spec),
        }
        labels = {
            "binding_target_ids": np.array([b.target_id for b in bindings], dtype=np.int32),
            "binding_source_frames": np.stack([source_frames(b, grid) for b in bindings]),
            "binding_event_frames": np.stack([event_frames(spec, b, grid) for b in bindings]),
        }
        return ControlResult(reference_video=None, controls={}, labels=labels, pairing=pairing)
