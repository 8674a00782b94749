"""synthgen: exactly-labelled synthetic video datasets from Blender for LTX-2.3 IC-LoRA training."""

from synthgen.errors import ConfigError, DataError, RenderError, SynthgenError
from synthgen.spec import ClipSpec

__version__ = "0.1.0"

__all__ = ["ClipSpec", "ConfigError", "DataError", "RenderError", "SynthgenError", "__version__"]
