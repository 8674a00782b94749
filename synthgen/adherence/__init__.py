"""Control adherence: how closely a video follows the exact labels of the clip it was made for.

One metric per control job (docs/adherence.md): ``motion_track`` tracks the labelled points through the video
(TAP-Vid position accuracy), ``camera_motion`` estimates the relative camera rotation and translation
direction, ``audio_to_video`` matches motion-energy onsets to the labelled beat frames, ``depth`` matches image
edges to the labelled depth discontinuities, ``union`` reports each component's metric (``canny`` for the
``ltx_union_canny`` style: the video's edges by the reference's own chain against the reference's). Numpy
and OpenCV only: no torch, no Blender.

``score_video(row, video_uint8)`` scores one video against one ``ClipRow``; ``synthgen adherence`` scores a
folder of videos against a dataset.
"""

from synthgen.adherence.score import metric_names, score_video

__all__ = ["metric_names", "score_video"]
