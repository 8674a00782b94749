"""Describe a clip: the validated config (``config``), the frozen clip spec (``spec``), sampling a spec from
the config and a seed (``sampling``) and its caption (``captions``). Numpy and pydantic only."""
