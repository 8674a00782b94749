"""Audio storage (FLAC bytes for shards, WAV export) and the log-mel input of the LTX-2 audio VAE.

The LTX-2 audio VAE (``diffusers.AutoencoderKLLTX2Audio``: ``sample_rate=16000``, ``mel_hop_length=160``,
``mel_bins=64``, ``in_channels=2``) encodes log-mel spectrograms; diffusers 0.42 ships no waveform-to-mel
step, so this module reproduces the LTX-2 training preprocessing in numpy: windowed-sinc resampling to
16 kHz (the algorithm of ``torchaudio.functional.resample``: Hann window, 6 zero crossings, roll-off
0.99), ``MelSpectrogram(n_fft=1024, win_length=1024, hop_length=160, f_min=0, f_max=8000, n_mels=64,
power=1, center=True, pad_mode="reflect", mel_scale="slaney", norm="slaney")``, then
``log(max(mel, 1e-5))``, laid out as (channels, time, mel bins).
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import soundfile as sf

from synthgen.errors import DataError
from synthgen.fileio import atomic_write_bytes

LTX_SAMPLE_RATE = 16000
LTX_N_FFT = 1024
LTX_HOP_LENGTH = 160
LTX_MEL_BINS = 64
LTX_CHANNELS = 2
LOG_FLOOR = 1e-5


def _checked(samples: np.ndarray, what: str) -> np.ndarray:
    array = np.asarray(samples)
    if array.ndim not in (1, 2) or array.shape[0] == 0:
        raise DataError(f"{what}: shape {array.shape} must be (n,) or (n, channels) with n > 0")
    if not np.all(np.isfinite(array)):
        raise DataError(f"{what}: samples contain NaN or inf")
    peak = float(np.max(np.abs(array)))
    if peak > 1.0:
        raise DataError(f"{what}: peak {peak:.4f} exceeds full scale 1.0; normalise before encoding")
    return array


def flac_bytes(samples: np.ndarray, sample_rate: int, subtype: str = "PCM_24") -> bytes:
    """Encode float samples in [-1, 1], shape (n,) or (n, channels), as FLAC bytes (24-bit by default)."""
    array = _checked(samples, "audio")
    buffer = io.BytesIO()
    sf.write(buffer, array, int(sample_rate), format="FLAC", subtype=subtype)
    return buffer.getvalue()


def decode_audio(data: bytes) -> tuple[np.ndarray, int]:
    """Decode FLAC/WAV/OGG bytes to float32 samples ((n,) mono or (n, channels)) and their sample rate."""
    try:
        samples, rate = sf.read(io.BytesIO(data), dtype="float32")
    except (sf.LibsndfileError, RuntimeError, TypeError) as err:
        raise DataError(f"audio: {len(data)} bytes are not a readable audio file ({err})") from None
    return samples, int(rate)


def write_wav(path: str | Path, samples: np.ndarray, sample_rate: int, subtype: str = "PCM_24") -> Path:
    """Write a WAV file atomically (temporary file, then rename); returns the path."""
    array = _checked(samples, str(path))
    target = Path(path)
    buffer = io.BytesIO()
    sf.write(buffer, array, int(sample_rate), format="WAV", subtype=subtype)
    atomic_write_bytes(target, buffer.getvalue())
    return target


def _sinc_kernels(orig: int, new: int, zero_crossings: int, rolloff: float) -> tuple[np.ndarray, int]:
    base = min(orig, new) * rolloff
    width = math.ceil(zero_crossings * orig / base)
    offsets = np.arange(-width, width + orig, dtype=np.float64) / orig
    t = (np.arange(0, -new, -1, dtype=np.float64)[:, None] / new + offsets[None, :]) * base
    t = np.clip(t, -zero_crossings, zero_crossings)
    window = np.cos(t * np.pi / zero_crossings / 2.0) ** 2
    t = t * np.pi
    with np.errstate(invalid="ignore", divide="ignore"):
        sinc = np.where(t == 0.0, 1.0, np.sin(t) / t)
    return sinc * window * (base / orig), width


def resample(samples: np.ndarray, orig_rate: int, new_rate: int) -> np.ndarray:
    """Resample along the first axis by windowed sinc (band limit 0.99 x the lower Nyquist rate).

    Output length ``ceil(n * new_rate / orig_rate)``; float64; (n,) or (n, channels) as given.
    """
    array = np.asarray(samples, dtype=np.float64)
    if orig_rate <= 0 or new_rate <= 0:
        raise DataError(f"resample: rates {orig_rate} -> {new_rate} must be positive")
    if orig_rate == new_rate:
        return array.copy()
    divisor = math.gcd(int(orig_rate), int(new_rate))
    orig, new = int(orig_rate) // divisor, int(new_rate) // divisor
    kernels, width = _sinc_kernels(orig, new, zero_crossings=6, rolloff=0.99)
    length = array.shape[0]
    channels = array.reshape(length, -1).T
    padded = np.pad(channels, ((0, 0), (width, width + orig)))
    taps = kernels.shape[1]
    num_blocks = (padded.shape[1] - taps) // orig + 1
    out = np.empty((channels.shape[0], num_blocks * new))
    for channel in range(channels.shape[0]):
        blocks = np.lib.stride_tricks.sliding_window_view(padded[channel], taps)[::orig][:num_blocks]
        out[channel] = (blocks @ kernels.T).reshape(-1)
    target = math.ceil(new * length / orig)
    result = out[:, :target].T
    return result.reshape(target) if array.ndim == 1 else result


def _hz_to_mel_slaney(freq_hz: np.ndarray) -> np.ndarray:
    freq_hz = np.asarray(freq_hz, dtype=np.float64)
    linear = freq_hz * 3.0 / 200.0
    logstep = math.log(6.4) / 27.0
    with np.errstate(divide="ignore"):
        log_part = 15.0 + np.log(np.maximum(freq_hz, 1e-12) / 1000.0) / logstep
    return np.where(freq_hz >= 1000.0, log_part, linear)


def _mel_to_hz_slaney(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    logstep = math.log(6.4) / 27.0
    return np.where(mel >= 15.0, 1000.0 * np.exp(logstep * (mel - 15.0)), mel * 200.0 / 3.0)


def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int, f_min_hz: float, f_max_hz: float) -> np.ndarray:
    """(n_mels, n_fft // 2 + 1) triangular filters, Slaney mel scale and Slaney (area) normalisation."""
    fft_hz = np.linspace(0.0, sample_rate / 2.0, n_fft // 2 + 1)
    edges_hz = _mel_to_hz_slaney(
        np.linspace(_hz_to_mel_slaney(np.array(f_min_hz)), _hz_to_mel_slaney(np.array(f_max_hz)), n_mels + 2)
    )
    lower, centre, upper = edges_hz[:-2, None], edges_hz[1:-1, None], edges_hz[2:, None]
    rising = (fft_hz[None, :] - lower) / (centre - lower)
    falling = (upper - fft_hz[None, :]) / (upper - centre)
    weights = np.maximum(0.0, np.minimum(rising, falling))
    return weights * (2.0 / (edges_hz[2:] - edges_hz[:-2]))[:, None]


def stft_magnitude(samples: np.ndarray, n_fft: int, hop_length: int) -> np.ndarray:
    """(n_fft // 2 + 1, 1 + n // hop) |STFT| with a periodic Hann window, centred frames, reflect padding."""
    signal = np.asarray(samples, dtype=np.float64)
    if signal.shape[0] <= n_fft // 2:
        raise DataError(f"stft: {signal.shape[0]} samples; reflect padding needs more than {n_fft // 2}")
    padded = np.pad(signal, n_fft // 2, mode="reflect")
    window = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n_fft) / n_fft)
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop_length]
    return np.abs(np.fft.rfft(frames * window, axis=1)).T


