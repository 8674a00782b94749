"""Drive the built scene from the labels: one keyframe per frame, explicit interpolation, then read back.

Blender frame ``i`` is clip frame ``i`` (frame_start = 0), so t = i / fps. Object and camera poses are
decomposed in float64 into location, unit quaternion (w first) and scale, and keyed on every frame with
CONSTANT interpolation (LINEAR when motion blur needs in-between values): no Bezier easing ever changes a
labelled value.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from synthgen.render.builder import clip_error
from synthgen.render.engine import uses_motion_blur

if TYPE_CHECKING:
    from synthgen.labels.compute import ClipLabels
    from synthgen.render.builder import SceneBuilder

# A pose is representable as location/rotation/scale only without shear; this is the orthogonality slack.
SHEAR_TOLERANCE = 1e-9
POSE_TOLERANCE = 1e-5


def decompose_pose(world_from_local: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split 4x4 poses (..., 4, 4) = T R S into location (..., 3), quaternion w-first (..., 4), scale (..., 3).

    ``S`` is a per-axis scale in the local frame (negative on x for mirrored poses). Raises ValueError for a
    sheared matrix or a non-affine last row, which location/rotation/scale cannot express.
    """
    pose = np.asarray(world_from_local, dtype=np.float64)
    if not np.allclose(pose[..., 3, :], [0.0, 0.0, 0.0, 1.0], rtol=0.0, atol=1e-12):
        raise ValueError("last row is not (0, 0, 0, 1)")
    linear = pose[..., :3, :3]
    scale = np.linalg.norm(linear, axis=-2)
    if np.any(scale <= 0.0):
        raise ValueError("a scale is zero")
    mirrored = np.linalg.det(linear) < 0.0
    scale = np.where(mirrored[..., None], scale * np.array([-1.0, 1.0, 1.0]), scale)
    rotation = linear / scale[..., None, :]
    gram = np.swapaxes(rotation, -1, -2) @ rotation
    if np.max(np.abs(gram - np.eye(3)), initial=0.0) > SHEAR_TOLERANCE:
        raise ValueError("matrix has shear (rotation x per-axis scale cannot express it)")
    return pose[..., :3, 3].copy(), quaternion_from_rotation(rotation), scale


def quaternion_from_rotation(rotation: np.ndarray) -> np.ndarray:
    """Unit quaternions (..., 4), w first and w >= 0, of rotation matrices (..., 3, 3) (Shepperd's method)."""
    rot = np.asarray(rotation, dtype=np.float64)
    m00, m11, m22 = rot[..., 0, 0], rot[..., 1, 1], rot[..., 2, 2]
    candidates = np.stack(
        [
            np.stack(
                [
                    1 + m00 + m11 + m22,
                    rot[..., 2, 1] - rot[..., 1, 2],
                    rot[..., 0, 2] - rot[..., 2, 0],
                    rot[..., 1, 0] - rot[..., 0, 1],
                ],
                -1,
            ),
            np.stack(
                [
                    rot[..., 2, 1] - rot[..., 1, 2],
                    1 + m00 - m11 - m22,
                    rot[..., 0, 1] + rot[..., 1, 0],
                    rot[..., 0, 2] + rot[..., 2, 0],
                ],
                -1,
            ),
            np.stack(
                [
                    rot[..., 0, 2] - rot[..., 2, 0],
                    rot[..., 0, 1] + rot[..., 1, 0],
                    1 - m00 + m11 - m22,
                    rot[..., 1, 2] + rot[..., 2, 1],
                ],
                -1,
            ),
            np.stack(
                [
                    rot[..., 1, 0] - rot[..., 0, 1],
                    rot[..., 0, 2] + rot[..., 2, 0],
                    rot[..., 1, 2] + rot[..., 2, 1],
                    1 - m00 - m11 + m22,
                ],
                -1,
            ),
        ],
        -2,
    )
    # Each row is 4*q*q_k for one k; the row with the largest diagonal term is best conditioned.
    diag = np.stack([1 + m00 + m11 + m22, 1 + m00 - m11 - m22, 1 - m00 + m11 - m22, 1 - m00 - m11 + m22], -1)
    best = np.argmax(diag, axis=-1)
    quat = np.take_along_axis(candidates, best[..., None, None], axis=-2)[..., 0, :]
    quat = quat / np.linalg.norm(quat, axis=-1, keepdims=True)
    return np.where(quat[..., :1] < 0.0, -quat, quat)


def _continuous_quaternions(quat: np.ndarray) -> np.ndarray:
    """Flip signs along the frame axis so neighbouring keys interpolate the short way (for LINEAR)."""
    out = quat.copy()
    for frame in range(1, out.shape[0]):
        if np.dot(out[frame], out[frame - 1]) < 0.0:
            out[frame] = -out[frame]
    return out


def rotation_from_quaternion(quat: np.ndarray) -> np.ndarray:
    """Rotation matrices (..., 3, 3) of quaternions (..., 4), w first (normalised first)."""
    q = np.asarray(quat, dtype=np.float64)
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    return np.stack(
        [
            np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
            np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
            np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1),
        ],
        -2,
    )


