"""Lazy access to Blender's Python modules (``bpy``, ``bmesh``, ``mathutils``) and its OpenImageIO.

Nothing here runs at import time: ``import synthgen`` must never load Blender.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

from synthgen.errors import RenderError


def import_bpy() -> Any:
    """The ``bpy`` module; RenderError if the bpy wheel is not installed."""
    try:
        import bpy
    except ImportError as err:
        raise RenderError(
            f"rendering needs the render extra (cannot import bpy: {err}): pip install 'synthgen[render]'"
        ) from None
    return bpy


def load_openimageio() -> ModuleType:
    """OpenImageIO's Python binding as shipped inside the bpy wheel (not on ``sys.path`` by default).

    The binding links against the ``libOpenImageIO`` that bpy itself loads, so it is always the same
    build that Blender writes EXR files with.
    """
    if "OpenImageIO" in sys.modules:
        return sys.modules["OpenImageIO"]
    bpy = import_bpy()
    package = Path(bpy.utils.resource_path("LOCAL")) / "python" / "lib"
    candidates = sorted(package.glob("python3*/site-packages/OpenImageIO/__init__.py"))
    if not candidates:
        raise RenderError(f"render: OpenImageIO is missing from the bpy wheel (looked under {package})")
    init = candidates[0]
    spec = importlib.util.spec_from_file_location(
        "OpenImageIO", init, submodule_search_locations=[str(init.parent)]
    )
    if spec is None or spec.loader is None:
        raise RenderError(f"render: cannot load OpenImageIO from {init}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["OpenImageIO"] = module
    try:
        spec.loader.exec_module(module)
    except Exception as err:
        sys.modules.pop("OpenImageIO", None)
        raise RenderError(f"render: cannot load OpenImageIO from {init} ({err})") from None
    return module


@contextlib.contextmanager
def quiet_stdout(enabled: bool = True) -> Iterator[None]:
    """Send file descriptor 1 to /dev/null while Blender prints its per-frame progress lines."""
    if not enabled:
        yield
        return
    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        yield
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)
