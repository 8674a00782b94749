"""The optional parts of synthgen (pyproject.toml's extras) and whether each is installed here.

The core (describe, labels, audio, controls, dataset and the CLIs) needs neither Blender nor torch. A render
node adds ``synthgen[render]`` (bpy), a GPU training node ``synthgen[train]`` (torch, diffusers, peft, ...),
a Ray cluster ``synthgen[ray]``. Code that needs an extra asks ``require_extra`` first, so a missing one is
a single line naming what to install rather than an ImportError from deep inside a run.
"""

from __future__ import annotations

import importlib.util
import logging

from synthgen.errors import SynthgenError

# Extra -> the top-level modules it brings that synthgen imports. Checked by name only: importing torch
# or bpy to find out would cost seconds.
EXTRAS: dict[str, tuple[str, ...]] = {
    "render": ("bpy",),
    "train": ("torch", "diffusers", "transformers", "peft", "accelerate", "safetensors", "tensorboard"),
    "ray": ("ray", "hydra_plugins.hydra_ray_launcher"),
}


# Loggers that warn while an optional library is being imported, about that library rather than the run:
# torchao (its kernel libraries built for another torch), diffusers' torchao quantizer (torchao tensor
# classes it cannot import) and torch's pytree (enum registrations torchao makes). With the [speed] extra
# installed they would precede a CLI's one-line error; the console scripts raise them to ERROR.
IMPORT_NOISE_LOGGERS = ("torchao", "diffusers.quantizers.torchao.torchao_quantizer", "torch.utils._pytree")


def quiet_import_noise() -> None:
    """Raise ``IMPORT_NOISE_LOGGERS`` to ERROR (console scripts only: a library user keeps their logging)."""
    for name in IMPORT_NOISE_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)


class MissingExtraError(SynthgenError):
    """A command needs an extra that is not installed; the message names the extra to install."""


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a missing parent package, or a module set to None in sys.modules
        return False


def missing_modules(extra: str) -> list[str]:
    """The modules of ``extra`` that cannot be imported here (empty when the extra is installed)."""
    return [module for module in EXTRAS[extra] if not _importable(module)]


def installed_extras() -> dict[str, bool]:
    """Each extra's name -> whether all of its modules can be imported here."""
    return {extra: not missing_modules(extra) for extra in EXTRAS}


def require_extra(extra: str, needed_for: str) -> None:
    """Raise MissingExtraError (one line, exit code 2) unless every module of ``extra`` is installed."""
    missing = missing_modules(extra)
    if missing:
        raise MissingExtraError(
            f"{needed_for} needs the {extra} extra ({', '.join(missing)} not installed): "
            f"pip install 'synthgen[{extra}]'"
        )
