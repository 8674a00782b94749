"""GenerateConfig validation: typed fields, one-line errors naming the field."""

from __future__ import annotations

import pytest

from synthgen.errors import ConfigError
from tests.conftest import tiny_config


@pytest.mark.parametrize(
    ("section", "values", "field"),
    [
        ("clip", {"num_frames": 50}, "clip.num_frames=50"),
        ("clip", {"width": 100}, "width=100"),
        ("clip", {"fps": -24}, "clip.fps=-24"),
        ("dataset", {"num_clips": 0}, "dataset.num_clips=0"),
        ("job", {"index": 3, "count": 2}, "index=3"),
        ("render", {"engine": "povray"}, "render.engine='povray'"),
        ("camera", {"distance_m": [9.0, 3.0]}, "distance_m=[9.0, 3.0]"),
        ("audio", {"enabled": True, "sample_rate": 44100, "bpm": 120}, "audio.sample_rate=44100"),
        ("audio", {"enabled": True, "bpm": 10}, "audio.bpm=10"),
        ("motion", {"area_m": [4.0, -1.0]}, "motion.area_m[1]=-1.0"),
        ("camera", {"focal_length_mm": [-5.0, 30.0]}, "camera.focal_length_mm[0]=-5.0"),
        ("camera", {"zoom_factor": [0.0, 1.5]}, "camera.zoom_factor[0]=0.0"),
    ],
)
def test_invalid_values_raise_one_line_error_naming_the_field(section: str, values: dict, field: str) -> None:
    if section == "audio":
        values = {**values}
        with pytest.raises(ConfigError) as info:
            tiny_config(audio=values, clip={"num_frames": 49, "fps": 24})
    else:
        with pytest.raises(ConfigError) as info:
            tiny_config(**{section: values})
    message = str(info.value)
    assert field in message
    assert "\n" not in message


def test_unknown_key_is_rejected_by_name() -> None:
    with pytest.raises(ConfigError, match=r"clip\.widht"):
        tiny_config(clip={"widht": 64})


def test_config_hash_ignores_job_split_but_not_content() -> None:
    a = tiny_config(job={"index": 0, "count": 2})
    b = tiny_config(job={"index": 1, "count": 2})
    c = tiny_config(clip={"fps": 25})
    assert a.config_hash() == b.config_hash() != c.config_hash()


def test_snap_to_frames_that_no_tempo_satisfies_fails_at_load_naming_the_field() -> None:
    with pytest.raises(ConfigError, match=r"^audio\.snap_to_frames=True: no tempo") as info:
        tiny_config(
            audio={"enabled": True, "snap_to_frames": True, "sample_rate": 8000},
            clip={"num_frames": 9, "fps": 0.25},
        )
    assert "\n" not in str(info.value)
