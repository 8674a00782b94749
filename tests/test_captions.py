"""Captions: deterministic, varied, describe subjects/motion/camera, name the control only when asked."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synthgen.controls import get_job, job_names
from synthgen.describe.captions import color_name, direction_word, make_caption
from synthgen.describe.spec import (
    AxisMove,
    CameraSpec,
    ClipSpec,
    MaterialSpec,
    ObjectSpec,
    OrbitMove,
    WaypointPath,
)
from tests.conftest import clip_settings, render_spec


def spec_with(clip_index: int = 0, **updates: object) -> ClipSpec:
    cube = ObjectSpec(
        object_id=1,
        name="cube",
        primitive="cube",
        material=MaterialSpec(base_color_rgb=(0.8, 0.05, 0.05), roughness=0.9),
        path=WaypointPath(kind="linear", waypoints_m=((1.0, 0.0, 0.5), (-1.0, 0.0, 0.5))),
    )
    base = ClipSpec(
        dataset_seed=3,
        clip_index=clip_index,
        scene="test",
        objects=(cube,),
        clip=clip_settings(),
        render=render_spec(),
    )
    return base.model_copy(update=updates)


def test_same_spec_gives_the_same_caption() -> None:
    assert make_caption(spec_with(5)) == make_caption(spec_with(5))


def test_templates_vary_across_clips() -> None:
    captions = {make_caption(spec_with(index)) for index in range(30)}
    assert len(captions) >= 4


def test_caption_describes_colour_finish_shape_and_direction() -> None:
    text = make_caption(spec_with(0))
    assert "matte red" in text
    assert "cube" in text or "box" in text
    assert "left" in text  # +x to -x seen from the default camera at -y looking at +y


def test_caption_describes_the_camera_move() -> None:
    camera = CameraSpec(moves=(OrbitMove(amount=30.0),))
    assert "orbits right" in make_caption(spec_with(0, camera=camera))
    camera = CameraSpec(moves=(AxisMove(kind="dolly", amount=-1.0),))
    assert "pulls back" in make_caption(spec_with(0, camera=camera))


def test_trigger_word_comes_first() -> None:
    assert make_caption(spec_with(0), trigger_word="SGMT").startswith("SGMT, ")


@pytest.mark.parametrize("job", job_names())
def test_control_is_not_mentioned_unless_configured(job: str) -> None:
    for index in range(10):
        text = make_caption(spec_with(index, control=job))
        assert get_job(job).caption_phrase not in text
        for word in ("track", "depth", "control", "reference"):
            assert word not in text.lower()


def test_control_phrase_is_appended_to_the_last_sentence() -> None:
    phrase = get_job("depth").caption_phrase
    text = make_caption(spec_with(0), control_phrase=phrase)
    assert text.endswith(f", {phrase}.")
    assert text.removesuffix(f", {phrase}.") == make_caption(spec_with(0))[:-1]


@settings(max_examples=60, deadline=None)
@given(dx=st.floats(-5, 5), dy=st.floats(-5, 5))
def test_direction_word_follows_the_camera_right_axis(dx: float, dy: float) -> None:
    # Default camera: at (0, -8, 3) looking at the origin, so image right is world +x, "away" is +y.
    word = direction_word(np.array([dx, dy, 0.0]), CameraSpec())
    if abs(dx) > abs(dy) + 1e-6:
        assert word == ("right" if dx > 0 else "left")
    elif abs(dy) > abs(dx) + 1e-6:
        assert word == ("away from the camera" if dy > 0 else "towards the camera")


@pytest.mark.parametrize(
    ("rgb", "name"),
    [
        ((0.9, 0.1, 0.1), "red"),
        ((0.1, 0.8, 0.1), "green"),
        ((0.1, 0.2, 0.9), "blue"),
        ((0.9, 0.9, 0.9), "white"),
        ((0.01, 0.01, 0.01), "black"),
    ],
)
def test_colour_names(rgb: tuple[float, float, float], name: str) -> None:
    assert color_name(rgb) == name


def test_audio_clip_caption_mentions_the_tempo() -> None:
    from synthgen.describe.spec import AudioSpec

    text = make_caption(spec_with(0, audio=AudioSpec(bpm=120.0)))
    assert "120 bpm" in text
