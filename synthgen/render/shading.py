"""Shader-node graphs of the material library and the colour gain of the camera's exposure and white balance.

Every family is one pattern in object space (Object texture coordinates, offset by ``pattern_offset_m`` and
scaled by ``texture_scale``): its factor mixes the two colours, varies the roughness and bumps the normals.
Bump changes shading normals only, never the geometry, so labels, depth and instance ids are unaffected;
object coordinates move with the object, so no texture slides over a surface.

Exposure and white balance are a per-channel gain on the image. Cycles transports red, green and blue
independently and linearly, so multiplying every emitter (lights, world, emissive materials) by the gain
multiplies the rendered frame by it: the renderer applies it there, before the frame is written.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from synthgen.describe.spec import MaterialSpec, OpticsSpec

# CIE XYZ -> linear Rec.709 (sRGB primaries, D65 white).
_XYZ_TO_REC709 = np.array(
    [
        [3.2404542, -1.5371385, -0.4985314],
        [-0.9692660, 1.8760108, 0.0415560],
        [0.0556434, -0.2040259, 1.0572252],
    ]
)
NEUTRAL_K = 6500.0


def planckian_rgb(temperature_k: float) -> np.ndarray:
    """Linear Rec.709 colour (Y = 1) of a black body at ``temperature_k`` (2500..25000 K).

    Chromaticity from the cubic-spline fit of the Planckian locus by Kim et al. (2002), as used in Blender's
    and most cameras' colour temperature controls.
    """
    t = float(temperature_k)
    if not 2500.0 <= t <= 25000.0:
        raise ValueError(f"temperature_k={t} must be within 2500..25000")
    if t <= 4000.0:
        x = -0.2661239e9 / t**3 - 0.2343589e6 / t**2 + 0.8776956e3 / t + 0.179910
        y = -0.9549476 * x**3 - 1.37418593 * x**2 + 2.09137015 * x - 0.16748867
    else:
        x = -3.0258469e9 / t**3 + 2.1070379e6 / t**2 + 0.2226347e3 / t + 0.240390
        y = 3.0817580 * x**3 - 5.87338670 * x**2 + 3.75112997 * x - 0.37001483
    xyz = np.array([x / y, 1.0, (1.0 - x - y) / y])
    return np.asarray(_XYZ_TO_REC709 @ xyz, dtype=np.float64)


def white_balance_gain(temperature_k: float) -> np.ndarray:
    """Per-channel gain (green = 1) of a camera balanced for an illuminant of ``temperature_k``.

    Light of ``temperature_k`` comes out as it would at 6500 K: balancing for a warmer illuminant than the
    scene's makes the frame bluer, for a colder one redder. ``white_balance_gain(6500)`` is (1, 1, 1).
    """
    gain = planckian_rgb(NEUTRAL_K) / planckian_rgb(temperature_k)
    return gain / gain[1]


def optics_gain(optics: OpticsSpec) -> np.ndarray:
    """The frame's per-channel gain: ``2**exposure_ev`` times the white-balance gain."""
    return float(2.0**optics.exposure_ev) * white_balance_gain(optics.white_balance_k)


# ---------------------------------------------------------------------------------------- families

# Share of the secondary colour the pattern mixes in, and roughness variation, per family.
COLOR_AMOUNT = {
    "wood": 1.0, "marble": 1.0, "brushed_metal": 0.3, "rough_metal": 0.6, "rough_plastic": 0.1,
    "glossy_plastic": 0.05, "fabric": 0.4, "concrete": 0.8, "rock": 1.0, "rubber": 0.2, "car_paint": 0.15,
    "ceramic": 0.1, "asphalt": 1.0, "tiles": 1.0, "sand": 0.8, "grass": 1.0, "wood_floor": 1.0,
}  # fmt: skip
ROUGHNESS_SPREAD = 0.15


class Graph:
    """A material's node tree while a family pattern is added to it."""

    def __init__(self, nodes: Any, links: Any, material: MaterialSpec) -> None:
        self.nodes, self.links, self.material = nodes, links, material

    def node(self, kind: str, **inputs: Any) -> Any:
        node = self.nodes.new(kind)
        for name, value in inputs.items():
            if hasattr(value, "is_output"):
                self.links.new(value, node.inputs[name])
            else:
                node.inputs[name].default_value = value
        return node

    def math(self, operation: str, a: Any, b: Any) -> Any:
        node = self.nodes.new("ShaderNodeMath")
        node.operation = operation
        for index, value in enumerate((a, b)):
            if hasattr(value, "is_output"):
                self.links.new(value, node.inputs[index])
            else:
                node.inputs[index].default_value = value
        return node.outputs[0]

    def vector(self, stretch: tuple[float, float, float] = (1.0, 1.0, 1.0)) -> Any:
        """Object coordinates, offset per material and scaled by ``texture_scale`` x ``stretch``."""
        coords = self.nodes.new("ShaderNodeTexCoord")
        mapping = self.nodes.new("ShaderNodeMapping")
        scale = self.material.texture_scale
        mapping.inputs["Location"].default_value = self.material.pattern_offset_m
        mapping.inputs["Scale"].default_value = tuple(scale * s for s in stretch)
        self.links.new(coords.outputs["Object"], mapping.inputs["Vector"])
        return mapping.outputs["Vector"]

    def noise(self, vector: Any, scale: float = 1.0, distortion: float = 0.0) -> Any:
        detail = self.material.pattern_detail
        node = self.node(
            "ShaderNodeTexNoise", Vector=vector, Scale=scale, Detail=detail, Distortion=distortion
        )
        return node.outputs["Factor"]

    def wave(self, vector: Any, kind: str, distortion: float, scale: float = 1.0, axis: str = "X") -> Any:
        node = self.node(
            "ShaderNodeTexWave",
            Vector=vector,
            Scale=scale,
            Distortion=distortion,
            Detail=self.material.pattern_detail,
        )
        node.wave_type = kind
        if kind == "BANDS":
            node.bands_direction = axis
        else:
            node.rings_direction = axis
        return node.outputs["Factor"]

    def voronoi(self, vector: Any, scale: float = 1.0) -> Any:
        return self.node("ShaderNodeTexVoronoi", Vector=vector, Scale=scale).outputs["Distance"]

    def brick(self, vector: Any, width: float, height: float, offset: float, mortar: float) -> Any:
        node = self.node(
            "ShaderNodeTexBrick", Vector=vector, Scale=1.0, **{"Brick Width": width, "Row Height": height}
        )
        node.inputs["Mortar Size"].default_value = mortar
        node.offset = offset
        return node.outputs["Factor"]


