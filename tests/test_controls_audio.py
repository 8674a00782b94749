"""audio_to_video pairing: motion events of every binding fall on the frames of its source beats."""

from __future__ import annotations

import numpy as np
import pytest

from synthgen.audio import synthesize
from synthgen.controls import build_controls
from synthgen.controls.signals.beats import event_frames, source_frames
from synthgen.describe.spec import AudioSpec, BindingSpec, ClipSpec, ObjectSpec
from synthgen.errors import DataError
from synthgen.labels.compute import compute_labels
from synthgen.render.types import RenderedClip
from tests.conftest import clip_settings, render_spec
from tests.control_helpers import control_params

KINDS = [
    ("bounce", 1, "beat"),
    ("scale_pulse", 1, "kick"),
    ("flash", 1, "downbeat"),
    ("color_downbeat", 1, "downbeat"),
    ("camera_jolt", 0, "beat"),
    ("camera_cut", 0, "beat"),
]


def audio_spec(kind: str, target_id: int, source: str, snap: bool = True, bpm: float = 144.0) -> ClipSpec:
    return ClipSpec(
        dataset_seed=0,
        clip_index=0,
        scene="test",
        control="audio_to_video",
        clip=clip_settings(width=64, height=64, num_frames=41, fps=24.0),
        objects=(ObjectSpec(object_id=1, name="ball"),),
        audio=AudioSpec(
            sample_rate=48000,
            bpm=bpm,
            snap_to_frames=snap,
            instruments=("kick", "snare", "hat_closed"),
            bindings=(BindingSpec(kind=kind, target_id=target_id, source=source, amount=0.5),),  # type: ignore[arg-type]
        ),
        render=render_spec(),
    )


@pytest.mark.parametrize(("kind", "target_id", "source"), KINDS)
def test_snapped_beat_frames_equal_motion_event_frames(kind: str, target_id: int, source: str) -> None:
    spec = audio_spec(kind, target_id, source)
    grid = synthesize(spec).grid
    binding = spec.audio.bindings[0]  # type: ignore[union-attr]
    beats = source_frames(binding, grid)
    assert beats.any()
    np.testing.assert_array_equal(np.flatnonzero(event_frames(spec, binding, grid)), np.flatnonzero(beats))


def test_source_frames_of_beat_binding_are_the_grid_beat_frames() -> None:
    spec = audio_spec("bounce", 1, "beat")
    assert spec.audio is not None
    grid = synthesize(spec).grid
    np.testing.assert_array_equal(
        np.flatnonzero(source_frames(spec.audio.bindings[0], grid)), grid.beat_frames
    )


@pytest.mark.parametrize("kind", ["bounce", "scale_pulse", "flash"])
def test_unsnapped_beats_have_motion_events_within_one_frame(kind: str) -> None:
    spec = audio_spec(kind, 1, "beat", snap=False, bpm=133.0)
    grid = synthesize(spec).grid
    binding = spec.audio.bindings[0]  # type: ignore[union-attr]
    events = np.flatnonzero(event_frames(spec, binding, grid))
    for beat in np.flatnonzero(source_frames(binding, grid)):
        assert np.abs(events - beat).min() <= 1


def test_audio_to_video_row_labels_name_the_driven_object() -> None:
    spec = audio_spec("bounce", 1, "beat")
    audio = synthesize(spec)
    frames = np.zeros((41, 64, 64, 3), np.uint8)
    clip = RenderedClip(
        spec,
        compute_labels(spec),
        frames,
        np.ones((41, 64, 64), np.float32),
        np.zeros((41, 64, 64), np.uint16),
        None,
        0.0,
    )
    result = build_controls("audio_to_video", control_params("audio_to_video"), clip, audio=audio)
    assert result.reference_video is None
    assert result.pairing["bindings"][0]["target"] == "ball"
    np.testing.assert_array_equal(result.labels["binding_target_ids"], [1])
    np.testing.assert_array_equal(
        result.labels["binding_source_frames"], result.labels["binding_event_frames"]
    )


def test_audio_to_video_without_bindings_raises_data_error() -> None:
    spec = audio_spec("bounce", 1, "beat")
    spec = spec.model_copy(update={"audio": spec.audio.model_copy(update={"bindings": ()})})  # type: ignore[union-attr]
    audio = synthesize(spec)
    clip = RenderedClip(
        spec,
        compute_labels(spec),
        np.zeros((41, 64, 64, 3), np.uint8),
        np.ones((41, 64, 64), np.float32),
        np.zeros((41, 64, 64), np.uint16),
        None,
        0.0,
    )
    with pytest.raises(DataError, match=r"audio\.bindings"):
        build_controls("audio_to_video", control_params("audio_to_video"), clip, audio=audio)
