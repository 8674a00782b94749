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

from synthgen.config import GenerateConfig, load_generate_config
from synthgen.errors import ConfigError, DataError, RenderError, SynthgenError
from synthgen.labels import ClipLabels, compute_labels
from synthgen.sampling import sample_clip, sample_reference_scene
from synthgen.spec import ClipSpec

if TYPE_CHECKING:
    from synthgen.generate import generate as generate_dataset
    from synthgen.render import RenderedClip, render_clip
    from synthgen.shards import open_dataset, write_dataset

__version__ = "0.1.0"

_LAZY = {
    "render_clip": "synthgen.render",
    "RenderedClip": "synthgen.render",
    "open_dataset": "synthgen.shards",
    "write_dataset": "synthgen.shards",
    # Not "generate": importing the submodule synthgen.generate would shadow a function of that name.
    "generate_dataset": "synthgen.generate:generate",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, _, attribute = _LAZY[name].partition(":")
        return getattr(importlib.import_module(module), attribute or name)
    raise AttributeError(f"module 'synthgen' has no attribute {name!r}")


__all__ = [
    "ClipLabels",
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
