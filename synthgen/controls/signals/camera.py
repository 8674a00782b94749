"""Camera-parameter control videos computed from K and the OpenCV extrinsics alone (no render).

``rays``: each pixel shows the world direction of the ray through its centre, ``rgb = (d + 1) / 2`` for the
unit vector d (world x -> red, y -> green, z -> blue). ``ground_grid``: lines of a metric grid on the ground
plane z = 0 (spacing ``grid_spacing_m``), antialiased in screen space, white over black; pixels whose ray
never hits the ground show the ray colour at quarter brightness so the horizon and roll stay readable.
Pixel centres are at (j + 0.5, i + 0.5) in the corner convention K is expressed in; for a reference at
downscale s, K is scaled by 1/s in its first two rows, which is exact in that convention.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

CameraVideoMode = Literal["rays", "ground_grid"]


def scaled_intrinsics(intrinsics_px: np.ndarray, downscale: int) -> np.ndarray:
    """K (..., 3, 3) for an image whose sides are divided by ``downscale`` (first two rows / s)."""
    scaled = np.array(intrinsics_px, dtype=np.float64, copy=True)
    scaled[..., :2, :] /= float(downscale)
    return scaled


def world_ray_directions(
    intrinsics_px: np.ndarray, camera_from_world_cv: np.ndarray, height: int, width: int
) -> np.ndarray:
    """Unit world-space directions (H, W, 3) of the rays through every pixel centre of one frame."""
    cols, rows = np.meshgrid(np.arange(width) + 0.5, np.arange(height) + 0.5)
    pixels = np.stack([cols, rows, np.ones_like(cols)], axis=-1)
    camera_dirs = pixels @ np.linalg.inv(intrinsics_px).T
    world_dirs = camera_dirs @ camera_from_world_cv[:3, :3]  # R^T d, row-vector form
    return world_dirs / np.linalg.norm(world_dirs, axis=-1, keepdims=True)


def camera_video(
    intrinsics_px: np.ndarray,
    camera_from_world_cv: np.ndarray,
    height: int,
    width: int,
    *,
    mode: CameraVideoMode,
    grid_spacing_m: float,
    line_width_px: float,
) -> np.ndarray:
    """uint8 (F, H, W, 3) camera-parameter video from K (F, 3, 3) and camera_from_world_cv (F, 4, 4).

    K must already be expressed for an image of ``height`` x ``width`` (see ``scaled_intrinsics``).
    """
    frames = []
    for k_px, extrinsic in zip(intrinsics_px, camera_from_world_cv):
        dirs = world_ray_directions(k_px, extrinsic, height, width)
        ray_rgb = 0.5 * (dirs + 1.0)
        if mode == "rays":
            frames.append(ray_rgb)
            continue
        rotation, translation = extrinsic[:3, :3], extrinsic[:3, 3]
        center_m = -rotation.T @ translation
        with np.errstate(divide="ignore", invalid="ignore"):
            distance = -center_m[2] / dirs[..., 2]
        hits = np.isfinite(distance) & (distance > 0)
        ground_xy = center_m[:2] + np.where(hits, distance, 0.0)[..., None] * dirs[..., :2]
        cells = ground_xy / grid_spacing_m
        line_dist = np.abs(cells - np.round(cells))  # in grid units, per axis
        # Screen-space size of one grid unit, from finite differences, keeps lines line_width_px wide.
        grad_rows = np.abs(np.gradient(cells, axis=0))
        grad_cols = np.abs(np.gradient(cells, axis=1))
        units_per_px = np.maximum(np.hypot(grad_rows, grad_cols), 1e-9)
        dist_px = line_dist / units_per_px
        coverage = np.clip(0.5 * line_width_px + 0.5 - dist_px, 0.0, 1.0).max(axis=-1)
        # Far away the grid is denser than the pixels; fade it instead of aliasing.
        coverage *= np.clip(1.5 - 2.0 * units_per_px.max(axis=-1), 0.0, 1.0)
        frame = np.where(hits[..., None], coverage[..., None] * np.ones(3), 0.25 * ray_rgb)
        frames.append(frame)
    return np.floor(np.clip(np.stack(frames), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
