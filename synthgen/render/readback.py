"""Read rendered multilayer EXR frames into numpy: sRGB frames, planar depth, instance ids and normals."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from synthgen.errors import RenderError
from synthgen.render._blender import load_openimageio

# Cycles writes 1e10 as depth where a camera ray hits nothing.
BACKGROUND_DEPTH_M = 1e9


def srgb_from_linear(linear: np.ndarray) -> np.ndarray:
    """uint8 sRGB of scene-linear Rec.709 values: the piecewise sRGB curve (Blender's "Standard" view).

    Values are clipped to [0, 1] first and rounded to the nearest code value (no dither).
    """
    x = np.clip(np.asarray(linear, dtype=np.float32), 0.0, 1.0)
    encoded = np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1.0 / 2.4) - 0.055)
    return np.clip(np.rint(encoded * 255.0), 0, 255).astype(np.uint8)


def read_exr_layers(path: Path, wanted: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    """Channels of a (multi-part) EXR as float32 (H, W) arrays keyed by channel name, top row first.

    With ``wanted``, only parts holding a channel whose name ends in one of these suffixes are read.
    """
    oiio = load_openimageio()
    image = oiio.ImageInput.open(str(path))
    if image is None:
        raise RenderError(f"render: cannot open {path} ({oiio.geterror()})")
    channels: dict[str, np.ndarray] = {}
    try:
        subimage = 0
        while image.seek_subimage(subimage, 0):
            spec = image.spec()
            names = [str(name) for name in spec.channelnames]
            if not wanted or any(name.endswith(wanted) for name in names):
                pixels = image.read_image(subimage, 0, 0, spec.nchannels, "float")
                if pixels is None:
                    raise RenderError(f"render: cannot read {path} part {subimage} ({image.geterror()})")
                pixels = np.asarray(pixels, dtype=np.float32).reshape(spec.height, spec.width, spec.nchannels)
                for index, name in enumerate(names):
                    channels[name] = pixels[..., index]
            subimage += 1
    finally:
        image.close()
    return channels


def _find(channels: dict[str, np.ndarray], suffixes: tuple[str, ...], path: Path) -> np.ndarray:
    for name, values in channels.items():
        if name.endswith(suffixes):
            return values
    raise RenderError(f"render: {path} has no channel ending in {suffixes} (has {sorted(channels)})")


COLOR_CHANNELS = ("Combined.R", "Combined.G", "Combined.B")
DEPTH_CHANNELS = ("Depth.Z",)
INDEX_CHANNELS = ("Object Index.X", "IndexOB.X")
NORMAL_CHANNELS = ("Normal.X", "Normal.Y", "Normal.Z")


@dataclass(frozen=True)
class FrameLayers:
    """What one EXR read returned; None for what was not asked for.

    ``rgb`` uint8 (H, W, 3) sRGB; ``depth_m`` float32 (H, W) planar depth, inf where nothing was hit;
    ``instance_ids`` uint16 (H, W); ``normals_world`` float32 (H, W, 3) unit world-space normals, NaN where
    nothing was hit.
    """

    rgb: np.ndarray | None = None
    depth_m: np.ndarray | None = None
    instance_ids: np.ndarray | None = None
    normals_world: np.ndarray | None = None


def unit_normals(normals: np.ndarray) -> np.ndarray:
    """(..., 3) float32 normals scaled to unit length; NaN where the length is 0 (no surface).

    Cycles averages the normal pass over a pixel's samples, so pixels on a silhouette or a curved surface
    hold shorter, blended vectors.
    """
    length = np.linalg.norm(normals, axis=-1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        unit = np.where(length > 0, normals / length, np.nan)
    return unit.astype(np.float32)


def read_frame(path: Path, *, color: bool, data: bool, normals: bool = False) -> FrameLayers:
    """One EXR read: the sRGB frame when ``color``; depth and instance ids when ``data``; world-space normals
    when ``normals`` (the file must hold Blender's Normal pass)."""
    wanted = (COLOR_CHANNELS if color else ()) + (DEPTH_CHANNELS + INDEX_CHANNELS if data else ())
    wanted += NORMAL_CHANNELS if normals else ()
    channels = read_exr_layers(path, wanted)
    rgb = depth = ids = unit = None
    if color:
        rgb = srgb_from_linear(np.stack([_find(channels, (name,), path) for name in COLOR_CHANNELS], axis=-1))
    if data:
        depth = _find(channels, DEPTH_CHANNELS, path).astype(np.float32, copy=True)
        depth[depth >= BACKGROUND_DEPTH_M] = np.inf
        # Pass indices are small integers stored exactly in float32.
        ids = _find(channels, INDEX_CHANNELS, path).astype(np.uint16)
    if normals:
        unit = unit_normals(np.stack([_find(channels, (name,), path) for name in NORMAL_CHANNELS], axis=-1))
    return FrameLayers(rgb, depth, ids, unit)
