"""Preview of one clip: an MP4 and a PNG contact sheet with the labels drawn over the frames.

Each preview frame shows, side by side: the reference the trainer consumes (or the first control video),
the target with its point tracks (a dot per visible point, coloured by object; hollow when occluded), and
a top-down plot of the camera path (world X right, Y up) with the current position. Frames at a beat
(nearest frame to each ``beat_times_s``) get a white border.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pyarrow.dataset as pads
from PIL import Image, ImageDraw

from synthgen.controls import reference_is_bgr
from synthgen.dataset.media import VideoEncoding, encode_video
from synthgen.dataset.reader import open_dataset
from synthgen.dataset.rows import ClipRow
from synthgen.errors import ConfigError, DataError
from synthgen.fileio import atomic_write_bytes, check_output_dir, safe_join

_PALETTE = np.array(
    [[255, 255, 255], [230, 25, 75], [60, 180, 75], [255, 225, 25], [0, 130, 200], [245, 130, 48],
     [145, 30, 180], [70, 240, 240], [240, 50, 230], [210, 245, 60]], dtype=np.uint8,
)  # fmt: skip


def load_clip(path: str, clip_id: str | None = None) -> ClipRow:
    """The decoded clip ``clip_id`` of the dataset at ``path`` (the first clip when None)."""
    expression = pads.field("clip_id") == clip_id if clip_id is not None else None
    for row in open_dataset(path, filter=expression).rows():
        return row
    raise DataError(
        f"{path}: no clip with clip_id={clip_id!r}" if clip_id else f"{path}: dataset has no clips"
    )


def beat_frames(row: ClipRow) -> set[int]:
    """Frame indices nearest to each labelled beat time (frame i is at t = i / fps)."""
    beats = row.labels.get("beat_times_s")
    if beats is None:
        return set()
    frames = np.rint(np.asarray(beats, dtype=np.float64) * float(row.fps)).astype(int)
    return {int(f) for f in frames if 0 <= f < int(row.num_frames)}


def draw_tracks(frame: np.ndarray, row: ClipRow, index: int) -> Image.Image:
    """``frame`` (H,W,3) with the tracks of frame ``index`` drawn; pixel (0,0) is the top-left corner."""
    image = Image.fromarray(frame)
    labels = row.labels
    xy = labels.get("tracks_xy_px")
    if xy is None:
        return image
    draw = ImageDraw.Draw(image)
    num_points = xy.shape[1]
    visible = np.ones(num_points, dtype=bool)
    if "tracks_in_frame" in labels:
        visible &= labels["tracks_in_frame"][index]
    if "tracks_behind_camera" in labels:
        visible &= ~labels["tracks_behind_camera"][index]
    occluded = labels["tracks_occluded"][index] if "tracks_occluded" in labels else None
    owners = labels.get("tracks_object_id", np.zeros(num_points, dtype=np.int32))
    radius = max(1.0, frame.shape[0] / 96)
    for point in np.flatnonzero(visible):
        x, y = xy[index, point]
        colour = tuple(int(c) for c in _PALETTE[int(owners[point]) % len(_PALETTE)])
        box = (x - radius, y - radius, x + radius, y + radius)
        if occluded is not None and occluded[point]:
            draw.ellipse(box, outline=colour)
        else:
            draw.ellipse(box, fill=colour)
    return image


def camera_panel(row: ClipRow, index: int, size: int) -> Image.Image:
    """A ``size`` x ``size`` top-down plot of the camera path (world X right, Y up), current frame marked."""
    image = Image.new("RGB", (size, size), (24, 24, 28))
    poses = row.labels.get("camera_to_world_blender")
    if poses is None:
        return image
    path_xy = poses[:, :2, 3]
    low, high = path_xy.min(axis=0), path_xy.max(axis=0)
    span = float(max(high[0] - low[0], high[1] - low[1], 1e-6))
    margin = 0.1 * size
    points = (path_xy - (low + high) / 2) / span * (size - 2 * margin)
    points = np.stack([points[:, 0] + size / 2, size / 2 - points[:, 1]], axis=1)
    draw = ImageDraw.Draw(image)
    draw.line([tuple(p) for p in points], fill=(120, 120, 140), width=1)
    x, y = points[index]
    radius = max(2.0, size / 40)
    draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=(255, 200, 0))
    return image


def preview_frames(row: ClipRow) -> np.ndarray:
    """uint8 (F, H, W_total, 3) preview frames: reference | target with tracks | camera path."""
    video = row.video
    frames, height, _ = video.shape[:3]
    side = row.reference_video
    if side is None:
        side = next((row.controls[name] for name in sorted(row.controls)), None)
    elif reference_is_bgr(row.pairing):
        side = side[..., ::-1]  # shown in the colours the official format describes (stored BGR)
    beats = beat_frames(row)
    out = []
    for index in range(frames):
        panels = []
        if side is not None:
            side_index = min(index * side.shape[0] // frames, side.shape[0] - 1)
            panels.append(
                Image.fromarray(side[side_index]).resize((video.shape[2], height), Image.Resampling.NEAREST)
            )
        panels.append(draw_tracks(video[index], row, index))
        panels.append(camera_panel(row, index, height))
        canvas = Image.new("RGB", (sum(p.width for p in panels), height))
        x = 0
        for panel in panels:
            canvas.paste(panel, (x, 0))
            x += panel.width
        if index in beats:
            ImageDraw.Draw(canvas).rectangle(
                (0, 0, canvas.width - 1, canvas.height - 1),
                outline=(255, 255, 255),
                width=max(2, height // 32),
            )
        out.append(np.asarray(canvas))
    stacked = np.stack(out)
    # H.264 needs even sides; the camera panel keeps the width even already, this guards odd heights.
    return stacked[:, : stacked.shape[1] // 2 * 2, : stacked.shape[2] // 2 * 2]


def contact_sheet(frames: np.ndarray, max_frames: int = 8) -> Image.Image:
    """Up to ``max_frames`` evenly spaced preview frames stacked top to bottom."""
    picks = np.unique(
        np.linspace(0, frames.shape[0] - 1, min(max_frames, frames.shape[0])).round().astype(int)
    )
    return Image.fromarray(np.concatenate([frames[i] for i in picks], axis=0))


def write_preview(
    path: str, out_dir: str | Path, clip_id: str | None = None, *, overwrite: bool = False
) -> tuple[Path, Path]:
    """Write ``<clip_id>.mp4`` and ``<clip_id>.png`` previews of a clip into ``out_dir``; returns both paths.

    ``out_dir`` may hold other files (previews of other clips); an existing preview of this clip is replaced
    only with ``overwrite`` (ConfigError otherwise), and a clip id that is no safe file name is a DataError.
    """
    out = check_output_dir(out_dir, "--out", overwrite=True, ours=lambda _: True, own_folder=False)
    row = load_clip(path, clip_id)  # a ClipRow refuses an unsafe clip_id
    mp4 = safe_join(out, f"{row.clip_id}.mp4", what="clip_id")
    png = safe_join(out, f"{row.clip_id}.png", what="clip_id")
    for target in (mp4, png):
        if target.exists() and not overwrite:
            raise ConfigError(f"--out {out}: {target.name} exists; use --overwrite to replace it")
    frames = preview_frames(row)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ConfigError(f"--out={str(out_dir)!r}: cannot create it ({err.strerror})") from None
    atomic_write_bytes(mp4, encode_video(frames, float(row.fps), VideoEncoding(crf=18), name=str(mp4)))
    sheet = io.BytesIO()
    contact_sheet(frames).save(sheet, format="PNG")
    atomic_write_bytes(png, sheet.getvalue())
    return mp4, png
