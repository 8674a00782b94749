"""Independent check of the audio labels: librosa finds the labelled onsets and the labelled tempo.

For each (seed, tempo, swing, meter, fps) case it synthesises a clip, runs librosa's onset detector and
tempo estimator on the mix (librosa shares no code with synthgen.audio), and reports:

- recall: fraction of labelled kick and snare onsets with a detected onset within one video frame (the
  detector hears 0.5 s of silence before the clip so that the downbeat at t = 0 is detectable);
- precision: fraction of librosa's onsets within one frame of any labelled onset of
  any instrument, i.e. how few transients the labels fail to explain;
- tempo error: |librosa tempo / (label bpm x r) - 1| for the closest r in {1/2, 1, 2, 3};
- bounce: whether the frames where a ``bounce`` binding's object touches the ground (z offset == 0)
  are exactly the labelled beat frames (snapped grids) or exactly the beats that fall on a frame.

Run: ``.venv/bin/python benchmarks/audio_sync.py`` (24 cases, 10 s clips); ``--cases 4 --seconds 5`` for a
quick look. Bars: recall >= 0.99 and precision >= 0.99 per case, tempo error <= 2% per case, bounce exact everywhere.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import librosa
import numpy as np

from synthgen.audio import BeatGrid, binding_effects, synthesize
from synthgen.describe.spec import AudioSpec, BindingSpec, ClipSettings, ClipSpec, ObjectSpec, RenderSpec

TEMPO_RATIOS = (0.5, 1.0, 2.0, 3.0)
ONSET_HOP = 256
LEAD_IN_S = 0.5
RECALL_BAR = 0.99
PRECISION_BAR = 0.99
TEMPO_BAR = 0.02


@dataclass(frozen=True)
class Case:
    """One benchmark clip."""

    seed: int
    bpm: float
    swing: float
    meter: int
    fps: float
    snap: bool


@dataclass(frozen=True)
class Result:
    """What librosa found on one clip."""

    case: Case
    label_bpm: float
    labelled_onsets: int
    recall: float
    precision: float
    librosa_bpm: float
    tempo_ratio: float
    tempo_error: float
    bounce_exact: bool


def default_cases(count: int) -> list[Case]:
    """``count`` cases cycling over tempos, swing, meter and fps; most snapped to 24 fps frames."""
    tempos = (84.0, 92.0, 100.0, 112.0, 120.0, 128.0, 140.0, 160.0, 174.0, 200.0)
    swings = (0.0, 0.15, 0.3)
    cases = []
    for seed in range(count):
        unsnapped = seed % 4 == 3
        cases.append(
            Case(
                seed=seed,
                bpm=tempos[seed % len(tempos)] + (3.0 if unsnapped else 0.0),
                swing=swings[seed % len(swings)],
                meter=3 if seed % 5 == 4 else 4,
                fps=(30.0 if seed % 8 == 3 else 25.0) if unsnapped else 24.0,
                snap=not unsnapped,
            )
        )
    return cases


def make_spec(case: Case, seconds: float) -> ClipSpec:
    """A tiny clip of about ``seconds`` (8k+1 frames) with two bouncing objects."""
    num_frames = round(seconds * case.fps / 8.0) * 8 + 1
    return ClipSpec(
        dataset_seed=0,
        clip_index=case.seed,
        scene="audio_sync",
        clip=ClipSettings(
            width=64,
            height=64,
            num_frames=num_frames,
            fps=case.fps,
            reference_downscale=1,
            reference_temporal_factor=1,
        ),
        objects=(ObjectSpec(object_id=1, name="a"), ObjectSpec(object_id=2, name="b")),
        # Not rendered (labels and audio only); a ClipSpec states its render settings all the same.
        render=RenderSpec(
            engine="cycles",
            device="cpu",
            samples=1,
            denoise=False,
            threads=0,
            motion_blur=False,
            tracks_per_object=0,
            background_tracks=0,
            dense_labels=False,
        ),
        audio=AudioSpec(
            bpm=case.bpm,
            meter=case.meter,
            swing=case.swing,
            seed=case.seed,
            snap_to_frames=case.snap,
            instruments=("kick", "snare", "hat_closed", "hat_open", "clap", "bass", "pad"),
            bindings=(
                BindingSpec(kind="bounce", target_id=1, source="beat", amount=0.5),
                BindingSpec(kind="bounce", target_id=2, source="beat", amount=1.0),
            ),
        ),
    )


def onset_recall(labelled_s: np.ndarray, detected_s: np.ndarray, tolerance_s: float) -> float:
    """Fraction of labelled onsets with a detected onset within ``tolerance_s`` seconds."""
    if labelled_s.shape[0] == 0:
        return 1.0
    if detected_s.shape[0] == 0:
        return 0.0
    nearest = np.min(np.abs(labelled_s[:, None] - detected_s[None, :]), axis=1)
    return float(np.mean(nearest <= tolerance_s))


def tempo_match(label_bpm: float, estimated_bpm: float) -> tuple[float, float]:
    """(ratio, relative error) of the estimate against ``label_bpm`` x the closest ratio in TEMPO_RATIOS."""
    errors = [(abs(estimated_bpm / (label_bpm * ratio) - 1.0), ratio) for ratio in TEMPO_RATIOS]
    error, ratio = min(errors)
    return ratio, error


def ground_frames_match(spec: ClipSpec, grid: BeatGrid) -> bool:
    """True when every bounce binding touches the ground exactly on the frames the labels predict."""
    effects = binding_effects(spec, grid)
    if grid.snapped:
        expected = grid.beat_frames
    else:
        on_frame = grid.beat_frame_pos == np.floor(grid.beat_frame_pos)
        expected = grid.beat_frame_pos[on_frame].astype(np.int64)
    return all(
        np.array_equal(np.flatnonzero(effects.position_offset_m[row, :, 2] == 0.0), expected)
        for row in range(len(spec.objects))
    )


def run_case(case: Case, seconds: float) -> Result:
    """Synthesise one case and measure it with librosa."""
    spec = make_spec(case, seconds)
    clip = synthesize(spec)
    grid = clip.grid
    bounce_exact = ground_frames_match(spec, grid)
    # An onset detector compares each frame with the frames before it, so it cannot see the downbeat on
    # sample 0; it hears the clip after LEAD_IN_S of silence and its times are shifted back.
    lead_in = round(LEAD_IN_S * clip.sample_rate)
    samples = np.concatenate([np.zeros(lead_in), clip.samples.astype(np.float64)])
    envelope = librosa.onset.onset_strength(y=samples, sr=clip.sample_rate, hop_length=ONSET_HOP)
    detected = librosa.onset.onset_detect(
        onset_envelope=envelope, sr=clip.sample_rate, hop_length=ONSET_HOP, units="time", backtrack=False
    )
    labelled = np.sort(np.concatenate([grid.onsets_s["kick"], grid.onsets_s["snare"]]))
    detected_s = np.asarray(detected) - lead_in / clip.sample_rate
    recall = onset_recall(labelled, detected_s, 1.0 / case.fps)
    every_onset = np.sort(np.concatenate(list(grid.onsets_s.values())))
    precision = onset_recall(detected_s, every_onset, 1.0 / case.fps)
    estimate = float(
        np.atleast_1d(
            librosa.feature.tempo(onset_envelope=envelope, sr=clip.sample_rate, hop_length=ONSET_HOP)
        )[0]
    )
    ratio, error = tempo_match(grid.bpm, estimate)
    return Result(case, grid.bpm, labelled.shape[0], recall, precision, estimate, ratio, error, bounce_exact)


def passes(result: Result) -> bool:
    """The bars of one case: recall, precision, tempo and bounce."""
    return (
        result.recall >= RECALL_BAR
        and result.precision >= PRECISION_BAR
        and result.tempo_error <= TEMPO_BAR
        and result.bounce_exact
    )


def main() -> None:
    """Print one table row per case and a summary line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=24)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    header = (
        f"{'seed':>4} {'req_bpm':>7} {'bpm':>7} {'fps':>4} {'snap':>5} {'swing':>5} {'meter':>5} "
        f"{'onsets':>6} {'recall':>6} {'precis':>6} {'librosa':>8} {'ratio':>5} {'tempo_err':>9} {'bounce':>6} {'ok':>3}"
    )
    print(header)
    results = []
    start = time.perf_counter()
    for case in default_cases(args.cases):
        result = run_case(case, args.seconds)
        results.append(result)
        print(
            f"{case.seed:>4} {case.bpm:>7.1f} {result.label_bpm:>7.2f} {case.fps:>4g} {case.snap!s:>5} "
            f"{case.swing:>5.2f} {case.meter:>5} {result.labelled_onsets:>6} {result.recall:>6.3f} {result.precision:>6.3f} "
            f"{result.librosa_bpm:>8.2f} {result.tempo_ratio:>5g} {100 * result.tempo_error:>8.2f}% "
            f"{'exact' if result.bounce_exact else 'WRONG':>6} {'yes' if passes(result) else 'NO':>3}",
            flush=True,
        )
    elapsed = time.perf_counter() - start
    onsets = sum(r.labelled_onsets for r in results)
    found = sum(round(r.recall * r.labelled_onsets) for r in results)
    print(
        f"summary: {len(results)} clips x {args.seconds:g} s, kick+snare recall {found}/{onsets} "
        f"= {found / max(onsets, 1):.4f} (min per clip {min(r.recall for r in results):.3f}), "
        f"max tempo error {100 * max(r.tempo_error for r in results):.2f}%, "
        f"min precision {min(r.precision for r in results):.3f}, bounce exact {sum(r.bounce_exact for r in results)}/{len(results)}, "
        f"passed {sum(passes(r) for r in results)}/{len(results)}, {elapsed:.1f} s"
    )


if __name__ == "__main__":
    main()
