"""Beat facts of audio-reactive bindings: on which frames a binding's source beats fall, and on which frames
its motion events happen (the labels of ``audio_to_video``).

Motion events are detected from each binding's *own* per-frame effect (the binding evaluated alone with
``synthgen.audio.binding_effects``), by kind: ``bounce`` - ground contacts (local minima of the height);
``scale_pulse``, ``flash``, ``camera_jolt`` - frames where the pulse rises; ``color_downbeat``,
``camera_cut`` - frames where the colour or the shot changes (a first colour, or a cut away from the base
shot, at frame 0 counts).
``energy`` bindings follow loudness, not onsets, and have neither source nor event frames.
Source frames are the source onsets (beat, downbeat or instrument) rounded to the nearest frame.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from synthgen.describe.spec import BindingSpec, ClipSpec
from synthgen.errors import DataError

# Offsets below this (metres, scale units, radians) are numerical noise, not motion.
EFFECT_EPS = 1e-9


def source_frames(binding: BindingSpec, grid: Any) -> np.ndarray:
    """(F,) bool: frames nearest to the onsets of ``binding.source`` (none for ``energy`` bindings)."""
    mask = np.zeros(grid.num_frames, dtype=bool)
    if binding.kind == "energy" or binding.source == "energy":
        return mask
    if binding.source == "beat":
        positions = np.asarray(grid.beat_frame_pos)
    elif binding.source == "downbeat":
        positions = np.asarray(grid.downbeat_frame_pos)
    else:
        positions = np.asarray(grid.onset_frame_pos.get(binding.source, np.zeros(0)))
    frames = np.floor(positions + 0.5).astype(np.int64)
    mask[frames[(frames >= 0) & (frames < grid.num_frames)]] = True
    return mask


def _rises(signal: np.ndarray) -> np.ndarray:
    previous = np.concatenate([[0.0], signal[:-1]])
    return signal - previous > EFFECT_EPS


def _changes(values: np.ndarray) -> np.ndarray:
    """(F,) frames whose value differs from the previous frame's (NaN = unset; becoming set counts)."""
    flat = values.reshape(values.shape[0], -1)
    filled = np.where(np.isnan(flat), -1.0, flat)
    previous = np.concatenate([np.full((1, flat.shape[1]), -1.0), filled[:-1]])
    return (np.abs(filled - previous) > EFFECT_EPS).any(axis=1)


def event_frames(spec: ClipSpec, binding: BindingSpec, grid: Any) -> np.ndarray:
    """(F,) bool: frames where ``binding``'s own effect shows a motion event (see module docstring)."""
    from synthgen.audio.bindings import binding_effects

    if spec.audio is None:
        raise DataError(f"clip {spec.clip_id}: binding events need the clip's audio (audio.enabled=true)")
    alone = spec.model_copy(update={"audio": spec.audio.model_copy(update={"bindings": (binding,)})})
    effects = binding_effects(alone, grid)
    if binding.kind == "energy":
        return np.zeros(grid.num_frames, dtype=bool)
    if binding.target_id == 0:
        offset = effects.camera_local_offset
        if binding.kind == "camera_cut":
            # The base shot (identity offset) precedes frame 0, so a cut on frame 0 counts.
            previous = np.concatenate([np.eye(4)[None], offset[:-1]])
            return (np.abs(offset - previous) > EFFECT_EPS).reshape(offset.shape[0], -1).any(axis=1)
        angle = np.arctan2(offset[:, 2, 1], offset[:, 1, 1])
        return _rises(np.abs(angle))
    row = [obj.object_id for obj in spec.objects].index(binding.target_id)
    if binding.kind == "bounce":
        height = effects.position_offset_m[row, :, 2]
        before = np.concatenate([[np.inf], height[:-1]])
        after = np.concatenate([height[1:], [np.inf]])
        return (height <= before) & (height < after) | (height <= EFFECT_EPS * max(binding.amount, 1.0))
    if binding.kind == "scale_pulse":
        return _rises(effects.scale[row] - 1.0)
    if binding.kind == "flash":
        return _rises(effects.emission[row])
    return _changes(effects.color_rgb[row])


def binding_table(spec: ClipSpec) -> list[dict[str, Any]]:
    """JSON-ready list of bindings: kind, source, amount, target id and name (``camera`` for id 0)."""
    names = {obj.object_id: obj.name for obj in spec.objects}
    bindings = spec.audio.bindings if spec.audio else ()
    return [
        {
            "kind": b.kind,
            "source": b.source,
            "amount": b.amount,
            "target_id": b.target_id,
            "target": "camera" if b.target_id == 0 else names.get(b.target_id, "?"),
        }
        for b in bindings
    ]
