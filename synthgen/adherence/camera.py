"""camera_motion adherence: relative camera poses estimated from the video against the labelled camera path.

For every frame t >= g (g = ``pair_gap_frames(F)``) the pose of frame t relative to frame t - g is estimated
from feature matches, normalised by each frame's labelled K (so zoom is allowed): Shi-Tomasi corners of frame
t - g followed to frame t with the forward-backward-checked Lucas-Kanade steps of the motion_track metric
(on smooth rendered or generated frames this finds several times more correct matches than SIFT or ORB
descriptors). Where the labelled baseline is at least ``MIN_BASELINE_RATIO`` of the scene depth the model is
an essential matrix (R and the direction of t); below it (a pan, tilt, roll or zoom: the essential matrix is
undefined for a pure rotation) a rotation alone, ``x_t ~ R x_{t-g}``.

Best fit: RANSAC candidates (MAGSAC++, GC-RANSAC, LMedS for the essential matrix; a homography's nearest
rotation for a rotation) polished by Levenberg-Marquardt on a robust (Cauchy) cost of each match's distance
to the model in pixels (Sampson distance; reprojection distance for a rotation).

Why not score the best fit alone: over a few frames at a narrow field of view a small rotation and a small
sideways translation move the image almost alike, so many poses explain the matches equally well, and the
best fit wanders several degrees from the truth on the rendered target itself. What the video does decide is
the set of poses that explain its matches as well as the best fit does, up to noise: the 95 % likelihood-ratio
region of the Cauchy cost (noise scale from the best fit's residuals). The score is the pose of that region
nearest the label along the geodesic from label to best fit: 0 when the label itself explains the video,
growing with how far the video's motion is from the label's. The best fit's own rotation error is reported
beside it.

The label of the pair is ``T_t T_{t-g}^-1`` of ``camera_from_world_cv`` (OpenCV camera frames), so
``x_t = R x_{t-g} + t``. Rotation error: the angle of ``R_est^T R_label``; translation-direction error: the
angle between the estimated and labelled t.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from synthgen.adherence.score import MetricValues, register_metric, require_label, to_gray
from synthgen.adherence.tracks import LK_WINDOW_PX, lk_step
from synthgen.dataset.rows import ClipRow

MIN_MATCHES = 8
MAX_CORNERS = 500
CORNER_QUALITY = 0.001
RANSAC_THRESHOLD_PX = 1.0
MIN_BASELINE_RATIO = 0.01
"""Labelled baseline / scene depth below which a pair is scored as a pure rotation."""
MIN_NOISE_PX = 0.1
"""Floor of the match-noise scale, so that a near-exact fit does not shrink the region to nothing."""
REGION_COST = 7.815 / 2
"""Half the 95 % quantile of chi-square with 3 degrees of freedom (the rotation; t is profiled out): poses
whose summed Cauchy cost is within this of the best fit's are not ruled out by the matches."""
PATH_STEPS = 20
MAX_ITERATIONS = 30
_ALL = np.arange(5)
_TRANSLATION = np.array([3, 4])


@dataclass(frozen=True)
class Pose:
    """A relative camera pose: rotation and unit translation direction (None for a rotation-only model)."""

    rotation: np.ndarray
    direction: np.ndarray | None


@dataclass(frozen=True)
class Matches:
    """Matched points of two frames as homogeneous normalised coordinates (n, 3), the focal length (px) that
    turns a normalised distance into pixels, and each match's relative precision (n,)."""

    first: np.ndarray
    second: np.ndarray
    focal_px: float
    precision: np.ndarray


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


