"""Procedural shapes in Blender: every family renders, keeps the numpy geometry and order, obeys its labels."""

from __future__ import annotations

import numpy as np
import pytest

from synthgen.describe.spec import CameraSpec, CirclePath, ClipSpec, ObjectSpec
from synthgen.render import PointTracks, RenderedClip, render_clip
from synthgen.render.animate import POSE_TOLERANCE
from synthgen.scenes.shapes import FAMILIES, sample_shape, shape_mesh
from tests.conftest import clip_settings, render_spec

pytestmark = pytest.mark.blender


def _family_spec() -> ClipSpec:
    """One moving object of each family on a 3 x 2 grid, resting on the ground, 64x64, 9 frames, 2 spp."""
    rng = np.random.default_rng(3)
    objects = []
    for index, family in enumerate(FAMILIES):
        shape = sample_shape(rng, family)
        x, y = (index % 3 - 1) * 1.3, (index // 3) * 1.3 - 0.6
        height = 0.5 * float(shape_mesh(shape).extent[2])
        objects.append(
            ObjectSpec(
                object_id=index + 1,
                name=family,
                primitive="procedural",
                shape=shape,
                size_m=1.0,
                path=CirclePath(center_m=(x, y, height), radius_m=0.2),
            )
        )
    return ClipSpec(
        dataset_seed=0,
        clip_index=0,
        scene="tracked_objects",
        clip=clip_settings(width=64, height=64, num_frames=9, fps=24.0),
        camera=CameraSpec(position_m=(0.0, -6.0, 3.0), look_at_m=(0.0, 0.0, 0.4)),
        objects=tuple(objects),
        render=render_spec(samples=2, tracks_per_object=16, background_tracks=8),
    )


@pytest.fixture(scope="module")
def family_clip() -> RenderedClip:
    return render_clip(_family_spec())


def test_every_family_appears_and_obeys_its_label_poses(family_clip: RenderedClip) -> None:
    assert family_clip.max_pose_error <= POSE_TOLERANCE
    assert set(np.unique(family_clip.instance_ids)) == set(range(len(FAMILIES) + 1))


def test_blender_meshes_keep_the_numpy_vertices_and_triangles_in_order(family_clip: RenderedClip) -> None:
    import bpy

    for obj in family_clip.spec.objects:
        assert obj.shape is not None
        expected = shape_mesh(obj.shape)
        mesh = bpy.data.objects[obj.name].data
        coords = np.empty(len(mesh.vertices) * 3, dtype=np.float32)
        mesh.vertices.foreach_get("co", coords)
        assert np.array_equal(coords.reshape(-1, 3), expected.vertices.astype(np.float32)), obj.name
        mesh.calc_loop_triangles()
        triangles = np.empty(len(mesh.loop_triangles) * 3, dtype=np.int32)
        mesh.loop_triangles.foreach_get("vertices", triangles)
        assert np.array_equal(triangles.reshape(-1, 3), expected.triangles), obj.name


def test_tracks_on_each_family_land_on_their_object_where_visible(family_clip: RenderedClip) -> None:
    tracks = family_clip.tracks
    assert isinstance(tracks, PointTracks)
    frames, points = np.nonzero(tracks.visible)
    xy = tracks.xy_px[frames, points]
    col, row = xy[:, 0].astype(int), xy[:, 1].astype(int)
    padded = np.pad(family_clip.instance_ids, ((0, 0), (1, 1), (1, 1)), mode="edge")
    window = np.stack([padded[frames, row + dy, col + dx] for dy in range(3) for dx in range(3)], -1)
    interior = np.all(window == window[:, :1], axis=-1)
    hit = family_clip.instance_ids[frames[interior], row[interior], col[interior]]
    owner = tracks.object_id[points[interior]]
    on_objects = owner > 0
    assert on_objects.sum() >= 30
    assert np.array_equal(hit[on_objects], owner[on_objects])
