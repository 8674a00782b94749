"""Deterministic sampling: (validated config, clip index) -> ClipSpec.

Every random draw of a clip comes from one generator, ``clip_rng(dataset.seed, clip_index)``, in a fixed
order: scene recipe, then object paths, then camera, then audio; the look (library materials, ground, optics)
draws from the clip's own second stream (``synthgen.scenes.materials.look_rng``). The same config and index therefore give a
bit-identical spec on any machine, and clips are independent of each other (a render farm can generate any
subset in any order).
"""

from __future__ import annotations

import math

import numpy as np
from pydantic import ValidationError

from synthgen.describe.config import AudioConfig, CameraConfig, GenerateConfig, MotionConfig
from synthgen.describe.physics import sample_release, separate_releases
from synthgen.describe.spec import (
    AudioSpec,
    AxisMove,
    BindingSpec,
    CameraMove,
    CameraSpec,
    CirclePath,
    ClipSettings,
    ClipSpec,
    CraneMove,
    HandheldShake,
    IntrinsicsSpec,
    LissajousPath,
    ObjectSpec,
    OrbitMove,
    OrientationSpec,
    PiecewisePath,
    RandomSmoothPath,
    StaticPath,
    Trajectory,
    Vec3,
    WaypointPath,
    ZoomMove,
    clip_id,
    clip_rng,
)
from synthgen.errors import ConfigError, SynthgenError, clip_failure, config_error_from_validation
from synthgen.scenes import SceneContext, SceneDescription, get_recipe
from synthgen.scenes.materials import apply_look, look_rng

# A second, independent stream per clip for the paired reference scene of camera_motion datasets.
REFERENCE_STREAM = 1


def sample_clip(cfg: GenerateConfig, clip_index: int) -> ClipSpec:
    """The target clip ``clip_index`` of the dataset described by ``cfg``; ConfigError when ``cfg`` is no
    ``GenerateConfig`` or ``clip_index`` is not in ``0 .. dataset.num_clips - 1``."""
    _check_call(cfg, clip_index)
    rng = clip_rng(cfg.dataset.seed, clip_index)
    return _sample(cfg, clip_index, rng, variant="target")


def _check_call(cfg: object, clip_index: object) -> None:
    """Library callers get the project's one-line errors, not an AttributeError deep in sampling."""
    if not isinstance(cfg, GenerateConfig):
        raise ConfigError(
            f"cfg: expected a GenerateConfig (synthgen.load_generate_config), got {type(cfg).__name__}"
        )
    if isinstance(clip_index, bool) or not isinstance(clip_index, int | np.integer):
        raise ConfigError(f"clip_index={clip_index!r}: expected an integer, got {type(clip_index).__name__}")
    if not 0 <= clip_index < cfg.dataset.num_clips:
        raise ConfigError(
            f"clip_index={clip_index}: must be in 0 .. {cfg.dataset.num_clips - 1} (dataset.num_clips)"
        )


def sample_reference_scene(cfg: GenerateConfig, target: ClipSpec) -> ClipSpec:
    """A different scene (objects, materials, lights, world, object motion) filmed by ``target``'s camera.

    Drawn from its own stream ``SeedSequence([dataset.seed, clip_index, 1])`` so it never repeats the target.
    """
    seq = np.random.SeedSequence([cfg.dataset.seed, target.clip_index, REFERENCE_STREAM])
    rng = np.random.Generator(np.random.PCG64(seq))
    other = _sample(cfg, target.clip_index, rng, variant="reference")
    # Same camera path and lens; optics (focus on one of its own objects) stay the reference scene's.
    camera = target.camera.model_copy(update={"optics": other.camera.optics})
    return other.model_copy(update={"camera": camera, "audio": target.audio})


def _sample(cfg: GenerateConfig, clip_index: int, rng: np.random.Generator, variant: str) -> ClipSpec:
    scene = _sample_scene(cfg, clip_index, rng, variant)
    try:
        objects = separate_releases(
            tuple(_with_motion(rng, obj, cfg.motion, cfg.clip) for obj in scene.objects)
        )
        camera = _sample_camera(rng, cfg.camera, scene)
        audio = _sample_audio(rng, cfg.audio, objects)
        # The look (materials, ground, optics) draws from its own stream: it never shifts the draws above.
        ctx = SceneContext(params=cfg.scene.params, clip=cfg.clip)
        look = look_rng(cfg.dataset.seed, clip_index, variant)
        objects, scene, camera = apply_look(ctx, look, objects, scene, camera)
        return _make_spec(cfg, clip_index, scene, objects, camera, audio, variant)
    except ValidationError as err:
        raise config_error_from_validation(err) from None


