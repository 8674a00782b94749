"""Procedural shapes: sampled parameters and their exact triangle meshes (numpy only, no Blender).

A shape family (``vessel``, ``rock``, ``box``, ``extrusion``, ``chair``, ``table``) is drawn by a recipe with
``sample_shape(rng, family)``; the spec records the parameters (``ObjectSpec.shape``), and
``shape_mesh(shape)`` turns them into vertices and triangles. The mesh is a pure function of the
parameters, built in a fixed vertex and triangle order, so the same spec gives bit-identical geometry in
every process (Blender only copies it: ``synthgen.render.meshes``). Conventions: triangles wind
counter-clockwise seen from outside (normals point out); the mesh is normalised like the primitives, its
bounding box centred on the origin with its largest side 1; +Z is up (vessels, furniture, extrusion depth).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from synthgen.describe.spec import (
    BoxShape,
    ExtrusionShape,
    FurnitureShape,
    ProceduralShape,
    RockShape,
    VesselShape,
)
from synthgen.errors import ConfigError

FAMILIES = ("vessel", "rock", "box", "extrusion", "chair", "table")
# Families drawn with smooth shading (curved surfaces); the others keep their hard edges.
SMOOTH_FAMILIES = frozenset({"vessel", "rock"})
LATHE_SEGMENTS = 48
BOX_LAYERS = 10


@dataclass(frozen=True)
class ShapeMesh:
    """``vertices`` (V, 3) float64 in unit bounds and ``triangles`` (T, 3) int64, outward winding."""

    vertices: np.ndarray
    triangles: np.ndarray
    smooth: bool

    @property
    def extent(self) -> np.ndarray:
        """(3,) side lengths of the bounding box (largest = 1)."""
        return np.asarray(self.vertices.max(axis=0) - self.vertices.min(axis=0))


# ------------------------------------------------------------------------------------------ sampling


def sample_shape(rng: np.random.Generator, family: str) -> ProceduralShape:
    """Parameters of one shape of ``family`` drawn from ``rng`` (a fixed number of draws per family)."""
    if family == "vessel":
        count = int(rng.integers(4, 8))
        radii = np.cumsum(rng.uniform(-0.35, 0.35, count)) + rng.uniform(0.6, 1.0)
        radii = np.clip(radii, 0.15, None)
        return VesselShape(
            profile_radii=tuple(float(r) for r in radii / radii.max()),
            height_ratio=float(rng.uniform(0.6, 2.0)),
        )
    if family == "rock":
        return RockShape(
            subdivisions=3,
            roughness=float(rng.uniform(0.1, 0.35)),
            stretch_xyz=(1.0, float(rng.uniform(0.5, 1.0)), float(rng.uniform(0.4, 0.9))),
            seed=int(rng.integers(0, 2**31 - 1)),
        )
    if family == "box":
        sides = rng.uniform(0.4, 1.0, 3)
        sides = sides / sides.max()
        twist = float(rng.uniform(-60.0, 60.0)) if rng.uniform() < 0.5 else 0.0
        return BoxShape(
            proportions_xyz=(float(sides[0]), float(sides[1]), float(sides[2])),
            bevel_fraction=float(rng.uniform(0.0, 0.3)),
            twist_deg=twist,
            taper=float(rng.uniform(0.5, 1.0)) if rng.uniform() < 0.5 else 1.0,
        )
    if family == "extrusion":
        return ExtrusionShape(outline_xy=_sample_outline(rng), depth_ratio=float(rng.uniform(0.15, 0.6)))
    if family in ("chair", "table"):
        chair = family == "chair"
        return FurnitureShape(
            kind=family,  # type: ignore[arg-type]
            width_ratio=float(rng.uniform(0.8, 1.2) if chair else rng.uniform(0.5, 1.0)),
            height_ratio=float(rng.uniform(0.8, 1.1) if chair else rng.uniform(0.5, 0.9)),
            leg_fraction=float(rng.uniform(0.06, 0.12)),
            top_fraction=float(rng.uniform(0.05, 0.12)),
            back_ratio=float(rng.uniform(0.7, 1.1)) if chair else 0.0,
        )
    raise ConfigError(f"shape family {family!r}: must be one of {list(FAMILIES)}")


def _sample_outline(rng: np.random.Generator) -> tuple[tuple[float, float], ...]:
    """A star, a jittered polygon or a letter-like rectilinear outline, counter-clockwise."""
    style = int(rng.integers(3))
    if style == 0:
        points = int(rng.integers(5, 9))
        inner = float(rng.uniform(0.4, 0.7))
        angles = np.arange(2 * points) * (math.pi / points) + math.pi / 2.0
        radii = np.where(np.arange(2 * points) % 2 == 0, 1.0, inner)
    elif style == 1:
        sides = int(rng.integers(5, 9))
        angles = np.arange(sides) * (2.0 * math.pi / sides)
        radii = rng.uniform(0.75, 1.0, sides)
    else:
        return _letter_outline(rng)
    xy = np.stack([radii * np.cos(angles), radii * np.sin(angles)], axis=-1)
    return tuple((float(x), float(y)) for x, y in xy)


def _letter_outline(rng: np.random.Generator) -> tuple[tuple[float, float], ...]:
    """L, T, U or plus shapes in a unit square with a sampled stroke width."""
    letter = "LTU+"[int(rng.integers(4))]
    w = float(rng.uniform(0.25, 0.4))
    a, b = (1.0 - w) / 2.0, (1.0 + w) / 2.0
    outlines = {
        "L": [(0, 0), (1, 0), (1, w), (w, w), (w, 1), (0, 1)],
        "T": [(a, 0), (b, 0), (b, 1 - w), (1, 1 - w), (1, 1), (0, 1), (0, 1 - w), (a, 1 - w)],
        "U": [(0, 0), (1, 0), (1, 1), (1 - w, 1), (1 - w, w), (w, w), (w, 1), (0, 1)],
        "+": [(a, 0), (b, 0), (b, a), (1, a), (1, b), (b, b), (b, 1), (a, 1), (a, b), (0, b), (0, a), (a, a)],
    }
    return tuple((float(x), float(y)) for x, y in outlines[letter])


# -------------------------------------------------------------------------------------------- meshes


def shape_mesh(shape: ProceduralShape) -> ShapeMesh:
    """The unit-bounds triangle mesh of ``shape`` (cached: shapes are frozen and hashable)."""
    return _cached_mesh(shape)


@lru_cache(maxsize=256)
def _cached_mesh(shape: ProceduralShape) -> ShapeMesh:
    if isinstance(shape, VesselShape):
        vertices, triangles = _vessel(shape)
    elif isinstance(shape, RockShape):
        vertices, triangles = _rock(shape)
    elif isinstance(shape, BoxShape):
        vertices, triangles = _box(shape)
    elif isinstance(shape, ExtrusionShape):
        vertices, triangles = _extrusion(shape)
    elif isinstance(shape, FurnitureShape):
        vertices, triangles = _furniture(shape)
    else:
        raise ConfigError(f"shape.kind={getattr(shape, 'kind', shape)!r}: unknown shape family")
    vertices = _unit_bounds(vertices)
    vertices.flags.writeable = False
    triangles = np.ascontiguousarray(triangles, dtype=np.int64)
    triangles.flags.writeable = False
    return ShapeMesh(vertices, triangles, smooth=shape.kind in SMOOTH_FAMILIES)


def _unit_bounds(vertices: np.ndarray) -> np.ndarray:
    lo, hi = vertices.min(axis=0), vertices.max(axis=0)
    return np.ascontiguousarray((vertices - (lo + hi) / 2.0) / float((hi - lo).max()))


def _loft(rings: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """A closed solid through rings (each (S, 3), counter-clockwise seen from +Z, bottom to top), capped by
    a fan from each end ring's centroid."""
    count, segments = len(rings), len(rings[0])
    bottom, top = rings[0].mean(axis=0), rings[-1].mean(axis=0)
    vertices = np.concatenate([*rings, bottom[None], top[None]])
    j = np.arange(segments)
    k = (j + 1) % segments
    faces = []
    for i in range(count - 1):
        a, b, c, d = i * segments + j, i * segments + k, (i + 1) * segments + k, (i + 1) * segments + j
        faces.append(np.stack([a, b, c], -1))
        faces.append(np.stack([a, c, d], -1))
    bottom_index, top_index = count * segments, count * segments + 1
    faces.append(np.stack([np.full(segments, bottom_index), k, j], -1))
    last = (count - 1) * segments
    faces.append(np.stack([np.full(segments, top_index), last + j, last + k], -1))
    return vertices, np.concatenate(faces)


