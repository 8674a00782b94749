"""Point tracks: surface points followed exactly through a clip, with ray-cast occlusion.

Object points are sampled on the object's own mesh in its local (unit-size) frame, so their world position
at frame f is exactly ``world_from_local[f] @ p`` from the labels. Background points are where rays through
random pixels of frame 0 first hit the ground or a static (``dynamic=False``) object. Occlusion is a BVH ray
cast from the camera centre against Blender's evaluated geometry of each frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from synthgen.labels.geometry import project_points, unproject_points
from synthgen.render.types import PointTracks

TRACK_STREAM = 7
# A ray that stops this much short of the point has hit something else first; the slack absorbs Blender's
# float32 vertex storage (~1e-7 relative) with a wide margin while staying far below any real gap.
OCCLUSION_ABS_TOLERANCE_M = 1e-5
OCCLUSION_REL_TOLERANCE = 1e-4
BACKGROUND_ATTEMPTS_PER_POINT = 8


def track_rng(dataset_seed: int, clip_index: int) -> np.random.Generator:
    """The generator of a clip's track points: independent of the clip's scene/motion stream."""
    return np.random.default_rng([dataset_seed, clip_index, TRACK_STREAM])


@dataclass(frozen=True)
class LocalMesh:
    """Triangles of one mesh in its object's local frame: ``vertices`` (V, 3) float64, ``triangles`` (T, 3)."""

    vertices: np.ndarray
    triangles: np.ndarray

    def triangle_areas(self) -> np.ndarray:
        """(T,) triangle areas in local units squared."""
        a, b, c = (self.vertices[self.triangles[:, k]] for k in range(3))
        return 0.5 * np.linalg.norm(np.cross(b - a, c - a), axis=-1)


def read_local_mesh(mesh: Any) -> LocalMesh:
    """Vertices and triangulated faces of a bpy mesh (evaluated or original), local coordinates."""
    mesh.calc_loop_triangles()
    vertices = np.empty(len(mesh.vertices) * 3, dtype=np.float32)
    mesh.vertices.foreach_get("co", vertices)
    triangles = np.empty(len(mesh.loop_triangles) * 3, dtype=np.int32).reshape(-1, 3)
    mesh.loop_triangles.foreach_get("vertices", triangles.reshape(-1))
    # Blender's loop-triangle order can differ between processes (seen on the UV sphere) although the set
    # of triangles is the same; a canonical order keeps seeded surface sampling identical across runs.
    canonical = np.sort(triangles, axis=1)
    order = np.lexsort(canonical.T[::-1])
    return LocalMesh(vertices.reshape(-1, 3).astype(np.float64), triangles[order])