def _sample_scene(
    cfg: GenerateConfig, clip_index: int, rng: np.random.Generator, variant: str
) -> SceneDescription:
    """The recipe's scene; whatever a (user) recipe raises becomes one line naming the clip and recipe."""
    name = cfg.scene.recipe
    target = clip_id(cfg.dataset.name, clip_index, variant)
    try:
        scene = get_recipe(name).sample(rng, SceneContext(params=cfg.scene.params, clip=cfg.clip))
    except SynthgenError:
        raise
    except ValidationError as err:
        cause = f"sample() built an invalid spec: {config_error_from_validation(err)}"
        raise clip_failure(target, name, cause) from None
    except Exception as err:
        cause = (str(err).strip().splitlines() or [""])[0]
        raise clip_failure(target, name, f"sample() raised {type(err).__name__}: {cause}") from None
    if not isinstance(scene, SceneDescription):
        cause = f"sample() returned {type(scene).__name__}, not a SceneDescription"
        raise clip_failure(target, name, cause)
    return scene


def _make_spec(
    cfg: GenerateConfig,
    clip_index: int,
    scene: SceneDescription,
    objects: tuple[ObjectSpec, ...],
    camera: CameraSpec,
    audio: AudioSpec | None,
    variant: str,
) -> ClipSpec:
    return ClipSpec(
        dataset_name=cfg.dataset.name,
        dataset_seed=cfg.dataset.seed,
        clip_index=clip_index,
        scene=cfg.scene.recipe,
        control=cfg.control.job,
        clip=cfg.clip,
        camera=camera,
        objects=objects,
        lights=scene.lights,
        world=scene.world,
        audio=audio,
        render=cfg.render.to_spec(),
        variant=variant,
    )


# ------------------------------------------------------------------------------------------ motion


def _with_motion(
    rng: np.random.Generator, obj: ObjectSpec, motion: MotionConfig, clip: ClipSettings
) -> ObjectSpec:
    if not obj.dynamic:
        return obj
    base = obj.path.position_m if isinstance(obj.path, StaticPath) else (0.0, 0.0, obj.size_m / 2.0)
    kind = motion.kinds[int(rng.integers(len(motion.kinds)))]
    speed = float(rng.uniform(*motion.speed_m_per_s))
    if kind == "physics":
        return sample_release(rng, obj, motion, speed)
    path = sample_path(rng, kind, motion, clip, height_m=base[2], speed_m_per_s=speed)
    orientation = obj.orientation
    if rng.uniform() < motion.spin_probability:
        spin = (0.0, 0.0, float(rng.uniform(-90.0, 90.0)))
        orientation = OrientationSpec(mode="spin", euler_deg=orientation.euler_deg, spin_deg_per_s=spin)
    return obj.model_copy(update={"path": path, "orientation": orientation})