def _vessel(shape: VesselShape) -> tuple[np.ndarray, np.ndarray]:
    theta = np.arange(LATHE_SEGMENTS) * (2.0 * math.pi / LATHE_SEGMENTS)
    radii = np.asarray(shape.profile_radii, dtype=np.float64)
    heights = np.linspace(0.0, 2.0 * shape.height_ratio, len(radii))
    rings = [
        np.stack([r * np.cos(theta), r * np.sin(theta), np.full(LATHE_SEGMENTS, z)], -1)
        for r, z in zip(radii, heights, strict=True)
    ]
    return _loft(rings)


def _icosphere(subdivisions: int) -> tuple[np.ndarray, np.ndarray]:
    """Unit icosphere; midpoints are made in face order, so the vertex order is fixed."""
    t = (1.0 + math.sqrt(5.0)) / 2.0
    vertices = [
        (-1, t, 0), (1, t, 0), (-1, -t, 0), (1, -t, 0), (0, -1, t), (0, 1, t),
        (0, -1, -t), (0, 1, -t), (t, 0, -1), (t, 0, 1), (-t, 0, -1), (-t, 0, 1),
    ]  # fmt: skip
    faces = [
        (0, 11, 5), (0, 5, 1), (0, 1, 7), (0, 7, 10), (0, 10, 11), (1, 5, 9), (5, 11, 4), (11, 10, 2),
        (10, 7, 6), (7, 1, 8), (3, 9, 4), (3, 4, 2), (3, 2, 6), (3, 6, 8), (3, 8, 9), (4, 9, 5),
        (2, 4, 11), (6, 2, 10), (8, 6, 7), (9, 8, 1),
    ]  # fmt: skip
    points = [np.asarray(v, dtype=np.float64) / np.linalg.norm(v) for v in vertices]
    for _ in range(subdivisions):
        midpoint: dict[tuple[int, int], int] = {}
        refined = []
        for a, b, c in faces:
            ab, bc, ca = (_midpoint(points, midpoint, i, j) for i, j in ((a, b), (b, c), (c, a)))
            refined += [(a, ab, ca), (b, bc, ab), (c, ca, bc), (ab, bc, ca)]
        faces = refined
    return np.stack(points), np.asarray(faces, dtype=np.int64)


