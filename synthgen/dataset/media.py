"""Media encoding for shards: uint8 RGB video <-> MP4 (H.264) bytes, float32 audio <-> FLAC bytes.

Video is H.264 in an MP4 container, encoded with PyAV's bundled ffmpeg. Two modes:

- lossy (default): ``libx264``, ``yuv420p``, constant rate factor ``crf`` (0-51, lower is better);
- lossless: ``libx264rgb`` with ``qp=0`` on ``rgb24``, which round-trips every RGB byte exactly
  (``libx264`` with ``yuv444p`` and ``qp=0`` is not exact: the RGB -> YUV conversion rounds).

The encoder runs single-threaded so the same frames give the same bytes on every machine (x264's output
depends on its thread count), and lossy video is encoded without x264's macroblock-tree rate control
(``mbtree=0``): with it, the bytes of a frame whose width is not a multiple of 128 px depend on what the
process allocated before, so a rerun gave different MP4s (docs/rendering.md, "Reproducible bytes").
Audio is FLAC, 24-bit integer samples (float32 in [-1, 1] is quantised to 1/2^23), mono or (n, channels).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, cast

import av
import numpy as np
import soundfile

from synthgen.errors import DataError

FLAC_SUBTYPE = "PCM_24"


@dataclass(frozen=True)
class VideoEncoding:
    """How video columns are encoded: ``crf`` for lossy H.264, or ``lossless`` (libx264rgb qp=0)."""

    crf: int = 18
    lossless: bool = False
    preset: str = "medium"

    def describe(self) -> str:
        """A short description stored in the shard metadata, e.g. ``h264 libx264 yuv420p crf=18``."""
        if self.lossless:
            return "h264 libx264rgb rgb24 qp=0"
        return f"h264 libx264 yuv420p crf={self.crf} preset={self.preset} mbtree=0"


def encode_video(
    frames_rgb: np.ndarray,
    fps: float,
    encoding: VideoEncoding,
    *,
    name: str = "video",
    audio: np.ndarray | None = None,
    audio_rate: int = 0,
) -> bytes:
    """MP4 bytes of ``frames_rgb`` (uint8 (F,H,W,3), sRGB) at ``fps`` frames per second, with an AAC stream of
    ``audio`` (float32 (samples, channels) in [-1, 1], ``audio_rate`` Hz) when given.

    H and W must be even (always true for LTX sizes, multiples of 32). ``name`` only labels errors.
    """
    frames = np.asarray(frames_rgb)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3 or frames.shape[0] < 1:
        raise DataError(f"{name}: expected uint8 (F,H,W,3) with F >= 1, got {frames.dtype} {frames.shape}")
    height, width = frames.shape[1:3]
    if height % 2 or width % 2:
        raise DataError(f"{name}: height={height}, width={width} must be even for H.264")
    if not np.isfinite(fps) or fps <= 0:
        raise DataError(f"{name}: fps={fps} must be a positive number")
    buffer = io.BytesIO()
    rate = _fps_fraction(fps)
    with av.open(buffer, mode="w", format="mp4") as container:
        codec = "libx264rgb" if encoding.lossless else "libx264"
        stream = cast(av.video.stream.VideoStream, container.add_stream(codec, rate=rate))
        stream.width = width
        stream.height = height
        stream.pix_fmt = "rgb24" if encoding.lossless else "yuv420p"
        options: dict[str, str] = {"preset": encoding.preset}
        options.update({"qp": "0"} if encoding.lossless else {"crf": str(int(encoding.crf)), "mbtree": "0"})
        stream.options = dict(options)
        stream.thread_count = 1
        # Every stream is added before the first packet is muxed (that writes the header).
        sound = _audio_stream(container, audio, audio_rate) if audio is not None else None
        for frame in frames:
            for packet in stream.encode(
                av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
            ):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
        if sound is not None and audio is not None:
            _mux_audio(container, sound, audio, audio_rate)
    return buffer.getvalue()


def _audio_stream(container: Any, audio: np.ndarray, rate: int) -> Any:
    sound = container.add_stream("aac", rate=rate)
    sound.layout = "stereo" if audio.shape[1] == 2 else "mono"
    return sound


def _mux_audio(container: Any, sound: Any, audio: np.ndarray, rate: int) -> None:
    planar = np.ascontiguousarray(np.clip(audio, -1.0, 1.0).T, dtype=np.float32)
    chunk = av.AudioFrame.from_ndarray(planar, format="fltp", layout=sound.layout.name)
    chunk.sample_rate = rate
    for packet in sound.encode(chunk):
        container.mux(packet)
    for packet in sound.encode():
        container.mux(packet)


def decode_video(data: bytes, *, name: str = "video") -> np.ndarray:
    """uint8 (F,H,W,3) RGB frames of MP4 ``data``; corrupt data raises DataError naming ``name``."""
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(stream)]
    except (av.error.FFmpegError, IndexError, ValueError) as err:
        raise DataError(f"{name}: cannot decode MP4 ({type(err).__name__}: {err})") from None
    if not frames:
        raise DataError(f"{name}: MP4 holds no video frames")
    return np.stack(frames)


def encode_audio(samples: np.ndarray, sample_rate: int, *, name: str = "audio") -> bytes:
    """FLAC bytes (24-bit) of float32 ``samples`` ((n,) mono or (n, channels)), values in [-1, 1]."""
    array = np.asarray(samples)
    if array.dtype.kind != "f" or array.ndim not in (1, 2) or array.shape[0] == 0:
        raise DataError(
            f"{name}: expected float (n,) or (n,channels) samples, got {array.dtype} {array.shape}"
        )
    if not np.all(np.isfinite(array)):
        raise DataError(f"{name}: samples must be finite")
    if sample_rate <= 0:
        raise DataError(f"{name}: sample_rate={sample_rate} must be positive")
    buffer = io.BytesIO()
    soundfile.write(buffer, np.clip(array, -1.0, 1.0), int(sample_rate), format="FLAC", subtype=FLAC_SUBTYPE)
    return buffer.getvalue()


def decode_audio(data: bytes, *, name: str = "audio") -> tuple[np.ndarray, int]:
    """(float32 samples, sample rate in Hz) of FLAC ``data``; mono comes back as (n,)."""
    try:
        samples, sample_rate = soundfile.read(io.BytesIO(data), dtype="float32", always_2d=False)
    except (RuntimeError, soundfile.LibsndfileError) as err:
        raise DataError(f"{name}: cannot decode FLAC ({err})") from None
    return np.ascontiguousarray(samples, dtype=np.float32), int(sample_rate)


def _fps_fraction(fps: float) -> Fraction:
    # 23.976 and 29.97 are NTSC rates 24000/1001 and 30000/1001; a float alone would round the timebase.
    return Fraction(fps).limit_denominator(1001)
