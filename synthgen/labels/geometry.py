"""Rotations, camera poses, intrinsics and pinhole projection in float64 numpy.

Conventions (full statement with formulas in docs/conventions.md):

- World: Blender's, right-handed, Z up, metres.
- Euler angles: Blender's ``XYZ`` order, ``R = Rz(z) @ Ry(y) @ Rx(x)`` (rotate about world X, then Y, then Z).
- Blender camera: local +X right, +Y up, looks down local -Z. ``camera_to_world_blender`` maps camera-local
  points to world points.
- OpenCV camera: +X right, +Y down, +Z forward. ``camera_from_world_cv`` maps world points to camera points.
  The two camera frames differ by ``diag(1, -1, -1)`` on the camera side.
- Pixels: (0, 0) is the top-left *corner* of the top-left pixel; the centre of pixel (i, j) is at
  (j + 0.5, i + 0.5). x grows to the right, y grows downwards.
- Intrinsics: Blender's camera with ``sensor_fit='HORIZONTAL'`` always; the sensor width spans the image
  width, square pixels, and lens shift is a fraction of the image width on both axes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from synthgen.describe.spec import IntrinsicsSpec
from synthgen.errors import ConfigError

# Camera-side change of basis between Blender's camera frame (y up, looks down -z) and OpenCV's (y down,
# looks down +z). It is its own inverse.
BLENDER_FROM_CV_CAMERA = np.diag([1.0, -1.0, -1.0])

_EPS = 1e-12


# ----------------------------------------------------------------------------------------- rotations


def _as_float_array(value: np.ndarray | tuple[float, ...] | list[float] | float, name: str) -> np.ndarray:
    array = np.asarray(value, dtype=np.float64)
    if not np.all(np.isfinite(array)):
        raise ConfigError(f"{name}: contains NaN or inf; all values must be finite")
    return array


def rotation_matrix_x(angle_rad: np.ndarray | float) -> np.ndarray:
    """Right-handed rotation about +X by ``angle_rad`` (radians), shape (..., 3, 3)."""
    angle = np.asarray(angle_rad, dtype=np.float64)
    c, s = np.cos(angle), np.sin(angle)
    one, zero = np.ones_like(angle), np.zeros_like(angle)
    return np.stack(
        [np.stack([one, zero, zero], -1), np.stack([zero, c, -s], -1), np.stack([zero, s, c], -1)], -2
    )


def rotation_matrix_y(angle_rad: np.ndarray | float) -> np.ndarray:
    """Right-handed rotation about +Y by ``angle_rad`` (radians), shape (..., 3, 3)."""
    angle = np.asarray(angle_rad, dtype=np.float64)
    c, s = np.cos(angle), np.sin(angle)
    one, zero = np.ones_like(angle), np.zeros_like(angle)
    return np.stack(
        [np.stack([c, zero, s], -1), np.stack([zero, one, zero], -1), np.stack([-s, zero, c], -1)], -2
    )


def rotation_matrix_z(angle_rad: np.ndarray | float) -> np.ndarray:
    """Right-handed rotation about +Z by ``angle_rad`` (radians), shape (..., 3, 3)."""
    angle = np.asarray(angle_rad, dtype=np.float64)
    c, s = np.cos(angle), np.sin(angle)
    one, zero = np.ones_like(angle), np.zeros_like(angle)
    return np.stack(
        [np.stack([c, -s, zero], -1), np.stack([s, c, zero], -1), np.stack([zero, zero, one], -1)], -2
    )


def euler_xyz_to_matrix(angles_rad: np.ndarray | tuple[float, float, float]) -> np.ndarray:
    """Blender ``XYZ`` Euler angles (radians, (..., 3)) to rotation matrices ``Rz @ Ry @ Rx`` (..., 3, 3)."""
    angles = np.asarray(angles_rad, dtype=np.float64)
    if angles.shape[-1:] != (3,):
        raise ConfigError(f"angles_rad: shape {angles.shape} must end in 3 (x, y, z)")
    return (
        rotation_matrix_z(angles[..., 2])
        @ rotation_matrix_y(angles[..., 1])
        @ rotation_matrix_x(angles[..., 0])
    )


def matrix_to_euler_xyz(rotation: np.ndarray) -> np.ndarray:
    """Blender ``XYZ`` Euler angles (radians, (..., 3)) of rotation matrices (..., 3, 3).

    Angles are in (-pi, pi] for x and z and [-pi/2, pi/2] for y; at gimbal lock (|y| = pi/2) x is set to 0.
    """
    rot = np.asarray(rotation, dtype=np.float64)
    sin_y = np.clip(-rot[..., 2, 0], -1.0, 1.0)
    y = np.arcsin(sin_y)
    cos_y = np.sqrt(rot[..., 2, 1] ** 2 + rot[..., 2, 2] ** 2)
    locked = cos_y < 1e-9
    x = np.where(locked, 0.0, np.arctan2(rot[..., 2, 1], rot[..., 2, 2]))
    z = np.where(
        locked,
        np.arctan2(-rot[..., 0, 1], rot[..., 1, 1]),
        np.arctan2(rot[..., 1, 0], rot[..., 0, 0]),
    )
    return np.stack([x, y, z], axis=-1)


def axis_angle_to_matrix(
    axis: np.ndarray | tuple[float, float, float], angle_rad: np.ndarray | float
) -> np.ndarray:
    """Right-handed rotation by ``angle_rad`` (radians) about ``axis`` (any length > 0), shape (..., 3, 3).

    Rodrigues' formula; ``axis`` (..., 3) and ``angle_rad`` (...) broadcast against each other.
    """
    axis_arr = np.asarray(axis, dtype=np.float64)
    norm = np.linalg.norm(axis_arr, axis=-1, keepdims=True)
    if np.any(norm < _EPS):
        raise ConfigError(f"axis={axis_arr.tolist()}: must have non-zero length")
    k = axis_arr / norm
    angle = np.asarray(angle_rad, dtype=np.float64)[..., None, None]
    kx, ky, kz = k[..., 0], k[..., 1], k[..., 2]
    zero = np.zeros_like(kx)
    cross = np.stack(
        [np.stack([zero, -kz, ky], -1), np.stack([kz, zero, -kx], -1), np.stack([-ky, kx, zero], -1)], -2
    )
    outer = k[..., :, None] * k[..., None, :]
    eye = np.eye(3)
    return np.cos(angle) * eye + np.sin(angle) * cross + (1.0 - np.cos(angle)) * outer


def rotation_between(from_dir: np.ndarray, to_dir: np.ndarray) -> np.ndarray:
    """The smallest rotation taking direction ``from_dir`` to ``to_dir`` (both (..., 3), any length > 0).

    Identity where the directions are parallel; for opposite directions the rotation is by pi about an axis
    perpendicular to ``from_dir``.
    """
    a = np.asarray(from_dir, dtype=np.float64)
    b = np.asarray(to_dir, dtype=np.float64)
    a = a / np.linalg.norm(a, axis=-1, keepdims=True)
    b = b / np.linalg.norm(b, axis=-1, keepdims=True)
    a, b = np.broadcast_arrays(a, b)
    axis = np.cross(a, b)
    sin_angle = np.linalg.norm(axis, axis=-1)
    cos_angle = np.clip(np.sum(a * b, axis=-1), -1.0, 1.0)
    angle = np.arctan2(sin_angle, cos_angle)
    degenerate = sin_angle < 1e-12
    # Any axis perpendicular to `a` serves when a and b are (anti)parallel.
    helper = np.where(np.abs(a[..., :1]) < 0.9, np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0]))
    fallback_axis = np.cross(a, helper)
    axis = np.where(degenerate[..., None], fallback_axis, axis)
    angle = np.where(degenerate & (cos_angle > 0.0), 0.0, angle)
    return axis_angle_to_matrix(axis, angle)


def compose_pose(rotation: np.ndarray, translation: np.ndarray) -> np.ndarray:
    """4x4 homogeneous transforms (..., 4, 4) from rotations (..., 3, 3) and translations (..., 3)."""
    rot = np.asarray(rotation, dtype=np.float64)
    trans = np.asarray(translation, dtype=np.float64)
    batch = np.broadcast_shapes(rot.shape[:-2], trans.shape[:-1])
    pose = np.zeros((*batch, 4, 4), dtype=np.float64)
    pose[..., :3, :3] = rot
    pose[..., :3, 3] = trans
    pose[..., 3, 3] = 1.0
    return pose


def rigid_inverse(pose: np.ndarray) -> np.ndarray:
    """Inverse of rigid 4x4 transforms (..., 4, 4): ``[R^T, -R^T t]``; exact for orthonormal R."""
    pose_arr = np.asarray(pose, dtype=np.float64)
    rot_t = np.swapaxes(pose_arr[..., :3, :3], -1, -2)
    trans = -np.einsum("...ij,...j->...i", rot_t, pose_arr[..., :3, 3])
    return compose_pose(rot_t, trans)


# ------------------------------------------------------------------------------------ camera poses


def look_at_camera_to_world(
    position_m: np.ndarray | tuple[float, float, float],
    target_m: np.ndarray | tuple[float, float, float],
    roll_deg: np.ndarray | float = 0.0,
) -> np.ndarray:
    """Blender camera-to-world (..., 4, 4) for a camera at ``position_m`` looking at ``target_m``.

    The camera looks down its local -Z at the target, its local +X (image right) is horizontal and its +Y
    (image up) points as close to world +Z as possible. Looking straight down or up, image up is world +Y
    instead. ``roll_deg`` then rotates the camera about its local +Z (towards the viewer): positive roll
    turns the camera counter-clockwise as seen from behind it, so the image content turns clockwise.
    Inputs broadcast: positions (..., 3), targets (..., 3), roll (...).
    """
    position = _as_float_array(position_m, "position_m")
    target = _as_float_array(target_m, "target_m")
    forward = target - position
    distance = np.linalg.norm(forward, axis=-1, keepdims=True)
    if np.any(distance < _EPS):
        raise ConfigError(
            f"look_at: position_m={position.tolist()} and target_m={target.tolist()} must differ"
        )
    forward = forward / distance
    world_up = np.array([0.0, 0.0, 1.0])
    right = np.cross(forward, world_up)
    right_norm = np.linalg.norm(right, axis=-1, keepdims=True)
    vertical = right_norm < 1e-9
    # Straight down/up has no horizon; image up = world +Y keeps the choice continuous with a camera
    # that looks down from the -Y side (the default framing).
    fallback_right = np.cross(forward, np.array([0.0, 1.0, 0.0]))
    fallback_right = fallback_right / np.maximum(np.linalg.norm(fallback_right, axis=-1, keepdims=True), _EPS)
    right = np.where(vertical, fallback_right, right / np.maximum(right_norm, _EPS))
    up = np.cross(right, forward)
    rotation = np.stack([right, up, -forward], axis=-1)
    roll = np.asarray(roll_deg, dtype=np.float64)
    rotation = rotation @ rotation_matrix_z(np.radians(roll))
    return compose_pose(rotation, np.broadcast_to(position, (*rotation.shape[:-2], 3)))


def opencv_from_blender_camera_to_world(camera_to_world_blender: np.ndarray) -> np.ndarray:
    """OpenCV ``camera_from_world`` (..., 4, 4) from Blender camera-to-world (..., 4, 4) (rigid)."""
    pose = np.asarray(camera_to_world_blender, dtype=np.float64)
    _check_pose_shape(pose, "camera_to_world_blender")
    camera_to_world_cv = pose.copy()
    camera_to_world_cv[..., :3, :3] = pose[..., :3, :3] @ BLENDER_FROM_CV_CAMERA
    return rigid_inverse(camera_to_world_cv)


def blender_camera_to_world_from_opencv(camera_from_world_cv: np.ndarray) -> np.ndarray:
    """Blender camera-to-world (..., 4, 4) from OpenCV ``camera_from_world`` (..., 4, 4) (rigid)."""
    pose = np.asarray(camera_from_world_cv, dtype=np.float64)
    _check_pose_shape(pose, "camera_from_world_cv")
    camera_to_world = rigid_inverse(pose)
    camera_to_world[..., :3, :3] = camera_to_world[..., :3, :3] @ BLENDER_FROM_CV_CAMERA
    return camera_to_world


def _check_pose_shape(pose: np.ndarray, name: str) -> None:
    if pose.shape[-2:] != (4, 4):
        raise ConfigError(f"{name}: shape {pose.shape} must end in (4, 4)")


# -------------------------------------------------------------------------------------- intrinsics


@dataclass(frozen=True)
class BlenderCameraSettings:
    """Values to set on ``bpy.types.Camera`` data so Blender projects exactly like K.

    ``lens`` and ``sensor_width`` in millimetres; ``shift_x``/``shift_y`` are fractions of the image width
    (Blender's unit when ``sensor_fit='HORIZONTAL'``).
    """

    lens: float
    sensor_width: float
    sensor_fit: str
    shift_x: float
    shift_y: float

    def as_dict(self) -> dict[str, float | str]:
        """Attribute name -> value, ready for ``setattr(camera_data, name, value)``."""
        return {
            "lens": self.lens,
            "sensor_width": self.sensor_width,
            "sensor_fit": self.sensor_fit,
            "shift_x": self.shift_x,
            "shift_y": self.shift_y,
        }


def _check_image_size(width: int, height: int) -> None:
    if width <= 0 or height <= 0:
        raise ConfigError(f"image size: width={width}, height={height} must both be positive")


def intrinsics_from_blender(
    focal_length_mm: np.ndarray | float,
    sensor_width_mm: float,
    shift_x: float,
    shift_y: float,
    width: int,
    height: int,
) -> np.ndarray:
    """K in pixels (..., 3, 3) of a Blender camera with ``sensor_fit='HORIZONTAL'`` and square pixels.

    ``fx = fy = focal_length_mm / sensor_width_mm * width``, ``cx = width / 2 - shift_x * width``,
    ``cy = height / 2 + shift_y * width`` (pixel corner convention: the image centre is at (W/2, H/2)).
    ``focal_length_mm`` may be an array (one K per value, e.g. per frame of a zoom).
    """
    _check_image_size(width, height)
    if sensor_width_mm <= 0.0:
        raise ConfigError(f"sensor_width_mm={sensor_width_mm}: must be positive")
    focal = np.asarray(focal_length_mm, dtype=np.float64)
    if np.any(focal <= 0.0):
        raise ConfigError(f"focal_length_mm={focal.tolist()}: must be positive")
    f_px = focal / sensor_width_mm * width
    K = np.zeros((*focal.shape, 3, 3), dtype=np.float64)
    K[..., 0, 0] = f_px
    K[..., 1, 1] = f_px
    K[..., 0, 2] = width / 2.0 - shift_x * width
    K[..., 1, 2] = height / 2.0 + shift_y * width
    K[..., 2, 2] = 1.0
    return K


def intrinsics_matrix(intrinsics: IntrinsicsSpec, width: int, height: int) -> np.ndarray:
    """K (3, 3) in pixels for ``intrinsics`` on a ``width`` x ``height`` image (see ``intrinsics_from_blender``)."""
    return intrinsics_from_blender(
        intrinsics.focal_length_mm,
        intrinsics.sensor_width_mm,
        intrinsics.shift_x,
        intrinsics.shift_y,
        width,
        height,
    )


def blender_intrinsics_from_matrix(
    K: np.ndarray, width: int, height: int, sensor_width_mm: float
) -> tuple[float, float, float]:
    """``(focal_length_mm, shift_x, shift_y)`` of the Blender camera (sensor fit horizontal) with this K.

    K must have square pixels (fx == fy), zero skew and last row (0, 0, 1); otherwise ConfigError.
    """
    _check_image_size(width, height)
    mat = np.asarray(K, dtype=np.float64)
    if mat.shape != (3, 3):
        raise ConfigError(f"K: shape {mat.shape} must be (3, 3)")
    fx, fy = mat[0, 0], mat[1, 1]
    if fx <= 0.0 or not np.isclose(fx, fy, rtol=1e-9, atol=0.0):
        raise ConfigError(f"K: fx={fx}, fy={fy}; Blender needs square pixels (fx == fy > 0)")
    if mat[0, 1] != 0.0 or mat[1, 0] != 0.0 or not np.array_equal(mat[2], [0.0, 0.0, 1.0]):
        raise ConfigError(f"K={mat.tolist()}: must have zero skew and last row (0, 0, 1)")
    focal_length_mm = float(fx * sensor_width_mm / width)
    shift_x = float((width / 2.0 - mat[0, 2]) / width)
    shift_y = float((mat[1, 2] - height / 2.0) / width)
    return focal_length_mm, shift_x, shift_y


def blender_camera_settings(
    intrinsics: IntrinsicsSpec, width: int, height: int, focal_length_mm: float | None = None
) -> BlenderCameraSettings:
    """The bpy camera data values that reproduce ``intrinsics_matrix(intrinsics, width, height)``.

    ``focal_length_mm`` overrides the spec's focal length (a zoom's value at one frame). Set the render
    resolution to ``width`` x ``height`` with pixel aspect 1 as well.
    """
    _check_image_size(width, height)
    lens = intrinsics.focal_length_mm if focal_length_mm is None else float(focal_length_mm)
    return BlenderCameraSettings(
        lens=float(lens),
        sensor_width=float(intrinsics.sensor_width_mm),
        sensor_fit="HORIZONTAL",
        shift_x=float(intrinsics.shift_x),
        shift_y=float(intrinsics.shift_y),
    )


# -------------------------------------------------------------------------------------- projection


@dataclass(frozen=True)
class ProjectedPoints:
    """Pinhole projection of points, one row per frame.

    ``xy_px`` (F, P, 2): pixel coordinates, corner convention (NaN where the point is behind the camera);
    ``depth_m`` (F, P): planar depth, the OpenCV camera z; ``ray_depth_m`` (F, P): distance from the camera
    centre; ``in_frame`` (F, P): in front of the camera and 0 <= x < width, 0 <= y < height;
    ``behind_camera`` (F, P): depth_m <= 0.
    """

    xy_px: np.ndarray
    depth_m: np.ndarray
    ray_depth_m: np.ndarray
    in_frame: np.ndarray
    behind_camera: np.ndarray


def _broadcast_frames(camera_from_world_cv: np.ndarray, K: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pose = np.asarray(camera_from_world_cv, dtype=np.float64)
    mat = np.asarray(K, dtype=np.float64)
    if pose.ndim == 2:
        pose = pose[None]
    if mat.ndim == 2:
        mat = mat[None]
    if pose.ndim != 3 or pose.shape[1:] != (4, 4):
        raise ConfigError(f"camera_from_world_cv: shape {pose.shape} must be (F, 4, 4) or (4, 4)")
    if mat.ndim != 3 or mat.shape[1:] != (3, 3):
        raise ConfigError(f"K: shape {mat.shape} must be (F, 3, 3) or (3, 3)")
    frames = np.broadcast_shapes(pose.shape[:1], mat.shape[:1])[0]
    return np.broadcast_to(pose, (frames, 4, 4)), np.broadcast_to(mat, (frames, 3, 3))


def world_to_camera_cv(points_world: np.ndarray, camera_from_world_cv: np.ndarray) -> np.ndarray:
    """World points (P, 3) or (F, P, 3) to OpenCV camera coordinates (F, P, 3) with poses (F, 4, 4)."""
    pose = np.asarray(camera_from_world_cv, dtype=np.float64)
    if pose.ndim == 2:
        pose = pose[None]
    points = np.asarray(points_world, dtype=np.float64)
    if points.shape[-1:] != (3,) or points.ndim not in (2, 3):
        raise ConfigError(f"points_world: shape {points.shape} must be (P, 3) or (F, P, 3)")
    if points.ndim == 2:
        points = points[None]
    return np.einsum("fij,fpj->fpi", pose[:, :3, :3], points) + pose[:, None, :3, 3]


def project_points(
    points_world: np.ndarray,
    camera_from_world_cv: np.ndarray,
    K: np.ndarray,
    width: int,
    height: int,
) -> ProjectedPoints:
    """Project world points into pixels for each frame.

    ``points_world`` (P, 3) (static points) or (F, P, 3); ``camera_from_world_cv`` (F, 4, 4) or (4, 4);
    ``K`` (F, 3, 3) or (3, 3). Pixel (0, 0) is the top-left corner of the top-left pixel.
    """
    _check_image_size(width, height)
    pose, mat = _broadcast_frames(camera_from_world_cv, K)
    camera_points = world_to_camera_cv(points_world, pose)
    depth = camera_points[..., 2]
    behind = depth <= 0.0
    safe_depth = np.where(behind, 1.0, depth)
    normalised = camera_points[..., :2] / safe_depth[..., None]
    x = mat[:, None, 0, 0] * normalised[..., 0] + mat[:, None, 0, 1] * normalised[..., 1] + mat[:, None, 0, 2]
    y = mat[:, None, 1, 1] * normalised[..., 1] + mat[:, None, 1, 2]
    xy = np.stack([x, y], axis=-1)
    xy = np.where(behind[..., None], np.nan, xy)
    with np.errstate(invalid="ignore"):
        in_frame = (
            ~behind & (xy[..., 0] >= 0.0) & (xy[..., 0] < width) & (xy[..., 1] >= 0.0) & (xy[..., 1] < height)
        )
    return ProjectedPoints(
        xy_px=xy,
        depth_m=depth,
        ray_depth_m=np.linalg.norm(camera_points, axis=-1),
        in_frame=in_frame,
        behind_camera=behind,
    )


def unproject_points(
    xy_px: np.ndarray, depth_m: np.ndarray, K: np.ndarray, camera_from_world_cv: np.ndarray
) -> np.ndarray:
    """World points (F, P, 3) at pixel positions ``xy_px`` (F, P, 2) with planar depth ``depth_m`` (F, P).

    The inverse of ``project_points`` for points in front of the camera. ``K`` (F, 3, 3) or (3, 3),
    ``camera_from_world_cv`` (F, 4, 4) or (4, 4).
    """
    pose, mat = _broadcast_frames(camera_from_world_cv, K)
    xy = np.asarray(xy_px, dtype=np.float64)
    depth = np.asarray(depth_m, dtype=np.float64)
    if xy.shape[-1:] != (2,) or xy.shape[:-1] != depth.shape:
        raise ConfigError(f"xy_px: shape {xy.shape} must be depth_m's shape {depth.shape} + (2,)")
    if xy.ndim == 2:
        xy, depth = xy[None], depth[None]
    fx, fy = mat[:, None, 0, 0], mat[:, None, 1, 1]
    skew, cx, cy = mat[:, None, 0, 1], mat[:, None, 0, 2], mat[:, None, 1, 2]
    y_norm = (xy[..., 1] - cy) / fy
    x_norm = (xy[..., 0] - cx - skew * y_norm) / fx
    camera_points = np.stack([x_norm * depth, y_norm * depth, depth], axis=-1)
    camera_to_world = rigid_inverse(pose)
    return (
        np.einsum("fij,fpj->fpi", camera_to_world[:, :3, :3], camera_points) + camera_to_world[:, None, :3, 3]
    )


def ray_depth_from_planar(xy_px: np.ndarray, depth_m: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Distance from the camera centre (F, P) of points at pixels ``xy_px`` (F, P, 2) with planar depth."""
    mat = np.asarray(K, dtype=np.float64)
    if mat.ndim == 2:
        mat = mat[None]
    xy = np.asarray(xy_px, dtype=np.float64)
    depth = np.asarray(depth_m, dtype=np.float64)
    y_norm = (xy[..., 1] - mat[:, None, 1, 2]) / mat[:, None, 1, 1]
    x_norm = (xy[..., 0] - mat[:, None, 0, 2] - mat[:, None, 0, 1] * y_norm) / mat[:, None, 0, 0]
    return depth * np.sqrt(1.0 + x_norm**2 + y_norm**2)
