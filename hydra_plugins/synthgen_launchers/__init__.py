"""Hydra launcher plugins shipped with synthgen (Hydra finds launchers only under ``hydra_plugins``)."""