def feature_matches(gray: np.ndarray, first: int, second: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Corners of frame ``first``, where they are in frame ``second`` (n, 2), OpenCV pixel coordinates, and
    each corner's precision (n,); only corners that pass every step's forward-backward check.

    Precision: sqrt of the smaller eigenvalue of the structure tensor over the Lucas-Kanade window, relative
    to the median corner's. A Lucas-Kanade position's standard deviation falls as 1 / sqrt of that
    eigenvalue, so residuals times precision share one noise scale: faint texture (far ground, haze) counts
    for less than a crisp corner instead of being dropped by a threshold.
    """
    corners = cv2.goodFeaturesToTrack(gray[first], MAX_CORNERS, CORNER_QUALITY, 3)
    if corners is None:
        return np.zeros((0, 2)), np.zeros((0, 2)), np.zeros(0)
    start = corners.reshape(-1, 2).astype(np.float64)
    position, kept = start.copy(), np.ones(len(start), dtype=bool)
    for frame in range(first + 1, second + 1):
        position, ok = lk_step(gray[frame - 1], gray[frame], position)
        kept &= ok
    eigen = cv2.cornerMinEigenVal(np.ascontiguousarray(gray[first]), blockSize=LK_WINDOW_PX, ksize=3)
    column, row = np.round(start[:, 0]).astype(np.int64), np.round(start[:, 1]).astype(np.int64)
    strength = np.sqrt(np.maximum(eigen[row, column], 1e-12))
    return start[kept], position[kept], strength[kept] / max(float(np.median(strength[kept])), 1e-12)


def normalised(points_cv: np.ndarray, intrinsics: np.ndarray) -> np.ndarray:
    """Pixel points (OpenCV centres) to homogeneous normalised coordinates (n, 3) with a labelled K (corner
    convention)."""
    homogeneous = np.column_stack([points_cv + 0.5, np.ones(len(points_cv))])
    normal = np.linalg.solve(intrinsics, homogeneous.T).T
    return normal / normal[:, 2:]


def _skew(vector: np.ndarray) -> np.ndarray:
    x, y, z = vector
    return np.array([[0.0, -z, y], [z, 0.0, -x], [-y, x, 0.0]])


def residuals_px(pose: Pose, matches: Matches) -> np.ndarray:
    """Each match's distance to the pose's model in pixels, times its precision: Sampson distance to the
    epipolar geometry, or for a rotation-only pose the distance of the rotated first point to the second."""
    first, second = matches.first, matches.second
    if pose.direction is None:
        mapped = first @ pose.rotation.T
        depth = np.where(np.abs(mapped[:, 2:]) > 1e-9, mapped[:, 2:], 1e-9)
        distance = np.linalg.norm(mapped[:, :2] / depth - second[:, :2], axis=1)
    else:
        essential = _skew(pose.direction) @ pose.rotation
        line_second, line_first = first @ essential.T, second @ essential
        norm = np.sqrt(np.sum(line_second[:, :2] ** 2, axis=1) + np.sum(line_first[:, :2] ** 2, axis=1))
        distance = np.sum(second * line_second, axis=1) / np.maximum(norm, 1e-30)
    return distance * matches.focal_px * matches.precision


def robust_cost(pose: Pose, matches: Matches, noise_px: float) -> float:
    """Summed Cauchy cost ``log(1 + (r / noise)^2)`` of the matches' residuals (the negative log-likelihood of
    Cauchy-distributed residuals up to a constant)."""
    scaled = residuals_px(pose, matches) / noise_px
    return float(np.sum(np.log1p(scaled * scaled)))


def _tangent_basis(direction: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    helper = np.array([1.0, 0.0, 0.0]) if abs(direction[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    u = np.cross(direction, helper)
    u /= np.linalg.norm(u)
    return u, np.cross(direction, u)


def perturbed(pose: Pose, step: np.ndarray) -> Pose:
    """The pose moved by ``step`` (5,): a rotation vector applied on the left, then two tangent steps of the
    translation direction (ignored for a rotation-only pose)."""
    rotation = cv2.Rodrigues(np.ascontiguousarray(step[:3]).reshape(3, 1))[0] @ pose.rotation
    if pose.direction is None:
        return Pose(rotation, None)
    u, v = _tangent_basis(pose.direction)
    direction = pose.direction + step[3] * u + step[4] * v
    return Pose(rotation, direction / np.linalg.norm(direction))


def _jacobian(pose: Pose, matches: Matches, residual: np.ndarray, free: np.ndarray) -> np.ndarray:
    columns = []
    for index in free:
        step = np.zeros(5)
        step[index] = 1e-7
        columns.append((residuals_px(perturbed(pose, step), matches) - residual) / 1e-7)
    return np.column_stack(columns)


def refine_pose(pose: Pose, matches: Matches, noise_px: float, free: np.ndarray = _ALL) -> Pose:
    """The local minimum of ``robust_cost`` near ``pose`` over the parameters ``free`` (indices of
    ``perturbed``'s step): Levenberg-Marquardt on the Cauchy weights (iteratively reweighted least squares)."""
    if pose.direction is None:
        free = free[free < 3]
    cost, damping = robust_cost(pose, matches, noise_px), 1e-3
    for _ in range(MAX_ITERATIONS):
        residual = residuals_px(pose, matches)
        weights = 1.0 / (1.0 + (residual / noise_px) ** 2)
        jacobian = _jacobian(pose, matches, residual, free)
        normal, gradient = jacobian.T @ (jacobian * weights[:, None]), jacobian.T @ (weights * residual)
        while damping < 1e8:
            step = np.zeros(5)
            step[free] = -np.linalg.solve(normal + damping * np.diag(np.diag(normal) + 1e-12), gradient)
            candidate = perturbed(pose, step)
            candidate_cost = robust_cost(candidate, matches, noise_px)
            if candidate_cost < cost:
                break
            damping *= 10
        else:
            return pose
        pose, cost, damping = candidate, candidate_cost, damping / 10
        if np.linalg.norm(step) < 1e-10:
            break
    return pose


def _nearest_rotation(matrix: np.ndarray) -> np.ndarray:
    u, _, vt = np.linalg.svd(matrix)
    rotation = u @ vt
    return rotation if np.linalg.det(rotation) > 0 else u @ np.diag([1.0, 1.0, -1.0]) @ vt


def ransac_candidates(matches: Matches, *, rotation_only: bool) -> list[Pose]:
    """Starting poses from seeded robust estimators with a 1 px threshold (none when too few inliers)."""
    a, b = matches.first[:, :2], matches.second[:, :2]
    threshold = RANSAC_THRESHOLD_PX / matches.focal_px
    if rotation_only:
        homography, mask = cv2.findHomography(a, b, cv2.RANSAC, threshold)
        if homography is None or int(mask.sum()) < MIN_MATCHES:
            return []
        return [Pose(_nearest_rotation(homography / np.cbrt(np.linalg.det(homography))), None)]
    candidates = []
    for method in (cv2.USAC_MAGSAC, cv2.USAC_ACCURATE, cv2.LMEDS):
        essentials, mask = cv2.findEssentialMat(a, b, np.eye(3), method, 0.999, threshold)
        if essentials is None or int(mask.sum()) < MIN_MATCHES:
            continue
        for essential in essentials.reshape(-1, 3, 3):  # up to three solutions of the five-point solver
            inliers, rotation, translation, _ = cv2.recoverPose(essential, a, b, np.eye(3), mask=mask.copy())
            if inliers >= MIN_MATCHES:
                candidates.append(Pose(rotation, translation.ravel() / np.linalg.norm(translation)))
    return candidates


def best_fit_pose(matches: Matches, *, rotation_only: bool) -> tuple[Pose, float] | None:
    """The pose of least robust cost and the match-noise scale (px) from its residuals; None when no
    estimator finds ``MIN_MATCHES`` inliers."""
    if len(matches.first) < MIN_MATCHES:
        return None
    candidates = ransac_candidates(matches, rotation_only=rotation_only)
    if not candidates:
        return None
    refined = [refine_pose(pose, matches, RANSAC_THRESHOLD_PX) for pose in candidates]
    best = min(refined, key=lambda pose: robust_cost(pose, matches, RANSAC_THRESHOLD_PX))
    noise_px = max(1.4826 * float(np.median(np.abs(residuals_px(best, matches)))), MIN_NOISE_PX)
    return refine_pose(best, matches, noise_px), noise_px


def _slerp_direction(a: np.ndarray, b: np.ndarray, fraction: float) -> np.ndarray:
    mixed = (1 - fraction) * a + fraction * b
    if np.linalg.norm(mixed) < 1e-6:  # opposite directions: any great circle joins them
        mixed = a + fraction * np.pi * _tangent_basis(a)[0]
    return mixed / np.linalg.norm(mixed)


def nearest_consistent_pose(label: Pose, best: Pose, matches: Matches, noise_px: float) -> Pose:
    """The first pose along the geodesic from ``label`` to ``best`` whose robust cost is within
    ``REGION_COST`` of the best fit's, the translation direction re-fitted at each step."""
    limit = robust_cost(best, matches, noise_px) + REGION_COST
    turn = cv2.Rodrigues(best.rotation @ label.rotation.T)[0]
    for fraction in np.linspace(0.0, 1.0, PATH_STEPS + 1):
        rotation = cv2.Rodrigues(turn * fraction)[0] @ label.rotation
        if label.direction is None or best.direction is None:
            pose = Pose(rotation, None)
        else:
            pose = Pose(rotation, _slerp_direction(label.direction, best.direction, fraction))
            pose = refine_pose(pose, matches, noise_px, _TRANSLATION)
        if robust_cost(pose, matches, noise_px) <= limit:
            return pose
    return best


def scene_depth_m(row: ClipRow, camera_from_world: np.ndarray) -> float:
    """Median labelled distance (m) from the camera to the objects over the clip (1 m without objects)."""
    positions = row.labels.get("position_m")
    if positions is None or np.asarray(positions).size == 0:
        return 1.0
    centres = np.linalg.inv(camera_from_world)[:, :3, 3]
    return float(np.median(np.linalg.norm(np.asarray(positions) - centres[None], axis=-1)))


def pair_errors(
    gray: np.ndarray, intrinsics: np.ndarray, label: Pose, first: int, second: int
) -> tuple[float, float | None, float] | None:
    """(rotation error, translation-direction error or None, best fit's rotation error) in degrees for one
    frame pair; None when the pose cannot be estimated."""
    a, b, precision = feature_matches(gray, first, second)
    focal_px = float(intrinsics[second][0, 0])
    matches = Matches(
        normalised(a, intrinsics[first]), normalised(b, intrinsics[second]), focal_px, precision
    )
    fit = best_fit_pose(matches, rotation_only=label.direction is None)
    if fit is None:
        return None
    best, noise_px = fit
    pose = nearest_consistent_pose(label, best, matches, noise_px)
    direction = None
    if pose.direction is not None and label.direction is not None:
        direction = direction_angle_deg(pose.direction, label.direction)
    best_error = rotation_angle_deg(best.rotation.T @ label.rotation)
    return rotation_angle_deg(pose.rotation.T @ label.rotation), direction, best_error


@register_metric("camera_motion")
def camera_motion_adherence(row: ClipRow, video_uint8: np.ndarray) -> MetricValues:
    """Mean/median rotation error and mean translation-direction error (degrees) over the frame pairs, the
    best fit's median rotation error, and the fraction of pairs whose pose could be estimated."""
    camera_from_world = require_label(row, "camera_from_world_cv").astype(np.float64)
    intrinsics = require_label(row, "intrinsics_px").astype(np.float64)
    gray, gap = to_gray(video_uint8), pair_gap_frames(row.num_frames)
    depth_m = scene_depth_m(row, camera_from_world)
    cv2.setRNGSeed(0)  # RANSAC draws from OpenCV's global generator: the same video gives the same report
    errors = []
    pairs = range(gap, row.num_frames)
    for second in pairs:
        rotation, translation = relative_pose(camera_from_world, second - gap, second)
        baseline = np.linalg.norm(translation)
        direction = translation / baseline if baseline >= MIN_BASELINE_RATIO * depth_m else None
        estimate = pair_errors(gray, intrinsics, Pose(rotation, direction), second - gap, second)
        if estimate is not None:
            errors.append(estimate)
    rotation_errors = [error[0] for error in errors]
    direction_errors = [error[1] for error in errors if error[1] is not None]
    return {
        "num_pairs": float(len(pairs)),
        "estimated_fraction": len(errors) / len(pairs) if len(pairs) else None,
        "mean_rotation_error_deg": float(np.mean(rotation_errors)) if errors else None,
        "median_rotation_error_deg": float(np.median(rotation_errors)) if errors else None,
        "median_best_fit_rotation_error_deg": float(np.median([e[2] for e in errors])) if errors else None,
        "mean_translation_direction_error_deg": float(np.mean(direction_errors))
        if direction_errors
        else None,
    }
