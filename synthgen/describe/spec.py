"""Clip specifications: frozen pydantic models that describe one clip completely.

A ``ClipSpec`` is everything needed to reproduce a clip: the sampled scene description (objects, their
paths and materials, lights, world, camera and its moves, audio) plus the render settings and seeds. It is
pure data: labels are computed from it by ``synthgen.labels`` and Blender is driven by those labels.

Units are in the field names (``_m`` metres, ``_deg`` degrees, ``_s`` seconds, ``_mm`` millimetres,
``_px`` pixels). The LTX rules (frames = 8k+1, sides multiples of 32 x reference downscale, integer audio
sample count) are enforced here, at the boundary, so nothing downstream ever sees an invalid clip.
"""

from __future__ import annotations

import json
import math
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from synthgen.errors import UNION_TAGS, DataError, config_error_from_validation
from synthgen.fileio import check_relative_path

SCHEMA_VERSION = 1

Vec3 = tuple[float, float, float]
ColorRGB = tuple[
    Annotated[float, Field(ge=0.0, le=1.0)],
    Annotated[float, Field(ge=0.0, le=1.0)],
    Annotated[float, Field(ge=0.0, le=1.0)],
]

# Tempo range of procedural music (audio.bpm, audio.bpm_range), beats per minute.
MIN_BPM = 30.0
MAX_BPM = 300.0


