"""Overhead of ``render_clip`` over Blender's bare render of the same frames.

Bare: the identical scene (built and keyed by the same code) rendered with
``bpy.ops.render.render(animation=True)`` writing 8-bit PNGs, combined pass only, nothing read back; only
that call is timed. This is the renderer's own cost, the floor. End-to-end: ``render_clip`` from spec to
numpy arrays (labels + build + keys + pose check + track ray casts + render to EXR + read-back + tracks).
Both run in this process after one tiny warm-up render; with ``--repeats`` > 1 they alternate (order
swapped every repeat) and medians are reported. CPU seconds (all threads of this process) are reported too:
on a machine shared with other work they measure cost more robustly than wall time. Bar: ratio <= 1.15, goal <= 1.05.

Run: ``.venv/bin/python benchmarks/render_overhead.py`` (256x256, 49 frames, 16 spp: minutes on 2 cores);
iterate with ``--width 64 --height 64 --frames 9 --samples 4``.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

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
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--height", type=int, default=256)
    parser.add_argument("--frames", type=int, default=49)
    parser.add_argument("--samples", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    spec = benchmark_spec(args.width, args.height, args.frames, args.samples)
    # Warm-up: first-render costs (kernel and texture set-up) belong to neither side.
    render_clip(benchmark_spec(32, 32, 1, 1))
    bare, ours, bare_cpu, ours_cpu, stages = [], [], [], [], []
    for repeat in range(args.repeats):
        # Alternate the order so a change in the machine's load does not favour one side.
        for side in ("bare", "ours") if repeat % 2 == 0 else ("ours", "bare"):
            if side == "bare":
                wall, cpu = bare_render_seconds(spec)
                bare.append(wall)
                bare_cpu.append(cpu)
            else:
                start_cpu = time.process_time()
                clip = render_clip(spec)
                ours_cpu.append(time.process_time() - start_cpu)
                ours.append(clip.timings_s["total"])
                stages.append(clip.timings_s)
    bare_s, ours_s = statistics.median(bare), statistics.median(ours)
    bare_cpu_s, ours_cpu_s = statistics.median(bare_cpu), statistics.median(ours_cpu)
    cores = os.cpu_count() or 1
    print(
        f"machine: {platform.node()} {platform.machine()}, {cores} cores, Cycles {spec.render.device.upper()}"
    )
    print(
        f"settings: {args.width}x{args.height}, {args.frames} frames, {args.samples} spp, repeats {args.repeats}"
    )
    print()
    print("| measure | value |")
    print("| --- | --- |")
    print(
        f"| bare Blender render (PNG, no read-back) s | {bare_s:.2f} ({bare_s / args.frames:.3f} s/frame) |"
    )
    print(f"| render_clip end to end s | {ours_s:.2f} ({ours_s / args.frames:.3f} s/frame) |")
    print(f"| ratio end-to-end / bare, medians (bar <= 1.15, goal <= 1.05) | {ours_s / bare_s:.3f} |")
    print(f"| ratio end-to-end / bare, fastest runs | {min(ours) / min(bare):.3f} |")
    print(
        f"| all runs bare / end to end s | {', '.join(f'{v:.1f}' for v in bare)} / {', '.join(f'{v:.1f}' for v in ours)} |"
    )
    print(f"| CPU seconds (all threads) bare / end to end | {bare_cpu_s:.2f} / {ours_cpu_s:.2f} |")
    print(f"| ratio of CPU seconds (robust to other load on the machine) | {ours_cpu_s / bare_cpu_s:.3f} |")
    print(f"| frames/s/core end to end (wall) | {args.frames / ours_s / cores:.3f} |")
    print(f"| frames per CPU-second end to end | {args.frames / ours_cpu_s:.3f} |")
    last = stages[-1]
    print(
        "| stages of the last run s | "
        + ", ".join(f"{k} {v:.2f}" for k, v in last.items() if k != "total")
        + " |"
    )


if __name__ == "__main__":
    main()