def log_mel_spectrogram(samples: np.ndarray, sample_rate: int = LTX_SAMPLE_RATE) -> np.ndarray:
    """(1 + n // 160, 64) float64 ``log(max(mel, 1e-5))`` of a mono signal already at ``sample_rate``."""
    magnitude = stft_magnitude(samples, LTX_N_FFT, LTX_HOP_LENGTH)
    bank = mel_filterbank(sample_rate, LTX_N_FFT, LTX_MEL_BINS, 0.0, sample_rate / 2.0)
    return np.log(np.maximum(bank @ magnitude, LOG_FLOOR)).T


def ltx_audio_features(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """The LTX-2 audio VAE input for one clip: (2, T, 64) float32 log-mel at 16 kHz, hop 160 (100 frames/s).

    ``samples`` is (n,) mono (duplicated to both channels) or (n, 2) stereo at ``sample_rate``;
    T = 1 + ceil(n * 16000 / sample_rate) // 160. Add a batch axis for ``AutoencoderKLLTX2Audio.encode``.
    """
    array = np.asarray(samples, dtype=np.float64)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim == 1:
        array = np.stack([array, array], axis=1)
    if array.ndim != 2 or array.shape[1] != LTX_CHANNELS:
        raise DataError(f"ltx_audio_features: samples shape {array.shape} must be (n,) or (n, 2)")
    if not np.all(np.isfinite(array)):
        raise DataError("ltx_audio_features: samples contain NaN or inf")
    at_16k = resample(array, sample_rate, LTX_SAMPLE_RATE)
    mels = [log_mel_spectrogram(at_16k[:, channel]) for channel in range(LTX_CHANNELS)]
    return np.stack(mels).astype(np.float32)