def sample_surface_points(mesh: LocalMesh, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` points (count, 3) uniform by area on the mesh surface (triangle by area, uniform barycentric)."""
    if count == 0 or len(mesh.triangles) == 0:
        return np.zeros((0, 3), dtype=np.float64)
    areas = mesh.triangle_areas()
    triangle = rng.choice(len(areas), size=count, p=areas / areas.sum())
    u, v = rng.random(count), rng.random(count)
    # Folding the unit square onto the triangle keeps the density uniform.
    flip = u + v > 1.0
    u, v = np.where(flip, 1.0 - u, u), np.where(flip, 1.0 - v, v)
    a, b, c = (mesh.vertices[mesh.triangles[triangle, k]] for k in range(3))
    return a + u[:, None] * (b - a) + v[:, None] * (c - a)


class WorldGeometry:
    """All render-visible triangles of one frame in world space, with the owner of each triangle."""

    def __init__(self, meshes: list[LocalMesh], matrices: list[np.ndarray], owners: list[int]) -> None:
        from mathutils.bvhtree import BVHTree

        verts, tris, tri_owner = [], [], []
        offset = 0
        for mesh, matrix, owner in zip(meshes, matrices, owners):
            world = mesh.vertices @ matrix[:3, :3].T + matrix[:3, 3]
            verts.append(world)
            tris.append(mesh.triangles + offset)
            tri_owner.append(np.full(len(mesh.triangles), owner, dtype=np.int64))
            offset += len(world)
        all_verts = np.concatenate(verts) if verts else np.zeros((0, 3))
        all_tris = np.concatenate(tris) if tris else np.zeros((0, 3), dtype=np.int32)
        self.triangle_owner = np.concatenate(tri_owner) if tri_owner else np.zeros(0, dtype=np.int64)
        self.tree = BVHTree.FromPolygons(
            all_verts.tolist(), all_tris.tolist(), all_triangles=True, epsilon=0.0
        )

    def first_hit(
        self, origin: np.ndarray, direction: np.ndarray, max_distance: float
    ) -> tuple[np.ndarray, int, float] | None:
        """(world point, owner, distance) of the first triangle hit along a unit ray, or None."""
        location, _normal, index, distance = self.tree.ray_cast(
            origin.tolist(), direction.tolist(), max_distance
        )
        if location is None:
            return None
        return np.array(location, dtype=np.float64), int(self.triangle_owner[index]), float(distance)


@dataclass
class TrackPoints:
    """Points to track: owner object id (0 = ground) and the position in the owner's local frame."""

    object_id: np.ndarray
    local_m: np.ndarray
    # Row of the owner in spec.objects (-1 = ground, whose local frame is the world).
    owner_index: np.ndarray

    def world_positions(self, world_from_local: np.ndarray, frames: int) -> np.ndarray:
        """(F, P, 3) world positions from the labels' ``world_from_local`` (N, F, 4, 4)."""
        count = len(self.object_id)
        world = np.broadcast_to(self.local_m, (frames, count, 3)).copy()
        for row in np.unique(self.owner_index[self.owner_index >= 0]):
            mask = self.owner_index == row
            pose = world_from_local[row]
            world[:, mask] = (
                np.einsum("fij,pj->fpi", pose[:, :3, :3], self.local_m[mask]) + pose[:, None, :3, 3]
            )
        return world


def sample_object_points(
    meshes: list[LocalMesh], object_ids: list[int], rows: list[int], per_object: int, rng: np.random.Generator
) -> TrackPoints:
    """``per_object`` surface points on each listed object (local frames)."""
    ids, local, owner = [], [], []
    for mesh, object_id, row in zip(meshes, object_ids, rows):
        points = sample_surface_points(mesh, per_object, rng)
        ids.append(np.full(len(points), object_id, dtype=np.int32))
        local.append(points)
        owner.append(np.full(len(points), row, dtype=np.int64))
    return _concat_points(ids, local, owner)


def sample_background_points(
    geometry: WorldGeometry,
    count: int,
    rng: np.random.Generator,
    camera_from_world_cv: np.ndarray,
    intrinsics_px: np.ndarray,
    width: int,
    height: int,
    owner_rows: dict[int, tuple[int, np.ndarray]],
) -> TrackPoints:
    """Points where rays through random pixels of frame 0 first hit the ground or a static object.

    ``owner_rows`` maps a geometry owner code to (object_id, world_from_local at frame 0) for every
    allowed owner (ground: object_id 0, identity pose); hits on anything else are redrawn, up to
    ``BACKGROUND_ATTEMPTS_PER_POINT`` rays per point, so fewer points come back when little is visible.
    """
    ids: list[np.ndarray] = []
    local: list[np.ndarray] = []
    owner: list[np.ndarray] = []
    if count == 0:
        return _concat_points(ids, local, owner)
    camera_to_world = np.linalg.inv(camera_from_world_cv)
    origin = camera_to_world[:3, 3]
    attempts = count * BACKGROUND_ATTEMPTS_PER_POINT
    pixels = rng.random((attempts, 2)) * np.array([width, height], dtype=np.float64)
    targets = unproject_points(pixels[None], np.ones((1, attempts)), intrinsics_px, camera_from_world_cv)[0]
    found = 0
    for target in targets:
        direction = target - origin
        direction /= np.linalg.norm(direction)
        hit = geometry.first_hit(origin, direction, 1e9)
        if hit is None or hit[1] not in owner_rows:
            continue
        object_id, pose = owner_rows[hit[1]]
        point_local = np.linalg.solve(pose, np.append(hit[0], 1.0))[:3]
        ids.append(np.array([object_id], dtype=np.int32))
        local.append(point_local[None])
        owner.append(np.array([hit[1]], dtype=np.int64))
        found += 1
        if found == count:
            break
    return _concat_points(ids, local, owner)


def _concat_points(ids: list[np.ndarray], local: list[np.ndarray], owner: list[np.ndarray]) -> TrackPoints:
    if not ids:
        return TrackPoints(np.zeros(0, np.int32), np.zeros((0, 3)), np.zeros(0, np.int64))
    return TrackPoints(np.concatenate(ids), np.concatenate(local), np.concatenate(owner))


def merge_points(first: TrackPoints, second: TrackPoints) -> TrackPoints:
    """Object points then background points, in that order."""
    return _concat_points(
        [first.object_id, second.object_id],
        [first.local_m, second.local_m],
        [first.owner_index, second.owner_index],
    )


class OcclusionCaster:
    """Collects per-frame ray-cast results while the frames are evaluated one by one."""

    def __init__(
        self, world_m: np.ndarray, camera_to_world_blender: np.ndarray, camera_from_world_cv: np.ndarray
    ) -> None:
        self.world_m = world_m
        self.origins = camera_to_world_blender[:, :3, 3]
        self.camera_from_world_cv = camera_from_world_cv
        frames, count = world_m.shape[:2]
        self.occluded = np.zeros((frames, count), dtype=bool)
        self.raycast_depth_m = np.full((frames, count), np.inf, dtype=np.float32)

    def cast_frame(self, frame: int, geometry: WorldGeometry, behind_camera: np.ndarray) -> None:
        """Ray-cast every point in front of the camera at ``frame`` against ``geometry``."""
        origin = self.origins[frame]
        pose = self.camera_from_world_cv[frame]
        for point in np.flatnonzero(~behind_camera):
            target = self.world_m[frame, point]
            offset = target - origin
            distance = float(np.linalg.norm(offset))
            if distance == 0.0:
                continue
            slack = OCCLUSION_ABS_TOLERANCE_M + OCCLUSION_REL_TOLERANCE * distance
            hit = geometry.first_hit(origin, offset / distance, distance + 2.0 * slack)
            if hit is None:
                continue
            location, _owner, hit_distance = hit
            self.occluded[frame, point] = hit_distance < distance - slack
            self.raycast_depth_m[frame, point] = float(pose[2, :3] @ location + pose[2, 3])


def finish_tracks(
    points: TrackPoints,
    world_m: np.ndarray,
    camera_from_world_cv: np.ndarray,
    intrinsics_px: np.ndarray,
    width: int,
    height: int,
    caster: OcclusionCaster,
    depth_buffer_m: np.ndarray,
) -> PointTracks:
    """Assemble ``PointTracks``: projection, flags and the depth buffer sampled at each in-frame point."""
    projected = project_points(world_m, camera_from_world_cv, intrinsics_px, width, height)
    frames, count = world_m.shape[:2]
    buffer_depth = np.full((frames, count), np.nan, dtype=np.float32)
    frame_idx, point_idx = np.nonzero(projected.in_frame)
    xy = projected.xy_px[frame_idx, point_idx]
    col = np.clip(np.floor(xy[:, 0]).astype(np.int64), 0, width - 1)
    row = np.clip(np.floor(xy[:, 1]).astype(np.int64), 0, height - 1)
    buffer_depth[frame_idx, point_idx] = depth_buffer_m[frame_idx, row, col]
    occluded = caster.occluded & ~projected.behind_camera
    return PointTracks(
        object_id=points.object_id.astype(np.int32),
        local_m=points.local_m,
        xy_px=projected.xy_px,
        depth_m=projected.depth_m,
        world_m=world_m,
        in_frame=projected.in_frame,
        behind_camera=projected.behind_camera,
        occluded=occluded,
        raycast_depth_m=caster.raycast_depth_m,
        buffer_depth_m=buffer_depth,
    )
