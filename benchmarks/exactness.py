"""Exactness of rendered positions and occlusion flags against the labels.

1. Markers: small emissive white spheres (no lights, black world) on varied paths under a moving, zooming
   camera. Each marker's rendered centroid (coverage-weighted: the 8-bit sRGB frame decoded back to
   linear) is compared with where its label says it is: the projected silhouette centre of a sphere at the
   label's position, ``f * (X, Y) * Z / (Z^2 - r^2) + c`` in OpenCV camera coordinates. The plain projection
   of the centre is reported too; the two differ by the perspective bulge of a sphere, O((r/Z)^2).
   Bar: mean <= 0.1 px, max <= 0.5 px over >= 200 marker-frames.
2. Occlusion: textured, lit objects with many tracks; the ray-cast ``occluded`` flag is compared with the
   depth-buffer test (buffer depth clearly in front of the point) away from silhouette edges (3x3 id
   neighbourhood uniform). Goal: >= 99.5 % agreement. ``--look library`` dresses the occlusion clip in
   library materials on a textured ground; ``--look scene`` also makes three of its objects procedural
   shapes (rock, vessel, bevelled box) and lights it with one of the bpy wheel's environment maps, as the
   default look's scenes are (motion blur and depth of field off in every look: the bar's condition).

Run: ``.venv/bin/python benchmarks/exactness.py`` (defaults: 128x128, 25 frames, 16 spp); smaller with
``--width 64 --height 64 --frames 9 --samples 4``.
"""

from __future__ import annotations

import argparse
import platform
import time
from dataclasses import dataclass

import numpy as np

from synthgen.describe.spec import (
    CameraSpec,
    CirclePath,
    ClipSettings,
    ClipSpec,
    IntrinsicsSpec,
    LightSpec,
    LissajousPath,
    MaterialSpec,
    ObjectSpec,
    OrbitMove,
    RandomSmoothPath,
    RenderSpec,
    StaticPath,
    WaypointPath,
    WorldSpec,
    ZoomMove,
)
from synthgen.labels.geometry import world_to_camera_cv
from synthgen.render import RenderedClip, render_clip
from synthgen.scenes.environment import BUILTIN, list_hdris
from synthgen.scenes.materials import GROUND_FAMILIES, OBJECT_FAMILIES, sample_family
from synthgen.scenes.shapes import sample_shape

MARKER_DIAMETER_PX = 7.0
WINDOW_MARGIN_PX = 3.0
# The buffer test calls a point occluded when the rendered surface is in front of it by more than a
# tolerance: one pixel footprint (depth / fx), or half the depth range of the 3x3 neighbourhood on slanted
# surfaces, since the depth pass samples one jittered position per pixel.
BUFFER_OCCLUSION_PIXELS = 1.0
BUFFER_OCCLUSION_SLOPE = 0.5
BUFFER_OCCLUSION_ABS_M = 0.01


def _clip(width: int, height: int, frames: int) -> ClipSettings:
    return ClipSettings(
        width=width,
        height=height,
        num_frames=frames,
        fps=24.0,
        reference_downscale=1,
        reference_temporal_factor=1,
    )


def _render(samples: int, tracks_per_object: int, background_tracks: int) -> RenderSpec:
    """Cycles on the CPU, every render setting stated so the benchmark does not follow the YAML's."""
    return RenderSpec(
        engine="cycles",
        device="cpu",
        samples=samples,
        denoise=False,
        threads=0,
        motion_blur=False,
        tracks_per_object=tracks_per_object,
        background_tracks=background_tracks,
        dense_labels=False,
    )


@dataclass(frozen=True)
class MarkerReport:
    """Centroid errors in pixels over the measured marker-frames."""

    errors_px: np.ndarray
    plain_projection_errors_px: np.ndarray
    skipped: int
    seconds: float

    @property
    def mean_px(self) -> float:
        return float(self.errors_px.mean()) if self.errors_px.size else float("nan")

    @property
    def max_px(self) -> float:
        return float(self.errors_px.max()) if self.errors_px.size else float("nan")


