"""synthgen: exactly-labelled synthetic video datasets from Blender for LTX-2.3 IC-LoRA training.

The public API a library user needs::

    import synthgen
    cfg = synthgen.load_generate_config({"dataset": {"num_clips": 2}})
    spec = synthgen.sample_clip(cfg, 0)          # ClipSpec: the clip, completely
    labels = synthgen.compute_labels(spec)       # exact float64 camera / pose / beat labels
    clip = synthgen.render_clip(spec, labels)    # frames, depth, instance ids, point tracks (Blender)
    summary = synthgen.generate_dataset(cfg)     # a whole dataset of Parquet shards
    for row in synthgen.open_dataset(cfg.output_dir, columns=["video", "caption"]): ...

Heavy parts (Blender, PyAV, pyarrow) load on first use, so ``import synthgen`` stays light and never
starts Blender.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from synthgen.describe.config import GenerateConfig, load_generate_config
from synthgen.describe.sampling import sample_clip, sample_reference_scene
from synthgen.describe.spec import ClipSpec
from synthgen.errors import ConfigError, DataError, RenderError, SynthgenError
from synthgen.labels.compute import ClipLabels, compute_labels

if TYPE_CHECKING:
    from synthgen.dataset import ClipRow, open_dataset, write_dataset
    from synthgen.pipeline.job import generate as generate_dataset
    from synthgen.render import RenderedClip, render_clip

__version__ = "0.1.0"

_LAZY = {
    "render_clip": "synthgen.render",
    "RenderedClip": "synthgen.render",
    "ClipRow": "synthgen.dataset.rows",
    "open_dataset": "synthgen.dataset",
    "write_dataset": "synthgen.dataset",
    # Not "generate": importing the submodule synthgen.pipeline.job would shadow a function of that name.
    "generate_dataset": "synthgen.pipeline.job:generate",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, _, attribute = _LAZY[name].partition(":")
        return getattr(importlib.import_module(module), attribute or name)
    raise AttributeError(f"module 'synthgen' has no attribute {name!r}")


__all__ = [
    "ClipLabels",
    "ClipRow",
    "ClipSpec",
    "ConfigError",
    "DataError",
    "GenerateConfig",
    "RenderError",
    "RenderedClip",
    "SynthgenError",
    "__version__",
    "compute_labels",
    "generate_dataset",
    "load_generate_config",
    "open_dataset",
    "render_clip",
    "sample_clip",
    "sample_reference_scene",
    "write_dataset",
]
