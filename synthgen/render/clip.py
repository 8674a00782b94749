"""``render_clip``: spec + labels -> RenderedClip, in one pass over the frames without rebuilding."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from synthgen.describe.spec import ClipSpec
from synthgen.errors import ConfigError, RenderError, SynthgenError
from synthgen.labels.boxes import ObjectBoxes, object_boxes
from synthgen.render import engine as engines
from synthgen.render._blender import import_bpy, quiet_stdout
from synthgen.render.animate import POSE_TOLERANCE, key_scene, relative_pose_error
from synthgen.render.builder import SceneBuilder, clip_error
from synthgen.render.readback import read_frame
from synthgen.render.tracks import (
    LocalMesh,
    OcclusionCaster,
    TrackPoints,
    WorldGeometry,
    finish_tracks,
    merge_points,
    read_local_mesh,
    sample_background_points,
    sample_object_points,
    track_rng,
)
from synthgen.render.types import PointTracks, RenderedClip

if TYPE_CHECKING:
    from synthgen.labels.compute import ClipLabels

GROUND_OWNER = -1
DECORATION_OWNER = -2
COLOR_PREFIX = "color_"
DATA_PREFIX = "data_"


def render_clip(
    spec: ClipSpec,
    labels: ClipLabels | None = None,
    *,
    check_poses: bool = True,
    quiet: bool = True,
    trust_recipes: bool = False,
) -> RenderedClip:
    """Render ``spec`` driven by ``labels`` (computed from the spec when None) into numpy arrays.

    Builds the scene from scratch (factory reset), runs the recipe's optional ``build`` hook, keys every
    object and the camera on every frame from the labels, checks Blender's evaluated ``matrix_world``
    against the labels (``check_poses``; RenderError above 1e-5 relative), casts the track rays, renders all
    frames in one animation pass to a temporary directory (always removed) and reads them back. ``quiet``
    silences Blender's per-frame progress lines on stdout. ``trust_recipes`` allows a recipe that is not
    built in (``spec.scene`` naming a module or .py file) to be imported and run: a spec is data and may come
    from someone else's dataset, so only built-in recipes run unless the caller opts in. Any failure raises a one-line RenderError naming
    the clip and recipe; nothing half-made is returned.
    """
    # Checked before Blender loads: a wrong argument is a caller's mistake, said in one line.
    if not isinstance(spec, ClipSpec):
        raise ConfigError(f"spec: expected a ClipSpec (synthgen.sample_clip), got {type(spec).__name__}")
    from synthgen.labels.compute import ClipLabels, compute_labels

    if labels is not None and not isinstance(labels, ClipLabels):
        raise ConfigError(
            f"labels: expected ClipLabels (synthgen.compute_labels) or None, got {type(labels).__name__}"
        )
    timings: dict[str, float] = {}
    start = time.perf_counter()
    if labels is None:
        try:
            labels = compute_labels(spec)
        except ConfigError as err:
            raise clip_error(spec, f"labels: {err}") from None
    timings["labels"] = time.perf_counter() - start

    import_bpy()
    tick = time.perf_counter()
    builder = SceneBuilder.fresh(spec).build()
    _run_recipe_hook(builder, trust_recipes)
    timings["build"] = time.perf_counter() - tick

    tick = time.perf_counter()
    key_scene(builder, labels)
    timings["keyframes"] = time.perf_counter() - tick

    tick = time.perf_counter()
    frame_pass = _FramePass(builder, labels, check_poses=check_poses)
    frame_pass.run()
    timings["pose_check_and_rays"] = time.perf_counter() - tick

    with tempfile.TemporaryDirectory(prefix=f"synthgen-{spec.clip_id}-") as tmp:
        directory = Path(tmp)
        tick = time.perf_counter()
        _render_frames(builder, directory, quiet=quiet)
        timings["render"] = time.perf_counter() - tick
        tick = time.perf_counter()
        frames, depth, ids, normals = _read_frames(spec, directory)
        timings["readback"] = time.perf_counter() - tick

    tick = time.perf_counter()
    tracks = frame_pass.finish(depth)
    timings["tracks"] = time.perf_counter() - tick + frame_pass.ray_seconds
    tick = time.perf_counter()
    boxes = frame_pass.boxes(ids)
    timings["boxes"] = time.perf_counter() - tick
    timings["total"] = time.perf_counter() - start
    return RenderedClip(
        spec=spec,
        labels=labels,
        frames_rgb=frames,
        depth_m=depth,
        instance_ids=ids,
        tracks=tracks,
        max_pose_error=frame_pass.max_pose_error,
        timings_s=timings,
        boxes=boxes,
        normals_world=normals,
    )


def _run_recipe_hook(builder: SceneBuilder, trust_recipes: bool) -> None:
    spec = builder.spec
    from synthgen.scenes import get_recipe

    try:
        recipe = get_recipe(spec.scene, allow_code=trust_recipes)
    except ConfigError as err:
        raise clip_error(spec, f"cannot load the recipe: {err}") from None
    hook = getattr(recipe, "build", None)
    if hook is None:
        return
    try:
        hook(spec, builder)
    except SynthgenError as err:
        raise clip_error(spec, f"recipe build hook failed: {err}") from None
    except Exception as err:
        raise clip_error(spec, f"recipe build hook raised {type(err).__name__}: {err}") from None


def _render_frames(builder: SceneBuilder, directory: Path, *, quiet: bool) -> None:
    spec, scene = builder.spec, builder.scene
    render = spec.render
    engines.configure_common(scene, spec)
    try:
        engines.configure_engine(scene, render, spec.render_seed)
    except engines.EngineUnavailable as err:
        raise clip_error(
            spec, f"engine {render.engine} on device {render.device} is unavailable: {err}"
        ) from None
    own_data = engines.engine_has_data_passes(render.engine, spec.camera.optics)
    normals = render.dense_labels
    engines.configure_passes(scene, data=own_data, normals=normals)
    engines.configure_output(scene, directory, DATA_PREFIX if own_data else COLOR_PREFIX)
    _render_animation(builder, quiet=quiet)
    if not own_data:
        # Eevee and Workbench have no object-index pass: one extra 1-sample Cycles pass over the same
        # scene supplies depth and ids, so every engine's labels come from the same definition.
        engines.configure_cycles(
            scene, render.model_copy(update={"device": "cpu"}), spec.render_seed, data_only=True
        )
        engines.configure_passes(scene, data=True, normals=normals)
        engines.configure_output(scene, directory, DATA_PREFIX)
        engines.use_label_shading(builder.bpy, scene, keep_materials=normals)
        _render_animation(builder, quiet=quiet)


def _render_animation(builder: SceneBuilder, *, quiet: bool) -> None:
    spec, bpy = builder.spec, builder.bpy
    try:
        with quiet_stdout(quiet):
            result = bpy.ops.render.render(animation=True, scene=builder.scene.name)
    except RuntimeError as err:
        cause = str(err).strip().splitlines()[-1] if str(err).strip() else "unknown error"
        raise clip_error(spec, f"engine {spec.render.engine} failed: {cause}") from None
    if "FINISHED" not in result:
        raise clip_error(spec, f"engine {spec.render.engine} did not finish ({sorted(result)})")


def _read_frames(
    spec: ClipSpec, directory: Path
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    clip = spec.clip
    shape = (clip.num_frames, clip.height, clip.width)
    frames = np.empty((*shape, 3), dtype=np.uint8)
    depth = np.empty(shape, dtype=np.float32)
    ids = np.empty(shape, dtype=np.uint16)
    want_normals = spec.render.dense_labels
    normals = np.empty((*shape, 3), dtype=np.float32) if want_normals else None
    own_data = engines.engine_has_data_passes(spec.render.engine, spec.camera.optics)
    for frame in range(clip.num_frames):
        data_path = directory / f"{DATA_PREFIX}{frame:04d}.exr"
        color_path = data_path if own_data else directory / f"{COLOR_PREFIX}{frame:04d}.exr"
        for path in (color_path, data_path):
            if not path.is_file():
                raise clip_error(spec, f"frame {frame}: the renderer wrote no {path.name}")
        layers = read_frame(data_path, color=own_data, data=True, normals=want_normals)
        rgb = layers.rgb if own_data else read_frame(color_path, color=True, data=False).rgb
        assert rgb is not None and layers.depth_m is not None and layers.instance_ids is not None
        frames[frame], depth[frame], ids[frame] = rgb, layers.depth_m, layers.instance_ids
        if normals is not None:
            assert layers.normals_world is not None
            normals[frame] = layers.normals_world
    return frames, depth, ids, normals


def _evaluated_mesh(builder: SceneBuilder, ob: Any) -> LocalMesh:
    evaluated = ob.evaluated_get(builder.bpy.context.evaluated_depsgraph_get())
    mesh_data = evaluated.to_mesh()
    try:
        return read_local_mesh(mesh_data)
    finally:
        evaluated.to_mesh_clear()


class _FramePass:
    """One walk over the frames before rendering: pose read-back and track ray casts per frame."""

    def __init__(self, builder: SceneBuilder, labels: ClipLabels, *, check_poses: bool) -> None:
        self.builder = builder
        self.labels = labels
        self.check_poses = check_poses
        self.max_pose_error = float("nan")
        self.ray_seconds = 0.0
        spec = builder.spec
        self.want_tracks = spec.render.tracks_per_object > 0 or spec.render.background_tracks > 0
        self.points: TrackPoints | None = None
        self.caster: OcclusionCaster | None = None
        self.world_m: np.ndarray | None = None
        self.behind: np.ndarray | None = None
        # Geometry of every render-visible mesh: (object, owner code, cached local mesh or None if deforming).
        self.geometry: list[tuple[Any, int, LocalMesh | None]] = []
        rows = {obj.object_id: row for row, obj in enumerate(spec.objects)}
        # Sorted by name: Blender's own object order can follow memory addresses, which differ between
        # processes, and the ray caster's geometry order must not change the sampled tracks.
        for ob in sorted(builder.scene.objects, key=lambda candidate: candidate.name):
            if ob.type != "MESH" or ob.hide_render:
                continue
            if ob == builder.ground:
                owner = GROUND_OWNER
            elif ob.pass_index in rows and builder.objects.get(ob.pass_index) == ob:
                owner = rows[ob.pass_index]
            else:
                owner = DECORATION_OWNER
            static_mesh = len(ob.modifiers) == 0 and ob.data.shape_keys is None
            self.geometry.append((ob, owner, read_local_mesh(ob.data) if static_mesh else None))
        # Box vertices of each spec object: its mesh as evaluated now (modifiers applied), before any frame.
        self.box_vertices: list[np.ndarray] = [np.zeros((0, 3)) for _ in spec.objects]
        for ob, owner, cached in self.geometry:
            if owner >= 0:
                self.box_vertices[owner] = (cached or _evaluated_mesh(builder, ob)).vertices

    def run(self) -> None:
        if not (self.check_poses or self.want_tracks):
            return
        spec, scene = self.builder.spec, self.builder.scene
        bpy = self.builder.bpy
        pose_errors: list[float] = []
        for frame in range(spec.clip.num_frames):
            scene.frame_set(frame)
            depsgraph = bpy.context.evaluated_depsgraph_get()
            if self.check_poses:
                pose_errors.append(self._check_frame(frame, depsgraph))
            if self.want_tracks:
                tick = time.perf_counter()
                geometry = self._world_geometry(depsgraph)
                if frame == 0:
                    self._sample_points(geometry)
                assert self.caster is not None and self.behind is not None
                self.caster.cast_frame(frame, geometry, self.behind[frame])
                self.ray_seconds += time.perf_counter() - tick
        if self.check_poses:
            self.max_pose_error = max(pose_errors) if pose_errors else 0.0

    def _check_frame(self, frame: int, depsgraph: Any) -> float:
        spec = self.builder.spec
        worst = 0.0
        checks: list[tuple[str, Any, np.ndarray]] = [
            (
                f"objects[{row}] ({obj.name!r})",
                self.builder.objects[obj.object_id],
                self.labels.objects.world_from_local[row, frame],
            )
            for row, obj in enumerate(spec.objects)
        ]
        checks.append(("camera", self.builder.camera, self.labels.camera.camera_to_world_blender[frame]))
        for name, ob, label in checks:
            evaluated = np.array(ob.evaluated_get(depsgraph).matrix_world, dtype=np.float64)
            error = float(relative_pose_error(evaluated, label))
            if not error <= POSE_TOLERANCE:
                raise clip_error(
                    spec,
                    f"pose check: {name} at frame {frame}: Blender's matrix_world differs from the label by "
                    f"{error:.3g} relative (limit {POSE_TOLERANCE:g})",
                )
            worst = max(worst, error)
        lens = float(self.builder.camera.evaluated_get(depsgraph).data.lens)
        want = float(self.labels.camera.focal_length_mm[frame])
        lens_error = abs(lens - want) / want
        if not lens_error <= POSE_TOLERANCE:
            raise clip_error(
                spec,
                f"pose check: camera lens at frame {frame} is {lens} mm, label {want} mm "
                f"({lens_error:.3g} relative, limit {POSE_TOLERANCE:g})",
            )
        return max(worst, lens_error)

    def _world_geometry(self, depsgraph: Any) -> WorldGeometry:
        meshes, matrices, owners = [], [], []
        for ob, owner, cached in self.geometry:
            evaluated = ob.evaluated_get(depsgraph)
            if cached is None:
                mesh_data = evaluated.to_mesh()
                try:
                    mesh = read_local_mesh(mesh_data)
                finally:
                    evaluated.to_mesh_clear()
            else:
                mesh = cached
            meshes.append(mesh)
            matrices.append(np.array(evaluated.matrix_world, dtype=np.float64))
            owners.append(owner)
        return WorldGeometry(meshes, matrices, owners)

    def _sample_points(self, geometry: WorldGeometry) -> None:
        spec = self.builder.spec
        rng = track_rng(spec.dataset_seed, spec.clip_index)
        tracked = [(row, obj) for row, obj in enumerate(spec.objects) if obj.tracked]
        local_meshes = {owner: mesh for _ob, owner, mesh in self.geometry}
        object_points = sample_object_points(
            [
                local_meshes[row] or read_local_mesh(self.builder.objects[obj.object_id].data)
                for row, obj in tracked
            ],
            [obj.object_id for _row, obj in tracked],
            [row for row, _obj in tracked],
            spec.render.tracks_per_object,
            rng,
        )
        world_from_local = self.labels.objects.world_from_local
        allowed: dict[int, tuple[int, np.ndarray]] = {GROUND_OWNER: (0, np.eye(4))}
        for row, obj in enumerate(spec.objects):
            if not obj.dynamic:
                allowed[row] = (obj.object_id, world_from_local[row, 0])
        cam = self.labels.camera
        background = sample_background_points(
            geometry,
            spec.render.background_tracks,
            rng,
            cam.camera_from_world_cv[0],
            cam.intrinsics_px[0],
            spec.clip.width,
            spec.clip.height,
            allowed,
        )
        self.points = merge_points(object_points, background)
        self.world_m = self.points.world_positions(world_from_local, spec.clip.num_frames)
        depth = (
            np.einsum("fj,fpj->fp", cam.camera_from_world_cv[:, 2, :3], self.world_m)
            + cam.camera_from_world_cv[:, None, 2, 3]
        )
        self.behind = depth <= 0.0
        self.caster = OcclusionCaster(self.world_m, cam.camera_to_world_blender, cam.camera_from_world_cv)

    def boxes(self, instance_ids: np.ndarray) -> ObjectBoxes:
        """2D and 3D boxes of every spec object from its mesh vertices, the labels and the id pass."""
        cam, objects = self.labels.camera, self.labels.objects
        return object_boxes(
            self.box_vertices,
            objects.world_from_local,
            cam.camera_from_world_cv,
            cam.intrinsics_px,
            instance_ids,
            objects.object_ids,
        )

    def finish(self, depth_buffer_m: np.ndarray) -> PointTracks | None:
        if not self.want_tracks:
            return None
        if self.points is None:
            # The frame pass did not run the ray casts (it always does when tracks are wanted).
            raise RenderError("render: internal error, track points were never sampled")
        assert self.world_m is not None and self.caster is not None
        spec = self.builder.spec
        cam = self.labels.camera
        return finish_tracks(
            self.points,
            self.world_m,
            cam.camera_from_world_cv,
            cam.intrinsics_px,
            spec.clip.width,
            spec.clip.height,
            self.caster,
            depth_buffer_m,
        )
