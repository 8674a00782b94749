"""Release conditions of the ``physics`` motion kind: where, how fast and how turned each object starts.

The simulation itself runs later, from the spec (``synthgen.labels.physics``); this only draws its
initial state from the clip's generator. Objects start above the ground by at least their bounding
sphere's radius, so no rotation can put them into it, and are then lifted, in spec order, until their
bounding spheres clear every earlier physics object's: a sampled scene never starts intersecting.
"""

from __future__ import annotations

import math

import numpy as np

from synthgen.describe.config import MotionConfig
from synthgen.describe.spec import ObjectSpec, OrientationSpec, PhysicsPath
from synthgen.scenes.shapes import shape_mesh

# A thrown object flies towards the middle of the motion area, within this angle of it.
THROW_SPREAD_DEG = 30.0
# Extra upward speed of a throw, as a fraction of its horizontal speed.
THROW_LOFT = 0.5


def bounding_radius_m(obj: ObjectSpec) -> float:
    """Radius of a sphere about the object's centre that holds it in any rotation."""
    extent = np.asarray(shape_mesh(obj.shape).extent) if obj.shape is not None else np.ones(3)
    return 0.5 * obj.size_m * float(np.linalg.norm(extent * np.asarray(obj.scale_xyz)))


def sample_release(
    rng: np.random.Generator, obj: ObjectSpec, motion: MotionConfig, speed_m_per_s: float
) -> ObjectSpec:
    """``obj`` on a physics path: dropped, or thrown at ``speed_m_per_s`` towards the middle, turned and
    spinning at random; a fixed number of draws whatever the outcome."""
    assert motion.physics is not None  # MotionConfig requires it when 'physics' is a kind
    cfg = motion.physics
    half = np.asarray(motion.area_m) / 2.0
    xy = rng.uniform(-half, half)
    height = bounding_radius_m(obj) + float(rng.uniform(*cfg.drop_height_m))
    thrown = bool(rng.uniform() < cfg.throw_probability)
    heading = math.atan2(-xy[1], -xy[0]) + math.radians(
        float(rng.uniform(-THROW_SPREAD_DEG, THROW_SPREAD_DEG))
    )
    velocity = (
        (speed_m_per_s * math.cos(heading), speed_m_per_s * math.sin(heading), THROW_LOFT * speed_m_per_s)
        if thrown
        else (0.0, 0.0, 0.0)
    )
    axis = rng.normal(size=3)
    axis /= max(float(np.linalg.norm(axis)), 1e-12)
    spin = axis * float(rng.uniform(*cfg.spin_deg_per_s))
    euler = rng.uniform(0.0, 360.0, 3)
    path = PhysicsPath(
        position_m=(float(xy[0]), float(xy[1]), height),
        velocity_m_per_s=velocity,
        angular_velocity_deg_per_s=(float(spin[0]), float(spin[1]), float(spin[2])),
        friction=float(rng.uniform(*cfg.friction)),
        restitution=float(rng.uniform(*cfg.restitution)),
    )
    orientation = OrientationSpec(euler_deg=(float(euler[0]), float(euler[1]), float(euler[2])))
    return obj.model_copy(update={"path": path, "orientation": orientation})


def separate_releases(objects: tuple[ObjectSpec, ...]) -> tuple[ObjectSpec, ...]:
    """Physics objects lifted, in order, until their bounding spheres clear all earlier ones (no draws)."""
    placed: list[tuple[np.ndarray, float]] = []
    out = []
    for obj in objects:
        path = obj.path
        if not isinstance(path, PhysicsPath):
            out.append(obj)
            continue
        centre, radius = np.asarray(path.position_m, dtype=np.float64), bounding_radius_m(obj)
        lifted_once = True
        # Lifting only raises the centre, so each earlier object can make it rise at most once.
        while lifted_once:
            lifted_once = False
            for other, other_radius in placed:
                gap = radius + other_radius
                flat = float(np.linalg.norm(centre[:2] - other[:2]))
                if flat < gap and abs(centre[2] - other[2]) < math.sqrt(gap * gap - flat * flat):
                    centre[2] = other[2] + math.sqrt(gap * gap - flat * flat) + 1e-3
                    lifted_once = True
        placed.append((centre, radius))
        lifted = path.model_copy(
            update={"position_m": (float(centre[0]), float(centre[1]), float(centre[2]))}
        )
        out.append(obj.model_copy(update={"path": lifted}))
    return tuple(out)
