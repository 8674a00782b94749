"""Audio-reactive motion: per-frame effects that ``synthgen.labels`` folds into the exact labels.

All curves are evaluated at frame positions i = 0 .. F-1 in frame units, against onset positions in the
same units (``BeatGrid.beat_frame_pos``, ``onset_frame_pos``), so a snapped beat and its frame compare
exactly. Several bindings may drive one target; they combine as documented on ``BindingEffects``.
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass

import numpy as np

from synthgen.audio.grid import BeatGrid
from synthgen.audio.patterns import STREAM_PALETTE
from synthgen.describe.spec import BindingSpec, ClipSpec
from synthgen.errors import ConfigError

OBJECT_KINDS = frozenset({"bounce", "scale_pulse", "flash", "color_downbeat"})
CAMERA_KINDS = frozenset({"camera_jolt", "camera_cut"})
# Pulses (scale, flash, jolt) decay with this time constant, as a fraction of a beat, so they read as
# separate hits at any tempo.
PULSE_DECAY_BEATS = 0.25
PALETTE_SIZE = 4


@dataclass(frozen=True)
class BindingEffects:
    """Per-frame effects of every binding of a clip.

    Objects are in ``spec.objects`` order. Combination over bindings: position offsets add, scales
    multiply, emissions add, the last colour binding with a colour at a frame wins, camera offsets
    compose in binding order.
    """

    object_ids: np.ndarray
    """(N,) int32 object ids, in ``spec.objects`` order."""
    position_offset_m: np.ndarray
    """(N,F,3) float64 world-space offset added to each object's path position (bounce: +Z)."""
    scale: np.ndarray
    """(N,F) float64 uniform scale factor (1 = unchanged)."""
    emission: np.ndarray
    """(N,F) float64 emission strength added to the material's own."""
    color_rgb: np.ndarray
    """(N,F,3) float64 base colour; NaN = keep the material's colour."""
    camera_local_offset: np.ndarray
    """(F,4,4) float64 applied as ``camera_to_world = base @ offset`` (Blender camera axes)."""


def neutral_effects(object_ids: np.ndarray, num_frames: int) -> BindingEffects:
    """Effects that change nothing: zero offsets, unit scale, no emission, NaN colour, identity camera."""
    count = object_ids.shape[0]
    return BindingEffects(
        object_ids=object_ids.astype(np.int32),
        position_offset_m=np.zeros((count, num_frames, 3)),
        scale=np.ones((count, num_frames)),
        emission=np.zeros((count, num_frames)),
        color_rgb=np.full((count, num_frames, 3), np.nan),
        camera_local_offset=np.tile(np.eye(4), (num_frames, 1, 1)),
    )


def bounce_height(contacts: np.ndarray, period: float, num_frames: int, height: float) -> np.ndarray:
    """(F,) height of a ball that touches the ground at ``contacts`` (frame units) and flies parabolas.

    Between contacts a and b: ``h = height * 4u(1-u)`` with u = (i - a) / (b - a), so h is exactly 0 at a
    contact and > 0 strictly between. Before the first contact the ball comes down from an arc one
    ``period`` long (or longer, so it starts before frame 0); after the last it rises on an arc of one
    ``period`` that lands at frame F or later, so no frame outside ``contacts`` touches the ground.
    No contacts: the ball rests on the ground.
    """
    frames = np.arange(num_frames, dtype=np.float64)
    if contacts.shape[0] == 0:
        return np.zeros(num_frames)
    knots = np.concatenate(
        [[min(contacts[0] - period, -1.0)], contacts, [max(contacts[-1] + period, float(num_frames))]]
    )
    index = np.searchsorted(knots, frames, side="right") - 1
    start, stop = knots[index], knots[index + 1]
    u = (frames - start) / (stop - start)
    return height * 4.0 * u * (1.0 - u)


def decay_after(contacts: np.ndarray, num_frames: int, tau_frames: float) -> np.ndarray:
    """(F,) ``exp(-(i - c) / tau)`` since the latest contact c <= i; 1 on a contact, 0 before the first."""
    frames = np.arange(num_frames, dtype=np.float64)
    index = np.searchsorted(contacts, frames, side="right") - 1
    since = frames - contacts[np.maximum(index, 0)] if contacts.shape[0] else np.zeros(num_frames)
    return np.where(index >= 0, np.exp(-since / tau_frames), 0.0)


def events_so_far(contacts: np.ndarray, num_frames: int) -> np.ndarray:
    """(F,) int64 number of contacts at or before each frame."""
    return np.searchsorted(contacts, np.arange(num_frames, dtype=np.float64), side="right").astype(np.int64)


def _rotation_x(angle_deg: np.ndarray) -> np.ndarray:
    angle = np.radians(angle_deg)
    out = np.tile(np.eye(4), (angle.shape[0], 1, 1))
    out[:, 1, 1] = np.cos(angle)
    out[:, 1, 2] = -np.sin(angle)
    out[:, 2, 1] = np.sin(angle)
    out[:, 2, 2] = np.cos(angle)
    return out


def _forward(distance_m: np.ndarray) -> np.ndarray:
    out = np.tile(np.eye(4), (distance_m.shape[0], 1, 1))
    # A Blender camera looks down its local -Z.
    out[:, 2, 3] = -distance_m
    return out


