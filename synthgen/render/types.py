"""Result types of the renderer: plain numpy containers, no Blender objects."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from synthgen.describe.spec import ClipSpec
    from synthgen.labels.boxes import ObjectBoxes
    from synthgen.labels.compute import ClipLabels


@dataclass(frozen=True)
class PointTracks:
    """Points fixed on surfaces, followed through every frame of a clip.

    ``object_id`` (P,) int32: the object each point sits on (0 = the ground plane). ``local_m`` (P, 3): the
    point in its object's local frame (the unit-size primitive frame of ``world_from_local``; world
    coordinates for the ground). Per frame f and point p:

    - ``xy_px`` (F, P, 2) float64: pixel position, (0, 0) = top-left corner of the top-left pixel, pixel
      centres at +0.5; NaN where the point is behind the camera.
    - ``depth_m`` (F, P) float64: planar depth (OpenCV camera z); ``world_m`` (F, P, 3) float64.
    - ``in_frame``: in front of the camera and inside the image; ``behind_camera``: depth_m <= 0.
    - ``occluded``: a ray from the camera centre to the point hits other geometry first (BVH ray cast
      against Blender's evaluated geometry of that frame); False where behind the camera.
    - ``raycast_depth_m`` (F, P) float32: planar depth of the first surface on that ray (inf: none).
    - ``buffer_depth_m`` (F, P) float32: the rendered depth pass at the pixel holding ``xy_px`` (NaN where
      not in frame). Compare with ``depth_m`` for an independent, pixel-quantised occlusion test.
    """

    object_id: np.ndarray
    local_m: np.ndarray
    xy_px: np.ndarray
    depth_m: np.ndarray
    world_m: np.ndarray
    in_frame: np.ndarray
    behind_camera: np.ndarray
    occluded: np.ndarray
    raycast_depth_m: np.ndarray
    buffer_depth_m: np.ndarray

    @property
    def visible(self) -> np.ndarray:
        """(F, P) bool: in frame and not occluded."""
        return self.in_frame & ~self.occluded

    @property
    def num_points(self) -> int:
        """P, the number of tracked points."""
        return int(self.object_id.shape[0])


@dataclass(frozen=True)
class RenderedClip:
    """One rendered clip and everything measured while rendering it.

    ``frames_rgb`` uint8 (F, H, W, 3): sRGB (Blender's "Standard" view transform, no dither).
    ``depth_m`` float32 (F, H, W): planar depth (camera z) in metres, inf where no surface is hit.
    ``instance_ids`` uint16 (F, H, W): 0 = background (ground, sky, decoration), else the ``object_id``.
    ``max_pose_error``: largest relative difference between a label matrix and Blender's evaluated
    ``matrix_world`` over all objects, the camera and all frames (NaN when the check was skipped).
    ``timings_s``: seconds per stage (``build``, ``keyframes``, ``pose_check``, ``render``, ``readback``,
    ``tracks``, ``total``).
    ``boxes``: 2D and 3D boxes of every spec object on every frame (``synthgen.labels.boxes``).
    ``normals_world`` float32 (F, H, W, 3): Blender's world-space normal pass, unit length, NaN where no
    surface was hit; only when ``spec.render.dense_labels``.
    """

    spec: ClipSpec
    labels: ClipLabels
    frames_rgb: np.ndarray
    depth_m: np.ndarray
    instance_ids: np.ndarray
    tracks: PointTracks | None
    max_pose_error: float
    timings_s: dict[str, float] = field(default_factory=dict)
    boxes: ObjectBoxes | None = None
    normals_world: np.ndarray | None = None
