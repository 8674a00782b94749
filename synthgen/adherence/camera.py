"""camera_motion adherence: relative camera poses estimated from the video against the labelled camera path.

For every frame t >= g (g = ``pair_gap_frames(F)``) the pose of frame t relative to frame t - g is estimated
from feature matches, normalised by each frame's labelled K (so zoom is allowed): Shi-Tomasi corners of frame
t - g followed to frame t with the forward-backward-checked Lucas-Kanade steps of the motion_track metric
(on smooth rendered or generated frames this finds several times more correct matches than SIFT or ORB
descriptors), then ``cv2.findEssentialMat`` (MAGSAC++) + ``cv2.recoverPose`` give R and the direction of t. Where the
labelled baseline is below ``MIN_BASELINE_RATIO`` of the scene depth (a pan, tilt, roll or zoom: the essential
matrix is undefined for a pure rotation) R comes from the homography ``K_t R K_{t-g}^-1`` instead and the
translation direction is not scored.

The label of the pair is ``T_t T_{t-g}^-1`` of ``camera_from_world_cv`` (OpenCV camera frames), so
``x_t = R x_{t-g} + t``. Rotation error: the angle of ``R_est^T R_label``; translation-direction error: the
angle between the estimated and labelled t.
"""

from __future__ import annotations

import cv2
import numpy as np

from synthgen.adherence.score import MetricValues, register_metric, require_label, to_gray
from synthgen.adherence.tracks import lk_step
from synthgen.dataset.rows import ClipRow

MIN_MATCHES = 8
MAX_CORNERS = 500
RANSAC_THRESHOLD_PX = 1.0
MIN_BASELINE_RATIO = 0.01
"""Labelled baseline / scene depth below which a pair is scored as a pure rotation."""


def pair_gap_frames(num_frames: int) -> int:
    """Frames between the two frames of a pair: a quarter of the clip, at least 1."""
    return max(1, (num_frames - 1) // 4)


def rotation_angle_deg(rotation: np.ndarray) -> float:
    """The angle of a rotation matrix in degrees (0..180)."""
    cosine = (np.trace(rotation) - 1.0) / 2.0
    return float(np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0))))


def direction_angle_deg(a: np.ndarray, b: np.ndarray) -> float:
    """The angle between two 3-vectors in degrees (0..180)."""
    cosine = float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))
    return float(np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0))))


def relative_pose(camera_from_world: np.ndarray, first: int, second: int) -> tuple[np.ndarray, np.ndarray]:
    """(R, t) taking camera ``first``'s coordinates to camera ``second``'s."""
    relative = camera_from_world[second] @ np.linalg.inv(camera_from_world[first])
    return relative[:3, :3], relative[:3, 3]


def feature_matches(gray: np.ndarray, first: int, second: int) -> tuple[np.ndarray, np.ndarray]:
    """Corners of frame ``first`` and where they are in frame ``second`` (n, 2), OpenCV pixel coordinates;
    only corners that pass every step's forward-backward check."""
    corners = cv2.goodFeaturesToTrack(gray[first], MAX_CORNERS, 0.001, 3)
    if corners is None:
        return np.zeros((0, 2)), np.zeros((0, 2))
    start = corners.reshape(-1, 2).astype(np.float64)
    position, kept = start.copy(), np.ones(len(start), dtype=bool)
    for frame in range(first + 1, second + 1):
        position, ok = lk_step(gray[frame - 1], gray[frame], position)
        kept &= ok
    return start[kept], position[kept]


def _normalised(points_cv: np.ndarray, intrinsics: np.ndarray) -> np.ndarray:
    """Pixel points (OpenCV centres) to normalised image coordinates with a labelled K (corner convention)."""
    homogeneous = np.column_stack([points_cv + 0.5, np.ones(len(points_cv))])
    return (np.linalg.solve(intrinsics, homogeneous.T).T)[:, :2]


