"""Composing the packaged Hydra configs (``synthgen.conf``) outside a Hydra run.

The library and the command line must build the same config from the same overrides, so both compose the
packaged YAML with Hydra's own config loader and override grammar. ``hydra.compose`` would need Hydra's
process-wide ``GlobalHydra``, which a running Hydra app already holds (and which threads would share); the
loader here is a private instance, so composing works inside a Hydra app, from threads and from worker
processes, and it never creates a run folder.
"""

from __future__ import annotations

import copy
import functools
import threading
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

from omegaconf import DictConfig, open_dict

from synthgen.errors import ConfigError

CONFIG_MODULE = "synthgen.conf"
# Group choices that name Hydra's own configs, not files of the packaged conf folder.
_HYDRA_GROUPS = ("hydra/launcher",)
# Hydra's override semantics of the apps (``version_base="1.3"``), used when nothing chose one yet.
_VERSION_BASE = "1.3"
_LOCK = threading.Lock()


def compose_packaged(config_name: str, overrides: Sequence[str] = ()) -> DictConfig:
    """The packaged config ``config_name`` (``"generate"``, ``"train"``) composed with Hydra override strings
    exactly as its command line would (``["control=camera_motion", "clip.width=64"]``), without the ``hydra``
    node. Interpolations are left unresolved.

    Raises ConfigError (one line) for an unknown group option or key, a type error or bad override syntax.
    """
    overrides = list(overrides)
    check_group_choices(overrides)
    # A copy: callers may change their config; the cached composition must not change with it.
    return copy.deepcopy(_compose_cached(config_name, tuple(overrides)))


@functools.lru_cache(maxsize=64)
def _compose_cached(config_name: str, overrides: tuple[str, ...]) -> DictConfig:
    # Composing takes about 0.2 s; tests and notebooks compose the same few command lines many times.
    from hydra._internal.config_loader_impl import ConfigLoaderImpl
    from hydra._internal.utils import create_config_search_path
    from hydra.core.utils import setup_globals
    from hydra.types import RunMode

    with _LOCK:
        _choose_version_base()
        setup_globals()  # the resolvers a Hydra run has (``${now:...}``), as on the command line
        loader = ConfigLoaderImpl(config_search_path=create_config_search_path(f"pkg://{CONFIG_MODULE}"))
        try:
            cfg = loader.load_configuration(
                config_name=config_name, overrides=list(overrides), run_mode=RunMode.RUN, from_shell=False
            )
        except Exception as err:
            raise ConfigError(one_line_hydra_error(err)) from None
    with open_dict(cfg):
        del cfg["hydra"]
    return cfg


def _choose_version_base() -> None:
    from hydra import version
    from packaging.version import Version

    # Left unset, Hydra would silently fall back to its 1.1 semantics for the whole process.
    if not isinstance(version.getbase(), Version):
        version.setbase(_VERSION_BASE)


def one_line_hydra_error(err: BaseException) -> str:
    """Hydra's multi-line composition report as one line, without OmegaConf's key/type dump."""
    noise = (
        "full_key",
        "object_type",
        "reference_type",
        "Set the environment variable",
        "Config search path",
    )
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    kept = []
    for line in lines:
        if line.startswith("provider="):  # the search path listing that follows "Config search path:"
            continue
        if not line.startswith(noise):
            kept.append(line)
    return " ".join(kept) or type(err).__name__


def group_options(group: str, extra_dirs: Sequence[Path] = ()) -> set[str] | None:
    """Names of the options of config group ``group`` (YAML files in the packaged conf folder and
    ``extra_dirs``), or None when no such folder exists."""
    names: set[str] = set()
    found = False
    folders = [Path(str(resources.files(CONFIG_MODULE))) / group, *(Path(d) / group for d in extra_dirs)]
    for folder in folders:
        if folder.is_dir():
            found = True
            names.update(p.stem for p in folder.glob("*.yaml"))
    return names if found else None


def check_group_choices(argv: Sequence[str], extra_dirs: Sequence[Path] = ()) -> None:
    """Raise ConfigError for a ``group=option`` override naming an option the group does not have.

    Checked before Hydra composes, so the message is one line listing the options instead of Hydra's report.
    Sweeps (``scene=a,b``) check every option; Hydra functions (``range(..)``, ``glob(..)``) are left to
    Hydra; launcher choices also accept the installed launcher plugins.
    """
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


def _installed_launchers() -> set[str]:
    from hydra.core.config_store import ConfigStore
    from hydra.core.plugins import Plugins

    Plugins.instance()  # registers the plugins' structured configs
    try:
        return {name.removesuffix(".yaml") for name in ConfigStore.instance().list("hydra/launcher")}
    except (OSError, KeyError, ValueError):
        return {"basic"}
