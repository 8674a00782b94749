"""Render settings: engine, device, samples, seed, colour management, output format and passes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from synthgen.describe.spec import ClipSpec, OpticsSpec, RenderSpec

ENGINE_IDS = {"cycles": "CYCLES", "eevee": "BLENDER_EEVEE", "workbench": "BLENDER_WORKBENCH"}
GPU_DEVICE_TYPES = {"cuda": "CUDA", "optix": "OPTIX", "hip": "HIP", "metal": "METAL", "oneapi": "ONEAPI"}
PINHOLE = OpticsSpec()
WORKBENCH_AA = (("32", 32), ("16", 16), ("11", 11), ("8", 8), ("5", 5), ("FXAA", 1))


class EngineUnavailable(Exception):
    """The requested engine or device cannot run here; the message says why."""


def engine_has_data_passes(engine: str, optics: OpticsSpec = PINHOLE) -> bool:
    """Whether the beauty render of ``engine`` also gives the label passes (depth, object index).

    Only Cycles writes an object-index pass (Blender 5.0), and only sharp pinhole frames give the labels'
    definition: with motion blur or depth of field, a pixel's first sample (what data passes keep) is at a
    random shutter time or lens point, so the labels come from a separate sharp 1-sample pass instead.
    """
    return engine == "cycles" and optics.shutter_fraction == 0.0 and optics.f_stop == 0.0


def uses_motion_blur(spec: ClipSpec) -> bool:
    """Motion blur is on when the clip's optics open the shutter, or ``render.motion_blur`` asks for it."""
    return spec.render.motion_blur or spec.camera.optics.shutter_fraction > 0.0


def configure_common(scene: Any, spec: ClipSpec) -> None:
    """Resolution, frame rate, motion blur, colour management and threads (engine-independent)."""
    clip, render = spec.clip, spec.render
    settings = scene.render
    settings.resolution_x = clip.width
    settings.resolution_y = clip.height
    settings.resolution_percentage = 100
    settings.pixel_aspect_x = 1.0
    settings.pixel_aspect_y = 1.0
    fps_int = max(1, round(clip.fps))
    settings.fps = fps_int
    settings.fps_base = fps_int / clip.fps
    settings.use_motion_blur = uses_motion_blur(spec)
    # The shutter is centred on each frame's time, where the labels are defined (docs/conventions.md).
    settings.motion_blur_position = "CENTER"
    settings.motion_blur_shutter = spec.camera.optics.shutter_fraction or 0.5
    settings.film_transparent = False
    settings.dither_intensity = 0.0
    # Keeps Cycles' synced scene between frames; only what the keys change is re-synced. Per-frame set-up
    # otherwise dominates small frames (about 4x the CPU time at 64x64, 16 spp).
    settings.use_persistent_data = True
    settings.use_compositing = False
    settings.use_sequencer = False
    settings.threads_mode = "FIXED" if render.threads > 0 else "AUTO"
    if render.threads > 0:
        settings.threads = render.threads
    # Frames are read back from linear EXR and encoded with the plain sRGB curve; "Standard" keeps
    # Blender's own 8-bit output identical to that.
    scene.view_settings.view_transform = "Standard"
    scene.view_settings.look = "None"
    scene.view_settings.exposure = 0.0
    scene.view_settings.gamma = 1.0
    scene.display_settings.display_device = "sRGB"


def configure_output(scene: Any, directory: Path, prefix: str) -> str:
    """Write every frame as an uncompressed 32-bit multilayer EXR ``<directory>/<prefix>NNNN.exr``."""
    fmt = scene.render.image_settings
    fmt.media_type = "MULTI_LAYER_IMAGE"
    fmt.color_depth = "32"
    fmt.exr_codec = "NONE"
    scene.render.use_file_extension = True
    scene.render.use_overwrite = True
    scene.render.use_placeholder = False
    scene.render.filepath = str(directory / prefix)
    return prefix


