"""Control-job parameters for tests: the packaged ``conf/control/<job>.yaml`` with a few values changed."""

from __future__ import annotations

from typing import Any

from synthgen.controls import get_job
from synthgen.controls.job import JobParams
from tests.conftest import tiny_config


def control_params(job: str, **changes: Any) -> Any:
    """The validated parameters of ``job`` as ``control=<job>`` composes them, with ``changes`` on top
    (nested models take a dict of their changed keys)."""
    raw = {
        key: value for key, value in tiny_config(f"control={job}").control.params.items() if key != "caption"
    }
    for key, value in changes.items():
        raw[key] = {**raw[key], **value} if isinstance(value, dict) else value
    params: JobParams = get_job(job).parse_params(raw)
    return params
