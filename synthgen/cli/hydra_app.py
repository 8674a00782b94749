"""What the Hydra apps (``synthgen-generate``, ``synthgen-train``) share: checking a command line before
Hydra composes it, so a bad override is one line and exit code 2 instead of Hydra's report, and nothing is
written; and the one-line failure itself."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import NoReturn

from omegaconf import DictConfig

from synthgen.errors import ConfigError, SynthgenError

_HYDRA_GROUPS = ("hydra/launcher",)


def group_options(group: str, extra_dirs: list[Path] | None = None) -> set[str] | None:
    """Names of the options of config group ``group`` (YAML files in the packaged conf folder and
    ``extra_dirs``), or None when no such folder exists."""
    names: set[str] = set()
    found = False
    folders: list[Path] = [Path(str(resources.files("synthgen.conf"))) / group]
    folders += [Path(d) / group for d in extra_dirs or []]
    for folder in folders:
        if folder.is_dir():
            found = True
            names.update(p.stem for p in folder.glob("*.yaml"))
    return names if found else None


def check_group_choices(argv: list[str]) -> None:
    """Raise ConfigError for a ``group=option`` override naming an option the group does not have.

    Run before Hydra composes the config, so the user gets one line instead of Hydra's report. Sweeps
    (``scene=a,b``) check every option; Hydra functions (``range(..)``, ``glob(..)``) are left to Hydra;
    launcher choices also accept the installed launcher plugins.
    """
    extra_dirs = [Path(argv[i + 1]) for i, arg in enumerate(argv[:-1]) if arg in ("--config-dir", "-cd")]
    extra_dirs += [Path(arg.split("=", 1)[1]) for arg in argv if arg.startswith("--config-dir=")]
    for arg in argv:
        if arg.startswith("-") or "=" not in arg:
            continue
        key, value = arg.split("=", 1)
        key = key.lstrip("+")
        if key.startswith("~") or "(" in value or "." in key:
            continue
        options = group_options(key, extra_dirs)
        if options is None:
            continue
        if key in _HYDRA_GROUPS:
            options |= _installed_launchers()
        for choice in value.split(","):
            if choice.strip() and choice.strip() not in options and choice.strip() != "null":
                raise ConfigError(
                    f"{key}={choice.strip()!r}: unknown option; choose from {', '.join(sorted(options))}"
                )


def check_overrides_compose(
    config_name: str, argv: list[str], validate: Callable[[DictConfig], object] | None = None
) -> None:
    """Compose ``config_name`` with the command line's overrides as Hydra will, and turn a failure (an
    unknown key, a type error, bad override syntax) into a one-line ConfigError instead of Hydra's report.
    ``validate`` then checks the composed config (its SynthgenErrors pass through unchanged), so an invalid
    config is refused before Hydra creates any run folder.

    Single runs only: a multirun's sweep syntax (``a,b``, ``range(..)``) is Hydra's to expand, and runs
    with flags (``--cfg``, ``--config-dir``, ``--help``) are left to Hydra as they are.
    """
    if any(arg.startswith("-") for arg in argv):
        return
    from hydra import compose, initialize_config_module

    try:
        with initialize_config_module("synthgen.conf", version_base="1.3"):
            composed = compose(config_name, overrides=argv)
    except Exception as err:
        noise = ("full_key", "object_type", "reference_type", "Set the environment variable")
        lines = [line.strip() for line in str(err).splitlines() if line.strip()]
        raise ConfigError(" ".join(line for line in lines if not line.startswith(noise))) from None
    if validate is not None:
        validate(composed)


def _installed_launchers() -> set[str]:
    from hydra.core.config_store import ConfigStore
    from hydra.core.plugins import Plugins

    Plugins.instance()  # registers the plugins' structured configs
    try:
        return {name.removesuffix(".yaml") for name in ConfigStore.instance().list("hydra/launcher")}
    except (OSError, KeyError, ValueError):
        return {"basic"}


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
    try:
        check_group_choices(argv)
        check_overrides_compose(config_name, argv, validate=validate)
    except SynthgenError as err:
        fail(prog, err)