def configure_passes(scene: Any, *, data: bool, normals: bool = False) -> None:
    """Combined always; planar depth (Z) and object index when ``data`` (pass index = object_id); world-space
    normals as well when ``data`` and ``normals``."""
    layer = scene.view_layers[0]
    layer.use_pass_combined = True
    layer.use_pass_z = data
    layer.use_pass_object_index = data
    layer.use_pass_normal = data and normals


def use_label_shading(bpy: Any, scene: Any, *, keep_materials: bool) -> None:
    """Strip the scene to what the data-only pass measures: no world, and (unless ``keep_materials``, which
    the normal pass needs: it includes bump) one black emission material on every object.

    Depth and object index depend on geometry alone (a ray that hits nothing is inf and 0 with any world).
    The world is what a render call pays for before its first sample: a sky texture or environment map and
    its 1024-wide importance map took about 7 s per call at 128x128 on 2 cores, more than the 4-sample beauty
    pass of a 9-frame clip; the scene's node graphs (procedural patterns, bump) and the light sampling a
    surface BSDF asks for cost as much as a beauty sample.
    """
    scene.world = None
    if keep_materials:
        return
    material = bpy.data.materials.get(_LABEL_MATERIAL)
    if material is None:
        material = bpy.data.materials.new(_LABEL_MATERIAL)
        tree = material.node_tree  # Blender 5.0: a new material comes with its node tree
        tree.nodes.clear()
        # Emission only: no BSDF, so no light is sampled. (A holdout would do neither, but Cycles writes
        # no depth or object index for holdout surfaces.)
        emission = tree.nodes.new("ShaderNodeEmission")
        emission.inputs["Strength"].default_value = 0.0
        output = tree.nodes.new("ShaderNodeOutputMaterial")
        tree.links.new(emission.outputs["Emission"], output.inputs["Surface"])
    scene.view_layers[0].material_override = material


_LABEL_MATERIAL = "synthgen_label_pass"


def configure_engine(scene: Any, render: RenderSpec, seed: int) -> None:
    """Select and set up the engine of ``render``; EngineUnavailable when it cannot run here."""
    engine_id = ENGINE_IDS[render.engine]
    try:
        scene.render.engine = engine_id
    except TypeError as err:
        raise EngineUnavailable(f"engine {engine_id} is not registered in this Blender ({err})") from None
    if render.engine == "cycles":
        configure_cycles(scene, render, seed)
    elif render.engine == "eevee":
        scene.eevee.taa_render_samples = render.samples
    else:
        scene.display.render_aa = next(name for name, count in WORKBENCH_AA if count <= render.samples)


def configure_cycles(scene: Any, render: RenderSpec, seed: int, *, data_only: bool = False) -> None:
    """Cycles on CPU or a GPU backend; ``data_only`` renders 1 sample with no bounces (depth/id passes)."""
    import bpy

    scene.render.engine = "CYCLES"
    cycles = scene.cycles
    cycles.seed = seed
    # Seed varies per frame (deterministically) so sampling noise is not a fixed pattern over the video.
    cycles.use_animated_seed = True
    cycles.samples = 1 if data_only else render.samples
    cycles.use_adaptive_sampling = False
    cycles.use_denoising = render.denoise and not data_only
    if cycles.use_denoising:
        cycles.denoiser = "OPENIMAGEDENOISE"
    if data_only:
        cycles.max_bounces = 0
        # Labels are sharp pinhole values at the shutter's centre: no blur, no lens.
        scene.render.use_motion_blur = False
        if scene.camera is not None:
            scene.camera.data.dof.use_dof = False
    if render.device == "cpu":
        cycles.device = "CPU"
        return
    backend = GPU_DEVICE_TYPES[render.device]
    prefs = bpy.context.preferences.addons["cycles"].preferences
    try:
        prefs.compute_device_type = backend
    except TypeError as err:
        raise EngineUnavailable(f"Cycles has no {backend} backend in this build ({err})") from None
    prefs.refresh_devices()
    devices = [device for device in prefs.devices if device.type == backend]
    if not devices:
        raise EngineUnavailable(f"no {backend} device found (Cycles sees: {[d.name for d in prefs.devices]})")
    for device in prefs.devices:
        device.use = device.type == backend
    cycles.device = "GPU"
