"""reference_temporal_factor > 1 against Lightricks' ltx-trainer itself (its code imported from a checkout).

Set ``LTX2_CHECKOUT`` to a Lightricks/LTX-2 checkout (or a copy of its ``packages/`` folder) to run these;
without it they are skipped. Nothing of ltx-trainer is copied here: its strategy is imported, and its frame
selection function is read from its ``scripts/process_videos.py`` (whose module needs packages we do not).
"""

from __future__ import annotations

import ast
import os
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from synthgen.controls.signals.resample import reference_frame_indices
from synthgen.trainer.ic import pack_latents, video_coords

CHECKOUT = Path(os.environ.get("LTX2_CHECKOUT", "/nonexistent"))
TRAINER = CHECKOUT / "packages" / "ltx-trainer"
pytestmark = pytest.mark.skipif(
    not (TRAINER / "src" / "ltx_trainer").is_dir(),
    reason="LTX2_CHECKOUT (a Lightricks/LTX-2 checkout) not set",
)
FPS = 24.0


def _upstream_indices(num_frames: int, factor: int) -> list[int]:
    """ltx-trainer's ``_compute_temporal_subsample_indices`` (scripts/process_videos.py), compiled on its own."""
    source = (TRAINER / "scripts" / "process_videos.py").read_text()
    node = next(
        n
        for n in ast.parse(source).body
        if isinstance(n, ast.FunctionDef) and n.name == "_compute_temporal_subsample_indices"
    )
    namespace: dict[str, Any] = {}
    exec(compile(ast.Module(body=[node], type_ignores=[]), "process_videos.py", "exec"), namespace)
    return list(namespace["_compute_temporal_subsample_indices"](num_frames, factor))


def _upstream_reference_positions(
    tmp_path: Path, target: torch.Tensor, reference: torch.Tensor, factor: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """(target positions, reference positions) as ltx-trainer's FlexibleStrategy lays them out."""
    sys.path.insert(0, str(TRAINER / "src"))
    from ltx_trainer.training_strategies import FlexibleStrategyConfig, get_training_strategy

    strategy: Any = get_training_strategy(
        FlexibleStrategyConfig.model_validate(
            {
                "name": "flexible",
                "video": {
                    "is_generated": True,
                    "latents_dir": str(tmp_path),
                    "conditions": [{"type": "reference", "latents_dir": "ref", "probability": 1.0}],
                },
            }
        )
    )
    strategy.reference_temporal_scale_factor = factor  # what it infers from a dataset's latent frame counts
    _, _, frames, height, width = target.shape
    positions = strategy._get_video_positions(frames, height, width, 1, FPS, torch.device("cpu"))
    tokens = pack_latents(target)
    # Its dataset stores the reference at its effective frame rate, source fps / factor (process_videos.py).
    batch = {
        "ref": {
            "latents": reference,
            "num_frames": torch.tensor([reference.shape[2]]),
            "height": torch.tensor([height]),
            "width": torch.tensor([width]),
            "fps": torch.tensor([FPS / factor]),
        }
    }
    condition = strategy.config.video.conditions[0]
    _, combined, *_ = strategy._apply_reference_condition(
        tokens,
        positions,
        torch.ones(1, tokens.shape[1]),
        torch.ones(1, tokens.shape[1], dtype=torch.bool),
        tokens,
        batch,
        condition,
        "video",
    )
    return positions, combined[:, :, : reference.shape[2] * height * width]


@pytest.mark.parametrize("factor", [2, 3])
def test_reference_times_against_ltx_trainer(tmp_path: Path, factor: int) -> None:
    ref_latent_frames, height, width = 3, 2, 3
    target_latent_frames = 1 + 2 * factor  # 8 * 2 * factor + 1 pixel frames; the reference keeps 17
    pixel_frames = 8 * (target_latent_frames - 1) + 1
    target = torch.randn(1, 8, target_latent_frames, height, width)
    reference = torch.randn(1, 8, ref_latent_frames, height, width)
    positions, upstream = _upstream_reference_positions(tmp_path, target, reference, factor)
    assert torch.allclose(video_coords(target_latent_frames, height, width, fps=FPS), positions)
    ours = video_coords(ref_latent_frames, height, width, fps=FPS, temporal_factor=factor)
    assert torch.equal(ours[:, 1:], upstream[:, 1:])  # y, x: the same
    # Time: ltx-trainer's bounds are ours moved earlier by (factor - 1) / fps, clamped at 0 ...
    shift = (factor - 1) / FPS
    assert torch.allclose(upstream[:, 0], (ours[:, 0] - shift).clamp(min=0), atol=1e-6)
    # ... because its reference keeps other frames: [0, 1, 1 + S, 1 + 2S, ...] against our [0, S, 2S, ...],
    # each (S - 1) frames earlier. So on both sides every reference latent starts at the time of the target
    # frame its first pixel frame shows.
    theirs_kept, ours_kept = (
        _upstream_indices(pixel_frames, factor),
        reference_frame_indices(pixel_frames, factor),
    )
    assert len(theirs_kept) == len(ours_kept) == 8 * (ref_latent_frames - 1) + 1
    assert [b - a for a, b in zip(theirs_kept[1:], ours_kept[1:], strict=True)] == [factor - 1] * (
        len(ours_kept) - 1
    )
    first_pixel = [0] + [8 * (k - 1) + 1 for k in range(1, ref_latent_frames)]
    tokens = height * width
    for k, pixel in enumerate(first_pixel):
        assert ours[0, 0, k * tokens, 0].item() == pytest.approx(ours_kept[pixel] / FPS)
        assert upstream[0, 0, k * tokens, 0].item() == pytest.approx(theirs_kept[pixel] / FPS)
