"""Audio storage (FLAC, WAV) and the LTX-2 audio VAE input, checked against librosa's implementations."""

from __future__ import annotations

import ast
import importlib.util
import math
from pathlib import Path

import librosa
import numpy as np
import pytest
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st

from synthgen.audio import decode_audio, flac_bytes, ltx_audio_features, resample, write_wav
from synthgen.audio.io import (
    LTX_CHANNELS,
    LTX_HOP_LENGTH,
    LTX_MEL_BINS,
    LTX_SAMPLE_RATE,
    log_mel_spectrogram,
    mel_filterbank,
    stft_magnitude,
)
from synthgen.errors import DataError

FULL_SCALE_24_BIT = 2.0**-23


def noise(seed: int, count: int, peak: float = 0.9) -> np.ndarray:
    rng = np.random.Generator(np.random.PCG64(seed))
    return (rng.uniform(-peak, peak, count)).astype(np.float32)


def test_flac_round_trip_is_exact_to_24_bits() -> None:
    samples = noise(0, 4800)
    decoded, rate = decode_audio(flac_bytes(samples, 48000))
    assert rate == 48000
    assert decoded.dtype == np.float32
    np.testing.assert_allclose(decoded, samples, atol=FULL_SCALE_24_BIT)


def test_flac_keeps_stereo_channels() -> None:
    stereo = np.stack([noise(1, 1600), noise(2, 1600)], axis=1)
    decoded, _ = decode_audio(flac_bytes(stereo, 16000))
    np.testing.assert_allclose(decoded, stereo, atol=FULL_SCALE_24_BIT)


def test_flac_refuses_samples_beyond_full_scale() -> None:
    with pytest.raises(DataError, match=r"^audio: peak 1\.5000 exceeds full scale"):
        flac_bytes(np.array([0.0, 1.5, -0.2], dtype=np.float32), 48000)


def test_flac_refuses_nan() -> None:
    with pytest.raises(DataError, match=r"^audio: samples contain NaN"):
        flac_bytes(np.array([0.0, np.nan], dtype=np.float32), 48000)


def test_decoding_garbage_raises_data_error() -> None:
    with pytest.raises(DataError, match=r"^audio: 9 bytes are not a readable audio file"):
        decode_audio(b"not flac!")


def test_wav_export_round_trips_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    samples = noise(3, 2400)
    path = write_wav(tmp_path / "out" / "clip.wav", samples, 48000)
    decoded, rate = sf.read(path, dtype="float32")
    assert rate == 48000
    np.testing.assert_allclose(decoded, samples, atol=FULL_SCALE_24_BIT)
    assert [p.name for p in path.parent.iterdir()] == ["clip.wav"]