@dataclass(frozen=True)
class OcclusionReport:
    """Agreement of ray-cast and depth-buffer occlusion over in-frame track points."""

    agreement_interior: float
    count_interior: int
    contact_fraction: float
    agreement_with_contact: float
    agreement_all: float
    count_all: int
    occluded_fraction: float
    seconds: float


def marker_spec(width: int, height: int, frames: int, samples: int, num_markers: int, seed: int) -> ClipSpec:
    """A clip of ``num_markers`` emissive spheres of ~7 px on varied paths under an orbiting, zooming camera."""
    rng = np.random.default_rng([seed, 101])
    distance_m = 8.0
    focal_mm, sensor_mm = 35.0, 36.0
    fx_px = focal_mm / sensor_mm * width
    # Zoom ends at 1.3x: size the markers for the average magnification.
    size_m = MARKER_DIAMETER_PX * distance_m / (fx_px * 1.15)
    white = MaterialSpec(base_color_rgb=(1.0, 1.0, 1.0), emission_strength=1.0, roughness=1.0)
    objects = []
    for index in range(num_markers):
        # One marker per cell of a 4-column grid over the view keeps markers apart (crowded ones are skipped).
        column, row = index % 4, index // 4
        center = (
            -3.0 + 2.0 * column + float(rng.uniform(-0.3, 0.3)),
            float(rng.uniform(-1.0, 1.0)),
            -0.3 + 1.4 * row + float(rng.uniform(-0.2, 0.2)),
        )
        kind = index % 4
        path: CirclePath | LissajousPath | RandomSmoothPath | WaypointPath
        if kind == 0:
            path = CirclePath(
                center_m=center, radius_m=float(rng.uniform(0.3, 1.0)), phase_deg=float(rng.uniform(0, 360))
            )
        elif kind == 1:
            path = LissajousPath(center_m=center, amplitude_m=(0.4, 0.4, 0.3), frequency=(1.0, 2.0, 1.0))
        elif kind == 2:
            path = RandomSmoothPath(
                center_m=center, extent_m=(1.5, 1.5, 0.5), seed=int(rng.integers(1 << 30))
            )
        else:
            end = tuple(float(c + d) for c, d in zip(center, rng.uniform(-0.4, 0.4, 3)))
            path = WaypointPath(kind="linear", waypoints_m=(center, end))
        objects.append(
            ObjectSpec(
                object_id=index + 1,
                name=f"marker_{index}",
                primitive="sphere",
                size_m=size_m,
                material=white,
                path=path,
            )
        )
    camera = CameraSpec(
        position_m=(0.0, -distance_m, 2.5),
        look_at_m=(0.0, 0.0, 1.0),
        intrinsics=IntrinsicsSpec(
            focal_length_mm=focal_mm, sensor_width_mm=sensor_mm, shift_x=0.03, shift_y=-0.02
        ),
        moves=(OrbitMove(amount=25.0, easing="linear"), ZoomMove(amount=1.3)),
    )
    return ClipSpec(
        dataset_seed=seed,
        clip_index=0,
        scene="tracked_objects",
        clip=_clip(width, height, frames),
        camera=camera,
        objects=tuple(objects),
        lights=(),
        world=WorldSpec(background="plain", background_rgb=(0.0, 0.0, 0.0), strength=0.0, ground=False),
        render=_render(samples, tracks_per_object=0, background_tracks=0),
    )


def _linear_from_srgb8(frames: np.ndarray) -> np.ndarray:
    encoded = frames.astype(np.float64) / 255.0
    return np.where(encoded <= 0.04045, encoded / 12.92, ((encoded + 0.055) / 1.055) ** 2.4)


