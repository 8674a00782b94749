"""What the Hydra apps (``synthgen-generate``, ``synthgen-train``) share: checking a command line before
Hydra composes it, so a bad override is one line and exit code 2 instead of Hydra's report, and nothing is
written; and the one-line failure itself. The check composes with ``synthgen.describe.compose``, the
composer the library uses, so a command line and ``load_generate_config(overrides=...)`` fail alike."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from omegaconf import DictConfig

from synthgen.describe.compose import check_group_choices, compose_packaged
from synthgen.errors import SynthgenError


def check_overrides_compose(
    config_name: str, argv: list[str], validate: Callable[[DictConfig], object] | None = None
) -> None:
    """Compose ``config_name`` with the command line's overrides as Hydra will, and turn a failure (an
    unknown group option or key, a type error, bad override syntax) into a one-line ConfigError instead of
    Hydra's report. ``validate`` then checks the composed config (its SynthgenErrors pass through
    unchanged), so an invalid config is refused before Hydra creates any run folder.

    Single runs only: a multirun's sweep syntax (``a,b``, ``range(..)``) is Hydra's to expand, and runs
    with flags (``--cfg``, ``--config-dir``, ``--help``) are left to Hydra as they are.
    """
    if any(arg.startswith("-") for arg in argv):
        return
    composed = compose_packaged(config_name, argv)
    if validate is not None:
        validate(composed)


def fail(prog: str, err: SynthgenError) -> NoReturn:
    """Print ``<prog>: error: <one line>`` and exit with the error's code (the traceback with
    ``HYDRA_FULL_ERROR=1``)."""
    if os.environ.get("HYDRA_FULL_ERROR") == "1":
        raise err
    print(f"{prog}: error: {err}", file=sys.stderr)
    sys.exit(err.exit_code)


def precheck(prog: str, config_name: str, validate: Callable[[DictConfig], object] | None = None) -> None:
    """Check the command line of a Hydra app before Hydra runs: group choices, then the composed config
    (``check_overrides_compose``); a failure is one line and the error's exit code, with nothing written."""
    argv = sys.argv[1:]
    extra_dirs = [Path(argv[i + 1]) for i, arg in enumerate(argv[:-1]) if arg in ("--config-dir", "-cd")]
    extra_dirs += [Path(arg.split("=", 1)[1]) for arg in argv if arg.startswith("--config-dir=")]
    try:
        check_group_choices(argv, extra_dirs)
        check_overrides_compose(config_name, argv, validate=validate)
    except SynthgenError as err:
        fail(prog, err)
