"""Blender rendering driven by exact labels. The only package that imports ``bpy`` (lazily, in functions).

``render_clip(spec, labels=None)`` builds the clip's scene, keys it from the labels, checks Blender's
evaluated poses against them, renders and reads back RGB, planar depth, instance ids and point tracks.
``RenderWorker`` renders many clips in a child process that is replaced every ``recycle_after`` clips.
"""

from synthgen.render.clip import render_clip
from synthgen.render.types import PointTracks, RenderedClip
from synthgen.render.worker import RenderWorker

__all__ = ["PointTracks", "RenderWorker", "RenderedClip", "render_clip"]
