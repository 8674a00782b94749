"""Build a Blender scene from a ``ClipSpec``: meshes, materials, lights, world, ground and camera.

Every mesh is normalised to a unit bounding size in its local frame (largest side of its bounding box = 1,
box centred on the origin), so the label's ``world_from_local`` (rotation, translation, size and scale)
alone places it. Animation is not set here; ``synthgen.render.animate`` keys everything from the labels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from synthgen.describe.spec import ClipSpec, LightSpec, MaterialSpec, ObjectSpec, WorldSpec
from synthgen.errors import ConfigError, DataError, RenderError, clip_failure
from synthgen.labels.geometry import blender_camera_settings, look_at_camera_to_world
from synthgen.render._blender import import_bpy
from synthgen.render.meshes import IMPORTERS, procedural_mesh
from synthgen.render.shading import build_family, optics_gain
from synthgen.scenes.assets import resolve_asset
from synthgen.scenes.environment import resolve_hdri

# Texture node type and the output socket that drives the base/secondary colour mix.
TEXTURE_NODES: dict[str, tuple[str, str]] = {
    "noise": ("ShaderNodeTexNoise", "Factor"),
    "voronoi": ("ShaderNodeTexVoronoi", "Distance"),
    "checker": ("ShaderNodeTexChecker", "Factor"),
    "wave": ("ShaderNodeTexWave", "Factor"),
    "brick": ("ShaderNodeTexBrick", "Factor"),
}

SMOOTH_PRIMITIVES = frozenset({"sphere", "torus", "monkey"})

# Segment counts: fine enough that a marker sphere's silhouette centroid is its centre to ~1e-3 px.
SPHERE_SEGMENTS, SPHERE_RINGS = 48, 24
ROUND_SEGMENTS = 48
TORUS_MAJOR_SEGMENTS, TORUS_MINOR_SEGMENTS = 48, 16
# Blender's default torus proportions (major 1, minor 0.25) scaled to outer diameter 1.
TORUS_MINOR_FRACTION = 0.25 / 1.25


def clip_error(spec: ClipSpec, cause: str) -> RenderError:
    """A one-line RenderError naming the clip, its scene recipe and the cause."""
    return clip_failure(spec.clip_id, spec.scene, cause)


@dataclass
class SceneBuilder:
    """The Blender scene of one clip while it is being built; recipes' ``build`` hooks receive it.

    Attributes a hook may use: ``bpy`` (the module), ``scene``, ``spec``, ``objects`` (object_id ->
    Blender object of ``spec.objects``), ``camera``, ``ground`` (or None). Decoration added by a hook
    keeps pass index 0 (background) and must not move: labels describe only ``spec.objects``.
    """

    spec: ClipSpec
    bpy: Any
    scene: Any
    objects: dict[int, Any] = field(default_factory=dict)
    materials: dict[int, Any] = field(default_factory=dict)
    camera: Any = None
    ground: Any = None

    # ------------------------------------------------------------------------------ construction

    @classmethod
    def fresh(cls, spec: ClipSpec) -> SceneBuilder:
        """Reset Blender to empty factory settings and start building ``spec``."""
        bpy = import_bpy()
        bpy.ops.wm.read_factory_settings(use_empty=True)
        return cls(spec=spec, bpy=bpy, scene=bpy.context.scene)

    def build(self) -> SceneBuilder:
        """Create world, ground, lights, objects and camera of the spec (no animation yet)."""
        self.build_world(self.spec.world)
        for index, light in enumerate(self.spec.lights):
            self.add_light(light, f"light_{index}")
        for index, obj in enumerate(self.spec.objects):
            self.add_object(obj, index)
        self.add_camera()
        return self

    # -------------------------------------------------------------------------------- meshes

    def primitive_mesh(self, primitive: str, name: str) -> Any:
        """A new mesh datablock of a built-in primitive, normalised to unit bounding size."""
        import bmesh

        bm = bmesh.new()
        try:
            if primitive == "sphere":
                bmesh.ops.create_uvsphere(bm, u_segments=SPHERE_SEGMENTS, v_segments=SPHERE_RINGS, radius=0.5)
            elif primitive == "cube":
                bmesh.ops.create_cube(bm, size=1.0)
            elif primitive == "cylinder":
                bmesh.ops.create_cone(
                    bm, cap_ends=True, segments=ROUND_SEGMENTS, radius1=0.5, radius2=0.5, depth=1.0
                )
            elif primitive == "cone":
                bmesh.ops.create_cone(
                    bm, cap_ends=True, segments=ROUND_SEGMENTS, radius1=0.5, radius2=0.0, depth=1.0
                )
            elif primitive == "monkey":
                bmesh.ops.create_monkey(bm)
            elif primitive == "plane":
                bmesh.ops.create_grid(bm, x_segments=1, y_segments=1, size=0.5)
            elif primitive == "torus":
                _torus_into(bm)
            else:
                raise ValueError(f"unknown primitive {primitive!r}")
            mesh = self.bpy.data.meshes.new(name)
            bm.to_mesh(mesh)
        finally:
            bm.free()
        _normalise_unit_bounds(mesh)
        if primitive in SMOOTH_PRIMITIVES:
            mesh.polygons.foreach_set("use_smooth", [True] * len(mesh.polygons))
        return mesh

    def asset_mesh(self, asset_path: str, name: str) -> Any:
        """One mesh joining every mesh object of a .glb/.gltf/.obj/.blend/.usd file, normalised to unit size.

        The file's own materials are dropped: the spec's material applies to the whole object.
        """
        import bmesh

        bpy = self.bpy
        path = Path(asset_path).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"asset_path={asset_path!r}: file not found")
        suffix = path.suffix.lower()
        before = set(bpy.data.objects)
        if suffix in IMPORTERS:
            try:
                result = IMPORTERS[suffix](bpy)(filepath=str(path))
            except RuntimeError as err:
                cause = (str(err).strip().splitlines() or [""])[0]
                raise ValueError(f"asset_path={asset_path!r}: import failed ({cause})") from None
            if "FINISHED" not in result:
                raise ValueError(f"asset_path={asset_path!r}: {suffix} import failed")
            loaded = [ob for ob in bpy.data.objects if ob not in before]
        elif suffix == ".blend":
            with bpy.data.libraries.load(str(path), link=False) as (source, target):
                target.objects = list(source.objects)
            loaded = [ob for ob in target.objects if ob is not None]
        else:
            raise ValueError(
                f"asset_path={asset_path!r}: unsupported file type (use .glb, .gltf, .obj, .blend or .usd)"
            )
        meshes = [ob for ob in loaded if ob.type == "MESH"]
        if not meshes:
            raise ValueError(f"asset_path={asset_path!r}: the file holds no mesh object")
        bm = bmesh.new()
        try:
            for ob in meshes:
                part = ob.data.copy()
                part.transform(ob.matrix_world)
                bm.from_mesh(part)
                bpy.data.meshes.remove(part)
            mesh = bpy.data.meshes.new(name)
            bm.to_mesh(mesh)
        finally:
            bm.free()
        for ob in loaded:
            bpy.data.objects.remove(ob, do_unlink=True)
        if len(mesh.vertices) == 0:
            raise ValueError(f"asset_path={asset_path!r}: the meshes are empty")
        mesh.materials.clear()
        _normalise_unit_bounds(mesh)
        return mesh

    # ----------------------------------------------------------------------------- materials

    def make_material(self, material: MaterialSpec, name: str) -> Any:
        """A Principled-BSDF material; nodes ``base_color`` (RGB) and ``bsdf`` are keyed per frame later.

        With a texture, the texture's factor (object coordinates x ``texture_scale``) mixes the base
        colour with the secondary colour; the mix feeds both base colour and emission colour.
        """
        mat = self.bpy.data.materials.new(name)
        nodes, links = mat.node_tree.nodes, mat.node_tree.links
        nodes.clear()
        output = nodes.new("ShaderNodeOutputMaterial")
        bsdf = nodes.new("ShaderNodeBsdfPrincipled")
        bsdf.name = "bsdf"
        base = nodes.new("ShaderNodeRGB")
        base.name = "base_color"
        base.outputs[0].default_value = (*material.base_color_rgb, 1.0)
        bsdf.inputs["Roughness"].default_value = material.roughness
        bsdf.inputs["Metallic"].default_value = material.metallic
        bsdf.inputs["Emission Strength"].default_value = material.emission_strength
        color_socket = base.outputs[0]
        if material.family != "principled":
            color_socket = build_family(nodes, links, material, base, bsdf)
        elif material.texture != "none":
            node_type, factor_name = TEXTURE_NODES[material.texture]
            coords = nodes.new("ShaderNodeTexCoord")
            texture = nodes.new(node_type)
            texture.inputs["Scale"].default_value = material.texture_scale
            links.new(coords.outputs["Object"], texture.inputs["Vector"])
            mix = nodes.new("ShaderNodeMix")
            mix.data_type = "RGBA"
            # ShaderNodeMix keeps sockets for every data type; 0 = float factor, 6/7 = colour A/B, 2 = result.
            links.new(texture.outputs[factor_name], mix.inputs[0])
            links.new(base.outputs[0], mix.inputs[6])
            mix.inputs[7].default_value = (*material.secondary_color_rgb, 1.0)
            color_socket = mix.outputs[2]
        links.new(color_socket, bsdf.inputs["Base Color"])
        links.new(self._with_gain(nodes, links, color_socket), bsdf.inputs["Emission Color"])
        links.new(bsdf.outputs["BSDF"], output.inputs["Surface"])
        return mat

    def _with_gain(self, nodes: Any, links: Any, color: Any) -> Any:
        """``color`` times the camera's exposure/white-balance gain (``shading.optics_gain``), for emitters."""
        gain = optics_gain(self.spec.camera.optics)
        if np.allclose(gain, 1.0):
            return color
        multiply = nodes.new("ShaderNodeVectorMath")
        multiply.operation = "MULTIPLY"
        links.new(color, multiply.inputs[0])
        multiply.inputs[1].default_value = tuple(float(g) for g in gain)
        return multiply.outputs["Vector"]

    # ------------------------------------------------------------------------------- objects

    def add_mesh_object(self, name: str, mesh: Any, material: Any | None, pass_index: int = 0) -> Any:
        """Link a new object holding ``mesh`` into the scene; ``pass_index`` is its instance id."""
        ob = self.bpy.data.objects.new(name, mesh)
        if material is not None:
            mesh.materials.append(material)
        ob.pass_index = pass_index
        self.scene.collection.objects.link(ob)
        return ob

    def add_primitive(self, primitive: str, name: str, material: MaterialSpec | None = None) -> Any:
        """Decoration for recipe hooks: a unit-size primitive with instance id 0 at the origin."""
        mat = self.make_material(material or MaterialSpec(), f"{name}_material")
        return self.add_mesh_object(name, self.primitive_mesh(primitive, name), mat)

    def add_object(self, obj: ObjectSpec, index: int) -> Any:
        """Create spec object ``index`` (mesh, material, pass index = object_id); pose comes from labels."""
        try:
            if obj.primitive == "mesh" and obj.asset_dir is not None:
                path = resolve_asset(obj.asset_dir, str(obj.asset_path), str(obj.asset_sha256))
                mesh = self.asset_mesh(str(path), obj.name)
            elif obj.primitive == "mesh":
                mesh = self.asset_mesh(str(obj.asset_path), obj.name)
            elif obj.primitive == "procedural" and obj.shape is not None:
                mesh = procedural_mesh(self.bpy, obj.shape, obj.name)
            else:
                mesh = self.primitive_mesh(obj.primitive, obj.name)
        except (OSError, ValueError, RuntimeError, DataError) as err:
            cause = (str(err).strip().splitlines() or [""])[0]  # Blender's importers raise several lines
            raise clip_error(self.spec, f"objects[{index}] ({obj.name!r}): {cause}") from None
        material = self.make_material(obj.material, f"{obj.name}_material")
        ob = self.add_mesh_object(obj.name, mesh, material, pass_index=obj.object_id)
        ob.rotation_mode = "QUATERNION"
        self.objects[obj.object_id] = ob
        self.materials[obj.object_id] = material
        return ob

    # ---------------------------------------------------------------------------- lights / world

    def add_light(self, light: LightSpec, name: str) -> Any:
        """A sun (W/m^2), area or point light (W) aimed at ``look_at_m``, coloured by temperature."""
        data = self.bpy.data.lights.new(name, type=light.kind.upper())
        # The camera's exposure/white-balance gain: brightest channel in the energy, the rest in the colour.
        gain = optics_gain(self.spec.camera.optics)
        data.energy = light.strength * float(gain.max())
        data.color = tuple(float(g) for g in gain / gain.max())
        data.use_temperature = True
        data.temperature = light.color_temperature_k
        if light.kind == "area":
            data.shape = "SQUARE"
            data.size = light.size_m
        elif light.kind == "point":
            data.shadow_soft_size = light.size_m / 2.0
        ob = self.bpy.data.objects.new(name, data)
        try:
            pose = look_at_camera_to_world(light.position_m, light.look_at_m)
        except ConfigError:
            # A point light radiates everywhere; aiming only matters for sun and area lights.
            pose = np.eye(4)
            pose[:3, 3] = light.position_m
        ob.matrix_world = _to_matrix(pose)
        self.scene.collection.objects.link(ob)
        return ob

    def build_world(self, world: WorldSpec) -> None:
        """Sky texture or plain background, plus the ground plane (instance id 0) when asked for."""
        bw = self.bpy.data.worlds.new("world")
        self.scene.world = bw
        nodes, links = bw.node_tree.nodes, bw.node_tree.links
        nodes.clear()
        output = nodes.new("ShaderNodeOutputWorld")
        background = nodes.new("ShaderNodeBackground")
        background.inputs["Strength"].default_value = world.strength
        if world.background == "sky":
            sky = nodes.new("ShaderNodeTexSky")
            sky.sky_type = world.sky_type
            elevation = math.radians(world.sun_elevation_deg)
            azimuth = math.radians(world.sun_azimuth_deg)
            sky.sun_elevation = elevation
            sky.sun_rotation = azimuth % (2.0 * math.pi)
            # PREETHAM / HOSEK_WILKIE read a direction vector instead of elevation/rotation.
            sky.sun_direction = (
                math.sin(azimuth) * math.cos(elevation),
                -math.cos(azimuth) * math.cos(elevation),
                math.sin(elevation),
            )
            # The key light is the recipe's sun lamp; a second sun in the sky texture would double the
            # shadows and burn out the ground, so the sky only contributes its scattered light.
            if hasattr(sky, "sun_disc"):
                sky.sun_disc = False
            links.new(sky.outputs["Color"], background.inputs["Color"])
        elif world.background == "hdri":
            self.add_environment(world, nodes, links, background)
        else:
            background.inputs["Color"].default_value = (*world.background_rgb, 1.0)
        color = background.inputs["Color"]
        if color.links:
            source = color.links[0].from_socket
            links.remove(color.links[0])
            links.new(self._with_gain(nodes, links, source), color)
        else:
            gain = optics_gain(self.spec.camera.optics)
            color.default_value = (*(g * c for g, c in zip(gain, world.background_rgb, strict=True)), 1.0)
        links.new(background.outputs["Background"], output.inputs["Surface"])
        if world.ground:
            if world.ground_projection_height_m > 0.0:
                material = self.dome_ground_material(world)
            else:
                material = self.make_material(world.ground_material, "ground_material")
            self.ground = self.add_mesh_object("ground", self.primitive_mesh("plane", "ground"), material)
            self.ground.scale = (world.ground_size_m, world.ground_size_m, 1.0)

    def add_environment(self, world: WorldSpec, nodes: Any, links: Any, background: Any) -> None:
        """Environment Texture -> Background, turned about +Z by a Mapping node; the file is checked
        against the spec's sha256 first (DataError when it changed)."""
        assert world.hdri_dir and world.hdri_file and world.hdri_sha256  # WorldSpec enforces these
        path = resolve_hdri(world.hdri_dir, world.hdri_file, world.hdri_sha256)
        coords = nodes.new("ShaderNodeTexCoord")
        mapping = nodes.new("ShaderNodeMapping")
        mapping.inputs["Rotation"].default_value = (0.0, 0.0, math.radians(world.hdri_rotation_deg))
        environment = nodes.new("ShaderNodeTexEnvironment")
        environment.image = self.bpy.data.images.load(str(path), check_existing=True)
        links.new(coords.outputs["Generated"], mapping.inputs["Vector"])
        links.new(mapping.outputs["Vector"], environment.inputs["Vector"])
        links.new(environment.outputs["Color"], background.inputs["Color"])

    def dome_ground_material(self, world: WorldSpec) -> Any:
        """The ground of a ground-projected dome: the environment map as photographed from the viewpoint
        C = (0, 0, ground_projection_height_m), projected onto a dome of radius R =
        ``ground_projection_radius_m`` around C whose floor is the ground. A ground point P inside the dome
        shows the map in the direction P - C. A ground point beyond it is seen through the dome's wall: the
        ray from P towards the viewer (the shading point's incoming direction I) crosses the sphere
        |X - C| = R at Q = P + s I, and P shows the map in the direction Q - C, so the floor runs into the
        horizon without a stretched band (the three.js ``GroundedSkybox`` geometry, done in the shader on
        the flat ground). The map's rotation, strength and the camera gain are the world's; ambient
        occlusion (1 m) darkens it where objects stand, since an emitter catches no shadows. Shading only:
        the ground's geometry, depth and instance id are unchanged."""
        assert world.hdri_dir and world.hdri_file and world.hdri_sha256  # WorldSpec enforces these
        path = resolve_hdri(world.hdri_dir, world.hdri_file, world.hdri_sha256)
        material = self.bpy.data.materials.new("ground_projection")
        # An emitter this large as a light would only add noise; the map already lights the scene.
        material.cycles.emission_sampling = "NONE"
        nodes, links = material.node_tree.nodes, material.node_tree.links
        nodes.clear()
        geometry = nodes.new("ShaderNodeNewGeometry")

        def operate(kind: str, operation: str, a: Any, b: Any) -> Any:
            """A math node of ``kind`` whose first two inputs are ``a`` and ``b``: constants or sockets."""
            node = nodes.new(kind)
            node.operation = operation
            for socket, value in ((node.inputs[0], a), (node.inputs[1], b)):
                if isinstance(value, (tuple, float)):
                    socket.default_value = value
                else:
                    links.new(value, socket)
            return node

        def vector(operation: str, a: Any, b: Any) -> Any:
            return operate("ShaderNodeVectorMath", operation, a, b)

        def scalar(operation: str, a: Any, b: Any = 0.0) -> Any:
            return operate("ShaderNodeMath", operation, a, b).outputs["Value"]

        radius = world.ground_projection_radius_m
        incoming = geometry.outputs["Incoming"]
        # M = P - C; s solves |M + s I|^2 = R^2: s = -(M.I) - sqrt((M.I)^2 - (|M|^2 - R^2)), the crossing
        # nearest P on its way to the viewer; 0 inside the dome (|M| <= R).
        offset = vector(
            "SUBTRACT", geometry.outputs["Position"], (0.0, 0.0, world.ground_projection_height_m)
        )
        m_dot_i = vector("DOT_PRODUCT", offset.outputs["Vector"], incoming).outputs["Value"]
        m_dot_m = vector("DOT_PRODUCT", offset.outputs["Vector"], offset.outputs["Vector"]).outputs["Value"]
        beyond = scalar("SUBTRACT", m_dot_m, radius * radius)
        discriminant = scalar(
            "MAXIMUM", scalar("SUBTRACT", scalar("MULTIPLY", m_dot_i, m_dot_i), beyond), 0.0
        )
        step = scalar("SUBTRACT", scalar("MULTIPLY", m_dot_i, -1.0), scalar("SQRT", discriminant))
        step = scalar("MULTIPLY", step, scalar("GREATER_THAN", beyond, 0.0))
        along = nodes.new("ShaderNodeVectorMath")
        along.operation = "SCALE"
        links.new(incoming, along.inputs[0])
        links.new(step, along.inputs["Scale"])
        direction = vector("ADD", offset.outputs["Vector"], along.outputs["Vector"])
        mapping = nodes.new("ShaderNodeMapping")
        mapping.inputs["Rotation"].default_value = (0.0, 0.0, math.radians(world.hdri_rotation_deg))
        links.new(direction.outputs["Vector"], mapping.inputs["Vector"])
        environment = nodes.new("ShaderNodeTexEnvironment")
        environment.image = self.bpy.data.images.load(str(path), check_existing=True)
        links.new(mapping.outputs["Vector"], environment.inputs["Vector"])
        occlusion = nodes.new("ShaderNodeAmbientOcclusion")
        occlusion.samples = 8
        occlusion.inputs["Distance"].default_value = 1.0
        links.new(self._with_gain(nodes, links, environment.outputs["Color"]), occlusion.inputs["Color"])
        emission = nodes.new("ShaderNodeEmission")
        emission.inputs["Strength"].default_value = world.strength
        links.new(occlusion.outputs["Color"], emission.inputs["Color"])
        output = nodes.new("ShaderNodeOutputMaterial")
        links.new(emission.outputs["Emission"], output.inputs["Surface"])
        return material

    # -------------------------------------------------------------------------------- camera

    def add_camera(self) -> Any:
        """The scene camera: horizontal sensor fit, lens shift and clip range from the spec."""
        cam_spec = self.spec.camera
        clip = self.spec.clip
        data = self.bpy.data.cameras.new("camera")
        for key, value in (
            blender_camera_settings(cam_spec.intrinsics, clip.width, clip.height).as_dict().items()
        ):
            setattr(data, key, value)
        data.clip_start = cam_spec.clip_start_m
        data.clip_end = cam_spec.clip_end_m
        optics = cam_spec.optics
        data.dof.use_dof = optics.f_stop > 0.0
        if data.dof.use_dof:
            data.dof.aperture_fstop = optics.f_stop
            # The focus object follows its labelled pose; build() adds objects before the camera.
            focus = self.objects.get(optics.focus_object_id)
            data.dof.focus_object = focus
            data.dof.focus_distance = optics.focus_distance_m
        ob = self.bpy.data.objects.new("camera", data)
        ob.rotation_mode = "QUATERNION"
        self.scene.collection.objects.link(ob)
        self.scene.camera = ob
        self.camera = ob
        return ob