def _midpoint(points: list[np.ndarray], made: dict[tuple[int, int], int], i: int, j: int) -> int:
    """Index of the unit-sphere midpoint of edge (i, j), appended on first use."""
    key = (min(i, j), max(i, j))
    if key not in made:
        m = points[i] + points[j]
        points.append(m / np.linalg.norm(m))
        made[key] = len(points) - 1
    return made[key]


def _rock(shape: RockShape) -> tuple[np.ndarray, np.ndarray]:
    directions, triangles = _icosphere(shape.subdivisions)
    rng = np.random.default_rng(shape.seed)
    # Smooth noise on the sphere: a sum of low-frequency plane waves with decreasing amplitude.
    waves = 6
    frequencies = rng.normal(size=(waves, 3)) * np.linspace(1.0, 3.0, waves)[:, None]
    phases = rng.uniform(0.0, 2.0 * math.pi, waves)
    amplitudes = 1.0 / np.arange(1, waves + 1)
    noise = (amplitudes * np.cos(directions @ frequencies.T + phases)).sum(axis=1) / amplitudes.sum()
    radius = 1.0 + shape.roughness * noise
    return directions * radius[:, None] * np.asarray(shape.stretch_xyz), triangles


def _octagon(half_x: float, half_y: float, cut: float) -> np.ndarray:
    """(8, 2) rectangle with corners cut by ``cut``, counter-clockwise; a plain rectangle (4, 2) if cut = 0."""
    if cut == 0.0:
        return np.array([(half_x, -half_y), (half_x, half_y), (-half_x, half_y), (-half_x, -half_y)])
    hx, hy = half_x, half_y
    return np.array(
        [
            (hx, -hy + cut), (hx, hy - cut), (hx - cut, hy), (-hx + cut, hy),
            (-hx, hy - cut), (-hx, -hy + cut), (-hx + cut, -hy), (hx - cut, -hy),
        ]
    )  # fmt: skip


def _box(shape: BoxShape) -> tuple[np.ndarray, np.ndarray]:
    half = np.asarray(shape.proportions_xyz, dtype=np.float64) / 2.0
    cut = shape.bevel_fraction * 2.0 * float(half.min())
    outline = _octagon(half[0], half[1], cut)
    inset = outline * (1.0 - cut / half[:2]) if cut > 0.0 else outline
    inner = np.linspace(-half[2] + cut, half[2] - cut, BOX_LAYERS)
    layers = [(outline, z) for z in inner]
    if cut > 0.0:
        layers = [(inset, -half[2]), *layers, (inset, half[2])]
    rings = []
    for xy, z in layers:
        progress = (z + half[2]) / (2.0 * half[2])
        angle = math.radians(shape.twist_deg) * progress
        scale = 1.0 + (shape.taper - 1.0) * progress
        rotation = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
        turned = (xy * scale) @ rotation.T
        rings.append(np.concatenate([turned, np.full((len(xy), 1), z)], axis=1))
    return _loft(rings)


