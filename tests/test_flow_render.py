"""Flow, boxes, normals and object coordinates of a real Blender render agree with its tracked points."""

from __future__ import annotations

import numpy as np
import pytest

from synthgen.describe.spec import (
    AxisMove,
    CameraSpec,
    CirclePath,
    ClipSpec,
    ObjectSpec,
    OrbitMove,
    StaticPath,
)
from synthgen.labels.flow import DenseFlow, object_coordinates, optical_flow
from synthgen.render import RenderedClip, render_clip
from tests.conftest import clip_settings, render_spec

pytestmark = pytest.mark.blender

SCENE = (
    ObjectSpec(
        object_id=1,
        name="ball",
        primitive="sphere",
        size_m=1.2,
        path=CirclePath(center_m=(0.0, 0.0, 0.6), radius_m=0.8),
    ),
    ObjectSpec(
        object_id=2, name="crate", primitive="cube", size_m=0.9, path=StaticPath(position_m=(1.4, 0.8, 0.45))
    ),
)


@pytest.fixture(scope="module")
def clip() -> RenderedClip:
    spec = ClipSpec(
        dataset_seed=0,
        clip_index=0,
        scene="tracked_objects",
        clip=clip_settings(width=64, height=64, num_frames=9, fps=24.0),
        camera=CameraSpec(
            position_m=(0.0, -5.0, 2.0),
            look_at_m=(0.0, 0.0, 0.5),
            moves=(OrbitMove(amount=20.0), AxisMove(kind="dolly", amount=0.5)),
        ),
        objects=SCENE,
        render=render_spec(samples=1, tracks_per_object=64, background_tracks=64, dense_labels=True),
    )
    return render_clip(spec)


def _flow(clip: RenderedClip) -> DenseFlow:
    cam, objects = clip.labels.camera, clip.labels.objects
    return optical_flow(
        clip.depth_m, clip.instance_ids, cam.camera_from_world_cv, cam.intrinsics_px, objects.object_ids,
        objects.world_from_local,
    )  # fmt: skip


def test_flow_carries_tracked_points_to_their_next_position(clip: RenderedClip) -> None:
    tracks = clip.tracks
    assert tracks is not None
    flow = _flow(clip)
    errors, flagged = [], []
    for frame in range(clip.spec.clip.num_frames - 1):
        seen = tracks.visible[frame] & tracks.visible[frame + 1]
        xy = tracks.xy_px[frame, seen]
        column, row = np.floor(xy).astype(int).T
        # Points near a silhouette may sit in a pixel showing another surface: compare like with like.
        same = clip.instance_ids[frame, row, column] == tracks.object_id[seen]
        # Flow is defined at the pixel centre; the point sits up to 0.71 px away from it.
        moved = tracks.xy_px[frame + 1, seen] - xy
        errors.append(np.linalg.norm(flow.forward_px[frame, row, column] - moved, axis=-1)[same])
        flagged.append(flow.forward_occluded[frame, row, column][same])
    error = np.concatenate(errors)
    assert error.size > 200
    assert np.median(error) < 0.05 and np.percentile(error, 95) < 0.25
    # Points the ray caster saw in both frames are almost never flagged occluded by the depth test.
    assert np.concatenate(flagged).mean() < 0.02


def test_flow_flags_tracked_points_that_become_hidden(clip: RenderedClip) -> None:
    tracks = clip.tracks
    assert tracks is not None
    flow = _flow(clip)
    hidden = []
    for frame in range(clip.spec.clip.num_frames - 1):
        going = tracks.visible[frame] & tracks.in_frame[frame + 1] & tracks.occluded[frame + 1]
        column, row = np.floor(tracks.xy_px[frame, going]).astype(int).T
        hidden.append(flow.forward_occluded[frame, row, column])
    flags = np.concatenate(hidden)
    assert flags.size > 10  # the moving ball and the orbiting camera hide some tracked points
    # Misses are points hidden right at an occluder's edge, where the pixel centre's ray still passes.
    assert flags.mean() > 0.5


def test_object_coordinates_match_the_tracked_local_points(clip: RenderedClip) -> None:
    tracks = clip.tracks
    assert tracks is not None
    cam, objects = clip.labels.camera, clip.labels.objects
    local = object_coordinates(
        clip.depth_m, clip.instance_ids, cam.camera_from_world_cv, cam.intrinsics_px, objects.object_ids,
        objects.world_from_local,
    )  # fmt: skip
    on_object = tracks.visible[0] & (tracks.object_id > 0)
    column, row = np.floor(tracks.xy_px[0, on_object]).astype(int).T
    same = clip.instance_ids[0, row, column] == tracks.object_id[on_object]
    error = np.linalg.norm(local[0, row, column][same] - tracks.local_m[on_object][same], axis=-1)
    assert same.sum() > 20
    # Neighbouring surface points of a unit primitive in a 64 px view: within a pixel's footprint.
    assert np.median(error) < 0.1


def test_normals_are_unit_and_face_the_camera(clip: RenderedClip) -> None:
    normals = clip.normals_world
    assert normals is not None and normals.shape == (*clip.depth_m.shape, 3) and normals.dtype == np.float32
    surface = np.isfinite(clip.depth_m)
    np.testing.assert_allclose(np.linalg.norm(normals[surface], axis=-1), 1.0, atol=1e-4)
    assert np.isnan(normals[~surface]).all()
    # The ground faces up wherever no object is drawn.
    ground = surface & (clip.instance_ids == 0)
    assert np.median(normals[ground][:, 2]) > 0.999


def test_boxes_hold_the_objects_pixels_and_tracked_points(clip: RenderedClip) -> None:
    boxes = clip.boxes
    assert boxes is not None
    frames = clip.spec.clip.num_frames
    assert boxes.corners_world_m.shape == (2, frames, 8, 3)
    # Unit-size primitives span [-0.5, 0.5] locally (a UV sphere's vertices touch its poles and equator).
    np.testing.assert_allclose(boxes.bounds_local_m[:, 0], -0.5, atol=1e-3)
    np.testing.assert_allclose(boxes.bounds_local_m[:, 1], 0.5, atol=1e-3)
    visible, projected = boxes.visible_xyxy_px, boxes.projected_xyxy_px
    shown = np.isfinite(visible).all(axis=-1)
    assert shown.any()
    # The amodal box of the vertices contains the visible pixels (up to the pixel they straddle).
    assert np.all(projected[shown][:, :2] <= visible[shown][:, :2] + 1.0)
    assert np.all(projected[shown][:, 2:] >= visible[shown][:, 2:] - 1.0)
    tracks = clip.tracks
    assert tracks is not None
    for row, object_id in enumerate(clip.labels.objects.object_ids):
        points = tracks.xy_px[:, tracks.object_id == object_id]
        assert np.all(points >= projected[row, :, None, :2] - 1e-6)
        assert np.all(points <= projected[row, :, None, 2:] + 1e-6)
