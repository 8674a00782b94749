"""A rerun gives the same bytes: the same clips render to the same arrays whatever the order and the worker
process they land in, the encoder's output does not depend on the heap, and two runs write the same shards
(everything but the ``timings_json`` column). See docs/rendering.md, "Reproducible bytes"."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from synthgen.dataset.media import VideoEncoding, decode_video, encode_video
from synthgen.render.types import RenderedClip
from tests.conftest import tiny_config

# Shard columns that measure the run rather than describe the clip.
RUN_COLUMNS = frozenset({"timings_json"})


def _noisy_frames(seed: int, width: int, num_frames: int = 9) -> np.ndarray:
    """A gradient with per-pixel noise, moving by one code value per frame: like a few-sample render."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:64, 0:width]
    frames = [
        np.stack([x * 2 + t, y * 3, (x + y) * 2], axis=-1) + rng.normal(0.0, 20.0, (64, width, 3))
        for t in range(num_frames)
    ]
    return np.clip(np.stack(frames), 0, 255).astype(np.uint8)


def _dirty_the_heap(rng: np.random.Generator) -> None:
    """Allocate and free frame-sized buffers full of random bytes, as rendering other clips would."""
    import av

    junk = [
        av.VideoFrame.from_ndarray(rng.integers(0, 256, (384, 256), dtype=np.uint8), format="yuv420p")
        for _ in range(16)
    ]
    junk_bytes = [bytearray(rng.integers(0, 256, 200_000, dtype=np.uint8).tobytes()) for _ in range(8)]
    del junk, junk_bytes


@pytest.mark.parametrize("width", [64, 96])
def test_lossy_video_bytes_do_not_depend_on_what_the_process_allocated_before(width: int) -> None:
    rng = np.random.default_rng(0)
    for seed in range(6):
        frames = _noisy_frames(seed, width)
        first = encode_video(frames, 24.0, VideoEncoding())
        _dirty_the_heap(rng)
        assert encode_video(frames, 24.0, VideoEncoding()) == first, f"seed {seed}"
        assert decode_video(first).shape == frames.shape


def test_lossless_video_bytes_do_not_depend_on_what_the_process_allocated_before() -> None:
    rng = np.random.default_rng(0)
    frames = _noisy_frames(3, 96)
    first = encode_video(frames, 24.0, VideoEncoding(lossless=True))
    _dirty_the_heap(rng)
    assert encode_video(frames, 24.0, VideoEncoding(lossless=True)) == first
    np.testing.assert_array_equal(decode_video(first), frames)


def _clip_arrays(clip: RenderedClip) -> dict[str, bytes]:
    """Every array of a RenderedClip and its PointTracks, as bytes (NaN compares equal to NaN)."""
    arrays = {"frames_rgb": clip.frames_rgb, "depth_m": clip.depth_m, "instance_ids": clip.instance_ids}
    tracks = clip.tracks
    assert tracks is not None
    arrays.update({f"tracks.{f.name}": getattr(tracks, f.name) for f in dataclasses.fields(tracks)})
    return {name: np.ascontiguousarray(value).tobytes() for name, value in arrays.items()}


@pytest.mark.slow
@pytest.mark.blender
def test_clips_render_to_the_same_arrays_in_any_order_and_across_worker_recycles() -> None:
    from synthgen.describe.sampling import sample_clip
    from synthgen.render import RenderWorker

    cfg = tiny_config(render={"samples": 2})
    specs = [sample_clip(cfg, index) for index in range(2)]
    with RenderWorker(recycle_after=1, trust_recipes=True) as fresh_each:
        alone = {spec.clip_index: _clip_arrays(fresh_each.render(spec)) for spec in specs}
    with RenderWorker(recycle_after=50, trust_recipes=True) as shared:
        after_other = {spec.clip_index: _clip_arrays(shared.render(spec)) for spec in reversed(specs)}
        assert shared.processes_started == 1
    for index in alone:
        differing = [name for name in alone[index] if alone[index][name] != after_other[index][name]]
        assert not differing, f"clip {index}: {differing} differ"


def _shard_contents(path: Path) -> dict[str, bytes]:
    """Each column of a shard (but the run's timings) as Arrow IPC bytes, plus the schema and the file's
    key-value metadata but the config hash (it covers ``render.recycle_after``, which the two runs vary)."""
    table = pq.read_table(path)
    out: dict[str, bytes] = {}
    for name in table.column_names:
        if name in RUN_COLUMNS:
            continue
        sink = io.BytesIO()
        column = pa.table({name: table.column(name)})
        with pa.ipc.new_stream(sink, column.schema) as writer:
            writer.write_table(column)
        out[name] = sink.getvalue()
    out["schema"] = table.schema.remove_metadata().to_string().encode()
    # ARROW:schema holds the schema with its metadata, config hash included.
    metadata = {
        key: value
        for key, value in (pq.read_metadata(path).metadata or {}).items()
        if key not in (b"synthgen.config_hash", b"ARROW:schema")
    }
    out.update({f"metadata {key.decode()}": value for key, value in metadata.items()})
    return out


@pytest.mark.slow
@pytest.mark.blender
def test_two_runs_write_the_same_shards_but_timings(tmp_path: Path) -> None:
    import synthgen

    def run(name: str, recycle_after: int, job_count: int, job_order: list[int]) -> Path:
        for job_index in job_order:
            cfg = tiny_config(
                f"output_dir={tmp_path / name}",
                render={"samples": 2, "recycle_after": recycle_after},
                shards={"max_clips": 1},
                job={"index": job_index, "count": job_count},
            )
            summary = synthgen.generate_dataset(cfg, progress=False)
            assert summary.failed == 0
        return tmp_path / name / "data"

    # One job, a fresh worker for every clip, clips in order; against two jobs run last first.
    first = run("first", recycle_after=1, job_count=1, job_order=[0])
    second = run("second", recycle_after=50, job_count=2, job_order=[1, 0])
    shards = sorted(path.name for path in first.glob("*.parquet"))
    assert shards == sorted(path.name for path in second.glob("*.parquet")) and len(shards) == 2
    for shard in shards:
        a, b = _shard_contents(first / shard), _shard_contents(second / shard)
        assert a.keys() == b.keys()
        differing = [name for name in a if a[name] != b[name]]
        assert not differing, f"{shard}: {differing} differ"