def measure_markers(clip: RenderedClip) -> tuple[np.ndarray, np.ndarray, int]:
    """(errors vs silhouette centre, errors vs plain centre projection, skipped count), pixels."""
    spec, labels = clip.spec, clip.labels
    width, height = spec.clip.width, spec.clip.height
    coverage = _linear_from_srgb8(clip.frames_rgb).mean(axis=-1)
    centres_world = labels.objects.world_from_local[:, :, :3, 3].transpose(1, 0, 2)  # (F, N, 3)
    camera_points = world_to_camera_cv(centres_world, labels.camera.camera_from_world_cv)
    K = labels.camera.intrinsics_px
    radius_m = np.array([obj.size_m / 2.0 for obj in spec.objects])
    X, Y, Z = camera_points[..., 0], camera_points[..., 1], camera_points[..., 2]
    bulge = Z / (Z**2 - radius_m[None] ** 2)
    fx, fy, cx, cy = K[:, None, 0, 0], K[:, None, 1, 1], K[:, None, 0, 2], K[:, None, 1, 2]
    silhouette = np.stack([fx * X * bulge + cx, fy * Y * bulge + cy], -1)
    plain = np.stack([fx * X / Z + cx, fy * Y / Z + cy], -1)
    radius_px = fx * radius_m[None] / Z
    errors, plain_errors, skipped = [], [], 0
    rows, cols = np.mgrid[0:height, 0:width]
    centres_x, centres_y = cols + 0.5, rows + 0.5
    for frame in range(spec.clip.num_frames):
        for marker in range(len(spec.objects)):
            cx_px, cy_px = silhouette[frame, marker]
            reach = radius_px[frame, marker] + WINDOW_MARGIN_PX
            others = np.delete(np.arange(len(spec.objects)), marker)
            gap = np.linalg.norm(silhouette[frame, others] - silhouette[frame, marker], axis=-1)
            crowded = np.any(gap < reach + radius_px[frame, others] + 1.0)
            outside = (
                cx_px - reach < 0 or cy_px - reach < 0 or cx_px + reach > width or cy_px + reach > height
            )
            if crowded or outside or Z[frame, marker] <= radius_m[marker]:
                skipped += 1
                continue
            window = (centres_x - cx_px) ** 2 + (centres_y - cy_px) ** 2 <= reach**2
            weight = coverage[frame] * window
            total = weight.sum()
            if total <= 0.0:
                skipped += 1
                continue
            got = np.array([(weight * centres_x).sum() / total, (weight * centres_y).sum() / total])
            errors.append(np.linalg.norm(got - silhouette[frame, marker]))
            plain_errors.append(np.linalg.norm(got - plain[frame, marker]))
    return np.array(errors), np.array(plain_errors), skipped


def run_markers(
    width: int, height: int, frames: int, samples: int, num_markers: int, seed: int = 0
) -> MarkerReport:
    """Render the marker clip and measure centroid errors."""
    start = time.perf_counter()
    clip = render_clip(marker_spec(width, height, frames, samples, num_markers, seed))
    errors, plain, skipped = measure_markers(clip)
    return MarkerReport(errors, plain, skipped, time.perf_counter() - start)


def occlusion_spec(width: int, height: int, frames: int, samples: int, seed: int) -> ClipSpec:
    """Opaque textured objects crossing in front of each other, with dense tracks."""
    primitives = ("sphere", "cube", "torus", "monkey", "cylinder", "cone")
    textures = ("checker", "noise", "voronoi", "wave", "brick", "none")
    rng = np.random.default_rng([seed, 202])
    objects = []
    for index, (primitive, texture) in enumerate(zip(primitives, textures)):
        start = (float(rng.uniform(-2, 2)), float(rng.uniform(-1.5, 1.5)), 0.6)
        end = (-start[0], float(rng.uniform(-1.5, 1.5)), 0.6)
        objects.append(
            ObjectSpec(
                object_id=index + 1,
                name=f"{primitive}_{index}",
                primitive=primitive,  # type: ignore[arg-type]
                size_m=1.2,
                material=MaterialSpec(
                    texture=texture, base_color_rgb=tuple(rng.uniform(0.2, 0.9, 3).tolist())
                ),  # type: ignore[arg-type]
                path=WaypointPath(kind="linear", waypoints_m=(start, end)),
            )
        )
    objects.append(
        ObjectSpec(
            object_id=7,
            name="pillar",
            primitive="cube",
            size_m=1.0,
            scale_xyz=(0.4, 0.4, 2.5),
            path=StaticPath(position_m=(0.3, -1.5, 1.25)),
            dynamic=False,
        )
    )
    return ClipSpec(
        dataset_seed=seed,
        clip_index=1,
        scene="tracked_objects",
        clip=_clip(width, height, frames),
        camera=CameraSpec(position_m=(0.0, -7.0, 2.5), look_at_m=(0.0, 0.0, 0.6)),
        objects=tuple(objects),
        lights=(LightSpec(kind="sun", strength=3.0),),
        render=_render(samples, tracks_per_object=64, background_tracks=64),
    )


