"""Physics-driven motion: objects on ``PhysicsPath`` simulated as rigid bodies before anything is rendered.

The simulation (Bullet, through ``pybullet`` of the ``[render]`` extra) runs in float64 in a fresh
headless world per clip, stepped at a fixed rate that divides the frame interval, with deterministic
pair ordering: the same spec gives bit-identical poses in every process. Its per-frame poses *are* the
labels: ``compute_labels`` takes position, velocity and rotation of every physics object from here, and
the render is keyed from and checked against them like any other motion.

World: gravity 9.81 m/s^2 along -Z; the ground (``world.ground``, required) is a static plane z = 0 of
``ground_size_m`` square; objects on other path kinds take part only if they are static (colliders at
their first-frame pose); moving ones are not simulated and pass through. Each physics object collides as
the convex hull of its mesh (a sphere as an exact sphere), scaled by ``size_m * scale_xyz``; its mass is
proportional to its bounding-box volume; friction and restitution come from its path. Frame 0 is the
release state (``PhysicsPath.position_m``, the orientation's ``euler_deg`` and the given velocities).

A clip whose objects start intersecting (each other, static objects or the ground) or that leave the
ground square or fall through it fails with one line naming the clip, the objects and the rule.
"""

from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass
from types import ModuleType

import numpy as np

from synthgen.describe.spec import ClipSpec, ObjectSpec, PhysicsPath, StaticPath
from synthgen.errors import RenderError, clip_failure
from synthgen.labels.geometry import euler_xyz_to_matrix

GRAVITY_M_PER_S2 = 9.81
# Bullet's recommended rate; the step is rounded down so a whole number of steps spans each frame.
MIN_STEPS_PER_S = 240.0
SOLVER_ITERATIONS = 50
# Bullet keeps convex shapes this far apart (its default, 4 cm, would float small objects visibly).
COLLISION_MARGIN_M = 1e-3
# Overlap at release beyond this is a bad scene, not contact noise.
START_OVERLAP_TOLERANCE_M = 2e-3
DENSITY_KG_PER_M3 = 500.0
# Unit-bounds extents of Blender's monkey (Suzanne), which collides as its bounding box.
MONKEY_EXTENT = (1.0, 0.62285714, 0.72)
# Blender's default torus proportions (major 1, minor 0.25) scaled to outer diameter 1, as the renderer builds it.
TORUS_MINOR_FRACTION = 0.25 / 1.25
ROUND_POINTS = 48


@dataclass(frozen=True)
class SimulatedMotion:
    """Per-frame motion of one physics object: ``position_m`` (F, 3), ``velocity_m_per_s`` (F, 3),
    ``rotation`` (F, 3, 3) local to world (without scale)."""

    position_m: np.ndarray
    velocity_m_per_s: np.ndarray
    rotation: np.ndarray


def has_physics(spec: ClipSpec) -> bool:
    """Whether any object of ``spec`` moves on a physics path."""
    return any(isinstance(obj.path, PhysicsPath) for obj in spec.objects)


def simulate_physics(spec: ClipSpec) -> dict[int, SimulatedMotion]:
    """Motion of every physics object of ``spec``, keyed by its index in ``spec.objects`` ({} if none).

    Raises a one-line RenderError naming the clip for a scene the simulation cannot stand for: no ground,
    an object without geometry before Blender (an asset mesh or a plane), objects that start intersecting,
    or an object that leaves the ground.
    """
    if not has_physics(spec):
        return {}
    if not spec.world.ground:
        raise _failure(spec, "physics motion needs world.ground (objects fall onto it)")
    bullet = _import_pybullet()
    client = bullet.connect(bullet.DIRECT)
    try:
        return _run(bullet, client, spec)
    finally:
        bullet.disconnect(physicsClientId=client)


