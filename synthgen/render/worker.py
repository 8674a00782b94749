"""A render worker process, replaced every ``recycle_after`` clips to bound Blender's memory growth."""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import sys
from collections.abc import Iterator
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from synthgen.errors import ConfigError, DataError, RenderError, SynthgenError
from synthgen.render.builder import clip_error
from synthgen.render.types import RenderedClip

if TYPE_CHECKING:
    from synthgen.describe.spec import ClipSpec
    from synthgen.labels.compute import ClipLabels

_ERROR_TYPES: dict[str, type[SynthgenError]] = {
    "ConfigError": ConfigError,
    "DataError": DataError,
    "RenderError": RenderError,
}


def _serve(conn: Connection) -> None:
    # A spawned child inherits the parent's sys.path, which holds Blender's script folders once the parent
    # imported bpy; there ``import bpy`` would find the scripts' package instead of the wheel's module.
    sys.path[:] = [entry for entry in sys.path if not _is_blender_script_dir(entry)]
    from synthgen.render.clip import render_clip

    while True:
        request = conn.recv()
        if request is None:
            return
        spec, labels, check_poses, trust_recipes = request
        try:
            conn.send(("ok", render_clip(spec, labels, check_poses=check_poses, trust_recipes=trust_recipes)))
        except SynthgenError as err:
            conn.send((type(err).__name__, str(err)))
        except Exception as err:
            conn.send(("RenderError", str(clip_error(spec, f"{type(err).__name__}: {err}"))))


@contextlib.contextmanager
def _standard_start_method() -> Iterator[None]:
    """Inside a joblib/loky worker the global start method is 'loky', which a spawned child cannot set up
    ("cannot find context for 'loky'"); the child is told 'spawn' instead, and the worker's own setting is
    restored afterwards."""
    current = mp.get_start_method(allow_none=True)
    if current in (None, "spawn", "fork", "forkserver"):
        yield
        return
    mp.set_start_method("spawn", force=True)
    try:
        yield
    finally:
        mp.set_start_method(current, force=True)


def _is_blender_script_dir(entry: str) -> bool:
    parts = Path(entry).parts
    return "bpy" in parts and "scripts" in parts[parts.index("bpy") :]


class RenderWorker:
    """Renders clips in a spawned child process; a fresh child starts after every ``recycle_after`` clips.

    Use as a context manager (or call ``close``). Errors come back as the same one-line SynthgenError
    subclass the child raised; a child that dies raises RenderError naming the clip.
    """

    def __init__(self, recycle_after: int = 50, *, trust_recipes: bool = False) -> None:
        if recycle_after < 1:
            raise ConfigError(f"render.recycle_after={recycle_after}: must be >= 1")
        self.recycle_after = recycle_after
        self.trust_recipes = trust_recipes
        self.clips_in_process = 0
        self.processes_started = 0
        self._process: BaseProcess | None = None
        self._conn: Connection | None = None

    def _start(self) -> Connection:
        context = mp.get_context("spawn")
        parent, child = context.Pipe()
        process = context.Process(target=_serve, args=(child,), daemon=True, name="synthgen-render")
        with _standard_start_method():
            process.start()
        child.close()
        self._process, self._conn = process, parent
        self.clips_in_process = 0
        self.processes_started += 1
        return parent

    def render(
        self, spec: ClipSpec, labels: ClipLabels | None = None, *, check_poses: bool = True
    ) -> RenderedClip:
        """``render_clip(spec, labels, check_poses=..., trust_recipes=self.trust_recipes)`` in the worker."""
        if self._conn is not None and self.clips_in_process >= self.recycle_after:
            self.close()
        conn = self._conn or self._start()
        self.clips_in_process += 1
        try:
            conn.send((spec, labels, check_poses, self.trust_recipes))
            status, payload = conn.recv()
        except (EOFError, OSError, BrokenPipeError):
            code = self._process.exitcode if self._process is not None else None
            self._discard()
            raise clip_error(spec, f"render worker process died (exit code {code})") from None
        if status == "ok":
            result: RenderedClip = payload
            return result
        raise _ERROR_TYPES.get(status, RenderError)(payload)

    def _discard(self) -> None:
        if self._conn is not None:
            self._conn.close()
        if self._process is not None:
            self._process.join(timeout=5)
            if self._process.is_alive():
                self._process.kill()
                self._process.join()
        self._process, self._conn = None, None

    def close(self) -> None:
        """Stop the child process (if any)."""
        if self._conn is not None:
            try:
                self._conn.send(None)
            except (OSError, BrokenPipeError):
                pass
        self._discard()

    def __enter__(self) -> RenderWorker:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __del__(self) -> None:
        # At interpreter shutdown the pipe may already be gone; there is nothing left to clean up then.
        with contextlib.suppress(Exception):
            self.close()


__all__ = ["RenderWorker"]