def sample_path(
    rng: np.random.Generator,
    kind: str,
    motion: MotionConfig,
    clip: ClipSettings,
    height_m: float,
    speed_m_per_s: float,
) -> Trajectory:
    """A path of ``kind`` in the motion area at ``height_m`` whose mean speed is about ``speed_m_per_s``."""
    half = (motion.area_m[0] / 2.0, motion.area_m[1] / 2.0)
    length = speed_m_per_s * max(clip.duration_s, 1e-6)

    def point() -> Vec3:
        return (float(rng.uniform(-half[0], half[0])), float(rng.uniform(-half[1], half[1])), height_m)

    def walk(count: int) -> tuple[Vec3, ...]:
        step = length / max(count - 1, 1)
        points = [point()]
        heading = float(rng.uniform(0.0, 2.0 * math.pi))
        for _ in range(count - 1):
            heading += float(rng.uniform(-1.2, 1.2))
            x = float(np.clip(points[-1][0] + step * math.cos(heading), -half[0], half[0]))
            y = float(np.clip(points[-1][1] + step * math.sin(heading), -half[1], half[1]))
            points.append((x, y, height_m))
        return tuple(points)

    num_waypoints = int(rng.integers(motion.num_waypoints[0], motion.num_waypoints[1] + 1))
    if kind == "static":
        return StaticPath(position_m=point())
    if kind == "linear":
        return WaypointPath(kind="linear", waypoints_m=walk(2))
    if kind in ("catmull_rom", "bezier"):
        return WaypointPath(kind=kind, waypoints_m=walk(num_waypoints))  # type: ignore[arg-type]
    if kind == "piecewise":
        holds = tuple(
            int(v) for v in rng.integers(0, max(1, clip.num_frames // (2 * num_waypoints)) + 1, num_waypoints)
        )
        return PiecewisePath(waypoints_m=walk(num_waypoints), hold_frames=holds)
    if kind == "circle":
        radius = float(rng.uniform(0.6, max(0.7, min(half) * 0.8)))
        center = (
            float(rng.uniform(-half[0] + radius, half[0] - radius)) if half[0] > radius else 0.0,
            float(rng.uniform(-half[1] + radius, half[1] - radius)) if half[1] > radius else 0.0,
            height_m,
        )
        turns = float(np.sign(rng.uniform(-1, 1)) or 1.0) * length / (2.0 * math.pi * radius)
        return CirclePath(center_m=center, radius_m=radius, turns=turns, phase_deg=float(rng.uniform(0, 360)))
    if kind == "lissajous":
        amplitude = (float(rng.uniform(0.4, half[0] * 0.6)), float(rng.uniform(0.4, half[1] * 0.6)), 0.0)
        frequency = (float(rng.integers(1, 3)), float(rng.integers(1, 3)), 0.0)
        phase = (float(rng.uniform(0, 360)), float(rng.uniform(0, 360)), 0.0)
        return LissajousPath(
            center_m=(0.0, 0.0, height_m), amplitude_m=amplitude, frequency=frequency, phase_deg=phase
        )
    if kind == "random_smooth":
        extent = (float(half[0]), float(half[1]), 0.0)
        return RandomSmoothPath(
            center_m=(0.0, 0.0, height_m),
            extent_m=extent,
            num_knots=num_waypoints,
            seed=int(rng.integers(0, 2**31 - 1)),
        )
    raise AssertionError(f"unhandled path kind {kind}")  # MotionConfig's Literal makes this unreachable


# ------------------------------------------------------------------------------------------ camera


def _sample_camera(rng: np.random.Generator, cam: CameraConfig, scene: SceneDescription) -> CameraSpec:
    center = scene.stage_center_m
    azimuth = math.radians(float(rng.uniform(*scene.camera_azimuth_deg)))
    distance = float(rng.uniform(*cam.distance_m)) + scene.stage_radius_m
    height = float(rng.uniform(*cam.height_m))
    position = (center[0] + distance * math.cos(azimuth), center[1] + distance * math.sin(azimuth), height)
    focal = float(rng.uniform(*cam.focal_length_mm))

    moves: list[CameraMove] = []
    first = cam.moves[int(rng.integers(len(cam.moves)))]
    if first != "static":
        moves.append(_sample_move(rng, first, cam, center))
        others = [m for m in cam.moves if m not in ("static", first)]
        if others and rng.uniform() < cam.composite_probability:
            moves.append(_sample_move(rng, others[int(rng.integers(len(others)))], cam, center))
    if rng.uniform() < cam.handheld_probability:
        moves.append(
            HandheldShake(
                translation_m=float(rng.uniform(0.005, 0.03)),
                rotation_deg=float(rng.uniform(0.2, 1.0)),
                max_frequency_hz=float(rng.uniform(1.0, 3.0)),
                seed=int(rng.integers(0, 2**31 - 1)),
            )
        )
    return CameraSpec(
        position_m=position,
        look_at_m=center,
        intrinsics=IntrinsicsSpec(focal_length_mm=focal),
        moves=tuple(moves),
    )


def _sample_move(rng: np.random.Generator, kind: str, cam: CameraConfig, center: Vec3) -> CameraMove:
    sign = 1.0 if rng.uniform() < 0.5 else -1.0
    if kind == "orbit":
        return OrbitMove(amount=sign * float(rng.uniform(*cam.orbit_deg)), center_m=center)
    if kind == "zoom":
        factor = float(rng.uniform(*cam.zoom_factor))
        return ZoomMove(amount=factor if sign > 0 else 1.0 / factor)
    if kind == "crane":
        return CraneMove(amount=sign * float(rng.uniform(*cam.pedestal_m)), target_m=center)
    amount_range = {
        "dolly": cam.dolly_m,
        "truck": cam.truck_m,
        "pedestal": cam.pedestal_m,
        "pan": cam.rotate_deg,
        "tilt": cam.rotate_deg,
        "roll": cam.rotate_deg,
    }[kind]
    amount = sign * float(rng.uniform(*amount_range))
    if kind in ("tilt", "roll"):
        amount *= 0.5  # tilts and rolls read as much larger than pans of the same angle
    return AxisMove(kind=kind, amount=amount)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------- audio


def _sample_audio(
    rng: np.random.Generator, audio: AudioConfig, objects: tuple[ObjectSpec, ...]
) -> AudioSpec | None:
    if not audio.enabled:
        return None
    bpm = float(rng.uniform(*audio.bpm_range)) if audio.bpm_range else audio.bpm
    bindings: list[BindingSpec] = []
    for template in audio.bindings:
        if template.target == "camera":
            targets = [0]
        elif template.target == "first":
            targets = [objects[0].object_id] if objects else []
        else:
            targets = [obj.object_id for obj in objects]
        bindings.extend(
            BindingSpec(kind=template.kind, target_id=t, source=template.source, amount=template.amount)
            for t in targets
        )
    return AudioSpec(
        sample_rate=audio.sample_rate,
        bpm=bpm,
        meter=audio.meter,
        swing=audio.swing,
        instruments=audio.instruments,
        seed=int(rng.integers(0, 2**31 - 1)),
        snap_to_frames=audio.snap_to_frames,
        loops_dir=audio.loops_dir,
        bindings=tuple(bindings),
    )