class Frozen(BaseModel):
    """Base for every spec model: immutable, no unknown keys, no NaN/inf anywhere."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


def nearest_valid_frame_counts(num_frames: int) -> tuple[int, int]:
    """The two frame counts of the form 8k+1 nearest to ``num_frames`` (below, above)."""
    below = max(1, ((num_frames - 1) // 8) * 8 + 1)
    above = below + 8 if below < num_frames else below
    if below == above:
        below = max(1, above - 8)
    return below, above


def audio_num_samples(num_frames: int, fps: float, sample_rate: int) -> int | None:
    """Samples in a clip of ``num_frames`` at ``fps`` if it is an integer, else None."""
    exact = num_frames * sample_rate / fps
    rounded = round(exact)
    return int(rounded) if abs(exact - rounded) < 1e-6 else None


# --------------------------------------------------------------------------------------------- clip


# Sane upper bounds (docs/security.md): larger values are typos that would fail only after minutes of work.
MAX_SIDE_PX = 4096
MAX_NUM_FRAMES = 1025


class ClipSettings(Frozen):
    """Frame geometry and timing shared by every stream of a clip."""

    width: int = Field(
        gt=0, le=MAX_SIDE_PX, description="pixels; multiple of 32 x reference_downscale, <= 4096"
    )
    height: int = Field(
        gt=0, le=MAX_SIDE_PX, description="pixels; multiple of 32 x reference_downscale, <= 4096"
    )
    num_frames: int = Field(
        gt=0, le=MAX_NUM_FRAMES, description="8k+1 (LTX VAE temporal compression), <= 1025"
    )
    fps: float = Field(gt=0.0, le=240.0, description="frames per second; frame i is at t = i / fps")
    reference_downscale: Literal[1, 2, 4] = Field(description="reference side = target side / this")
    reference_temporal_factor: Literal[1, 2] = Field(description="reference frames = target frames / this")

    @field_validator("num_frames")
    @classmethod
    def _frames_8k_plus_1(cls, value: int) -> int:
        if (value - 1) % 8 != 0:
            below, above = nearest_valid_frame_counts(value)
            raise ValueError(f"must be 8k+1 (nearest valid: {below} or {above})")
        return value

    @model_validator(mode="after")
    def _sides_multiple_of_32s(self) -> ClipSettings:
        unit = 32 * self.reference_downscale
        for name in ("width", "height"):
            value = getattr(self, name)
            if value % unit != 0:
                lower = max(unit, value // unit * unit)
                raise ValueError(
                    f"{name}={value} must be a multiple of {unit} (32 x reference_downscale "
                    f"{self.reference_downscale}; nearest valid: {lower} or {lower + unit})"
                )
        if self.reference_temporal_factor > 1 and (self.num_frames - 1) % (
            8 * self.reference_temporal_factor
        ):
            raise ValueError(
                f"num_frames={self.num_frames} must be {8 * self.reference_temporal_factor}k+1 so the "
                f"reference at temporal factor {self.reference_temporal_factor} is still 8k+1"
            )
        return self

    @property
    def duration_s(self) -> float:
        """Time from the first to the last frame: (num_frames - 1) / fps."""
        return (self.num_frames - 1) / self.fps

    def frame_times_s(self) -> np.ndarray:
        """float64 (F,): frame i is at t = i / fps."""
        return np.arange(self.num_frames, dtype=np.float64) / self.fps


# ------------------------------------------------------------------------------------------ camera


class IntrinsicsSpec(Frozen):
    """Pinhole intrinsics in Blender's terms (sensor fit horizontal); K in pixels derives from these.

    ``fov_deg`` may be given instead of ``focal_length_mm`` (horizontal field of view).
    """

    focal_length_mm: float = Field(35.0, gt=0.0)
    sensor_width_mm: float = Field(36.0, gt=0.0)
    shift_x: float = Field(0.0, ge=-2.0, le=2.0, description="Blender lens shift, fraction of width")
    shift_y: float = Field(0.0, ge=-2.0, le=2.0, description="Blender lens shift, fraction of width")

    @model_validator(mode="before")
    @classmethod
    def _from_fov(cls, data: Any) -> Any:
        if isinstance(data, dict) and "fov_deg" in data:
            data = dict(data)
            fov = float(data.pop("fov_deg"))
            if not 0.0 < fov < 180.0:
                raise ValueError(f"fov_deg={fov} must be in (0, 180)")
            sensor = float(data.get("sensor_width_mm", 36.0))
            data["focal_length_mm"] = sensor / (2.0 * math.tan(math.radians(fov) / 2.0))
        return data

    @property
    def fov_deg(self) -> float:
        """Horizontal field of view in degrees."""
        return math.degrees(2.0 * math.atan(self.sensor_width_mm / (2.0 * self.focal_length_mm)))


class AxisMove(Frozen):
    """Translation along, or rotation about, one camera axis.

    dolly: forward (m), truck: right (m), pedestal: up (m, world Z), pan: yaw about world Z (deg, positive
    turns counter-clockwise seen from above, i.e. left), tilt: about the camera's right axis (deg, positive
    looks up), roll: about the view axis (deg, positive turns the image content clockwise). Formulas in
    docs/conventions.md.
    """

    kind: Literal["dolly", "truck", "pedestal", "pan", "tilt", "roll"]
    amount: float = Field(description="metres for dolly/truck/pedestal, degrees for pan/tilt/roll")
    start: float = Field(0.0, ge=0.0, le=1.0, description="fraction of the clip where the move begins")
    end: float = Field(1.0, ge=0.0, le=1.0, description="fraction of the clip where the move ends")
    easing: Literal["linear", "smooth"] = "smooth"

    @model_validator(mode="after")
    def _ordered(self) -> AxisMove:
        if self.end <= self.start:
            raise ValueError(f"end={self.end} must be greater than start={self.start}")
        return self


class OrbitMove(AxisMove):
    """Orbit the camera about a vertical axis through ``center_m`` by ``amount`` degrees, keeping its aim."""

    kind: Literal["orbit"] = "orbit"  # type: ignore[assignment]
    center_m: Vec3 = (0.0, 0.0, 0.0)


class ZoomMove(AxisMove):
    """Change the focal length by the factor ``amount`` (2.0 doubles it) over the move."""

    kind: Literal["zoom"] = "zoom"  # type: ignore[assignment]
    amount: float = Field(gt=0.0, description="focal length multiplier at the end of the move")


class CraneMove(AxisMove):
    """Rise by ``amount`` metres while tilting to keep looking at ``target_m`` (a jib/crane shot)."""

    kind: Literal["crane"] = "crane"  # type: ignore[assignment]
    target_m: Vec3 = (0.0, 0.0, 0.0)


class HandheldShake(Frozen):
    """Band-limited seeded shake added to the pose: sums of sinusoids below ``max_frequency_hz``."""

    kind: Literal["handheld"] = "handheld"
    translation_m: float = Field(0.01, ge=0.0, le=1.0)
    rotation_deg: float = Field(0.5, ge=0.0, le=20.0)
    max_frequency_hz: float = Field(2.0, gt=0.0, le=30.0)
    seed: int = Field(0, ge=0)


CameraMove = Annotated[
    AxisMove | OrbitMove | ZoomMove | CraneMove | HandheldShake, Field(discriminator="kind")
]


class OpticsSpec(Frozen):
    """Lens and sensor effects beyond the pinhole; the defaults are none (every frame sharp, exact, neutral).

    The labels are defined at the centre of the shutter interval (docs/conventions.md): motion blur spreads
    a frame over ``shutter_fraction`` of the frame interval centred on the frame's time.
    """

    shutter_fraction: float = Field(
        0.0, ge=0.0, le=1.0, description="open shutter / frame interval; 0 = no blur"
    )
    f_stop: float = Field(0.0, ge=0.0, le=128.0, description="aperture f-number; 0 = no depth of field")
    focus_object_id: int = Field(0, ge=0, description="object kept in focus (0 = focus_distance_m)")
    focus_distance_m: float = Field(10.0, gt=0.0, description="focus distance when focus_object_id is 0")
    exposure_ev: float = Field(0.0, ge=-10.0, le=10.0, description="exposure change in stops (x 2**ev)")
    white_balance_k: float = Field(
        6500.0, ge=2500.0, le=25000.0, description="illuminant the camera balances for; 6500 = neutral"
    )


class CameraSpec(Frozen):
    """Camera base pose (position + look-at + roll), intrinsics, optics and a list of moves composed in order."""

    position_m: Vec3 = (0.0, -8.0, 3.0)
    look_at_m: Vec3 = (0.0, 0.0, 0.5)
    roll_deg: float = 0.0
    intrinsics: IntrinsicsSpec = IntrinsicsSpec()
    clip_start_m: float = Field(0.05, gt=0.0)
    clip_end_m: float = Field(500.0, gt=0.0)
    moves: tuple[CameraMove, ...] = ()
    optics: OpticsSpec = OpticsSpec()

    @model_validator(mode="after")
    def _valid_pose(self) -> CameraSpec:
        if np.allclose(self.position_m, self.look_at_m):
            raise ValueError("position_m and look_at_m must differ")
        if self.clip_end_m <= self.clip_start_m:
            raise ValueError(f"clip_end_m={self.clip_end_m} must exceed clip_start_m={self.clip_start_m}")
        return self


# ------------------------------------------------------------------------------------ trajectories


class StaticPath(Frozen):
    """The object stays at ``position_m``."""

    kind: Literal["static"] = "static"
    position_m: Vec3 = (0.0, 0.0, 0.0)


class WaypointPath(Frozen):
    """Through waypoints at even time spacing.

    linear: piecewise linear; catmull_rom: centripetal Catmull-Rom spline through every waypoint;
    bezier: one Bezier curve with the waypoints as control points (passes the first and last only).
    """

    kind: Literal["linear", "catmull_rom", "bezier"]
    waypoints_m: tuple[Vec3, ...] = Field(min_length=2)
    easing: Literal["linear", "smooth"] = "linear"


class PiecewisePath(Frozen):
    """Linear segments between waypoints with holds: ``hold_frames[i]`` frames standing at waypoint i."""

    kind: Literal["piecewise"] = "piecewise"
    waypoints_m: tuple[Vec3, ...] = Field(min_length=2)
    hold_frames: tuple[Annotated[int, Field(ge=0)], ...] = ()
    easing: Literal["linear", "smooth"] = "smooth"

    @model_validator(mode="after")
    def _holds_match(self) -> PiecewisePath:
        if self.hold_frames and len(self.hold_frames) != len(self.waypoints_m):
            raise ValueError(
                f"hold_frames has {len(self.hold_frames)} entries; needs one per waypoint "
                f"({len(self.waypoints_m)})"
            )
        return self


class CirclePath(Frozen):
    """Circle of ``radius_m`` about ``center_m`` in the plane normal to ``axis``; ``turns`` per clip."""

    kind: Literal["circle"] = "circle"
    center_m: Vec3 = (0.0, 0.0, 0.5)
    radius_m: float = Field(1.0, gt=0.0)
    axis: Vec3 = (0.0, 0.0, 1.0)
    turns: float = 1.0
    phase_deg: float = 0.0


class LissajousPath(Frozen):
    """x_k(u) = center_k + amplitude_k sin(2 pi frequency_k u + phase_k), u in [0, 1] over the clip."""

    kind: Literal["lissajous"] = "lissajous"
    center_m: Vec3 = (0.0, 0.0, 0.5)
    amplitude_m: Vec3 = (1.0, 1.0, 0.0)
    frequency: Vec3 = (1.0, 2.0, 0.0)
    phase_deg: Vec3 = (90.0, 0.0, 0.0)


class RandomSmoothPath(Frozen):
    """A smooth random path: a C2 spline through ``num_knots`` seeded points inside a box."""

    kind: Literal["random_smooth"] = "random_smooth"
    center_m: Vec3 = (0.0, 0.0, 0.5)
    extent_m: Vec3 = (2.0, 2.0, 0.0)
    num_knots: int = Field(4, ge=2, le=64)
    seed: int = Field(0, ge=0)


class PhysicsPath(Frozen):
    """Rigid-body motion: released at ``position_m`` with the given velocities, falling under gravity onto the
    ground and the other physics objects, colliding and coming to rest (``synthgen.labels.physics``)."""

    kind: Literal["physics"] = "physics"
    position_m: Vec3 = Field(description="centre of the object's bounding box at t = 0")
    velocity_m_per_s: Vec3 = Field(description="linear velocity at t = 0")
    angular_velocity_deg_per_s: Vec3 = Field(description="angular velocity at t = 0, world axes")
    friction: float = Field(ge=0.0, le=2.0, description="Coulomb friction coefficient")
    restitution: float = Field(ge=0.0, le=1.0, description="bounciness: 0 dead, 1 elastic")


Trajectory = Annotated[
    StaticPath | WaypointPath | PiecewisePath | CirclePath | LissajousPath | RandomSmoothPath | PhysicsPath,
    Field(discriminator="kind"),
]


class OrientationSpec(Frozen):
    """Object orientation: a base XYZ Euler rotation, then constant spin; or facing the direction of travel."""

    mode: Literal["fixed", "spin", "along_velocity"] = "fixed"
    euler_deg: Vec3 = (0.0, 0.0, 0.0)
    spin_deg_per_s: Vec3 = (0.0, 0.0, 0.0)


# -------------------------------------------------------------------------------- objects / world

Primitive = Literal["sphere", "cube", "cylinder", "cone", "torus", "monkey", "plane", "mesh", "procedural"]
UnitFloat = Annotated[float, Field(gt=0.0, le=1.0)]


class VesselShape(Frozen):
    """A lathed vessel: the profile (radius at evenly spaced heights, bottom to top) revolved about +Z."""

    kind: Literal["vessel"] = "vessel"
    profile_radii: tuple[UnitFloat, ...] = Field(
        min_length=3, max_length=32, description="radius at heights i / (n - 1), fraction of the widest"
    )
    height_ratio: float = Field(gt=0.1, le=5.0, description="height / widest diameter")


class RockShape(Frozen):
    """An icosphere displaced along its normals by seeded smooth noise, then stretched per axis."""

    kind: Literal["rock"] = "rock"
    subdivisions: int = Field(ge=1, le=4, description="icosphere subdivision levels")
    roughness: float = Field(ge=0.0, le=0.6, description="noise amplitude, fraction of the radius")
    stretch_xyz: tuple[UnitFloat, UnitFloat, UnitFloat] = Field(description="per-axis scale before bounds")
    seed: int = Field(ge=0, description="noise seed")


class BoxShape(Frozen):
    """A box with chamfered (bevelled) edges, twisted about +Z and tapered towards the top."""

    kind: Literal["box"] = "box"
    proportions_xyz: tuple[UnitFloat, UnitFloat, UnitFloat] = Field(description="side lengths, largest 1")
    bevel_fraction: float = Field(ge=0.0, le=0.45, description="chamfer width, fraction of the shortest side")
    twist_deg: float = Field(
        ge=-180.0, le=180.0, description="turn of the top about +Z relative to the bottom"
    )
    taper: float = Field(gt=0.0, le=1.0, description="top size / bottom size")


class ExtrusionShape(Frozen):
    """A simple polygon outline (counter-clockwise, in the XY plane) extruded along +Z."""

    kind: Literal["extrusion"] = "extrusion"
    outline_xy: tuple[tuple[float, float], ...] = Field(
        min_length=3, max_length=256, description="vertices of a simple polygon, no repeats"
    )
    depth_ratio: float = Field(gt=0.0, le=2.0, description="extrusion depth / outline width")

    @model_validator(mode="after")
    def _simple_polygon(self) -> ExtrusionShape:
        points = np.asarray(self.outline_xy, dtype=np.float64)
        area = 0.5 * float(
            np.sum(points[:, 0] * np.roll(points[:, 1], -1) - np.roll(points[:, 0], -1) * points[:, 1])
        )
        if area <= 0.0:
            raise ValueError(
                f"outline_xy: signed area {area:.6g} must be > 0 (counter-clockwise, not degenerate)"
            )
        if _polygon_self_intersects(points):
            raise ValueError("outline_xy: edges must not cross (a simple polygon)")
        return self


class FurnitureShape(Frozen):
    """A chair or table assembled from boxes: a top (seat), four legs and, for a chair, a back."""

    kind: Literal["chair", "table"]
    width_ratio: float = Field(gt=0.2, le=3.0, description="top depth (y) / top width (x)")
    height_ratio: float = Field(gt=0.2, le=3.0, description="top height above the floor / top width")
    leg_fraction: float = Field(gt=0.02, le=0.3, description="leg thickness / top width")
    top_fraction: float = Field(gt=0.02, le=0.3, description="top thickness / top width")
    back_ratio: float = Field(ge=0.0, le=3.0, description="chair back height above the seat / top width")

    @model_validator(mode="after")
    def _back_only_on_chairs(self) -> FurnitureShape:
        if (self.kind == "chair") != (self.back_ratio > 0.0):
            raise ValueError(f"back_ratio={self.back_ratio}: must be > 0 for a chair and 0 for a table")
        return self


def _polygon_self_intersects(points: np.ndarray) -> bool:
    """Whether two non-adjacent edges of the closed polygon ``points`` (N, 2) touch or cross."""
    count = len(points)
    starts, ends = points, np.roll(points, -1, axis=0)

    def orient(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> float:
        return float((b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]))

    for i in range(count):
        for j in range(i + 1, count):
            if j == i + 1 or (i == 0 and j == count - 1):
                if np.array_equal(starts[i], ends[j]) and np.array_equal(ends[i], starts[j]):
                    return True  # a two-vertex back-and-forth
                continue
            a, b, c, d = starts[i], ends[i], starts[j], ends[j]
            d1, d2, d3, d4 = orient(a, b, c), orient(a, b, d), orient(c, d, a), orient(c, d, b)
            if d1 * d2 <= 0.0 and d3 * d4 <= 0.0:
                bounds_meet = (
                    min(a[0], b[0]) <= max(c[0], d[0])
                    and min(c[0], d[0]) <= max(a[0], b[0])
                    and min(a[1], b[1]) <= max(c[1], d[1])
                    and min(c[1], d[1]) <= max(a[1], b[1])
                )
                if bounds_meet:
                    return True
    return False


ProceduralShape = Annotated[
    VesselShape | RockShape | BoxShape | ExtrusionShape | FurnitureShape, Field(discriminator="kind")
]
TextureKind = Literal["none", "noise", "voronoi", "checker", "wave", "brick"]


MaterialFamily = Literal[
    "principled",
    "wood",
    "marble",
    "brushed_metal",
    "rough_metal",
    "rough_plastic",
    "glossy_plastic",
    "fabric",
    "concrete",
    "rock",
    "rubber",
    "car_paint",
    "ceramic",
    "asphalt",
    "tiles",
    "sand",
    "grass",
    "wood_floor",
]


class MaterialSpec(Frozen):
    """Principled-BSDF parameters plus an optional procedural texture mixing two colours.

    ``family`` other than ``principled`` builds a procedural material of the library
    (``synthgen.scenes.materials``): its pattern mixes the two colours, bumps the normals and varies the
    roughness; ``texture`` is then unused.
    """

    family: MaterialFamily = Field("principled", description="material library family")
    bump_strength: float = Field(0.0, ge=0.0, le=1.0, description="bump-map strength of the family's pattern")
    pattern_offset_m: Vec3 = Field(
        (0.0, 0.0, 0.0), description="offset of the pattern in object space (two objects never look alike)"
    )
    pattern_detail: float = Field(2.0, ge=0.0, le=15.0, description="noise octaves of the family's pattern")
    coat: float = Field(0.0, ge=0.0, le=1.0, description="clear-coat weight (car paint, ceramic)")
    anisotropy: float = Field(0.0, ge=0.0, le=1.0, description="anisotropic highlights (brushed metal)")
    sheen: float = Field(0.0, ge=0.0, le=1.0, description="sheen weight (fabric)")

    base_color_rgb: ColorRGB = (0.8, 0.8, 0.8)
    roughness: float = Field(0.5, ge=0.0, le=1.0)
    metallic: float = Field(0.0, ge=0.0, le=1.0)
    texture: TextureKind = "none"
    texture_scale: float = Field(5.0, gt=0.0)
    secondary_color_rgb: ColorRGB = (0.1, 0.1, 0.1)
    emission_strength: float = Field(0.0, ge=0.0)


class ObjectSpec(Frozen):
    """One object: its shape, size, material, path and orientation. ``object_id`` >= 1 (0 is background)."""

    object_id: int = Field(ge=1, le=65535)
    name: str = Field(min_length=1)
    primitive: Primitive = "sphere"
    asset_path: str | None = Field(
        None, description="for primitive='mesh': a .glb/.gltf/.obj/.blend/.usd file (relative to asset_dir)"
    )
    asset_dir: str | None = Field(None, description="the asset library folder asset_path lies inside")
    asset_sha256: str | None = Field(
        None, pattern=r"^[0-9a-f]{64}$", description="sha256 of the asset file, checked before rendering"
    )
    shape: ProceduralShape | None = Field(None, description="for primitive='procedural': its parameters")
    size_m: float = Field(0.5, gt=0.0, description="bounding size: diameter / edge length")
    scale_xyz: Vec3 = Field((1.0, 1.0, 1.0), description="extra per-axis scale (walls, slabs, props)")
    material: MaterialSpec = MaterialSpec()
    path: Trajectory = StaticPath()
    orientation: OrientationSpec = OrientationSpec()
    tracked: bool = Field(True, description="sample point tracks on this object")
    dynamic: bool = Field(True, description="False for set dressing (walls, props) that never moves")

    @model_validator(mode="after")
    def _mesh_needs_asset(self) -> ObjectSpec:
        if self.primitive == "mesh" and not self.asset_path:
            raise ValueError("primitive='mesh' needs asset_path")
        if self.asset_dir is not None:
            if not self.asset_sha256:
                raise ValueError("asset_dir needs asset_sha256 (the file's recorded bytes)")
            # The path joins asset_dir, so it must stay inside it.
            try:
                check_relative_path(str(self.asset_path), what="asset_path")
            except DataError as err:
                raise ValueError(str(err)) from None
        if isinstance(self.path, PhysicsPath) and self.orientation.mode != "fixed":
            raise ValueError(
                f"orientation.mode={self.orientation.mode!r}: a physics path sets the rotation; use 'fixed' "
                "(its euler_deg is the starting rotation)"
            )
        if (self.primitive == "procedural") != (self.shape is not None):
            raise ValueError("shape is given exactly when primitive='procedural'")
        return self


class LightSpec(Frozen):
    """A sun (strength in W/m^2), area or point light (strength in W), coloured by temperature."""

    kind: Literal["sun", "area", "point"] = "sun"
    strength: float = Field(3.0, ge=0.0)
    color_temperature_k: float = Field(5500.0, ge=1000.0, le=20000.0)
    position_m: Vec3 = (4.0, -4.0, 6.0)
    look_at_m: Vec3 = (0.0, 0.0, 0.0)
    size_m: float = Field(1.0, gt=0.0)


class WorldSpec(Frozen):
    """Background (procedural sky, plain colour or HDR environment map) and the ground plane."""

    background: Literal["sky", "plain", "hdri"] = "plain"
    sky_type: Literal["SINGLE_SCATTERING", "MULTIPLE_SCATTERING", "PREETHAM", "HOSEK_WILKIE"] = (
        "MULTIPLE_SCATTERING"
    )
    sun_elevation_deg: float = Field(35.0, ge=-10.0, le=90.0)
    sun_azimuth_deg: float = 45.0
    background_rgb: ColorRGB = (0.05, 0.05, 0.06)
    strength: float = Field(1.0, ge=0.0)
    ground: bool = True
    ground_size_m: float = Field(40.0, gt=0.0)
    ground_material: MaterialSpec = MaterialSpec(texture="checker", texture_scale=20.0)
    hdri_dir: str | None = Field(
        None, description="for background='hdri': 'builtin' (the bpy wheel's environments) or a folder"
    )
    hdri_file: str | None = Field(None, description="for background='hdri': the map's file name in hdri_dir")
    hdri_sha256: str | None = Field(
        None, pattern=r"^[0-9a-f]{64}$", description="sha256 of hdri_file, checked before rendering"
    )
    hdri_rotation_deg: float = Field(
        0.0, ge=0.0, lt=360.0, description="environment turned about +Z, counter-clockwise seen from above"
    )
    ground_projection_height_m: float = Field(
        0.0,
        ge=0.0,
        description="ground-projected dome: height above the ground of the map's viewpoint, over the origin; "
        "the ground shows the map's lower hemisphere projected onto it (0 = off)",
    )
    ground_projection_radius_m: float = Field(
        0.0,
        ge=0.0,
        description="ground-projected dome: radius of the dome around the map's viewpoint; the floor beyond it "
        "is seen through the dome's wall",
    )

    @model_validator(mode="after")
    def _hdri_fields(self) -> WorldSpec:
        if self.background == "hdri" and not (self.hdri_dir and self.hdri_file and self.hdri_sha256):
            raise ValueError("background='hdri' needs hdri_dir, hdri_file and hdri_sha256")
        if self.ground_projection_height_m > 0.0 and not (
            self.background == "hdri" and self.ground and self.ground_projection_radius_m > 0.0
        ):
            raise ValueError(
                "ground_projection_height_m > 0 needs background='hdri', ground=true and "
                "ground_projection_radius_m > 0"
            )
        # The file name joins hdri_dir, so it must stay inside it.
        if self.hdri_file is not None and (
            self.hdri_file in ("", ".", "..") or "/" in self.hdri_file or "\\" in self.hdri_file
        ):
            raise ValueError(f"hdri_file={self.hdri_file!r} must be a bare file name")
        return self


# ------------------------------------------------------------------------------------------- audio

Instrument = Literal["kick", "snare", "hat_closed", "hat_open", "clap", "bass", "pad"]
BindingKind = Literal[
    "bounce", "scale_pulse", "flash", "color_downbeat", "camera_jolt", "camera_cut", "energy"
]


class BindingSpec(Frozen):
    """Audio-reactive motion: ``kind`` drives object ``target_id`` (0 = the camera) from ``source`` onsets."""

    kind: BindingKind
    target_id: int = Field(ge=0)
    source: Literal["beat", "downbeat", "kick", "snare", "hat_closed", "hat_open", "clap", "energy"] = "beat"
    amount: float = Field(1.0, ge=0.0, description="height (m) / scale gain / emission / jolt (deg)")


class AudioSpec(Frozen):
    """Procedural music with a known beat grid, and the motion bindings that follow it."""

    sample_rate: int = Field(48000, ge=8000, le=192000)
    bpm: float = Field(120.0, ge=30.0, le=300.0)
    meter: int = Field(4, ge=2, le=12, description="beats per bar")
    swing: float = Field(0.0, ge=0.0, le=0.5, description="delay of off-beat 8ths, fraction of an 8th")
    instruments: tuple[Instrument, ...] = ("kick", "snare", "hat_closed", "bass")
    seed: int = Field(0, ge=0)
    snap_to_frames: bool = False
    loops_dir: str | None = None
    bindings: tuple[BindingSpec, ...] = ()


# ------------------------------------------------------------------------------------------ render


class RenderSpec(Frozen):
    """Renderer settings (the packaged default, ``conf/render/cycles_cpu.yaml``, runs anywhere)."""

    engine: Literal["cycles", "eevee", "workbench"] = Field(description="Blender render engine")
    device: Literal["cpu", "cuda", "optix", "hip", "metal", "oneapi"] = Field(
        description="Cycles compute device (Eevee and Workbench use the GPU or software EGL)"
    )
    samples: int = Field(ge=1, le=65536, description="samples per pixel")
    denoise: bool = Field(description="OpenImageDenoise on the rendered frames")
    threads: int = Field(ge=0, description="CPU threads; 0 = all cores")
    motion_blur: bool = Field(description="Blender motion blur (off keeps every frame at its exact time)")
    tracks_per_object: int = Field(ge=0, le=4096, description="surface points tracked per object")
    background_tracks: int = Field(ge=0, le=65536, description="points tracked on ground and static objects")
    dense_labels: bool = Field(
        description="per-pixel labels in the row: flow, object coordinates, normals, depth, ids"
    )


# Render fields added after datasets were written, with the value every spec written before them implies
# (``ClipSpec`` fills them in when parsing such a spec, so old datasets' specs still parse and re-render).
RENDER_FIELDS_ADDED: dict[str, Any] = {"dense_labels": False}


# -------------------------------------------------------------------------------------------- clip


class ClipSpec(Frozen):
    """One clip, completely: reproducible from this alone."""

    schema_version: int = SCHEMA_VERSION
    dataset_name: str = "synthgen"
    dataset_seed: int = Field(ge=0)
    clip_index: int = Field(ge=0)
    scene: str = Field(min_length=1, description="scene recipe name or path")
    control: str = Field("motion_track", description="control job this clip was sampled for")
    clip: ClipSettings = Field(description="frame size, length and rate")
    camera: CameraSpec = CameraSpec()
    objects: tuple[ObjectSpec, ...] = ()
    lights: tuple[LightSpec, ...] = (LightSpec(),)
    world: WorldSpec = WorldSpec()
    audio: AudioSpec | None = None
    render: RenderSpec = Field(description="renderer settings")
    variant: str = Field("target", description="'target', or 'reference' for the paired scene of a job")

    @model_validator(mode="before")
    @classmethod
    def _fill_render_fields_added_later(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("render"), dict):
            data = {**data, "render": {**RENDER_FIELDS_ADDED, **data["render"]}}
        return data

    @model_validator(mode="after")
    def _cross_field_rules(self) -> ClipSpec:
        ids = [obj.object_id for obj in self.objects]
        if len(ids) != len(set(ids)):
            raise ValueError(f"objects: object_id values must be unique, got {ids}")
        focus = self.camera.optics.focus_object_id
        if focus and focus not in ids:
            raise ValueError(f"camera.optics.focus_object_id={focus} names no object")
        if self.audio is not None:
            if audio_num_samples(self.clip.num_frames, self.clip.fps, self.audio.sample_rate) is None:
                raise ValueError(
                    f"audio.sample_rate={self.audio.sample_rate}: num_frames/fps*sample_rate = "
                    f"{self.clip.num_frames}/{self.clip.fps}*{self.audio.sample_rate} is not an integer"
                )
            known = set(ids) | {0}
            for binding in self.audio.bindings:
                if binding.target_id not in known:
                    raise ValueError(f"audio.bindings: target_id={binding.target_id} names no object")
        return self

    @property
    def clip_id(self) -> str:
        """Stable id, see ``clip_id``."""
        return clip_id(self.dataset_name, self.clip_index, self.variant)

    @property
    def render_seed(self) -> int:
        """Cycles' seed, derived from (dataset_seed, clip_index) so renders are reproducible per clip."""
        state = np.random.SeedSequence([self.dataset_seed, self.clip_index, 0xC1C1E5]).generate_state(1)
        return int(state[0] & 0x7FFFFFFF)

    def to_json(self) -> str:
        """Canonical JSON (sorted keys) so equal specs give equal bytes."""
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> ClipSpec:
        """Parse JSON written by ``to_json``; invalid input raises ConfigError naming the field."""
        try:
            return cls.model_validate_json(text)
        except ValidationError as err:
            raise config_error_from_validation(err, "spec") from None


UNION_TAGS.update(("dolly", "truck", "pedestal", "pan", "tilt", "roll", "orbit", "zoom", "crane", "handheld"))
UNION_TAGS.update(("vessel", "rock", "box", "extrusion", "chair", "table"))
UNION_TAGS.update(
    ("static", "linear", "catmull_rom", "bezier", "piecewise", "circle", "lissajous", "random_smooth")
)
UNION_TAGS.add("physics")


def clip_id(dataset_name: str, clip_index: int, variant: str = "target") -> str:
    """``<dataset_name>-<clip_index:06d>``, plus ``-<variant>`` (``-reference``) for a paired scene."""
    suffix = "" if variant == "target" else f"-{variant}"
    return f"{dataset_name}-{clip_index:06d}{suffix}"


def clip_rng(dataset_seed: int, clip_index: int) -> np.random.Generator:
    """The one random generator of a clip: ``Generator(PCG64(SeedSequence([dataset_seed, clip_index])))``."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([dataset_seed, clip_index])))
