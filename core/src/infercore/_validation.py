"""pydantic's validation errors in words a caller can act on: the field, then the problem."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import ValidationError

__all__ = ["field_path", "validation_problems"]

# pydantic names the union member it tried ("str", "list[...]"); a caller
# knows only its own fields and indexes.
_TYPE_WORDS = frozenset({"str", "int", "float", "bool", "list", "dict", "none"})


def field_path(loc: tuple[int | str, ...], aliases: Mapping[str, str] = {}) -> str:
    """``messages.0.content`` for a location; ``aliases`` renames the top-level field."""
    parts = [str(part) for part in loc if not (isinstance(part, str) and part in _TYPE_WORDS)]
    parts = [part for part in parts if "[" not in part]
    if parts:
        parts[0] = aliases.get(parts[0], parts[0])
    return ".".join(parts)


def validation_problems(
    exc: ValidationError, whole: str, aliases: Mapping[str, str] = {}
) -> tuple[str | None, list[str]]:
    """The first problem's field (None: the whole input), and every problem as
    ``field: message`` in order, without repeats; ``whole`` names a problem of no field."""
    errors = exc.errors(include_url=False, include_input=False)
    problems: dict[str, None] = {}
    for error in errors:
        problems[f"{field_path(error['loc'], aliases) or whole}: {error['msg']}"] = None
    return field_path(errors[0]["loc"], aliases) or None, list(problems)