def measure_occlusion(clip: RenderedClip) -> tuple[float, int, float, float, float, int, float]:
    """Agreement of the ray-cast flag with the depth-buffer test over in-frame points.

    Returns (agreement away from edges and contact, count, contact fraction, agreement away from edges
    including contact, agreement over all in-frame points, their count, occluded fraction). "Edges": the
    3x3 id neighbourhood is not uniform. "Contact": the ray cast finds the occluder closer to the point
    than the buffer tolerance, which a depth buffer cannot resolve (e.g. the monkey's eyes inside its head).
    """
    tracks = clip.tracks
    assert tracks is not None
    frame_idx, point_idx = np.nonzero(tracks.in_frame)
    xy = tracks.xy_px[frame_idx, point_idx]
    col, row = xy[:, 0].astype(int), xy[:, 1].astype(int)
    depth = tracks.depth_m[frame_idx, point_idx]
    buffer = tracks.buffer_depth_m[frame_idx, point_idx].astype(np.float64)
    raycast = tracks.occluded[frame_idx, point_idx]
    raycast_depth = tracks.raycast_depth_m[frame_idx, point_idx].astype(np.float64)

    def neighbourhood(image: np.ndarray) -> np.ndarray:
        padded = np.pad(image, ((0, 0), (1, 1), (1, 1)), mode="edge")
        return np.stack([padded[frame_idx, row + dy, col + dx] for dy in range(3) for dx in range(3)], -1)

    ids = neighbourhood(clip.instance_ids)
    interior = np.all(ids == ids[:, :1], axis=-1)
    depths = neighbourhood(clip.depth_m).astype(np.float64)
    with np.errstate(invalid="ignore"):
        slope = np.nan_to_num(depths.max(-1) - depths.min(-1), nan=0.0, posinf=0.0)
    footprint_m = depth / clip.labels.camera.intrinsics_px[frame_idx, 0, 0]
    tolerance = np.maximum.reduce(
        [
            np.full_like(depth, BUFFER_OCCLUSION_ABS_M),
            BUFFER_OCCLUSION_PIXELS * footprint_m,
            BUFFER_OCCLUSION_SLOPE * slope,
        ]
    )
    buffer_occluded = buffer < depth - tolerance
    contact = raycast & (np.abs(raycast_depth - depth) < tolerance)
    agree = raycast == buffer_occluded
    measured = interior & ~contact
    return (
        float(agree[measured].mean()),
        int(measured.sum()),
        float(contact[interior].mean()),
        float(agree[interior].mean()),
        float(agree.mean()),
        len(agree),
        float(raycast.mean()),
    )


def with_library_look(spec: ClipSpec, seed: int) -> ClipSpec:
    """``spec`` in the default look's materials (library families, a textured ground), blur and DoF off."""
    rng = np.random.default_rng([seed, 303])
    objects = tuple(
        obj.model_copy(update={"material": sample_family(rng, OBJECT_FAMILIES[i % len(OBJECT_FAMILIES)])})
        for i, obj in enumerate(spec.objects)
    )
    ground = sample_family(rng, GROUND_FAMILIES[seed % len(GROUND_FAMILIES)])
    return spec.model_copy(update={"objects": objects, "world": WorldSpec(ground_material=ground)})