def family_pattern(graph: Graph, family: str) -> tuple[Any, Any]:
    """(colour factor, bump height) sockets of ``family``'s pattern, both in about [0, 1]."""
    g = graph
    if family in ("wood", "marble"):
        distortion = 6.0 if family == "wood" else 14.0
        factor = g.wave(
            g.vector((0.25, 0.25, 1.0)), "RINGS" if family == "wood" else "BANDS", distortion, axis="Z"
        )
        return factor, factor
    if family == "brushed_metal":
        streaks = g.noise(g.vector((1.0, 1.0, 0.02)))
        return streaks, streaks
    if family == "fabric":
        v = g.vector()
        weave = g.math("MULTIPLY", g.wave(v, "BANDS", 0.0, axis="X"), g.wave(v, "BANDS", 0.0, axis="Y"))
        return g.noise(g.vector(), scale=0.05), weave
    if family in ("concrete", "rock", "asphalt"):
        v = g.vector()
        grain = g.noise(v)
        cells = g.voronoi(v, scale=0.5 if family == "rock" else 2.0)
        return (cells if family == "rock" else grain), g.math("ADD", g.math("MULTIPLY", grain, 0.5), cells)
    if family == "tiles":
        mortar = g.brick(g.vector(), 1.0, 1.0, 0.0, 0.03)
        return mortar, g.math("SUBTRACT", 1.0, mortar)
    if family == "wood_floor":
        v = g.vector()
        seams = g.brick(v, 2.0, 0.25, 0.5, 0.01)
        grain = g.wave(g.vector((0.3, 6.0, 1.0)), "BANDS", 4.0, axis="X")
        return g.math("MAXIMUM", seams, g.math("MULTIPLY", grain, 0.8)), g.math("SUBTRACT", 1.0, seams)
    if family == "sand":
        ripples = g.wave(g.vector(), "BANDS", 3.0, scale=3.0, axis="Y")
        return g.noise(g.vector(), scale=8.0), ripples
    # Plastics, rubber, car paint, ceramic, rough metal and grass: one noise, fine or coarse by scale.
    factor = g.noise(g.vector())
    return factor, factor


def build_family(nodes: Any, links: Any, material: MaterialSpec, base_color: Any, bsdf: Any) -> Any:
    """Add ``material.family``'s pattern between ``base_color`` (RGB node) and ``bsdf``; returns the colour
    socket that feeds Base Color (and Emission Color)."""
    graph = Graph(nodes, links, material)
    factor, height = family_pattern(graph, material.family)
    amount = graph.math("MULTIPLY", factor, COLOR_AMOUNT[material.family])
    mix = nodes.new("ShaderNodeMix")
    mix.data_type = "RGBA"
    mix.clamp_factor = True
    # ShaderNodeMix keeps sockets for every data type; 0 = float factor, 6/7 = colour A/B, 2 = result.
    links.new(amount, mix.inputs[0])
    links.new(base_color.outputs[0], mix.inputs[6])
    mix.inputs[7].default_value = (*material.secondary_color_rgb, 1.0)
    low = max(0.0, material.roughness - ROUGHNESS_SPREAD)
    high = min(1.0, material.roughness + ROUGHNESS_SPREAD)
    roughness = graph.node("ShaderNodeMapRange", Value=factor, **{"To Min": low, "To Max": high})
    links.new(roughness.outputs["Result"], bsdf.inputs["Roughness"])
    if material.bump_strength > 0.0:
        bump = graph.node("ShaderNodeBump", Height=height, Strength=material.bump_strength, Distance=0.02)
        links.new(bump.outputs["Normal"], bsdf.inputs["Normal"])
    bsdf.inputs["Coat Weight"].default_value = material.coat
    bsdf.inputs["Coat Roughness"].default_value = 0.03
    bsdf.inputs["Anisotropic"].default_value = material.anisotropy
    bsdf.inputs["Sheen Weight"].default_value = material.sheen
    return mix.outputs[2]
