"""Overhead of ``render_clip`` over Blender's bare render of the same frames.

Bare: the identical scene (built and keyed by the same code) rendered with
``bpy.ops.render.render(animation=True)`` writing 8-bit PNGs, combined pass only, nothing read back; only
that call is timed. This is the renderer's own cost, the floor. End-to-end: ``render_clip`` from spec to
numpy arrays (labels + build + keys + pose check + track ray casts + render to EXR + read-back + tracks).
Both run in this process after one tiny warm-up render; with ``--repeats`` > 1 they alternate (order
swapped every repeat) and medians are reported. CPU seconds (all threads of this process) are reported too:
on a machine shared with other work they measure cost more robustly than wall time. Bar: ratio <= 1.10.

With ``--look default`` (or ``flat``) the scenes are the product's own: ``--clips`` clips sampled by
``synthgen.sample_clip`` from the packaged config with ``look=<look>`` (``tracked_objects``: environment maps,
library materials, textured grounds, motion blur, depth of field), so clips with blur or depth of field pay
for the sharp data pass their labels need (docs/rendering.md, "Labels stay exact"); totals over the clips
give the ratio. Without it, the fixed five-primitive scene below.

Run: ``.venv/bin/python benchmarks/render_overhead.py`` (256x256, 49 frames, 16 spp: minutes on 2 cores);
iterate with ``--width 64 --height 64 --frames 9 --samples 4``;
``.venv/bin/python benchmarks/render_overhead.py --look default --clips 4`` for the default look.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

from synthgen.describe.config import load_generate_config
from synthgen.describe.sampling import sample_clip
from synthgen.describe.spec import (
    CameraSpec,
    CirclePath,
    ClipSettings,
    ClipSpec,
    LightSpec,
    LissajousPath,
    MaterialSpec,
    ObjectSpec,
    OrbitMove,
    RenderSpec,
    StaticPath,
    WaypointPath,
    WorldSpec,
)
from synthgen.labels.compute import compute_labels
from synthgen.render import render_clip
from synthgen.render._blender import quiet_stdout
from synthgen.render.animate import key_scene
from synthgen.render.builder import SceneBuilder
from synthgen.render.engine import configure_common, configure_engine, configure_passes


def benchmark_spec(width: int, height: int, frames: int, samples: int) -> ClipSpec:
    """Five textured primitives (moving), a checker ground, one sun, procedural sky, orbiting camera."""
    objects = (
        ObjectSpec(
            object_id=1,
            name="sphere",
            primitive="sphere",
            size_m=1.0,
            material=MaterialSpec(texture="noise", base_color_rgb=(0.8, 0.3, 0.2)),
            path=CirclePath(center_m=(0.0, 0.0, 0.5), radius_m=1.5),
        ),
        ObjectSpec(
            object_id=2,
            name="cube",
            primitive="cube",
            size_m=0.8,
            material=MaterialSpec(texture="checker", base_color_rgb=(0.2, 0.6, 0.8)),
            path=WaypointPath(kind="linear", waypoints_m=((-2.0, 1.0, 0.4), (2.0, 1.5, 0.4))),
        ),
        ObjectSpec(
            object_id=3,
            name="torus",
            primitive="torus",
            size_m=1.0,
            material=MaterialSpec(texture="wave", base_color_rgb=(0.9, 0.8, 0.2)),
            path=LissajousPath(center_m=(0.0, 1.0, 1.2)),
        ),
        ObjectSpec(
            object_id=4,
            name="monkey",
            primitive="monkey",
            size_m=1.0,
            material=MaterialSpec(texture="voronoi"),
            path=StaticPath(position_m=(-1.8, -0.5, 0.5)),
        ),
        ObjectSpec(
            object_id=5,
            name="cone",
            primitive="cone",
            size_m=0.9,
            material=MaterialSpec(texture="brick", base_color_rgb=(0.5, 0.8, 0.3)),
            path=StaticPath(position_m=(1.8, -0.8, 0.45)),
        ),
    )
    return ClipSpec(
        dataset_seed=0,
        clip_index=0,
        scene="tracked_objects",
        clip=ClipSettings(
            width=width,
            height=height,
            num_frames=frames,
            fps=24.0,
            reference_downscale=1,
            reference_temporal_factor=1,
        ),
        camera=CameraSpec(
            position_m=(0.0, -7.0, 3.0), look_at_m=(0.0, 0.0, 0.6), moves=(OrbitMove(amount=30.0),)
        ),
        objects=objects,
        lights=(LightSpec(kind="sun", strength=3.0),),
        world=WorldSpec(background="sky", strength=0.05),
        render=RenderSpec(
            engine="cycles",
            device="cpu",
            samples=samples,
            denoise=False,
            threads=0,
            motion_blur=False,
            tracks_per_object=16,
            background_tracks=16,
            dense_labels=False,
        ),
    )


def look_specs(look: str, sizes: dict[str, int | None], clips: int, first: int) -> list[ClipSpec]:
    """Clips ``first .. first + clips - 1`` of the packaged config with ``look=<look>``, as generated; sizes
    not given (None) are the packaged defaults."""
    keys = {
        "width": "clip.width",
        "height": "clip.height",
        "frames": "clip.num_frames",
        "samples": "render.samples",
    }
    given = [f"{keys[name]}={value}" for name, value in sizes.items() if value is not None]
    cfg = load_generate_config(overrides=[f"look={look}", f"dataset.num_clips={first + clips}", *given])
    return [sample_clip(cfg, index) for index in range(first, first + clips)]


def describe_look(spec: ClipSpec) -> str:
    """What of the look a clip drew: environment map, motion blur, depth of field."""
    optics = spec.camera.optics
    parts: list[str] = [spec.world.background]
    if optics.shutter_fraction > 0:
        parts.append(f"blur {optics.shutter_fraction:.2f}")
    if optics.f_stop > 0:
        parts.append(f"DoF f/{optics.f_stop:.1f}")
    return ", ".join(parts)


def bare_render_seconds(spec: ClipSpec) -> tuple[float, float]:
    """(wall, CPU) seconds of ``bpy.ops.render.render(animation=True)`` alone, PNG output, identical scene."""
    builder = SceneBuilder.fresh(spec).build()
    key_scene(builder, compute_labels(spec))
    scene = builder.scene
    configure_common(scene, spec)
    configure_engine(scene, spec.render, spec.render_seed)
    configure_passes(scene, data=False)
    fmt = scene.render.image_settings
    fmt.media_type = "IMAGE"
    fmt.file_format = "PNG"
    fmt.color_depth = "8"
    fmt.color_mode = "RGB"
    with tempfile.TemporaryDirectory(prefix="synthgen-bare-") as tmp:
        scene.render.filepath = str(Path(tmp) / "frame_")
        with quiet_stdout():
            start, cpu = time.perf_counter(), time.process_time()
            builder.bpy.ops.render.render(animation=True, scene=scene.name)
            return time.perf_counter() - start, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # Fixed scene: 256x256, 49 frames, 16 spp unless given; with --look: the packaged defaults unless given.
    parser.add_argument("--width", type=int)
    parser.add_argument("--height", type=int)
    parser.add_argument("--frames", type=int)
    parser.add_argument("--samples", type=int)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--look", choices=["default", "flat"], help="sampled clips in this look (see above)")
    parser.add_argument("--clips", type=int, default=4, help="with --look: how many clips")
    parser.add_argument("--first-clip", type=int, default=0, help="with --look: index of the first clip")
    args = parser.parse_args()
    sizes = {"width": args.width, "height": args.height, "frames": args.frames, "samples": args.samples}
    if args.look is None:
        fixed = {"width": 256, "height": 256, "frames": 49, "samples": 16}
        specs = [benchmark_spec(**{k: v if v is not None else fixed[k] for k, v in sizes.items()})]
    else:
        specs = look_specs(args.look, sizes, args.clips, args.first_clip)
    # Warm-up: first-render costs (kernel and texture set-up) belong to neither side.
    render_clip(benchmark_spec(32, 32, 1, 1))
    bare, ours, bare_cpu, ours_cpu = [], [], [], []
    rows = []
    for repeat in range(args.repeats):
        bare_total = ours_total = bare_cpu_total = ours_cpu_total = 0.0
        for spec in specs:
            # Alternate the order so a change in the machine's load does not favour one side.
            sides = ("bare", "ours") if (repeat + spec.clip_index) % 2 == 0 else ("ours", "bare")
            for side in sides:
                if side == "bare":
                    wall, cpu = bare_render_seconds(spec)
                    bare_total, bare_cpu_total = bare_total + wall, bare_cpu_total + cpu
                    bare_clip = (wall, cpu)
                else:
                    start_cpu = time.process_time()
                    clip = render_clip(spec)
                    cpu = time.process_time() - start_cpu
                    wall = clip.timings_s["total"]
                    ours_total, ours_cpu_total = ours_total + wall, ours_cpu_total + cpu
                    ours_clip, stages = (wall, cpu), clip.timings_s
            rows.append((repeat, spec, bare_clip, ours_clip, stages))
        bare.append(bare_total)
        ours.append(ours_total)
        bare_cpu.append(bare_cpu_total)
        ours_cpu.append(ours_cpu_total)
    report(args, specs, bare, ours, bare_cpu, ours_cpu, rows)


def report(
    args: argparse.Namespace,
    specs: list[ClipSpec],
    bare: list[float],
    ours: list[float],
    bare_cpu: list[float],
    ours_cpu: list[float],
    rows: list[tuple[int, ClipSpec, tuple[float, float], tuple[float, float], dict[str, float]]],
) -> None:
    """Print the table (totals over the clips of a repeat; medians over repeats)."""
    clip = specs[0].clip
    frames = clip.num_frames * len(specs)
    bare_s, ours_s = statistics.median(bare), statistics.median(ours)
    bare_cpu_s, ours_cpu_s = statistics.median(bare_cpu), statistics.median(ours_cpu)
    cores = os.cpu_count() or 1
    device = specs[0].render.device.upper()
    print(f"machine: {platform.node()} {platform.machine()}, {cores} cores, Cycles {device}")
    scenes = f"look={args.look}, {len(specs)} clips" if args.look else "fixed five-primitive scene"
    print(
        f"settings: {scenes}, {clip.width}x{clip.height}, {clip.num_frames} frames, "
        f"{specs[0].render.samples} spp, repeats {args.repeats}, {time.strftime('%Y-%m-%d')}"
    )
    print()
    print("| measure | value |")
    print("| --- | --- |")
    print(f"| bare Blender render (PNG, no read-back) s | {bare_s:.2f} ({bare_s / frames:.3f} s/frame) |")
    print(f"| render_clip end to end s | {ours_s:.2f} ({ours_s / frames:.3f} s/frame) |")
    print(f"| ratio end-to-end / bare, medians (bar <= 1.10) | {ours_s / bare_s:.3f} |")
    print(f"| ratio end-to-end / bare, fastest runs | {min(ours) / min(bare):.3f} |")
    print(
        f"| all runs bare / end to end s | {', '.join(f'{v:.1f}' for v in bare)} / "
        f"{', '.join(f'{v:.1f}' for v in ours)} |"
    )
    print(f"| CPU seconds (all threads) bare / end to end | {bare_cpu_s:.2f} / {ours_cpu_s:.2f} |")
    print(f"| ratio of CPU seconds (robust to other load on the machine) | {ours_cpu_s / bare_cpu_s:.3f} |")
    print(f"| frames/s/core end to end (wall) | {frames / ours_s / cores:.3f} |")
    print(f"| frames per CPU-second end to end | {frames / ours_cpu_s:.3f} |")
    print()
    print("| repeat | clip | look | bare s (CPU s) | end to end s (CPU s) | CPU ratio | stages s |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for repeat, spec, (bare_wall, bare_c), (ours_wall, ours_c), stages in rows:
        stage_text = ", ".join(f"{k} {v:.2f}" for k, v in stages.items() if k != "total")
        print(
            f"| {repeat} | {spec.clip_index} | {describe_look(spec)} | {bare_wall:.1f} ({bare_c:.1f}) | "
            f"{ours_wall:.1f} ({ours_c:.1f}) | {ours_c / bare_c:.3f} | {stage_text} |"
        )


if __name__ == "__main__":
    main()
