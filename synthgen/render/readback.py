"""Read rendered multilayer EXR frames into numpy: sRGB frames, planar depth and instance ids."""

from __future__ import annotations

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


def read_frame(
    path: Path, *, color: bool, data: bool
) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """One EXR read: (uint8 sRGB (H, W, 3) | None, planar depth float32 (H, W) with inf background | None,
    instance ids uint16 (H, W) | None), as asked by ``color`` and ``data``."""
    wanted = (COLOR_CHANNELS if color else ()) + (DEPTH_CHANNELS + INDEX_CHANNELS if data else ())
    channels = read_exr_layers(path, wanted)
    rgb = depth = ids = None
    if color:
        rgb = srgb_from_linear(np.stack([_find(channels, (name,), path) for name in COLOR_CHANNELS], axis=-1))
    if data:
        depth = _find(channels, DEPTH_CHANNELS, path).astype(np.float32, copy=True)
        depth[depth >= BACKGROUND_DEPTH_M] = np.inf
        # Pass indices are small integers stored exactly in float32.
        ids = _find(channels, INDEX_CHANNELS, path).astype(np.uint16)
    return rgb, depth, ids