def _nearest_rotation(matrix: np.ndarray) -> np.ndarray:
    u, _, vt = np.linalg.svd(matrix)
    rotation = u @ vt
    return rotation if np.linalg.det(rotation) > 0 else u @ np.diag([1.0, 1.0, -1.0]) @ vt


def estimate_pose(
    a: np.ndarray, b: np.ndarray, threshold: float, *, rotation_only: bool
) -> tuple[np.ndarray, np.ndarray | None] | None:
    """(R, t direction or None) from normalised matches ``a`` -> ``b``; None when too few inliers."""
    if len(a) < MIN_MATCHES:
        return None
    if rotation_only:
        homography, mask = cv2.findHomography(a, b, cv2.RANSAC, threshold)
        if homography is None or int(mask.sum()) < MIN_MATCHES:
            return None
        return _nearest_rotation(homography / np.cbrt(np.linalg.det(homography))), None
    essential, mask = cv2.findEssentialMat(a, b, np.eye(3), cv2.USAC_MAGSAC, 0.999, threshold)
    if essential is None or essential.shape != (3, 3) or int(mask.sum()) < MIN_MATCHES:
        return None
    inliers, rotation, translation, _ = cv2.recoverPose(essential, a, b, np.eye(3), mask=mask)
    if inliers < MIN_MATCHES:
        return None
    return rotation, translation.ravel()


def scene_depth_m(row: ClipRow, camera_from_world: np.ndarray) -> float:
    """Median labelled distance (m) from the camera to the objects over the clip (1 m without objects)."""
    positions = row.labels.get("position_m")
    if positions is None or np.asarray(positions).size == 0:
        return 1.0
    centres = np.linalg.inv(camera_from_world)[:, :3, 3]
    return float(np.median(np.linalg.norm(np.asarray(positions) - centres[None], axis=-1)))


@register_metric("camera_motion")
def camera_motion_adherence(row: ClipRow, video_uint8: np.ndarray) -> MetricValues:
    """Mean/median rotation error and mean translation-direction error (degrees) over the frame pairs, and
    the fraction of pairs whose pose could be estimated."""
    camera_from_world = require_label(row, "camera_from_world_cv").astype(np.float64)
    intrinsics = require_label(row, "intrinsics_px").astype(np.float64)
    gray, gap = to_gray(video_uint8), pair_gap_frames(row.num_frames)
    depth_m = scene_depth_m(row, camera_from_world)
    cv2.setRNGSeed(0)  # RANSAC draws from OpenCV's global generator: the same video gives the same report
    rotation_errors: list[float] = []
    direction_errors: list[float] = []
    pairs = range(gap, row.num_frames)
    for second in pairs:
        first = second - gap
        label_r, label_t = relative_pose(camera_from_world, first, second)
        a, b = feature_matches(gray, first, second)
        a, b = _normalised(a, intrinsics[first]), _normalised(b, intrinsics[second])
        threshold = RANSAC_THRESHOLD_PX / float(intrinsics[second][0, 0])
        rotation_only = np.linalg.norm(label_t) < MIN_BASELINE_RATIO * depth_m
        estimate = estimate_pose(a, b, threshold, rotation_only=bool(rotation_only))
        if estimate is None:
            continue
        rotation, direction = estimate
        rotation_errors.append(rotation_angle_deg(rotation.T @ label_r))
        if direction is not None:
            direction_errors.append(direction_angle_deg(direction, label_t))
    return {
        "num_pairs": float(len(pairs)),
        "estimated_fraction": len(rotation_errors) / len(pairs) if len(pairs) else None,
        "mean_rotation_error_deg": float(np.mean(rotation_errors)) if rotation_errors else None,
        "median_rotation_error_deg": float(np.median(rotation_errors)) if rotation_errors else None,
        "mean_translation_direction_error_deg": float(np.mean(direction_errors))
        if direction_errors
        else None,
    }
