"""One clip end to end: config -> spec -> labels -> render -> audio -> controls -> caption -> row.

``make_row`` is what ``synthgen-generate`` calls for every clip index; the row is a typed
``synthgen.dataset.ClipRow`` (docs/architecture.md, "Rows") that the dataset store encodes. Everything in
the row is derived from ``(cfg, clip_index)`` alone, so any clip can be regenerated on any machine.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from synthgen.controls import build_controls, get_job, parse_job_params
from synthgen.dataset.rows import ClipRow
from synthgen.describe.captions import make_caption
from synthgen.describe.config import GenerateConfig
from synthgen.describe.sampling import sample_clip, sample_reference_scene
from synthgen.describe.spec import ClipSpec
from synthgen.labels.compute import ClipLabels, compute_labels
from synthgen.labels.flow import object_coordinates, optical_flow


def label_arrays(labels: ClipLabels, tracks: Any = None) -> dict[str, np.ndarray]:
    """Flatten clip labels (and point tracks, if any) into the named label arrays of docs/schema.md."""
    camera, objects = labels.camera, labels.objects
    out: dict[str, np.ndarray] = {
        "times_s": labels.times_s,
        "camera_to_world_blender": camera.camera_to_world_blender,
        "camera_from_world_cv": camera.camera_from_world_cv,
        "intrinsics_px": camera.intrinsics_px,
        "focal_length_mm": camera.focal_length_mm,
        "object_ids": objects.object_ids,
        "world_from_local": objects.world_from_local,
        "position_m": objects.position_m,
        "velocity_m_per_s": objects.velocity_m_per_s,
        "emission": objects.emission,
        "color_rgb": objects.color_rgb,
    }
    if labels.beats is not None:
        out.update(labels.beats.label_arrays())
    if tracks is not None:
        out.update(
            {
                "tracks_object_id": tracks.object_id,
                "tracks_xy_px": tracks.xy_px,
                "tracks_depth_m": tracks.depth_m,
                "tracks_world_m": tracks.world_m,
                "tracks_in_frame": tracks.in_frame,
                "tracks_behind_camera": tracks.behind_camera,
                "tracks_occluded": tracks.occluded,
                "tracks_local_m": tracks.local_m,
                "tracks_raycast_depth_m": tracks.raycast_depth_m,
                "tracks_buffer_depth_m": tracks.buffer_depth_m,
            }
        )
    return {name: np.asarray(value) for name, value in out.items()}


def render_label_arrays(rendered: Any) -> dict[str, np.ndarray]:
    """Boxes of a ``RenderedClip`` and, when its spec asks for ``render.dense_labels``, the per-pixel labels
    (flow, object coordinates, normals, depth, instance ids), named and typed as in docs/schema.md."""
    out: dict[str, np.ndarray] = {}
    boxes = rendered.boxes
    if boxes is not None:
        out.update(
            {
                "box_bounds_local": boxes.bounds_local_m,
                "boxes_3d_world_m": boxes.corners_world_m,
                "boxes_projected_xyxy_px": boxes.projected_xyxy_px,
                "boxes_visible_xyxy_px": boxes.visible_xyxy_px,
            }
        )
    if not rendered.spec.render.dense_labels:
        return out
    camera, objects = rendered.labels.camera, rendered.labels.objects
    passes = (rendered.depth_m, rendered.instance_ids, camera.camera_from_world_cv, camera.intrinsics_px)
    flow = optical_flow(*passes, objects.object_ids, objects.world_from_local)
    # float16 halves the size of the biggest arrays: 0.03 px resolution up to 64 px of flow (docs/schema.md).
    out.update(
        {
            "flow_forward_px": flow.forward_px.astype(np.float16),
            "flow_backward_px": flow.backward_px.astype(np.float16),
            "flow_forward_occluded": flow.forward_occluded,
            "flow_backward_occluded": flow.backward_occluded,
            "object_coordinates": object_coordinates(
                *passes, objects.object_ids, objects.world_from_local
            ).astype(np.float16),
            "depth_m": rendered.depth_m.astype(np.float32),
            "instance_ids": rendered.instance_ids.astype(np.uint16),
        }
    )
    if rendered.normals_world is not None:
        out["normals_world"] = rendered.normals_world.astype(np.float16)
    return out


def make_row(
    cfg: GenerateConfig, clip_index: int, *, renderer: Callable[[ClipSpec, ClipLabels], Any] | None = None
) -> ClipRow:
    """The dataset row of clip ``clip_index``: target video, reference, controls, labels, caption, pairing.

    Job parameters and lint thresholds were validated by ``load_generate_config``; the parameters are parsed
    here again because the job builders take the typed model. A job that ``needs_reference_scene``
    (``camera_motion``) gets a second, different scene rendered along the same camera path.
    ``renderer(spec, labels) -> RenderedClip`` defaults to ``synthgen.render.render_clip`` in this process;
    pass ``RenderWorker(...).render`` to render in a recycled child process.
    """
    if renderer is None:
        from synthgen.render import render_clip

        # The recipe comes from the caller's own config, so its code may run (docs/security.md).
        renderer = functools.partial(render_clip, trust_recipes=True)

    start = time.perf_counter()
    timings: dict[str, float] = {}
    job = get_job(cfg.control.job)
    params, caption_params = parse_job_params(job.name, cfg.control.params)

    mark = time.perf_counter()
    spec = sample_clip(cfg, clip_index)
    timings["sample"] = time.perf_counter() - mark

    audio = None
    if spec.audio is not None:
        from synthgen.audio import synthesize

        mark = time.perf_counter()
        audio = synthesize(spec)
        timings["audio"] = time.perf_counter() - mark

    mark = time.perf_counter()
    labels = compute_labels(spec, audio.grid if audio is not None else None)
    timings["labels"] = time.perf_counter() - mark

    mark = time.perf_counter()
    rendered = renderer(spec, labels)
    timings["render"] = time.perf_counter() - mark

    reference = None
    if job.needs_reference_scene:
        mark = time.perf_counter()
        reference_spec = sample_reference_scene(cfg, spec)
        reference = renderer(
            reference_spec, compute_labels(reference_spec, audio.grid if audio is not None else None)
        )
        timings["render_reference"] = time.perf_counter() - mark

    mark = time.perf_counter()
    render_labels = render_label_arrays(rendered)
    timings["render_labels"] = time.perf_counter() - mark

    mark = time.perf_counter()
    result = build_controls(job.name, params, rendered, reference=reference, audio=audio)
    timings["controls"] = time.perf_counter() - mark
    phrase = job.caption_phrase if caption_params.mention_control else None
    caption = make_caption(spec, caption_params.trigger_word, phrase)
    timings["total"] = time.perf_counter() - start

    clip = spec.clip
    return ClipRow(
        clip_id=spec.clip_id,
        clip_index=clip_index,
        dataset_name=spec.dataset_name,
        dataset_seed=spec.dataset_seed,
        scene=spec.scene,
        control_job=job.name,
        spec_json=spec.to_json(),
        reference_spec_json=reference.spec.to_json() if reference is not None else None,
        caption=caption,
        fps=float(clip.fps),
        num_frames=clip.num_frames,
        height=clip.height,
        width=clip.width,
        video=rendered.frames_rgb,
        reference_video=result.reference_video,
        controls=result.controls,
        reference_downscale=clip.reference_downscale,
        reference_temporal_factor=clip.reference_temporal_factor,
        audio=audio.samples if audio is not None else None,
        audio_sample_rate=audio.sample_rate if audio is not None else None,
        labels={
            **label_arrays(rendered.labels, rendered.tracks),
            **render_labels,
            **result.labels,
        },
        pairing={**result.pairing, "caption_mentions_control": caption_params.mention_control},
        timings_s={**{f"render_{k}": float(v) for k, v in rendered.timings_s.items()}, **timings},
    )
