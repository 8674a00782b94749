"""hydra-ray-launcher, with a Ray it starts itself closed to other hosts' code.

Ray 2.x binds its GCS and raylet gRPC ports on every interface whatever node address it is given, and a
cluster without authentication runs any task a peer sends. When ``hydra.launcher.ray.init.address`` is null
this launcher starts the local Ray with token authentication on (a random per-run token, unless
``RAY_AUTH_TOKEN`` is already set) and without its dashboard, so a peer that reaches the ports is refused;
with an address it joins that cluster as configured, whose security is its operator's.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Sequence
from typing import Any

from omegaconf import open_dict

from synthgen.extras import require_extra

try:
    from hydra_plugins.hydra_ray_launcher.ray_launcher import RayLauncher
except ImportError:  # no ray extra. Hydra imports this module at every start: fail only when it is chosen.

    class RayLauncher:  # type: ignore[no-redef]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            require_extra("ray", "hydra/launcher=synthgen_ray")


def secure_local_ray_env() -> None:
    """Turn on Ray token authentication for this process and the Ray it starts (idempotent)."""
    os.environ.setdefault("RAY_AUTH_TOKEN", secrets.token_hex(32))
    os.environ["RAY_AUTH_MODE"] = "token"
    # Ray caches its config and token at import; make this process see token mode and the token now.
    from ray._private.authentication.authentication_token_setup import _enable_token_auth
    from ray._raylet import AuthenticationTokenLoader  # type: ignore[attr-defined]

    _enable_token_auth()
    AuthenticationTokenLoader.instance().reset_cache()


class LocalOnlyRayLauncher(RayLauncher):
    """``RayLauncher`` that secures a Ray instance it starts itself (see the module docstring)."""

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Any:
        init = self.ray_cfg.init
        if init.get("address") is None:
            secure_local_ray_env()
            with open_dict(init):
                init.setdefault("include_dashboard", False)
        return super().launch(job_overrides, initial_job_idx)