def _torus_into(bm: Any) -> None:
    minor_r = 0.5 * TORUS_MINOR_FRACTION
    major_r = 0.5 - minor_r
    u = np.arange(TORUS_MAJOR_SEGMENTS) * (2.0 * math.pi / TORUS_MAJOR_SEGMENTS)
    v = np.arange(TORUS_MINOR_SEGMENTS) * (2.0 * math.pi / TORUS_MINOR_SEGMENTS)
    uu, vv = np.meshgrid(u, v, indexing="ij")
    radius = major_r + minor_r * np.cos(vv)
    coords = np.stack([radius * np.cos(uu), radius * np.sin(uu), minor_r * np.sin(vv)], -1).reshape(-1, 3)
    verts = [bm.verts.new(tuple(co)) for co in coords.tolist()]
    n_u, n_v = TORUS_MAJOR_SEGMENTS, TORUS_MINOR_SEGMENTS
    for i in range(n_u):
        for j in range(n_v):
            a = i * n_v + j
            b = ((i + 1) % n_u) * n_v + j
            c = ((i + 1) % n_u) * n_v + (j + 1) % n_v
            d = i * n_v + (j + 1) % n_v
            bm.faces.new((verts[a], verts[b], verts[c], verts[d]))


def _normalise_unit_bounds(mesh: Any) -> None:
    count = len(mesh.vertices)
    coords = np.empty(count * 3, dtype=np.float32)
    mesh.vertices.foreach_get("co", coords)
    points = coords.reshape(-1, 3).astype(np.float64)
    lo, hi = points.min(axis=0), points.max(axis=0)
    extent = float((hi - lo).max())
    if extent <= 0.0:
        raise ValueError("mesh has zero size")
    points = (points - (lo + hi) / 2.0) / extent
    mesh.vertices.foreach_set("co", points.astype(np.float32).ravel())
    mesh.update()


def _to_matrix(pose: np.ndarray) -> Any:
    from mathutils import Matrix

    return Matrix([list(map(float, row)) for row in np.asarray(pose, dtype=np.float64)])
