"""Blender meshes of procedural shapes: a copy of ``synthgen.scenes.shapes.shape_mesh``, in its order.

The geometry is built in numpy (fixed vertex and triangle order, already in unit bounds); here it only
becomes a mesh datablock. Triangles are passed as they are, so Blender never triangulates and the
triangle order the tracks sample from is the same in every process.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from synthgen.describe.spec import ProceduralShape
from synthgen.scenes.shapes import shape_mesh

# Asset file suffix -> the bpy operator importing it into the current scene (.blend is appended instead).
IMPORTERS: dict[str, Callable[[Any], Any]] = {
    ".glb": lambda bpy: bpy.ops.import_scene.gltf,
    ".gltf": lambda bpy: bpy.ops.import_scene.gltf,
    ".obj": lambda bpy: bpy.ops.wm.obj_import,
    ".usd": lambda bpy: bpy.ops.wm.usd_import,
    ".usda": lambda bpy: bpy.ops.wm.usd_import,
    ".usdc": lambda bpy: bpy.ops.wm.usd_import,
    ".usdz": lambda bpy: bpy.ops.wm.usd_import,
}


def procedural_mesh(bpy: Any, shape: ProceduralShape, name: str) -> Any:
    """A new mesh datablock of ``shape`` (unit bounds, outward normals, smooth or flat per family)."""
    geometry = shape_mesh(shape)
    vertices, triangles = geometry.vertices, geometry.triangles
    mesh = bpy.data.meshes.new(name)
    mesh.vertices.add(len(vertices))
    mesh.vertices.foreach_set("co", vertices.astype(np.float32).ravel())
    mesh.loops.add(triangles.size)
    mesh.loops.foreach_set("vertex_index", triangles.astype(np.int32).ravel())
    mesh.polygons.add(len(triangles))
    mesh.polygons.foreach_set("loop_start", np.arange(0, triangles.size, 3, dtype=np.int32))
    mesh.polygons.foreach_set("loop_total", np.full(len(triangles), 3, dtype=np.int32))
    mesh.polygons.foreach_set("use_smooth", np.full(len(triangles), geometry.smooth))
    mesh.update(calc_edges=True)
    # validate() returns True when it had to repair something: the numpy mesh is meant to need nothing.
    if mesh.validate(verbose=False):
        raise ValueError(f"shape.kind={shape.kind!r}: Blender had to repair the generated mesh")
    return mesh