def _run(bullet: ModuleType, client: int, spec: ClipSpec) -> dict[int, SimulatedMotion]:
    clip = spec.clip
    steps_per_frame = max(1, math.ceil(MIN_STEPS_PER_S / clip.fps))
    bullet.setPhysicsEngineParameter(
        fixedTimeStep=1.0 / (clip.fps * steps_per_frame),
        numSolverIterations=SOLVER_ITERATIONS,
        deterministicOverlappingPairs=1,
        physicsClientId=client,
    )
    bullet.setGravity(0.0, 0.0, -GRAVITY_M_PER_S2, physicsClientId=client)
    ground = _add_ground(bullet, client, spec.world.ground_size_m)
    bodies: dict[int, int] = {}
    names = {ground: "the ground"}
    for index, obj in enumerate(spec.objects):
        if isinstance(obj.path, PhysicsPath) or isinstance(obj.path, StaticPath):
            body = _add_body(bullet, client, spec, index, obj)
            names[body] = f"objects[{index}] ({obj.name!r})"
            if isinstance(obj.path, PhysicsPath):
                bodies[index] = body
    _check_start_apart(bullet, client, spec, names)
    frames = clip.num_frames
    position = {i: np.zeros((frames, 3)) for i in bodies}
    velocity = {i: np.zeros((frames, 3)) for i in bodies}
    rotation = {i: np.zeros((frames, 3, 3)) for i in bodies}
    half = spec.world.ground_size_m / 2.0
    for frame in range(frames):
        if frame > 0:
            for _ in range(steps_per_frame):
                bullet.stepSimulation(physicsClientId=client)
        for index, body in bodies.items():
            where, quat = bullet.getBasePositionAndOrientation(body, physicsClientId=client)
            position[index][frame] = where
            velocity[index][frame] = bullet.getBaseVelocity(body, physicsClientId=client)[0]
            rotation[index][frame] = np.reshape(bullet.getMatrixFromQuaternion(quat), (3, 3))
            x, y, z = where
            if abs(x) > half or abs(y) > half or z < -spec.objects[index].size_m:
                raise _failure(
                    spec,
                    f"{names[body]} leaves the ground at frame {frame} (position ({x:.3g}, {y:.3g}, {z:.3g}) m; "
                    f"the ground spans +-{half:g} m); release it closer to the centre or slower",
                )
    return {i: SimulatedMotion(position[i], velocity[i], rotation[i]) for i in bodies}


def _add_ground(bullet: ModuleType, client: int, size_m: float) -> int:
    shape = bullet.createCollisionShape(bullet.GEOM_PLANE, physicsClientId=client)
    body = int(bullet.createMultiBody(0.0, shape, physicsClientId=client))
    bullet.changeDynamics(body, -1, lateralFriction=1.0, restitution=1.0, physicsClientId=client)
    return body


def _add_body(bullet: ModuleType, client: int, spec: ClipSpec, index: int, obj: ObjectSpec) -> int:
    scale = np.asarray(obj.scale_xyz) * obj.size_m
    if obj.primitive == "sphere" and np.all(scale == scale[0]):
        shape = bullet.createCollisionShape(bullet.GEOM_SPHERE, radius=0.5 * scale[0], physicsClientId=client)
    else:
        points = collision_points(obj)
        if points is None:
            raise _failure(
                spec,
                f"objects[{index}] ({obj.name!r}): primitive={obj.primitive!r} has no solid geometry before "
                "Blender loads it; physics motion needs a primitive (not a plane) or a procedural shape",
            )
        shape = bullet.createCollisionShape(
            bullet.GEOM_MESH, vertices=(points * scale).tolist(), physicsClientId=client
        )
    path = obj.path
    moving = isinstance(path, PhysicsPath)
    mass = DENSITY_KG_PER_M3 * float(np.prod(scale)) if moving else 0.0
    start = path.position_m if isinstance(path, PhysicsPath | StaticPath) else (0.0, 0.0, 0.0)
    quat = quaternion_xyzw(euler_xyz_to_matrix(np.radians(obj.orientation.euler_deg)))
    body = int(
        bullet.createMultiBody(
            mass, shape, basePosition=start, baseOrientation=quat.tolist(), physicsClientId=client
        )
    )
    dynamics = {"collisionMargin": COLLISION_MARGIN_M, "linearDamping": 0.0, "angularDamping": 0.0}
    if isinstance(path, PhysicsPath):
        dynamics.update(lateralFriction=path.friction, restitution=path.restitution)
        bullet.resetBaseVelocity(
            body,
            linearVelocity=path.velocity_m_per_s,
            angularVelocity=np.radians(path.angular_velocity_deg_per_s).tolist(),
            physicsClientId=client,
        )
    bullet.changeDynamics(body, -1, physicsClientId=client, **dynamics)
    return body


def _check_start_apart(bullet: ModuleType, client: int, spec: ClipSpec, names: dict[int, str]) -> None:
    bullet.performCollisionDetection(physicsClientId=client)
    ids = sorted(names)
    for position, first in enumerate(ids):
        for second in ids[position + 1 :]:
            points = bullet.getClosestPoints(first, second, 0.0, physicsClientId=client)
            depth = min((float(p[8]) for p in points), default=0.0)
            if depth < -START_OVERLAP_TOLERANCE_M:
                raise _failure(
                    spec,
                    f"{names[first]} and {names[second]} start intersecting ({-depth:.3g} m deep); "
                    "physics objects must be released apart and above the ground",
                )


