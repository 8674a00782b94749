"""2D and 3D bounding boxes of every object on every frame, from mesh vertices, poses and the camera.

Conventions: boxes in pixels are (x_min, y_min, x_max, y_max) with (0, 0) the top-left corner of the
top-left pixel (docs/conventions.md); 3D boxes are the object's local axis-aligned bounds placed by its
``world_from_local`` pose, so they are oriented boxes in the world. Corner k of a box takes, per axis a
in (x, y, z), the maximum where bit a of k is set and the minimum otherwise (k = 0: all minima, 7: all
maxima).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "ObjectBoxes",
    "box_corners",
    "local_bounds",
    "object_boxes",
    "projected_boxes",
    "visible_boxes",
]


@dataclass(frozen=True)
class ObjectBoxes:
    """Boxes of N objects (spec order) over F frames, float64.

    ``bounds_local_m`` (N, 2, 3): min and max corner of the mesh in its local frame.
    ``corners_world_m`` (N, F, 8, 3): the oriented 3D box in the world (corner order in the module doc).
    ``projected_xyxy_px`` (N, F, 4): tight box of the projected mesh vertices (amodal: occluded parts and
    parts outside the image count); NaN where any vertex is at or behind the camera plane.
    ``visible_xyxy_px`` (N, F, 4): tight box of the object's pixels in the instance-id pass (pixel edges,
    so a single pixel (i, j) gives (j, i, j + 1, i + 1)); NaN where no pixel shows the object.
    """

    bounds_local_m: np.ndarray
    corners_world_m: np.ndarray
    projected_xyxy_px: np.ndarray
    visible_xyxy_px: np.ndarray


def local_bounds(vertices_local_m: list[np.ndarray]) -> np.ndarray:
    """(N, 2, 3) min and max of each object's (V, 3) local vertices (zeros for a mesh without vertices)."""
    bounds = np.zeros((len(vertices_local_m), 2, 3))
    for row, vertices in enumerate(vertices_local_m):
        if len(vertices):
            bounds[row] = np.min(vertices, axis=0), np.max(vertices, axis=0)
    return bounds


def box_corners(bounds_local_m: np.ndarray, world_from_local: np.ndarray) -> np.ndarray:
    """(N, F, 8, 3) world corners of the local ``bounds_local_m`` (N, 2, 3) under poses (N, F, 4, 4)."""
    bits = (np.arange(8)[:, None] >> np.arange(3)[None, :]) & 1
    corners = np.where(bits[None] == 1, bounds_local_m[:, None, 1], bounds_local_m[:, None, 0])
    return (
        np.einsum("nfij,nkj->nfki", world_from_local[..., :3, :3], corners)
        + world_from_local[:, :, None, :3, 3]
    )


def projected_boxes(
    vertices_local_m: list[np.ndarray],
    world_from_local: np.ndarray,
    camera_from_world_cv: np.ndarray,
    intrinsics_px: np.ndarray,
) -> np.ndarray:
    """(N, F, 4) tight (x_min, y_min, x_max, y_max) of each object's projected vertices on every frame."""
    count, frames = world_from_local.shape[:2]
    boxes = np.full((count, frames, 4), np.nan)
    for row, vertices in enumerate(vertices_local_m):
        if not len(vertices):
            continue
        homogeneous = np.concatenate([vertices, np.ones((len(vertices), 1))], axis=1)
        camera = np.einsum("fij,fjk,vk->fvi", camera_from_world_cv[:, :3], world_from_local[row], homogeneous)
        in_front = np.all(camera[..., 2] > 0, axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            pixel = np.einsum("fij,fvj->fvi", intrinsics_px, camera)
            xy = pixel[..., :2] / pixel[..., 2:3]
        boxes[row, in_front, :2] = xy[in_front].min(axis=1)
        boxes[row, in_front, 2:] = xy[in_front].max(axis=1)
    return boxes


def visible_boxes(instance_ids: np.ndarray, object_ids: np.ndarray) -> np.ndarray:
    """(N, F, 4) pixel-edge box of each object's pixels in ``instance_ids`` (F, H, W); NaN where absent."""
    frames = instance_ids.shape[0]
    boxes = np.full((len(object_ids), frames, 4), np.nan)
    for row, object_id in enumerate(np.asarray(object_ids)):
        mask = instance_ids == object_id
        columns, lines = mask.any(axis=1), mask.any(axis=2)
        present = lines.any(axis=1)
        for frame in np.flatnonzero(present):
            xs, ys = np.flatnonzero(columns[frame]), np.flatnonzero(lines[frame])
            boxes[row, frame] = xs[0], ys[0], xs[-1] + 1, ys[-1] + 1
    return boxes


def object_boxes(
    vertices_local_m: list[np.ndarray],
    world_from_local: np.ndarray,
    camera_from_world_cv: np.ndarray,
    intrinsics_px: np.ndarray,
    instance_ids: np.ndarray,
    object_ids: np.ndarray,
) -> ObjectBoxes:
    """All boxes of a clip: vertices per object (spec order), poses (N, F, 4, 4), camera, id pass."""
    bounds = local_bounds(vertices_local_m)
    return ObjectBoxes(
        bounds_local_m=bounds,
        corners_world_m=box_corners(bounds, world_from_local),
        projected_xyxy_px=projected_boxes(
            vertices_local_m, world_from_local, camera_from_world_cv, intrinsics_px
        ),
        visible_xyxy_px=visible_boxes(instance_ids, object_ids),
    )
