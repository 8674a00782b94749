"""ClipSpec: LTX rules at the boundary, JSON round trip, one-line errors."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from synthgen.describe.spec import (
    ClipSettings,
    ClipSpec,
    IntrinsicsSpec,
    ObjectSpec,
    audio_num_samples,
    nearest_valid_frame_counts,
)
from synthgen.errors import ConfigError, config_error_from_validation
from tests.conftest import clip_settings, render_spec

# Every field of ClipSettings is required (the packaged YAML holds the defaults): a valid base to vary.
VALID_CLIP: dict[str, object] = {
    "width": 64,
    "height": 64,
    "num_frames": 9,
    "fps": 24.0,
    "reference_downscale": 1,
    "reference_temporal_factor": 1,
}


def valid_clip_with(**changes: object) -> ClipSettings:
    return ClipSettings.model_validate({**VALID_CLIP, **changes})


def _one_line_error(**clip: object) -> str:
    with pytest.raises(ValidationError) as info:
        valid_clip_with(**clip)
    message = str(config_error_from_validation(info.value, "clip"))
    assert "\n" not in message
    return message


@given(st.integers(min_value=1, max_value=1025))  # 1025 = MAX_NUM_FRAMES
def test_frame_counts_of_form_8k_plus_1_are_accepted_and_others_rejected(num_frames: int) -> None:
    if (num_frames - 1) % 8 == 0:
        assert valid_clip_with(num_frames=num_frames).num_frames == num_frames
    else:
        with pytest.raises(ValidationError):
            valid_clip_with(num_frames=num_frames)


@given(st.integers(min_value=2, max_value=2000).filter(lambda n: (n - 1) % 8))
def test_nearest_valid_frame_counts_bracket_the_value(num_frames: int) -> None:
    below, above = nearest_valid_frame_counts(num_frames)
    assert below < num_frames < above
    assert (below - 1) % 8 == 0 and (above - 1) % 8 == 0 and above - below == 8


def test_invalid_frame_count_error_names_field_value_and_neighbours() -> None:
    message = _one_line_error(num_frames=50)
    assert message.startswith("clip.num_frames=50")
    assert "49" in message and "57" in message


def test_width_not_multiple_of_32_is_rejected_with_field_name() -> None:
    message = _one_line_error(width=100)
    assert "width=100" in message and "32" in message


def test_sides_must_be_multiples_of_32_times_reference_downscale() -> None:
    valid_clip_with(width=64, height=64, reference_downscale=2)
    with pytest.raises(ValidationError):
        valid_clip_with(width=96, height=64, reference_downscale=2)


def test_negative_fps_is_rejected() -> None:
    assert _one_line_error(fps=-1.0).startswith("clip.fps=-1.0")


def test_nan_waypoint_is_rejected_naming_the_waypoint() -> None:
    with pytest.raises(ValidationError) as info:
        ObjectSpec(
            object_id=1, name="a", path={"kind": "linear", "waypoints_m": [(0, 0, math.nan), (1, 1, 1)]}
        )
    message = str(config_error_from_validation(info.value, "objects[0]"))
    assert message.startswith("objects[0].path.waypoints_m[0][2]=nan")


@given(
    st.sampled_from([9, 25, 49, 97, 121]),
    st.sampled_from([12.0, 24.0, 25.0, 30.0, 50.0, 60.0]),
    st.sampled_from([16000, 22050, 44100, 48000]),
)
def test_audio_sample_count_is_integer_exactly_when_spec_accepts_it(frames: int, fps: float, sr: int) -> None:
    exact = frames * sr / fps
    expected_ok = abs(exact - round(exact)) < 1e-9
    assert (audio_num_samples(frames, fps, sr) is not None) == expected_ok
    spec_kwargs = dict(dataset_seed=0, clip_index=0, scene="tracked_objects", render=render_spec())
    clip = clip_settings(num_frames=frames, fps=fps)
    if expected_ok:
        ClipSpec(**spec_kwargs, clip=clip, audio={"sample_rate": sr})  # type: ignore[arg-type]
    else:
        with pytest.raises(ValidationError):
            ClipSpec(**spec_kwargs, clip=clip, audio={"sample_rate": sr})  # type: ignore[arg-type]


@given(st.floats(min_value=5.0, max_value=170.0), st.floats(min_value=10.0, max_value=70.0))
def test_fov_and_focal_length_describe_the_same_intrinsics(fov_deg: float, sensor_mm: float) -> None:
    intr = IntrinsicsSpec.model_validate({"fov_deg": fov_deg, "sensor_width_mm": sensor_mm})
    assert intr.fov_deg == pytest.approx(fov_deg, rel=1e-9)


def test_duplicate_object_ids_are_rejected() -> None:
    with pytest.raises(ValidationError, match="unique"):
        ClipSpec(
            dataset_seed=0,
            clip_index=0,
            scene="tracked_objects",
            clip=clip_settings(),
            render=render_spec(),
            objects=(ObjectSpec(object_id=1, name="a"), ObjectSpec(object_id=1, name="b")),
        )


def test_spec_json_round_trip_is_lossless_and_canonical() -> None:
    spec = ClipSpec(
        dataset_seed=3,
        clip_index=7,
        scene="tracked_objects",
        clip=clip_settings(),
        render=render_spec(),
        objects=(
            ObjectSpec(
                object_id=2, name="a", path={"kind": "catmull_rom", "waypoints_m": [(0, 0, 0), (1, 2, 3)]}
            ),
        ),
        camera={"moves": [{"kind": "orbit", "amount": 30.0}, {"kind": "handheld", "seed": 4}]},
    )
    text = spec.to_json()
    again = ClipSpec.from_json(text)
    assert again == spec
    assert again.to_json() == text


def test_malformed_spec_json_raises_one_line_config_error() -> None:
    with pytest.raises(ConfigError) as info:
        ClipSpec.from_json('{"dataset_seed": 0, "clip_index": -1, "scene": "x"}')
    assert "clip_index" in str(info.value) and "\n" not in str(info.value)


def test_specs_are_frozen() -> None:
    spec = ClipSpec(
        dataset_seed=0, clip_index=0, scene="tracked_objects", clip=clip_settings(), render=render_spec()
    )
    with pytest.raises(ValidationError):
        spec.clip_index = 3  # type: ignore[misc]