def collision_points(obj: ObjectSpec) -> np.ndarray | None:
    """Points (V, 3) in the unit-bounds local frame whose convex hull the object collides as; None for
    shapes without geometry before Blender (asset meshes) or without volume (planes)."""
    if obj.shape is not None:
        from synthgen.scenes.shapes import shape_mesh

        return np.asarray(shape_mesh(obj.shape).vertices)
    angle = np.arange(ROUND_POINTS) * (2.0 * math.pi / ROUND_POINTS)
    circle = np.stack([0.5 * np.cos(angle), 0.5 * np.sin(angle)], -1)
    if obj.primitive == "cube":
        return np.array([(x, y, z) for x in (-0.5, 0.5) for y in (-0.5, 0.5) for z in (-0.5, 0.5)])
    if obj.primitive == "monkey":
        return (
            np.array([(x, y, z) for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)])
            * np.asarray(MONKEY_EXTENT)
            / 2.0
        )
    if obj.primitive in ("cylinder", "cone", "sphere"):
        if obj.primitive == "sphere":
            return _sphere_points()
        top = circle if obj.primitive == "cylinder" else np.zeros((1, 2))
        return np.concatenate([_at_height(circle, -0.5), _at_height(top, 0.5)])
    if obj.primitive == "torus":
        minor = 0.5 * TORUS_MINOR_FRACTION
        tube = np.arange(ROUND_POINTS // 4) * (2.0 * math.pi / (ROUND_POINTS // 4))
        ring = (0.5 - minor + minor * np.cos(tube))[None, :, None] * (circle / 0.5)[:, None, :]
        heights = np.broadcast_to(minor * np.sin(tube)[None, :, None], (*ring.shape[:2], 1))
        return np.concatenate([ring, heights], axis=-1).reshape(-1, 3)
    return None


def _at_height(xy: np.ndarray, z: float) -> np.ndarray:
    return np.concatenate([xy, np.full((len(xy), 1), z)], axis=1)


def _sphere_points() -> np.ndarray:
    theta = np.linspace(0.0, math.pi, ROUND_POINTS // 2 + 1)
    phi = np.arange(ROUND_POINTS) * (2.0 * math.pi / ROUND_POINTS)
    t, p = np.meshgrid(theta, phi, indexing="ij")
    return 0.5 * np.stack([np.sin(t) * np.cos(p), np.sin(t) * np.sin(p), np.cos(t)], -1).reshape(-1, 3)


def quaternion_xyzw(rotation: np.ndarray) -> np.ndarray:
    """Unit quaternion (x, y, z, w) of a rotation matrix (3, 3) (Shepperd's method, w >= 0)."""
    m = np.asarray(rotation, dtype=np.float64)
    trace = m[0, 0] + m[1, 1] + m[2, 2]
    candidates = np.array([trace, m[0, 0], m[1, 1], m[2, 2]])
    pick = int(np.argmax(candidates))
    if pick == 0:
        w = math.sqrt(1.0 + trace) / 2.0
        q = np.array(
            [(m[2, 1] - m[1, 2]) / (4 * w), (m[0, 2] - m[2, 0]) / (4 * w), (m[1, 0] - m[0, 1]) / (4 * w), w]
        )
    else:
        i = pick - 1
        j, k = (i + 1) % 3, (i + 2) % 3
        s = math.sqrt(1.0 + m[i, i] - m[j, j] - m[k, k]) * 2.0
        q = np.zeros(4)
        q[i] = s / 4.0
        q[j] = (m[j, i] + m[i, j]) / s
        q[k] = (m[k, i] + m[i, k]) / s
        q[3] = (m[k, j] - m[j, k]) / s
    q /= np.linalg.norm(q)
    return -q if q[3] < 0.0 else q


def _failure(spec: ClipSpec, cause: str) -> RenderError:
    return clip_failure(spec.clip_id, spec.scene, cause)


def _import_pybullet() -> ModuleType:
    """pybullet, its build banner (written by C code to stderr on first import) kept off the terminal."""
    if "pybullet" in sys.modules:
        return sys.modules["pybullet"]
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            import pybullet
    except ImportError:
        raise RenderError("physics motion needs pybullet: pip install 'synthgen[render]'") from None
    finally:
        os.dup2(saved, 2)
        os.close(saved)
    return pybullet
