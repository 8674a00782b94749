"""Optical flow and object coordinates from exact poses and the rendered depth and instance-id passes.

Conventions (docs/conventions.md, docs/schema.md): pixel (0, 0) is the top-left corner of the top-left
pixel, so pixel (row i, column j) has its centre at (x, y) = (j + 0.5, i + 0.5); cameras are OpenCV
(x right, y down, z forward); depth is planar (camera z) in metres, inf where no surface was hit.

Flow is not estimated from pixels. The surface point seen at a pixel's centre is rebuilt from the depth
pass, carried to the other frame by the exact motion of what the instance-id pass says it lies on (a spec
object's ``world_from_local`` change; the ground, decorations and sky are static in the world), and
projected with that frame's exact camera. Pixels without a surface (sky) are points at infinity: in
homogeneous coordinates (x, y, 1, 0) they move with the camera's rotation only, so a pure rotation gives
the homography flow ``K2 R K1^-1`` everywhere.

A pixel is *occluded* towards the other frame when its point is behind that camera, outside that image, or
hidden there by nearer geometry: the pixel it lands in shows another instance id at a smaller depth, or its
depth exceeds even the largest depth of the 2x2 pixel centres around the landing point (which keeps a
sloped surface, whose depth changes within a pixel, from hiding itself); "smaller"/"exceeds" with a
relative margin of ``OCCLUSION_REL_TOLERANCE``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "OCCLUSION_REL_TOLERANCE",
    "DenseFlow",
    "object_coordinates",
    "optical_flow",
    "pixel_transforms",
    "reproject",
]

# The depth pass holds one sample per pixel, anywhere inside Cycles' pixel filter (1.5 px wide), not at
# the pixel centre: 2 % covers that offset on surfaces up to ~80 degrees from facing the camera.
OCCLUSION_REL_TOLERANCE = 0.02


@dataclass(frozen=True)
class DenseFlow:
    """Forward (frame t -> t + 1) and backward (t -> t - 1) flow of every pixel of a clip, in pixels.

    ``forward_px``/``backward_px`` (F, H, W, 2) float32: (dx, dy) from the pixel centre to where its surface
    point lands in the next/previous frame; NaN on the last/first frame. ``forward_occluded``/
    ``backward_occluded`` (F, H, W) bool: the point is not seen in that frame (behind the camera, outside
    the image, or hidden by nearer geometry); True on the last/first frame.
    """

    forward_px: np.ndarray
    backward_px: np.ndarray
    forward_occluded: np.ndarray
    backward_occluded: np.ndarray


def _camera_points(depth_m: np.ndarray, intrinsics_px: np.ndarray) -> np.ndarray:
    """(H, W, 4) homogeneous camera points of the pixel centres: (z x, z y, z, 1), or (x, y, 1, 0) at inf."""
    height, width = depth_m.shape
    u, v = np.meshgrid(np.arange(width) + 0.5, np.arange(height) + 0.5)
    rays = np.stack([u, v, np.ones_like(u)], axis=-1) @ np.linalg.inv(intrinsics_px).T
    finite = np.isfinite(depth_m)
    scale = np.where(finite, depth_m, 1.0)[..., None]
    return np.concatenate([rays * scale, finite[..., None].astype(np.float64)], axis=-1)


def _object_rows(instance_ids: np.ndarray, object_ids: np.ndarray) -> np.ndarray:
    """Per pixel: 1 + the spec row of its object, 0 where it shows no spec object."""
    lookup = np.zeros(int(max(instance_ids.max(initial=0), object_ids.max(initial=0))) + 1, dtype=np.int64)
    lookup[object_ids] = np.arange(1, len(object_ids) + 1)
    return lookup[instance_ids]


def pixel_transforms(
    world_from_local: np.ndarray, frame: int, other: int, camera_from_world_cv: np.ndarray
) -> np.ndarray:
    """(N + 1, 4, 4): camera ``frame`` -> camera ``other`` point maps; index 0 static, 1 + n object row n."""
    world_from_camera = np.linalg.inv(camera_from_world_cv[frame])
    moves = np.concatenate(
        [np.eye(4)[None], world_from_local[:, other] @ np.linalg.inv(world_from_local[:, frame])], axis=0
    )
    return camera_from_world_cv[other] @ moves @ world_from_camera


def reproject(
    depth_m: np.ndarray,
    rows: np.ndarray,
    transforms: np.ndarray,
    intrinsics_px: np.ndarray,
    other_intrinsics_px: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Where each pixel's point lands in the other frame: ((H, W, 2) position px, (H, W) planar depth m).

    ``rows`` (H, W) indexes ``transforms`` (from ``pixel_transforms``). Depth is inf for points at infinity
    in front of the camera, -inf behind it; the position is NaN where the depth is not positive.
    """
    points = _camera_points(depth_m, intrinsics_px)
    moved = np.einsum("hwij,hwj->hwi", transforms[rows], points)
    z = moved[..., 2]
    at_infinity = moved[..., 3] == 0.0
    depth = np.where(at_infinity, np.where(z > 0, np.inf, -np.inf), z)
    with np.errstate(divide="ignore", invalid="ignore"):
        projected = moved[..., :3] @ other_intrinsics_px.T
        xy = projected[..., :2] / projected[..., 2:3]
    xy[~(z > 0)] = np.nan
    return xy, depth


