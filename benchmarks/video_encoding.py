"""Lossy video encoding: the product's ``encode_video`` (x264 crf 18, ``mbtree=0``) beside x264 with its
macroblock-tree rate control on (the setting before it was turned off), on real rendered clips.

For each clip and each encoder: MP4 bytes, PSNR of the decoded frames against the rendered ones, encode time
per frame (median of ``--repeats``), and whether the bytes stay the same after the process's heap is dirtied
(frame-sized buffers of random bytes allocated and freed, as rendering other clips does). Clips are rendered
with the packaged defaults (``synthgen-generate``'s config) and any Hydra overrides given.

    .venv/bin/python benchmarks/video_encoding.py
    .venv/bin/python benchmarks/video_encoding.py --clips 4 clip.width=96 clip.height=96
"""

from __future__ import annotations

import argparse
import io
import statistics
import time
from collections.abc import Callable
from fractions import Fraction

import av
import numpy as np

from synthgen.dataset.media import VideoEncoding, decode_video, encode_video
from synthgen.describe.config import load_generate_config
from synthgen.describe.sampling import sample_clip
from synthgen.render import RenderWorker

Encoder = Callable[[np.ndarray, float], bytes]


def product(frames: np.ndarray, fps: float) -> bytes:
    """What a shard stores: ``encode_video`` with the default ``VideoEncoding`` (crf 18, medium)."""
    return encode_video(frames, fps, VideoEncoding())


def with_mbtree(frames: np.ndarray, fps: float) -> bytes:
    """The same x264 settings with macroblock-tree rate control on (x264's own default)."""
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        stream.options = {"preset": "medium", "crf": "18", "mbtree": "1"}
        stream.thread_count = 1
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame))):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()


def dirty_the_heap(rng: np.random.Generator) -> None:
    junk = [
        av.VideoFrame.from_ndarray(rng.integers(0, 256, (384, 256), dtype=np.uint8), format="yuv420p")
        for _ in range(16)
    ]
    del junk


def psnr_db(decoded: np.ndarray, frames: np.ndarray) -> float:
    mse = float(np.mean((decoded.astype(np.float64) - frames) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def measure(encoder: Encoder, frames: np.ndarray, fps: float, repeats: int, rng: np.random.Generator) -> dict:
    seconds = []
    for _ in range(repeats):
        tick = time.perf_counter()
        data = encoder(frames, fps)
        seconds.append(time.perf_counter() - tick)
    dirty_the_heap(rng)
    return {
        "bytes": len(data),
        "psnr_db": psnr_db(decode_video(data), frames),
        "ms_per_frame": 1000 * statistics.median(seconds) / len(frames),
        "same_after_heap": encoder(frames, fps) == data,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clips", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("overrides", nargs="*", help="Hydra overrides of the generate config")
    args = parser.parse_args()
    cfg = load_generate_config(overrides=args.overrides)
    rng = np.random.default_rng(0)
    encoders: dict[str, Encoder] = {"encode_video (mbtree=0)": product, "x264 mbtree=1": with_mbtree}
    rows = []
    with RenderWorker(recycle_after=cfg.render.recycle_after, trust_recipes=True) as worker:
        for index in range(args.clips):
            clip = worker.render(sample_clip(cfg, index))
            for name, encoder in encoders.items():
                rows.append((index, name, measure(encoder, clip.frames_rgb, cfg.clip.fps, args.repeats, rng)))
    size = f"{cfg.clip.width}x{cfg.clip.height}x{cfg.clip.num_frames}, {cfg.render.samples} spp"
    print(f"clips: {size}")
    print("| clip | encoder | bytes | PSNR dB | ms/frame | same bytes after dirty heap |")
    print("| --- | --- | --- | --- | --- | --- |")
    for index, name, m in rows:
        print(
            f"| {index} | {name} | {m['bytes']} | {m['psnr_db']:.2f} | {m['ms_per_frame']:.2f} | "
            f"{m['same_after_heap']} |"
        )
    for name in encoders:
        ours = [m for _, n, m in rows if n == name]
        print(
            f"| all | {name} | {sum(m['bytes'] for m in ours)} | "
            f"{statistics.mean(m['psnr_db'] for m in ours):.2f} | "
            f"{statistics.median(m['ms_per_frame'] for m in ours):.2f} | "
            f"{sum(m['same_after_heap'] for m in ours)}/{len(ours)} |"
        )


if __name__ == "__main__":
    main()
