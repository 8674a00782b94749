"""Errors that reach users as one line naming the field, file or row and the rule broken."""

from __future__ import annotations

from pydantic import ValidationError


class SynthgenError(Exception):
    """Base of every error synthgen reports to a user as a single line (exit code 2 on the CLI)."""

    exit_code = 2


class ConfigError(SynthgenError):
    """A config or spec value breaks a rule; the message names the field, the value and the rule."""


class DataError(SynthgenError):
    """A dataset file, shard or row is unreadable or breaks the schema; the message names the file/row."""


class RenderError(SynthgenError):
    """A clip's scene could not be sampled, built or rendered; the message names the clip, recipe and cause."""


def clip_failure(clip_id: str, recipe: str, cause: str) -> RenderError:
    """The one-line RenderError of a failed clip: ``clip <id> (scene recipe '<recipe>'): <cause>``."""
    return RenderError(f"clip {clip_id} (scene recipe {recipe!r}): {cause}")


# Discriminator values pydantic inserts into error locations of tagged unions (``path.linear.waypoints_m``);
# they are not field names, so they are dropped from the reported field.
UNION_TAGS: set[str] = set()


def _loc_to_field(loc: tuple[int | str, ...], prefix: str) -> str:
    parts: list[str] = [prefix] if prefix else []
    for item in loc:
        if isinstance(item, int):
            parts[-1:] = [f"{parts[-1]}[{item}]"] if parts else [f"[{item}]"]
        elif item in UNION_TAGS or item.startswith(("function-", "tagged-union", "union[")):
            continue
        else:
            parts.append(item)
    return ".".join(parts) or "<root>"


def config_error_from_validation(err: ValidationError, prefix: str = "") -> ConfigError:
    """Turn pydantic's multi-line report into one line: ``field: value -> rule`` (first error only)."""
    first = err.errors(include_url=False)[0]
    field = _loc_to_field(tuple(first["loc"]), prefix)
    message = str(first["msg"]).removeprefix("Value error, ")
    value = first.get("input")
    extra = f" (+{err.error_count() - 1} more)" if err.error_count() > 1 else ""
    if isinstance(value, dict | list | tuple):
        return ConfigError(f"{field}: {message}{extra}")
    return ConfigError(f"{field}={value!r}: {message}{extra}")