def _ear_clip(points: np.ndarray) -> np.ndarray:
    """Triangles (N - 2, 3) of a simple counter-clockwise polygon, ears cut in a fixed order."""
    remaining = list(range(len(points)))
    triangles = []
    while len(remaining) > 3:
        for position in range(len(remaining)):
            i, j, k = (remaining[(position + step) % len(remaining)] for step in (-1, 0, 1))
            a, b, c = points[i], points[j], points[k]
            if (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]) <= 0.0:
                continue  # reflex or flat corner
            others = [points[m] for m in remaining if m not in (i, j, k)]
            if not any(_inside_triangle(p, a, b, c) for p in others):
                triangles.append((i, j, k))
                remaining.pop(position)
                break
        else:
            raise ConfigError("shape.outline_xy: cannot be triangulated (not a simple polygon)")
    triangles.append((remaining[0], remaining[1], remaining[2]))
    return np.asarray(triangles, dtype=np.int64)


def _inside_triangle(p: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray) -> bool:
    def side(u: np.ndarray, v: np.ndarray) -> float:
        return float((v[0] - u[0]) * (p[1] - u[1]) - (v[1] - u[1]) * (p[0] - u[0]))

    return side(a, b) >= 0.0 and side(b, c) >= 0.0 and side(c, a) >= 0.0


def _extrusion(shape: ExtrusionShape) -> tuple[np.ndarray, np.ndarray]:
    outline = np.asarray(shape.outline_xy, dtype=np.float64)
    count = len(outline)
    depth = shape.depth_ratio * float((outline.max(axis=0) - outline.min(axis=0)).max())
    bottom = np.concatenate([outline, np.full((count, 1), -depth / 2.0)], axis=1)
    top = np.concatenate([outline, np.full((count, 1), depth / 2.0)], axis=1)
    cap = _ear_clip(outline)
    j = np.arange(count)
    k = (j + 1) % count
    sides = np.concatenate([np.stack([j, k, count + k], -1), np.stack([j, count + k, count + j], -1)])
    triangles = np.concatenate([cap[:, ::-1], cap + count, sides])
    return np.concatenate([bottom, top]), triangles


_CUBE_CORNERS = np.array([(x, y, z) for x in (0, 1) for y in (0, 1) for z in (0, 1)], dtype=np.float64)
# Outward-wound triangles of the corners above (index = 4x + 2y + z).
_CUBE_TRIANGLES = np.array(
    [
        (0, 1, 3), (0, 3, 2), (4, 6, 7), (4, 7, 5), (0, 4, 5), (0, 5, 1),
        (2, 3, 7), (2, 7, 6), (0, 2, 6), (0, 6, 4), (1, 5, 7), (1, 7, 3),
    ],
    dtype=np.int64,
)  # fmt: skip


def _boxes(
    boxes: list[tuple[tuple[float, float, float], tuple[float, float, float]]],
) -> tuple[np.ndarray, np.ndarray]:
    """Separate closed boxes, each given by its (min corner, max corner), in one mesh."""
    vertices, triangles = [], []
    for index, (lo, hi) in enumerate(boxes):
        vertices.append(np.asarray(lo) + _CUBE_CORNERS * (np.asarray(hi) - np.asarray(lo)))
        triangles.append(_CUBE_TRIANGLES + 8 * index)
    return np.concatenate(vertices), np.concatenate(triangles)


def _furniture(shape: FurnitureShape) -> tuple[np.ndarray, np.ndarray]:
    w, d = 1.0, shape.width_ratio
    h, leg, top = shape.height_ratio, shape.leg_fraction, shape.top_fraction
    under = h - top
    parts = [((0.0, 0.0, under), (w, d, h))]
    for x in (0.0, w - leg):
        for y in (0.0, d - leg):
            parts.append(((x, y, 0.0), (x + leg, y + leg, under)))
    if shape.kind == "chair":
        parts.append(((0.0, d - leg, h), (w, d, h + shape.back_ratio)))
    return _boxes(parts)