def _source_contacts(binding: BindingSpec, index: int, grid: BeatGrid) -> tuple[np.ndarray, float]:
    """Contact positions (frame units) of a binding's source and its natural period (frames)."""
    field = f"audio.bindings[{index}].source"
    if binding.source == "beat":
        return grid.beat_frame_pos, grid.frames_per_beat
    if binding.source == "downbeat":
        return grid.downbeat_frame_pos, grid.frames_per_beat * grid.meter
    if binding.source == "energy":
        raise ConfigError(
            f"{field}='energy': kind {binding.kind!r} follows onsets; use a beat, downbeat or instrument source"
        )
    if binding.source not in grid.onset_frame_pos:
        raise ConfigError(
            f"{field}={binding.source!r}: not among audio.instruments {tuple(grid.onset_frame_pos)}"
        )
    contacts = grid.onset_frame_pos[binding.source]
    period = float(np.diff(contacts).min()) if contacts.shape[0] > 1 else grid.frames_per_beat
    return contacts, period


def _energy_curve(binding: BindingSpec, index: int, grid: BeatGrid) -> np.ndarray:
    if binding.source in ("energy", "beat", "downbeat"):
        return grid.energy
    if binding.source not in grid.stem_energy:
        raise ConfigError(
            f"audio.bindings[{index}].source={binding.source!r}: not among audio.instruments "
            f"{tuple(grid.onset_frame_pos)}"
        )
    return grid.stem_energy[binding.source]


def _palette(seed: int, index: int) -> np.ndarray:
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, STREAM_PALETTE, index])))
    hues = (rng.random() + np.arange(PALETTE_SIZE) / PALETTE_SIZE) % 1.0
    return np.array([colorsys.hsv_to_rgb(float(h), 0.8, 0.9) for h in hues])


def binding_effects(spec: ClipSpec, grid: BeatGrid) -> BindingEffects:
    """Per-frame effects of ``spec.audio.bindings`` on the grid ``grid`` (from ``beat_grid``/``synthesize``).

    Kinds: ``bounce`` (+Z offset of ``amount`` m peak; ground contact exactly at source onsets),
    ``scale_pulse`` (scale 1 + amount, decaying), ``flash`` (emission + amount, decaying),
    ``color_downbeat`` (colour changes at every source onset; ``amount`` in [0, 1] blends from the material
    colour to the palette colour), ``camera_jolt`` (pitch kick of ``amount`` degrees, decaying),
    ``camera_cut`` (every source onset toggles between the base shot and one ``amount`` m closer),
    ``energy`` (object scale 1 + amount * energy, or the camera ``amount * energy`` m closer; an
    instrument source follows that stem's energy). Pulses decay with a time constant of a quarter beat.
    """
    ids = np.array([obj.object_id for obj in spec.objects], dtype=np.int32)
    num_frames = spec.clip.num_frames
    effects = neutral_effects(ids, num_frames)
    if spec.audio is None:
        return effects
    if grid.num_frames != num_frames or grid.fps != spec.clip.fps:
        raise ConfigError(
            f"grid: num_frames={grid.num_frames}, fps={grid.fps} must match clip.num_frames={num_frames}, "
            f"clip.fps={spec.clip.fps}"
        )
    row_of = {int(object_id): row for row, object_id in enumerate(ids)}
    tau = PULSE_DECAY_BEATS * grid.frames_per_beat
    for index, binding in enumerate(spec.audio.bindings):
        where = f"audio.bindings[{index}]"
        on_camera = binding.target_id == 0
        if on_camera and binding.kind in OBJECT_KINDS:
            raise ConfigError(
                f"{where}.target_id=0: kind {binding.kind!r} drives an object; the camera takes "
                f"{sorted(CAMERA_KINDS | {'energy'})}"
            )
        if not on_camera and binding.kind in CAMERA_KINDS:
            raise ConfigError(
                f"{where}.target_id={binding.target_id}: kind {binding.kind!r} needs target_id=0"
            )
        if not on_camera and binding.target_id not in row_of:
            raise ConfigError(f"{where}.target_id={binding.target_id}: names no object")

        if binding.kind == "energy":
            curve = _energy_curve(binding, index, grid)
            if on_camera:
                effects.camera_local_offset[:] = effects.camera_local_offset @ _forward(
                    binding.amount * curve
                )
            else:
                effects.scale[row_of[binding.target_id]] *= 1.0 + binding.amount * curve
            continue

        contacts, period = _source_contacts(binding, index, grid)
        if binding.kind == "camera_jolt":
            angle = binding.amount * decay_after(contacts, num_frames, tau)
            effects.camera_local_offset[:] = effects.camera_local_offset @ _rotation_x(angle)
            continue
        if binding.kind == "camera_cut":
            closer = (events_so_far(contacts, num_frames) % 2 == 1) * binding.amount
            effects.camera_local_offset[:] = effects.camera_local_offset @ _forward(closer.astype(np.float64))
            continue

        row = row_of[binding.target_id]
        if binding.kind == "bounce":
            effects.position_offset_m[row, :, 2] += bounce_height(
                contacts, period, num_frames, binding.amount
            )
        elif binding.kind == "scale_pulse":
            effects.scale[row] *= 1.0 + binding.amount * decay_after(contacts, num_frames, tau)
        elif binding.kind == "flash":
            effects.emission[row] += binding.amount * decay_after(contacts, num_frames, tau)
        else:  # color_downbeat
            palette = _palette(spec.audio.seed, index)
            count = events_so_far(contacts, num_frames)
            base = np.array(spec.objects[row].material.base_color_rgb, dtype=np.float64)
            blend = min(binding.amount, 1.0)
            colours = (1.0 - blend) * base + blend * palette[(count - 1) % PALETTE_SIZE]
            has_colour = count > 0
            effects.color_rgb[row, has_colour] = colours[has_colour]
    return effects