def with_new_scene(spec: ClipSpec, seed: int) -> ClipSpec:
    """``spec`` in the library look with three objects made procedural shapes (a rock, a vessel, a bevelled
    box) under one of the bpy wheel's environment maps, lamps dimmed as the default look does."""
    spec = with_library_look(spec, seed)
    rng = np.random.default_rng([seed, 404])
    objects = list(spec.objects)
    for index, family in ((0, "rock"), (2, "vessel"), (4, "box")):
        objects[index] = objects[index].model_copy(
            update={
                "primitive": "procedural",
                "shape": sample_shape(rng, family),
                "name": f"{family}_{index}",
            }
        )
    hdris = list_hdris(BUILTIN)
    hdri = hdris[seed % len(hdris)]
    world = spec.world.model_copy(
        update={
            "background": "hdri",
            "strength": 1.0,
            "hdri_dir": BUILTIN,
            "hdri_file": hdri.name,
            "hdri_sha256": hdri.sha256,
            "hdri_rotation_deg": float(rng.uniform(0.0, 360.0)),
        }
    )
    lights = tuple(light.model_copy(update={"strength": 0.2 * light.strength}) for light in spec.lights)
    return spec.model_copy(update={"objects": tuple(objects), "world": world, "lights": lights})


LOOKS = {"flat": lambda spec, seed: spec, "library": with_library_look, "scene": with_new_scene}


def run_occlusion(
    width: int, height: int, frames: int, samples: int, seed: int = 0, look: str = "flat"
) -> OcclusionReport:
    """Render the occlusion clip in ``look`` and compare the two occlusion tests."""
    start = time.perf_counter()
    spec = occlusion_spec(width, height, frames, samples, seed)
    clip = render_clip(LOOKS[look](spec, seed))
    measured = measure_occlusion(clip)
    return OcclusionReport(*measured, seconds=time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--height", type=int, default=128)
    parser.add_argument("--frames", type=int, default=25)
    parser.add_argument("--samples", type=int, default=16)
    parser.add_argument("--markers", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--look", choices=tuple(LOOKS), default="flat", help="occlusion clip's materials, shapes and world"
    )
    args = parser.parse_args()
    markers = run_markers(args.width, args.height, args.frames, args.samples, args.markers, args.seed)
    occlusion = run_occlusion(args.width, args.height, args.frames, args.samples, args.seed, args.look)
    print(
        f"machine: {platform.node()} {platform.processor() or platform.machine()}, Blender via bpy, Cycles CPU"
    )
    print(
        f"settings: {args.width}x{args.height}, {args.frames} frames, {args.samples} spp, {args.markers} markers, "
        f"occlusion look {args.look} (no motion blur, no depth of field), {time.strftime('%Y-%m-%d')}"
    )
    print()
    print("| measure | value | bar |")
    print("| --- | --- | --- |")
    print(
        f"| marker-frames measured (skipped: crowded/out of frame) | {markers.errors_px.size} ({markers.skipped}) | >= 200 |"
    )
    print(f"| centroid error vs label silhouette centre, mean px | {markers.mean_px:.4f} | <= 0.1 |")
    print(f"| centroid error vs label silhouette centre, max px | {markers.max_px:.4f} | <= 0.5 |")
    print(
        f"| centroid error vs plain centre projection, mean / max px | {markers.plain_projection_errors_px.mean():.4f} / "
        f"{markers.plain_projection_errors_px.max():.4f} | - |"
    )
    print(
        f"| occlusion agreement ray cast vs depth buffer, away from edges and contact | {100 * occlusion.agreement_interior:.2f} % "
        f"(n={occlusion.count_interior}) | >= 99.5 % |"
    )
    print(
        f"| same, contact occlusions included ({100 * occlusion.contact_fraction:.1f} % of interior points) | "
        f"{100 * occlusion.agreement_with_contact:.2f} % | - |"
    )
    print(
        f"| occlusion agreement, all in-frame points | {100 * occlusion.agreement_all:.2f} % (n={occlusion.count_all}) | - |"
    )
    print(f"| occluded fraction of in-frame points | {100 * occlusion.occluded_fraction:.1f} % | - |")
    print(f"| wall time markers / occlusion s | {markers.seconds:.1f} / {occlusion.seconds:.1f} | - |")


if __name__ == "__main__":
    main()
