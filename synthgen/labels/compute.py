"""Exact per-frame labels of a clip, computed from its spec alone (float64 numpy, no Blender).

``compute_labels(spec)`` evaluates the camera (base pose + moves), every object's path, orientation and
scale, and, when the clip has audio, its beat grid and the audio-reactive binding effects. The renderer
drives Blender with exactly these matrices and checks the render against them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from synthgen.describe.spec import ClipSpec
from synthgen.errors import ConfigError
from synthgen.labels.camera import CameraLabels, evaluate_camera, with_camera_offset
from synthgen.labels.motion import evaluate_orientation, evaluate_path
from synthgen.labels.physics import simulate_physics

if TYPE_CHECKING:
    from synthgen.audio import BeatGrid

__all__ = ["CameraLabels", "ClipLabels", "ObjectPoses", "compute_labels", "object_poses"]


@dataclass(frozen=True)
class ObjectPoses:
    """Per-object, per-frame poses and appearance (N objects in spec order, F frames), float64.

    ``world_from_local`` (N, F, 4, 4) places Blender's unit-size primitive: rotation @ diag(scale) with
    scale = size_m * scale_xyz * (binding scale pulse), then translation ``position_m``.
    ``position_m`` (N, F, 3) includes audio-reactive offsets; ``velocity_m_per_s`` (N, F, 3) is the exact
    derivative of the object's path alone (without audio-reactive offsets). ``emission`` (N, F) is the
    material's emission strength plus bindings; ``color_rgb`` (N, F, 3) the base colour per frame.
    """

    object_ids: np.ndarray
    world_from_local: np.ndarray
    position_m: np.ndarray
    velocity_m_per_s: np.ndarray
    emission: np.ndarray
    color_rgb: np.ndarray


@dataclass(frozen=True)
class ClipLabels:
    """Everything a clip's render is checked against: frame times (F,), camera, object poses, beats."""

    times_s: np.ndarray
    camera: CameraLabels
    objects: ObjectPoses
    beats: BeatGrid | None


def _check_effect(name: str, value: Any, shape: tuple[int, ...]) -> np.ndarray:
    array = np.asarray(value, dtype=np.float64)
    if array.shape != shape:
        raise ConfigError(f"binding effects: {name} has shape {array.shape}, expected {shape}")
    return array


def object_poses(spec: ClipSpec, effects: Any = None) -> ObjectPoses:
    """Object poses of ``spec`` at every frame; ``effects`` is a ``synthgen.audio.BindingEffects`` or None."""
    clip = spec.clip
    times = clip.frame_times_s()
    frames, count = len(times), len(spec.objects)
    position = np.zeros((count, frames, 3))
    velocity = np.zeros((count, frames, 3))
    rotation = np.zeros((count, frames, 3, 3))
    simulated = simulate_physics(spec)  # physics paths: all such objects at once, before anything else
    for n, obj in enumerate(spec.objects):
        if n in simulated:
            motion = simulated[n]
            position[n], velocity[n], rotation[n] = (
                motion.position_m,
                motion.velocity_m_per_s,
                motion.rotation,
            )
            continue
        position[n], velocity[n] = evaluate_path(obj.path, times, clip.duration_s, clip.fps)
        rotation[n] = evaluate_orientation(obj.orientation, velocity[n], times)
    scale = np.array([[obj.size_m * s for s in obj.scale_xyz] for obj in spec.objects]).reshape(count, 1, 3)
    scale = np.broadcast_to(scale, (count, frames, 3)).copy()
    emission = np.broadcast_to(
        np.array([obj.material.emission_strength for obj in spec.objects]).reshape(count, 1), (count, frames)
    ).copy()
    color = np.broadcast_to(
        np.array([obj.material.base_color_rgb for obj in spec.objects]).reshape(count, 1, 3),
        (count, frames, 3),
    ).copy()
    if effects is not None:
        position = position + _check_effect(
            "position_offset_m", effects.position_offset_m, (count, frames, 3)
        )
        scale = scale * _check_effect("scale", effects.scale, (count, frames))[..., None]
        emission = emission + _check_effect("emission", effects.emission, (count, frames))
        override = _check_effect("color_rgb", effects.color_rgb, (count, frames, 3))
        color = np.where(np.isnan(override), color, override)
    world_from_local = np.zeros((count, frames, 4, 4))
    world_from_local[..., :3, :3] = rotation * scale[..., None, :]
    world_from_local[..., :3, 3] = position
    world_from_local[..., 3, 3] = 1.0
    return ObjectPoses(
        object_ids=np.array([obj.object_id for obj in spec.objects], dtype=np.int32),
        world_from_local=world_from_local,
        position_m=position,
        velocity_m_per_s=velocity,
        emission=emission,
        color_rgb=color,
    )


def compute_labels(spec: ClipSpec, beats: BeatGrid | None = None) -> ClipLabels:
    """All labels of ``spec``: frame times, camera (with any camera binding), object poses, beat grid.

    Pure and deterministic: the same spec gives bit-identical arrays. ``beats`` may pass the grid of an
    already synthesised soundtrack (``AudioClip.grid``) so the music is not synthesised twice.
    """
    if not isinstance(spec, ClipSpec):
        raise ConfigError(f"spec: expected a ClipSpec (synthgen.sample_clip), got {type(spec).__name__}")
    camera = evaluate_camera(spec.camera, spec.clip)
    effects = None
    if spec.audio is None:
        beats = None
    else:
        # Imported here so audio-free clips never need the audio module.
        from synthgen.audio import beat_grid, binding_effects

        if beats is None:
            beats = beat_grid(spec.audio, spec.clip)
        effects = binding_effects(spec, beats)
        camera = with_camera_offset(camera, effects.camera_local_offset)
    return ClipLabels(
        times_s=spec.clip.frame_times_s(),
        camera=camera,
        objects=object_poses(spec, effects),
        beats=beats,
    )