@settings(max_examples=30, deadline=None)
@given(
    rates=st.sampled_from([(48000, 16000), (44100, 16000), (22050, 16000), (16000, 48000), (32000, 24000)]),
    fraction=st.floats(0.005, 0.3),
    phase=st.floats(0.0, 2.0 * math.pi),
)
def test_resampling_preserves_an_in_band_sine(rates: tuple[int, int], fraction: float, phase: float) -> None:
    orig, new = rates
    # Up to 0.3 x the lower rate (60% of its Nyquist), where the windowed sinc's ripple stays below 0.5%.
    freq_hz = fraction * min(orig, new)
    duration_s = 0.1
    source = np.sin(2.0 * np.pi * freq_hz * np.arange(round(duration_s * orig)) / orig + phase)
    out = resample(source, orig, new)
    expected = np.sin(2.0 * np.pi * freq_hz * np.arange(out.shape[0]) / new + phase)
    middle = slice(out.shape[0] // 4, 3 * out.shape[0] // 4)
    np.testing.assert_allclose(out[middle], expected[middle], atol=5e-3)


@pytest.mark.parametrize(
    ("count", "orig", "new"), [(48000, 48000, 16000), (44101, 44100, 16000), (7, 16000, 48000)]
)
def test_resampled_length_is_ceil_of_scaled_length(count: int, orig: int, new: int) -> None:
    assert resample(np.zeros(count), orig, new).shape == (math.ceil(count * new / orig),)


def test_resampling_removes_content_above_the_new_nyquist() -> None:
    source = np.sin(2.0 * np.pi * 12000.0 * np.arange(48000) / 48000)
    out = resample(source, 48000, 16000)
    assert np.abs(out[1000:-1000]).max() < 1e-2


def test_mel_filterbank_matches_librosa_slaney() -> None:
    ours = mel_filterbank(16000, 1024, 64, 0.0, 8000.0)
    reference = librosa.filters.mel(
        sr=16000, n_fft=1024, n_mels=64, fmin=0.0, fmax=8000.0, htk=False, norm="slaney"
    )
    np.testing.assert_allclose(ours, reference, rtol=1e-5, atol=1e-8)


def test_stft_magnitude_matches_librosa() -> None:
    signal = noise(4, 4000).astype(np.float64)
    reference = np.abs(
        librosa.stft(signal, n_fft=1024, hop_length=160, window="hann", center=True, pad_mode="reflect")
    )
    np.testing.assert_allclose(stft_magnitude(signal, 1024, 160), reference, rtol=1e-5, atol=1e-6)


def test_log_mel_matches_librosa_magnitude_melspectrogram() -> None:
    signal = noise(5, 8000).astype(np.float64)
    mel = librosa.feature.melspectrogram(
        y=signal,
        sr=16000,
        n_fft=1024,
        hop_length=160,
        power=1.0,
        n_mels=64,
        fmin=0.0,
        fmax=8000.0,
        htk=False,
        norm="slaney",
        center=True,
        pad_mode="reflect",
    )
    np.testing.assert_allclose(log_mel_spectrogram(signal), np.log(np.maximum(mel, 1e-5)).T, atol=1e-4)


def test_ltx_features_have_the_audio_vae_layout() -> None:
    samples = noise(6, 96000)
    features = ltx_audio_features(samples, 48000)
    assert features.shape == (2, 1 + 32000 // 160, LTX_MEL_BINS)
    assert features.dtype == np.float32


def test_ltx_features_duplicate_mono_to_both_channels() -> None:
    features = ltx_audio_features(noise(7, 9600), 48000)
    np.testing.assert_array_equal(features[0], features[1])


def test_ltx_features_keep_stereo_channels_apart() -> None:
    stereo = np.stack([noise(8, 9600), np.zeros(9600, dtype=np.float32)], axis=1)
    features = ltx_audio_features(stereo, 48000)
    assert np.all(features[1] == np.float32(math.log(1e-5)))
    assert features[0].mean() > features[1].mean()


def test_ltx_features_match_the_mel_of_the_resampled_signal() -> None:
    samples = noise(9, 9600).astype(np.float64)
    features = ltx_audio_features(samples, 48000)
    expected = log_mel_spectrogram(resample(samples, 48000, 16000))
    np.testing.assert_allclose(features[0], expected, atol=1e-5)


def audio_vae_defaults() -> dict[str, object]:
    """Keyword defaults of ``AutoencoderKLLTX2Audio.__init__``, read from the installed diffusers source.

    Parsing instead of importing keeps torch out of the default test run.
    """
    spec = importlib.util.find_spec("diffusers")
    if spec is None or spec.origin is None:
        pytest.skip("diffusers is not installed")
    source = Path(spec.origin).parent / "models" / "autoencoders" / "autoencoder_kl_ltx2_audio.py"
    tree = ast.parse(source.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == "AutoencoderKLLTX2Audio":
            init = next(f for f in node.body if isinstance(f, ast.FunctionDef) and f.name == "__init__")
            names = [arg.arg for arg in init.args.args][-len(init.args.defaults) :]
            return {name: ast.literal_eval(value) for name, value in zip(names, init.args.defaults)}
    raise AssertionError(f"AutoencoderKLLTX2Audio not found in {source}")


def test_ltx_defaults_agree_with_the_diffusers_audio_vae() -> None:
    defaults = audio_vae_defaults()
    assert defaults["sample_rate"] == LTX_SAMPLE_RATE
    assert defaults["mel_hop_length"] == LTX_HOP_LENGTH
    assert defaults["mel_bins"] == LTX_MEL_BINS
    assert defaults["in_channels"] == LTX_CHANNELS


def test_ltx_features_reject_three_channels() -> None:
    with pytest.raises(DataError, match=r"^ltx_audio_features: samples shape \(100, 3\)"):
        ltx_audio_features(np.zeros((100, 3)), 48000)