def _occluded(
    xy: np.ndarray, depth: np.ndarray, ids: np.ndarray, other_depth_m: np.ndarray, other_ids: np.ndarray
) -> np.ndarray:
    height, width = other_depth_m.shape
    inside = (
        (depth > 0) & (xy[..., 0] >= 0) & (xy[..., 0] < width) & (xy[..., 1] >= 0) & (xy[..., 1] < height)
    )
    safe = np.where(inside[..., None], xy, 0.5)
    column = np.minimum(safe[..., 0].astype(np.int64), width - 1)
    row = np.minimum(safe[..., 1].astype(np.int64), height - 1)
    # The 2x2 pixel centres around the landing point (clamped at the border).
    left = np.clip(np.floor(safe[..., 0] - 0.5).astype(np.int64), 0, width - 1)
    top = np.clip(np.floor(safe[..., 1] - 0.5).astype(np.int64), 0, height - 1)
    right, bottom = np.minimum(left + 1, width - 1), np.minimum(top + 1, height - 1)
    farthest = np.maximum.reduce(
        [
            other_depth_m[top, left],
            other_depth_m[top, right],
            other_depth_m[bottom, left],
            other_depth_m[bottom, right],
        ]
    )
    slack = 1.0 + OCCLUSION_REL_TOLERANCE
    with np.errstate(invalid="ignore"):
        behind_all = depth > farthest * slack
        behind_other = (other_ids[row, column] != ids) & (depth > other_depth_m[row, column] * slack)
    return ~inside | behind_all | behind_other


def _flow_between(
    frame: int,
    other: int,
    depth_m: np.ndarray,
    instance_ids: np.ndarray,
    rows: np.ndarray,
    camera_from_world_cv: np.ndarray,
    intrinsics_px: np.ndarray,
    world_from_local: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    transforms = pixel_transforms(world_from_local, frame, other, camera_from_world_cv)
    xy, depth = reproject(depth_m[frame], rows, transforms, intrinsics_px[frame], intrinsics_px[other])
    height, width = depth_m.shape[1:]
    u, v = np.meshgrid(np.arange(width) + 0.5, np.arange(height) + 0.5)
    flow = xy - np.stack([u, v], axis=-1)
    return flow, _occluded(xy, depth, instance_ids[frame], depth_m[other], instance_ids[other])


def optical_flow(
    depth_m: np.ndarray,
    instance_ids: np.ndarray,
    camera_from_world_cv: np.ndarray,
    intrinsics_px: np.ndarray,
    object_ids: np.ndarray,
    world_from_local: np.ndarray,
) -> DenseFlow:
    """Forward and backward flow of a clip from its depth (F, H, W) and instance ids (F, H, W) passes.

    ``camera_from_world_cv`` (F, 4, 4), ``intrinsics_px`` (F, 3, 3), ``object_ids`` (N,) and
    ``world_from_local`` (N, F, 4, 4) are the clip's labels; instance id ``object_ids[n]`` follows object
    row n, any other id (0: ground, sky, decoration) is static in the world.
    """
    frames, height, width = depth_m.shape
    object_ids = np.asarray(object_ids, dtype=np.int64)
    forward = np.full((frames, height, width, 2), np.nan, dtype=np.float32)
    backward = np.full_like(forward, np.nan)
    forward_occluded = np.ones((frames, height, width), dtype=bool)
    backward_occluded = np.ones_like(forward_occluded)
    for frame in range(frames):
        rows = _object_rows(instance_ids[frame], object_ids)
        args = (depth_m, instance_ids, rows, camera_from_world_cv, intrinsics_px, world_from_local)
        if frame + 1 < frames:
            forward[frame], forward_occluded[frame] = _flow_between(frame, frame + 1, *args)
        if frame > 0:
            backward[frame], backward_occluded[frame] = _flow_between(frame, frame - 1, *args)
    return DenseFlow(forward, backward, forward_occluded, backward_occluded)


def object_coordinates(
    depth_m: np.ndarray,
    instance_ids: np.ndarray,
    camera_from_world_cv: np.ndarray,
    intrinsics_px: np.ndarray,
    object_ids: np.ndarray,
    world_from_local: np.ndarray,
) -> np.ndarray:
    """(F, H, W, 3) float32: each pixel's surface point in its object's local frame (``world_from_local``'s,
    a unit-size primitive spans [-0.5, 0.5]); NaN where the pixel shows no spec object."""
    frames, height, width = depth_m.shape
    object_ids = np.asarray(object_ids, dtype=np.int64)
    out = np.full((frames, height, width, 3), np.nan, dtype=np.float32)
    for frame in range(frames):
        rows = _object_rows(instance_ids[frame], object_ids)
        on_object = rows > 0
        if not on_object.any():
            continue
        local_from_camera = np.linalg.inv(world_from_local[:, frame]) @ np.linalg.inv(
            camera_from_world_cv[frame]
        )
        points = _camera_points(depth_m[frame], intrinsics_px[frame])[on_object]
        local = np.einsum("pij,pj->pi", local_from_camera[rows[on_object] - 1], points)
        out[frame][on_object] = local[:, :3]
    return out