class Keyer:
    """Writes per-frame keyframes straight into F-curves (fast path: one ``foreach_set`` per curve)."""

    def __init__(self, num_frames: int, interpolation: str) -> None:
        from bpy_extras.anim_utils import action_ensure_channelbag_for_slot

        self._ensure = action_ensure_channelbag_for_slot
        self.frames = np.arange(num_frames, dtype=np.float32)
        self.interpolation = interpolation
        self._channelbags: dict[int, Any] = {}

    def _channelbag(self, id_block: Any, id_type: str) -> Any:
        key = id_block.as_pointer()
        if key not in self._channelbags:
            import bpy

            anim = id_block.animation_data or id_block.animation_data_create()
            action = bpy.data.actions.new(f"{id_block.name}_labels")
            slot = action.slots.new(id_type=id_type, name=id_block.name)
            anim.action = action
            anim.action_slot = slot
            self._channelbags[key] = self._ensure(action, slot)
        return self._channelbags[key]

    def key(self, id_block: Any, id_type: str, data_path: str, values: np.ndarray) -> None:
        """Key ``data_path`` on every frame: ``values`` (F,) for a scalar or (F, k) for indices 0..k-1."""
        vals = np.asarray(values, dtype=np.float64)
        if vals.ndim == 1:
            vals = vals[:, None]
        if vals.shape[0] != self.frames.shape[0]:
            raise ValueError(f"{data_path}: {vals.shape[0]} values for {self.frames.shape[0]} frames")
        channelbag = self._channelbag(id_block, id_type)
        count = self.frames.shape[0]
        for index in range(vals.shape[1]):
            curve = channelbag.fcurves.new(data_path, index=index)
            curve.keyframe_points.add(count)
            co = np.empty((count, 2), dtype=np.float32)
            co[:, 0] = self.frames
            co[:, 1] = vals[:, index]
            curve.keyframe_points.foreach_set("co", co.ravel())
            for point in curve.keyframe_points:
                point.interpolation = self.interpolation
            curve.update()


def key_scene(builder: SceneBuilder, labels: ClipLabels) -> None:
    """Key every spec object, the camera (pose + focal length) and per-frame material values."""
    spec = builder.spec
    num_frames = spec.clip.num_frames
    interpolation = "LINEAR" if uses_motion_blur(spec) else "CONSTANT"
    keyer = Keyer(num_frames, interpolation)
    scene = builder.scene
    scene.frame_start = 0
    scene.frame_end = num_frames - 1
    scene.frame_step = 1

    _check_label_shapes(builder, labels)
    for index, obj in enumerate(spec.objects):
        ob = builder.objects[obj.object_id]
        try:
            location, quat, scale = decompose_pose(labels.objects.world_from_local[index])
        except ValueError as err:
            raise clip_error(
                spec, f"labels.objects.world_from_local[{index}] ({obj.name!r}): {err}"
            ) from None
        keyer.key(ob, "OBJECT", "location", location)
        keyer.key(ob, "OBJECT", "rotation_quaternion", _continuous_quaternions(quat))
        keyer.key(ob, "OBJECT", "scale", scale)
        _key_material(keyer, builder.materials[obj.object_id], obj.material.base_color_rgb, labels, index)

    try:
        location, quat, scale = decompose_pose(labels.camera.camera_to_world_blender)
    except ValueError as err:
        raise clip_error(spec, f"labels.camera.camera_to_world_blender: {err}") from None
    camera = builder.camera
    keyer.key(camera, "OBJECT", "location", location)
    keyer.key(camera, "OBJECT", "rotation_quaternion", _continuous_quaternions(quat))
    keyer.key(camera, "OBJECT", "scale", scale)
    keyer.key(camera.data, "CAMERA", "lens", labels.camera.focal_length_mm)
    camera.data.sensor_width = float(labels.camera.sensor_width_mm)


def _key_material(
    keyer: Keyer, material: Any, default_rgb: tuple[float, float, float], labels: ClipLabels, index: int
) -> None:
    tree = material.node_tree
    color = np.array(labels.objects.color_rgb[index], dtype=np.float64)
    # NaN means "keep the material's own colour" upstream; never hand NaN to Blender.
    color = np.where(np.isfinite(color), color, np.asarray(default_rgb, dtype=np.float64))
    emission = np.asarray(labels.objects.emission[index], dtype=np.float64)
    base = tree.nodes["base_color"]
    bsdf = tree.nodes["bsdf"]
    base.outputs[0].default_value = (*color[0].tolist(), 1.0)
    bsdf.inputs["Emission Strength"].default_value = float(emission[0])
    if np.ptp(color, axis=0).max() > 0.0:
        keyer.key(tree, "NODETREE", base.outputs[0].path_from_id("default_value"), color)
    if np.ptp(emission) > 0.0:
        keyer.key(tree, "NODETREE", bsdf.inputs["Emission Strength"].path_from_id("default_value"), emission)


def _check_label_shapes(builder: SceneBuilder, labels: ClipLabels) -> None:
    spec = builder.spec
    frames, count = spec.clip.num_frames, len(spec.objects)
    expected = {
        "labels.objects.world_from_local": (labels.objects.world_from_local.shape, (count, frames, 4, 4)),
        "labels.camera.camera_to_world_blender": (
            labels.camera.camera_to_world_blender.shape,
            (frames, 4, 4),
        ),
        "labels.camera.focal_length_mm": (labels.camera.focal_length_mm.shape, (frames,)),
    }
    for name, (shape, want) in expected.items():
        if tuple(shape) != want:
            raise clip_error(spec, f"{name} has shape {tuple(shape)}; the spec needs {want}")
    ids = [int(v) for v in labels.objects.object_ids]
    if ids != [obj.object_id for obj in spec.objects]:
        raise clip_error(spec, f"labels.objects.object_ids={ids} do not match spec.objects")


def relative_pose_error(blender: np.ndarray, label: np.ndarray) -> np.ndarray:
    """max |B - L| / max |L| over the top three rows of each 4x4 (one value per matrix, shape (...))."""
    diff = np.abs(np.asarray(blender, dtype=np.float64) - label)[..., :3, :].max(axis=(-2, -1))
    size = np.abs(np.asarray(label, dtype=np.float64))[..., :3, :].max(axis=(-2, -1))
    return diff / np.maximum(size, 1e-300)
