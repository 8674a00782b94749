"""Trainer data layer: control-job roles, buckets, resizing, encoders and the latent cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from synthgen.errors import ConfigError
from synthgen.trainer import cache, data
from synthgen.trainer.config import parse_bucket
from synthgen.trainer.model import ModelBundle, build_tiny
from synthgen.trainer.toydata import square_row, write_squares

pytestmark = pytest.mark.filterwarnings("ignore")


@pytest.fixture(scope="module")
def tiny() -> ModelBundle:
    torch.set_num_threads(1)
    return build_tiny(0)


@pytest.fixture(scope="module")
def squares(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_squares(tmp_path_factory.mktemp("squares") / "ds", 4)


@pytest.mark.parametrize("text", ["64x64", "64x64x10", "60x64x9", "axbxc", "0x64x9"])
def test_malformed_bucket_is_a_config_error_naming_data_buckets(text: str) -> None:
    with pytest.raises(ConfigError, match=r"^data\.buckets"):
        parse_bucket(text)


def test_bucket_round_trips_through_its_text() -> None:
    assert str(parse_bucket("768x512x81")) == "768x512x81"


def test_row_of_another_control_job_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"data\.control='camera_motion'.*'motion_track' clip"):
        data.row_to_example(square_row(0), "camera_motion", "row 0")


def test_unknown_control_job_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"data\.control='dance'"):
        data.row_to_example(square_row(0), "dance", "row 0")


def test_motion_track_roles_are_reference_video_and_target() -> None:
    row = square_row(0, reference_downscale=2)
    example = data.row_to_example(row, "motion_track", "row 0")
    assert example.reference is not None and example.reference.shape == (9, 32, 32, 3)
    assert example.target.shape == (9, 64, 64, 3)
    assert not example.audio_is_reference


def test_audio_to_video_uses_the_audio_as_reference() -> None:
    example = data.row_to_example(square_row(0, control="audio_to_video"), "audio_to_video", "row 0")
    assert example.reference is None and example.audio is not None and example.audio_is_reference


def test_reference_that_is_not_an_integer_downscale_is_a_config_error() -> None:
    row = square_row(0).replace(reference_video=np.zeros((9, 48, 48, 3), dtype=np.uint8))
    with pytest.raises(ConfigError, match="not one integer downscale factor"):
        data.row_to_example(row, "motion_track", "row 0")


def test_reference_downscale_disagreeing_with_the_row_is_a_config_error() -> None:
    row = square_row(0, reference_downscale=2).replace(reference_downscale=4)
    with pytest.raises(ConfigError, match="reference_downscale=4"):
        data.row_to_example(row, "motion_track", "row 0")


def test_bucket_larger_than_every_clip_is_a_config_error() -> None:
    example = data.row_to_example(square_row(0), "motion_track", "row 0")
    with pytest.raises(ConfigError, match=r"^data\.buckets=\['128x128x9'\]: none fits row 0"):
        data.choose_bucket([parse_bucket("128x128x9")], example, "row 0")


def test_chosen_bucket_prefers_matching_aspect_then_size() -> None:
    example = data.row_to_example(square_row(0, width=128, height=64, frames=17), "motion_track", "r")
    buckets = [parse_bucket(b) for b in ["64x64x17", "128x64x9", "96x64x17", "128x64x17"]]
    assert str(data.choose_bucket(buckets, example, "r")) == "128x64x17"


def test_fit_video_covers_crops_and_scales_to_unit_range() -> None:
    video = np.zeros((12, 48, 80, 3), dtype=np.uint8)
    video[:, :, 40:] = 255
    pixels = data.fit_video(video, 64, 32, 9)
    assert pixels.shape == (3, 9, 32, 64)
    assert float(pixels.min()) == pytest.approx(-1.0) and float(pixels.max()) == pytest.approx(1.0)


def test_video_latents_have_ltx_compression(tiny: ModelBundle) -> None:
    latents = data.encode_video(tiny.vae, torch.zeros(3, 17, 64, 96))
    assert latents.shape == (16, 3, 2, 3)


def test_audio_latents_are_25_frames_per_second(tiny: ModelBundle) -> None:
    audio = np.random.default_rng(0).normal(size=16000).astype(np.float32)
    latents = data.encode_audio(tiny.audio_vae, audio, 16000, num_frames=25, fps=25.0)
    assert latents.shape == (25, 128)


def test_text_embeddings_have_the_connector_widths(tiny: ModelBundle) -> None:
    video, audio, mask = data.encode_text(tiny, ["a red ball", "a square"])
    assert video.shape == (2, tiny.max_text_tokens, 32)
    assert audio.shape == (2, tiny.max_text_tokens, 16)
    assert mask.shape == (2, tiny.max_text_tokens)


def test_cache_key_changes_with_every_input() -> None:
    buckets = [parse_bucket("64x64x9")]
    base = cache.cache_key("m", buckets, "motion_track", "fp", {"t": 1})
    variants = [
        cache.cache_key("m2", buckets, "motion_track", "fp", {"t": 1}),
        cache.cache_key("m", [parse_bucket("64x64x17")], "motion_track", "fp", {"t": 1}),
        cache.cache_key("m", buckets, "depth", "fp", {"t": 1}),
        cache.cache_key("m", buckets, "motion_track", "fp2", {"t": 1}),
        cache.cache_key("m", buckets, "motion_track", "fp", {"t": 2}),
    ]
    assert len({base, *variants}) == 6


def test_dataset_fingerprint_changes_when_a_shard_changes(tmp_path: Path) -> None:
    first = cache.dataset_fingerprint(write_squares(tmp_path / "a", 2))
    second = cache.dataset_fingerprint(write_squares(tmp_path / "b", 2, dataset_seed=1))
    assert first != second


def test_cache_is_written_once_and_resumed_after_interruption(
    tiny: ModelBundle, squares: Path, tmp_path: Path
) -> None:
    buckets = [parse_bucket("64x64x9")]
    paths = cache.build_cache(
        data.iter_rows(squares), tiny, cache_dir=tmp_path / "c", control="motion_track", buckets=buckets
    )
    assert [p.name for p in paths] == [f"{i:06d}.safetensors" for i in range(4)]
    stamps = {p.name: p.stat().st_mtime_ns for p in paths}
    # An interrupted encode: the index and one item are missing. Only that item is encoded again.
    (tmp_path / "c" / "index.json").unlink()
    paths[2].unlink()
    again = cache.build_cache(
        data.iter_rows(squares), tiny, cache_dir=tmp_path / "c", control="motion_track", buckets=buckets
    )
    assert again == paths
    assert {p.name: p.stat().st_mtime_ns for p in again if p.name != "000002.safetensors"} == {
        k: v for k, v in stamps.items() if k != "000002.safetensors"
    }
    item = cache.load_items([paths[0]])[0]
    assert item.target.shape == (16, 2, 2, 2) and item.reference is not None
    assert item.reference.shape == (16, 2, 2, 2)
    assert not list((tmp_path / "c").glob("tmp-*"))


def test_complete_cache_is_reused_without_reading_the_shards(
    tiny: ModelBundle, squares: Path, tmp_path: Path
) -> None:
    buckets = [parse_bucket("64x64x9")]
    first = cache.build_cache(
        data.iter_rows(squares), tiny, cache_dir=tmp_path / "c", control="motion_track", buckets=buckets
    )

    def no_rows():  # type: ignore[no-untyped-def]
        raise AssertionError("the shards were read again")
        yield {}

    assert (
        cache.build_cache(no_rows(), tiny, cache_dir=tmp_path / "c", control="motion_track", buckets=buckets)
        == first
    )


def test_missing_data_path_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^data\.path=.*no such folder"):
        cache.dataset_fingerprint(tmp_path / "nope")
