"""Procedural shapes: sampled parameters, exact closed meshes in a fixed order, recipe sampling (no Blender)."""

from __future__ import annotations

import hashlib
import math
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from synthgen.describe.sampling import sample_clip
from synthgen.describe.spec import ExtrusionShape, FurnitureShape, ObjectSpec, VesselShape
from synthgen.errors import ConfigError
from synthgen.scenes import SceneContext
from synthgen.scenes.shapes import FAMILIES, _ear_clip, sample_shape, shape_mesh
from synthgen.scenes.tracked_objects import sample as sample_tracked_objects
from tests.conftest import clip_settings, tiny_config


def _edge_counts(triangles: np.ndarray) -> dict[tuple[int, int], int]:
    counts: dict[tuple[int, int], int] = {}
    for a, b, c in triangles.tolist():
        for edge in ((a, b), (b, c), (c, a)):
            counts[edge] = counts.get(edge, 0) + 1
    return counts


def _signed_volume(vertices: np.ndarray, triangles: np.ndarray) -> float:
    a, b, c = (vertices[triangles[:, k]] for k in range(3))
    return float(np.einsum("ij,ij->i", a, np.cross(b, c)).sum() / 6.0)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("seed", range(5))
def test_every_family_is_a_closed_outward_mesh_in_unit_bounds(family: str, seed: int) -> None:
    mesh = shape_mesh(sample_shape(np.random.default_rng(seed), family))
    edges = _edge_counts(mesh.triangles)
    # Closed and consistently wound: every directed edge is matched by exactly one edge the other way.
    assert all(edges.get((b, a), 0) == count == 1 for (a, b), count in edges.items())
    assert _signed_volume(mesh.vertices, mesh.triangles) > 0.0
    assert mesh.extent.max() == pytest.approx(1.0, abs=1e-12)
    centre = (mesh.vertices.max(axis=0) + mesh.vertices.min(axis=0)) / 2.0
    assert np.allclose(centre, 0.0, atol=1e-12)


@pytest.mark.parametrize("family", FAMILIES)
def test_same_seed_gives_the_same_parameters_and_different_seeds_differ(family: str) -> None:
    first = sample_shape(np.random.default_rng(7), family)
    assert sample_shape(np.random.default_rng(7), family) == first
    others = {sample_shape(np.random.default_rng(seed), family).model_dump_json() for seed in range(8)}
    assert len(others) > 1


def _mesh_digest_script() -> str:
    return (
        "import hashlib, numpy as np\n"
        "from synthgen.scenes.shapes import FAMILIES, sample_shape, shape_mesh\n"
        "h = hashlib.sha256()\n"
        "for family in FAMILIES:\n"
        "    m = shape_mesh(sample_shape(np.random.default_rng(11), family))\n"
        "    h.update(m.vertices.tobytes()); h.update(m.triangles.tobytes())\n"
        "print(h.hexdigest())\n"
    )


def test_meshes_are_bit_identical_across_processes() -> None:
    digests = {
        subprocess.run(
            [sys.executable, "-c", _mesh_digest_script()], capture_output=True, text=True, check=True
        ).stdout.strip()
        for _ in range(2)
    }
    here = hashlib.sha256()
    for family in FAMILIES:
        mesh = shape_mesh(sample_shape(np.random.default_rng(11), family))
        here.update(mesh.vertices.tobytes())
        here.update(mesh.triangles.tobytes())
    assert digests == {here.hexdigest()}


@given(
    count=st.integers(3, 24),
    radii=st.lists(st.floats(0.2, 1.0), min_size=24, max_size=24),
)
def test_ear_clipping_covers_a_star_shaped_polygon_exactly(count: int, radii: list[float]) -> None:
    angles = np.arange(count) * (2.0 * math.pi / count)
    points = np.stack(
        [np.asarray(radii[:count]) * np.cos(angles), np.asarray(radii[:count]) * np.sin(angles)], -1
    )
    triangles = _ear_clip(points)
    assert triangles.shape == (count - 2, 3)
    a, b, c = (points[triangles[:, k]] for k in range(3))
    areas = 0.5 * ((b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0]))
    polygon = 0.5 * np.sum(
        points[:, 0] * np.roll(points[:, 1], -1) - np.roll(points[:, 0], -1) * points[:, 1]
    )
    assert np.all(areas > 0.0)
    assert areas.sum() == pytest.approx(polygon, rel=1e-9)


