"""Canny-edge references in the format of the official LTX-2.3 union-control IC-LoRA's canny input.

The official ``LTX-2.3_ICLoRA_Union_Control_Distilled`` workflow (Lightricks' ComfyUI-LTXVideo) turns a
video into the LoRA's guide with ``CannyEdgePreprocessor`` (comfyui_controlnet_aux) and then
``LTXAddVideoICLoRAGuide``; this module reproduces that chain on a rendered target (docs/controls.md,
"Reference styles", gives each step's source):

1. each uint8 RGB frame is resized so its *short* side is ``detect_resolution_px``: sides
   ``round(side * k)`` (half to even), ``k = detect / short``; OpenCV ``INTER_CUBIC`` when enlarging,
   ``INTER_AREA`` otherwise (k = 1 included, where it is the identity);
2. padded at the bottom and right to multiples of 64 by repeating the edge pixels;
3. ``cv2.Canny(image, low, high)`` on the *three-channel* RGB image (Sobel aperture 3, L1 gradient: OpenCV
   takes, per pixel, the channel with the largest gradient), the padding cropped off again;
4. the single channel copied to three: white (255) edges on black, the same value in every channel;
5. resized to the reference size bilinearly (half-pixel centres, no antialiasing: torch's
   ``interpolate(mode="bilinear", align_corners=False)``, which ComfyUI's ``common_upscale`` calls), then
   rounded half up to uint8 (the node passes floats on to the VAE).

ComfyUI holds frames as float32 ``v / 255`` and the preprocessor converts back with a truncating
``uint8(x * 255)``; for every uint8 v that round trip is exact, so the frames enter step 1 unchanged.
"""

from __future__ import annotations

import cv2
import numpy as np

from synthgen.controls.signals.sparse_tracks import bilinear_taps
from synthgen.errors import DataError

# comfyui_controlnet_aux pads the detector input to multiples of 64 (``pad64``) before running Canny.
PAD_MULTIPLE_PX = 64


def detect_size(width: int, height: int, detect_resolution_px: int) -> tuple[int, int]:
    """(width, height) the edges are detected at: the short side becomes ``detect_resolution_px``, each
    side ``round(side * k)`` with numpy's half-to-even rounding (``resize_image_with_pad``)."""
    if width < 1 or height < 1 or detect_resolution_px < 1:
        raise DataError(
            f"canny: frame size {width}x{height} and detect_resolution_px={detect_resolution_px} "
            "must be positive"
        )
    scale = float(detect_resolution_px) / float(min(width, height))
    return int(np.round(width * scale)), int(np.round(height * scale))


def canny_edges(
    frame_rgb: np.ndarray, low_threshold: int, high_threshold: int, detect_resolution_px: int
) -> np.ndarray:
    """uint8 (h, w) edge map (255 edge, 0 not) of one uint8 (H, W, 3) RGB frame at the detection size
    ``detect_size(W, H, detect_resolution_px)``: steps 1-3 of the module's chain."""
    frame = np.ascontiguousarray(frame_rgb, dtype=np.uint8)
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise DataError(f"canny: frame must be (H, W, 3) RGB, got shape {frame.shape}")
    height, width = frame.shape[:2]
    detect_w, detect_h = detect_size(width, height, detect_resolution_px)
    enlarging = detect_resolution_px > min(width, height)
    resized = cv2.resize(
        frame, (detect_w, detect_h), interpolation=cv2.INTER_CUBIC if enlarging else cv2.INTER_AREA
    )
    pad_h = -detect_h % PAD_MULTIPLE_PX
    pad_w = -detect_w % PAD_MULTIPLE_PX
    padded = np.pad(resized, ((0, pad_h), (0, pad_w), (0, 0)), mode="edge")
    edges = cv2.Canny(padded, low_threshold, high_threshold)
    return np.ascontiguousarray(edges[:detect_h, :detect_w])


def resize_bilinear(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """float (h, w, ...) -> float (height, width, ...): bilinear, half-pixel centres, no antialiasing."""
    r0, r1, wy = bilinear_taps(image.shape[0], height)
    c0, c1, wx = bilinear_taps(image.shape[1], width)
    extra = (1,) * (image.ndim - 2)
    rows = image[r0] * (1.0 - wy).reshape(-1, 1, *extra) + image[r1] * wy.reshape(-1, 1, *extra)
    return rows[:, c0] * (1.0 - wx).reshape(1, -1, *extra) + rows[:, c1] * wx.reshape(1, -1, *extra)


def canny_video(
    frames_rgb: np.ndarray,
    width: int,
    height: int,
    *,
    low_threshold: int,
    high_threshold: int,
    detect_resolution_px: int,
) -> np.ndarray:
    """uint8 (F, height, width, 3) Canny reference of uint8 (F, H, W, 3) RGB frames: white edges on
    black, all channels equal (the module's chain, steps 1-5)."""
    frames = np.asarray(frames_rgb)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[3] != 3:
        raise DataError(f"canny: frames must be uint8 (F, H, W, 3), got {frames.dtype} {frames.shape}")
    out = np.empty((frames.shape[0], height, width, 3), dtype=np.uint8)
    for index, frame in enumerate(frames):
        edges = canny_edges(frame, low_threshold, high_threshold, detect_resolution_px)
        small = resize_bilinear(edges.astype(np.float64) / 255.0, width, height)
        out[index] = np.floor(np.clip(small, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)[..., None]
    return out
