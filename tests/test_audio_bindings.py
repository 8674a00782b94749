"""Audio-reactive bindings: bounce contact on beats, pulses, colour, camera offsets, combination, errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synthgen.audio import beat_grid, binding_effects
from synthgen.audio.bindings import bounce_height
from synthgen.describe.spec import AudioSpec, BindingSpec, ClipSettings, ClipSpec, MaterialSpec, ObjectSpec
from synthgen.errors import ConfigError
from tests.conftest import clip_settings, render_spec

CLIP = clip_settings(width=64, height=64, num_frames=49, fps=24.0)
OBJECTS = (
    ObjectSpec(object_id=1, name="a", material=MaterialSpec(base_color_rgb=(0.2, 0.4, 0.6))),
    ObjectSpec(object_id=2, name="b"),
)


def make_spec(*bindings: BindingSpec, clip: ClipSettings = CLIP, **audio: object) -> ClipSpec:
    spec_audio = AudioSpec(bindings=bindings, **audio)  # type: ignore[arg-type]
    return ClipSpec(
        dataset_seed=0,
        clip_index=0,
        scene="test",
        clip=clip,
        objects=OBJECTS,
        audio=spec_audio,
        render=render_spec(),
    )


def effects_of(spec: ClipSpec):  # type: ignore[no-untyped-def]
    assert spec.audio is not None
    return binding_effects(spec, beat_grid(spec.audio, spec.clip)), beat_grid(spec.audio, spec.clip)


@settings(max_examples=50, deadline=None)
@given(
    gaps=st.lists(st.integers(1, 20), min_size=1, max_size=8),
    first=st.integers(0, 10),
    height=st.floats(0.01, 5.0),
)
def test_bounce_touches_ground_exactly_at_integer_contacts(
    gaps: list[int], first: int, height: float
) -> None:
    contacts = (first + np.concatenate([[0], np.cumsum(gaps)])).astype(np.float64)
    num_frames = int(contacts[-1]) + 5
    z = bounce_height(contacts, float(min(gaps)), num_frames, height)
    np.testing.assert_array_equal(np.flatnonzero(z == 0.0), contacts.astype(int))
    assert np.all(z >= 0.0)
    assert np.all(z <= height * (1.0 + 1e-12))


@settings(max_examples=50, deadline=None)
@given(a=st.integers(0, 30), gap=st.integers(2, 30), height=st.floats(0.01, 5.0))
def test_bounce_flies_a_parabola_peaking_midway(a: int, gap: int, height: float) -> None:
    contacts = np.array([a, a + gap], dtype=np.float64)
    z = bounce_height(contacts, float(gap), a + gap + 1, height)
    frames = np.arange(a, a + gap + 1)
    u = (frames - a) / gap
    np.testing.assert_allclose(z[frames], height * 4.0 * u * (1.0 - u), atol=1e-12)


@pytest.mark.parametrize("bpm", [84.0, 120.0, 150.0, 200.0])
def test_snapped_bounce_ground_frames_equal_beat_frames(bpm: float) -> None:
    spec = make_spec(
        BindingSpec(kind="bounce", target_id=1),
        BindingSpec(kind="bounce", target_id=2, amount=0.3),
        bpm=bpm,
        snap_to_frames=True,
    )
    effects, grid = effects_of(spec)
    for row in range(2):
        np.testing.assert_array_equal(
            np.flatnonzero(effects.position_offset_m[row, :, 2] == 0.0), grid.beat_frames
        )


def test_unsnapped_bounce_touches_ground_only_on_beats_that_hit_a_frame() -> None:
    spec = make_spec(BindingSpec(kind="bounce", target_id=1), bpm=97.0)
    effects, grid = effects_of(spec)
    on_frame = grid.beat_frame_pos[grid.beat_frame_pos == np.floor(grid.beat_frame_pos)].astype(int)
    np.testing.assert_array_equal(np.flatnonzero(effects.position_offset_m[0, :, 2] == 0.0), on_frame)


def test_bounce_moves_only_along_z() -> None:
    effects, _ = effects_of(make_spec(BindingSpec(kind="bounce", target_id=1), snap_to_frames=True))
    assert np.all(effects.position_offset_m[:, :, :2] == 0.0)
    assert np.all(effects.position_offset_m[1] == 0.0)


def test_bounce_on_kick_touches_ground_at_kick_frames() -> None:
    spec = make_spec(BindingSpec(kind="bounce", target_id=1, source="kick"), snap_to_frames=True)
    effects, grid = effects_of(spec)
    np.testing.assert_array_equal(
        np.flatnonzero(effects.position_offset_m[0, :, 2] == 0.0), grid.onset_frame_pos["kick"].astype(int)
    )


def test_scale_pulse_peaks_at_one_plus_amount_on_beats() -> None:
    spec = make_spec(BindingSpec(kind="scale_pulse", target_id=1, amount=0.25), snap_to_frames=True)
    effects, grid = effects_of(spec)
    np.testing.assert_allclose(effects.scale[0, grid.beat_frames], 1.25)
    between = np.setdiff1d(np.arange(CLIP.num_frames), grid.beat_frames)
    assert np.all(effects.scale[0, between] < 1.25)
    assert np.all(effects.scale[1] == 1.0)


def test_flash_adds_emission_that_decays_after_each_beat() -> None:
    spec = make_spec(BindingSpec(kind="flash", target_id=2, amount=4.0), snap_to_frames=True)
    effects, grid = effects_of(spec)
    emission = effects.emission[1]
    np.testing.assert_allclose(emission[grid.beat_frames], 4.0)
    first, second = grid.beat_frames[:2]
    assert np.all(np.diff(emission[first:second]) < 0.0)


def test_colour_changes_on_every_downbeat_and_holds_within_a_bar() -> None:
    clip = clip_settings(width=64, height=64, num_frames=97, fps=24.0)
    spec = make_spec(BindingSpec(kind="color_downbeat", target_id=1, source="downbeat"), clip=clip)
    effects, grid = effects_of(spec)
    colours = effects.color_rgb[0]
    changes = np.flatnonzero(np.any(colours[1:] != colours[:-1], axis=1)) + 1
    np.testing.assert_array_equal(changes, grid.beat_frames[:: grid.meter][1:])
    assert np.all(np.isnan(effects.color_rgb[1]))


def test_colour_amount_blends_from_the_material_colour() -> None:
    spec = make_spec(BindingSpec(kind="color_downbeat", target_id=1, source="downbeat", amount=0.0))
    effects, _ = effects_of(spec)
    np.testing.assert_allclose(effects.color_rgb[0], np.tile([0.2, 0.4, 0.6], (CLIP.num_frames, 1)))


def test_camera_jolt_pitches_by_amount_degrees_on_downbeats() -> None:
    spec = make_spec(
        BindingSpec(kind="camera_jolt", target_id=0, source="downbeat", amount=2.0), snap_to_frames=True
    )
    effects, grid = effects_of(spec)
    offsets = effects.camera_local_offset
    angle_deg = np.degrees(np.arctan2(offsets[:, 2, 1], offsets[:, 1, 1]))
    np.testing.assert_allclose(angle_deg[grid.beat_frames[:: grid.meter]], 2.0)
    rotation = offsets[:, :3, :3]
    np.testing.assert_allclose(
        rotation @ rotation.transpose(0, 2, 1), np.tile(np.eye(3), (CLIP.num_frames, 1, 1)), atol=1e-12
    )


def test_camera_cut_toggles_the_shot_on_every_bar() -> None:
    clip = clip_settings(width=64, height=64, num_frames=97, fps=24.0)
    spec = make_spec(
        BindingSpec(kind="camera_cut", target_id=0, source="downbeat", amount=1.5),
        clip=clip,
        snap_to_frames=True,
    )
    effects, grid = effects_of(spec)
    forward = -effects.camera_local_offset[:, 2, 3]
    bars = np.searchsorted(grid.beat_frames[:: grid.meter], np.arange(clip.num_frames), side="right")
    np.testing.assert_array_equal(forward, np.where(bars % 2 == 1, 1.5, 0.0))


def test_energy_binding_scales_with_the_energy_envelope() -> None:
    spec = make_spec(BindingSpec(kind="energy", target_id=2, source="energy", amount=0.5))
    effects, grid = effects_of(spec)
    np.testing.assert_allclose(effects.scale[1], 1.0 + 0.5 * grid.energy)


def test_energy_binding_with_instrument_source_follows_that_stem() -> None:
    spec = make_spec(BindingSpec(kind="energy", target_id=1, source="kick", amount=1.0))
    effects, grid = effects_of(spec)
    np.testing.assert_allclose(effects.scale[0], 1.0 + grid.stem_energy["kick"])


def test_bindings_on_one_object_combine() -> None:
    single = make_spec(
        BindingSpec(kind="bounce", target_id=1, amount=0.5),
        BindingSpec(kind="scale_pulse", target_id=1, amount=0.2),
    )
    double = make_spec(
        BindingSpec(kind="bounce", target_id=1, amount=0.5),
        BindingSpec(kind="bounce", target_id=1, amount=0.5),
        BindingSpec(kind="scale_pulse", target_id=1, amount=0.2),
        BindingSpec(kind="scale_pulse", target_id=1, amount=0.2),
    )
    one, _ = effects_of(single)
    two, _ = effects_of(double)
    np.testing.assert_allclose(two.position_offset_m, 2.0 * one.position_offset_m)
    np.testing.assert_allclose(two.scale, one.scale**2)


def test_no_bindings_give_neutral_effects() -> None:
    effects, _ = effects_of(make_spec())
    assert effects.position_offset_m.shape == (2, CLIP.num_frames, 3)
    assert np.all(effects.position_offset_m == 0.0) and np.all(effects.scale == 1.0)
    assert np.all(effects.emission == 0.0) and np.all(np.isnan(effects.color_rgb))
    np.testing.assert_array_equal(effects.camera_local_offset, np.tile(np.eye(4), (CLIP.num_frames, 1, 1)))


@pytest.mark.parametrize(
    ("binding", "instruments", "message"),
    [
        (
            BindingSpec(kind="bounce", target_id=0),
            ("kick",),
            r"^audio\.bindings\[0\]\.target_id=0: kind 'bounce'",
        ),
        (
            BindingSpec(kind="camera_jolt", target_id=1),
            ("kick",),
            r"^audio\.bindings\[0\]\.target_id=1: kind 'camera_jolt' needs",
        ),
        (
            BindingSpec(kind="bounce", target_id=1, source="clap"),
            ("kick",),
            r"^audio\.bindings\[0\]\.source='clap': not among",
        ),
        (
            BindingSpec(kind="flash", target_id=1, source="energy"),
            ("kick",),
            r"^audio\.bindings\[0\]\.source='energy'",
        ),
    ],
)
def test_invalid_binding_raises_one_line_error(
    binding: BindingSpec, instruments: tuple[str, ...], message: str
) -> None:
    spec = make_spec(binding, instruments=instruments)
    with pytest.raises(ConfigError, match=message) as info:
        effects_of(spec)
    assert "\n" not in str(info.value)


def test_grid_of_another_clip_is_rejected() -> None:
    spec = make_spec(BindingSpec(kind="bounce", target_id=1))
    other = clip_settings(width=64, height=64, num_frames=9, fps=24.0)
    assert spec.audio is not None
    with pytest.raises(ConfigError, match=r"^grid: num_frames=9"):
        binding_effects(spec, beat_grid(spec.audio, other))