def test_crossing_outline_is_refused_naming_the_rule() -> None:
    with pytest.raises(ValueError, match="must not cross"):
        ExtrusionShape(outline_xy=((0, 0), (4, 0), (4, 4), (2, -1), (0, 4)), depth_ratio=0.3)


def test_clockwise_outline_is_refused() -> None:
    with pytest.raises(ValueError, match="counter-clockwise"):
        ExtrusionShape(outline_xy=((0, 0), (0, 1), (1, 0)), depth_ratio=0.3)


def test_table_with_a_back_and_chair_without_are_refused() -> None:
    common = {"width_ratio": 1.0, "height_ratio": 0.8, "leg_fraction": 0.1, "top_fraction": 0.1}
    with pytest.raises(ValueError, match="back_ratio"):
        FurnitureShape(kind="table", back_ratio=0.5, **common)
    with pytest.raises(ValueError, match="back_ratio"):
        FurnitureShape(kind="chair", back_ratio=0.0, **common)


def test_procedural_primitive_and_shape_come_together() -> None:
    vessel = VesselShape(profile_radii=(0.5, 1.0, 0.4), height_ratio=1.0)
    with pytest.raises(ValueError, match="primitive='procedural'"):
        ObjectSpec(object_id=1, name="a", primitive="procedural")
    with pytest.raises(ValueError, match="primitive='procedural'"):
        ObjectSpec(object_id=1, name="a", primitive="sphere", shape=vessel)
    obj = ObjectSpec(object_id=1, name="a", primitive="procedural", shape=vessel)
    assert ObjectSpec.model_validate_json(obj.model_dump_json()) == obj


def _context(primitives: object) -> SceneContext:
    return SceneContext(clip=clip_settings(), params={"primitives": primitives, "num_objects": [8, 8]})


def test_weights_draw_only_the_weighted_families() -> None:
    rng = np.random.default_rng(0)
    scene = sample_tracked_objects(rng, _context({"rock": 3.0, "vessel": 1.0, "sphere": 0.0}))
    kinds = {obj.shape.kind for obj in scene.objects if obj.shape is not None}
    assert kinds <= {"rock", "vessel"} and all(obj.primitive == "procedural" for obj in scene.objects)


@pytest.mark.parametrize(
    "bad", [["sphere", "teapot"], {"rock": -1.0}, {"rock": 0.0}, "rock", ["rock", "rock"]]
)
def test_bad_shape_lists_are_config_errors_naming_the_param(bad: object) -> None:
    with pytest.raises(ConfigError, match=r"scene\.params\.primitives="):
        sample_tracked_objects(np.random.default_rng(0), _context(bad))


def test_procedural_objects_rest_on_the_ground() -> None:
    scene = sample_tracked_objects(np.random.default_rng(1), _context(list(FAMILIES)))
    for obj in scene.objects:
        assert obj.shape is not None
        bottom = obj.path.position_m[2] + obj.size_m * float(shape_mesh(obj.shape).vertices[:, 2].min())  # type: ignore[union-attr]
        assert bottom == pytest.approx(0.0, abs=1e-12)


def test_default_tracked_objects_config_samples_procedural_shapes_into_the_spec() -> None:
    cfg = tiny_config(dataset={"name": "tiny", "seed": 0, "num_clips": 40})
    shapes = [obj.shape for i in range(40) for obj in sample_clip(cfg, i).objects if obj.shape is not None]
    assert {shape.kind for shape in shapes} == set(FAMILIES)


def test_captions_name_procedural_shapes_by_family() -> None:
    from synthgen.describe.captions import make_caption

    cfg = tiny_config(
        dataset={"name": "tiny", "seed": 0, "num_clips": 4},
        scene={"params": {"primitives": ["chair"], "num_objects": [1, 1]}},
    )
    assert all("chair" in make_caption(sample_clip(cfg, index)) for index in range(4))
