"""audio_to_video adherence: peaks of the video's motion energy against the labelled beat frames.

Motion energy of frame t >= 1 is the fraction of pixels whose luma (after a 5 x 5 Gaussian blur) changed by
more than ``CHANGE_GREY`` levels since frame t-1 (frame 0: none); counting changed pixels rather than summing
differences keeps render and compression noise out.
A *motion onset* is a frame whose energy is the largest within +-``PEAK_HALF_WINDOW_FRAMES`` and exceeds
``median + PEAK_DELTA * (max - median)`` of the clip's energies: the frame where a hop lands, a pulse or
flash starts, or the shot cuts (each binding kind's event, synthgen.controls.signals.beats).

The labelled beat frames are the frames the audio tells the bindings to follow (``binding_source_frames``,
any binding). Onsets and beats are matched one to one within +-``TOLERANCE_FRAMES`` (the largest such
matching, as mir_eval's onset evaluation); precision = matched / onsets, recall = matched / beats, F1 their
harmonic mean.
"""

from __future__ import annotations

import cv2
import numpy as np

from synthgen.adherence.score import MetricValues, register_metric, require_label, to_gray
from synthgen.dataset.rows import ClipRow

TOLERANCE_FRAMES = 1
CHANGE_GREY = 12
PEAK_HALF_WINDOW_FRAMES = 2
PEAK_DELTA = 0.1


def motion_energy(gray: np.ndarray) -> np.ndarray:
    """(F,) fraction of pixels of each frame that changed since the previous one (frame 0: 0)."""
    frames = np.stack([cv2.GaussianBlur(frame, (5, 5), 0) for frame in gray]).astype(np.int16)
    energy = np.zeros(frames.shape[0])
    changed = np.abs(np.diff(frames, axis=0)) > CHANGE_GREY
    energy[1:] = changed.reshape(frames.shape[0] - 1, -1).mean(axis=1)
    return energy


def pick_peaks(energy: np.ndarray) -> np.ndarray:
    """Frames (sorted) of the motion onsets of an energy curve (module docstring); frame 0 never is one."""
    values = np.asarray(energy, dtype=np.float64)[1:]
    if values.size == 0:
        return np.zeros(0, dtype=np.int64)
    floor = np.median(values) + PEAK_DELTA * (values.max() - np.median(values))
    width = PEAK_HALF_WINDOW_FRAMES
    padded = np.pad(values, width, constant_values=-np.inf)
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * width + 1)
    is_peak = (values >= windows.max(axis=1)) & (values > floor)
    # A plateau is one onset: keep its first frame only.
    is_peak[1:] &= ~(is_peak[:-1] & (values[1:] == values[:-1]))
    return np.flatnonzero(is_peak) + 1


def match_count(reference: np.ndarray, estimate: np.ndarray, tolerance: int) -> int:
    """Size of the largest one-to-one matching of two frame lists with |reference - estimate| <= tolerance.

    For equal windows on a line, matching in time order whenever two events are close enough is optimal.
    """
    ref, est = np.sort(np.asarray(reference)), np.sort(np.asarray(estimate))
    i = j = matched = 0
    while i < ref.size and j < est.size:
        if abs(int(ref[i]) - int(est[j])) <= tolerance:
            matched, i, j = matched + 1, i + 1, j + 1
        elif est[j] < ref[i]:
            j += 1
        else:
            i += 1
    return matched


def precision_recall_f1(reference: np.ndarray, estimate: np.ndarray, tolerance: int) -> MetricValues:
    """Onset precision, recall and F1 (None where a denominator is 0)."""
    matched = match_count(reference, estimate, tolerance)
    precision = matched / len(estimate) if len(estimate) else None
    recall = matched / len(reference) if len(reference) else None
    if precision is None or recall is None:
        f1 = None
    else:
        f1 = 0.0 if matched == 0 else 2.0 * precision * recall / (precision + recall)
    return {"precision": precision, "recall": recall, "f1": f1}


@register_metric("audio_to_video")
def audio_to_video_adherence(row: ClipRow, video_uint8: np.ndarray) -> MetricValues:
    """Precision, recall and F1 within +-1 frame of the video's motion onsets against the labelled beat
    frames, with the counts behind them."""
    source = require_label(row, "binding_source_frames").astype(bool).reshape(-1, row.num_frames)
    beats = np.flatnonzero(source.any(axis=0))
    onsets = pick_peaks(motion_energy(to_gray(video_uint8)))
    values = precision_recall_f1(beats, onsets, TOLERANCE_FRAMES)
    values.update({"num_beats": float(beats.size), "num_onsets": float(onsets.size)})
    return values
