"""Errors in the OpenAI shape: ``{"error": {"message", "type", "param", "code"}}``.

Every failure a client can meet leaves the server as an :class:`APIError`:
the status says what kind of failure it is, the body says what to do.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from pydantic import ValidationError

from infercore._errors import (
    EngineError,
    InfercoreError,
    InvalidRequestError,
    ModelNotFoundError,
    OverCapacityError,
)
from infercore._media import MediaError

__all__ = ["APIError", "from_engine_error", "from_validation_error"]

#: The most validation problems one message lists; the first names ``param``.
_MAX_LISTED = 3
_TYPE_WORDS = frozenset({"str", "int", "float", "bool", "list", "dict", "none"})


class APIError(Exception):
    """A response with an error status and an OpenAI-shaped body."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: Sequence[tuple[bytes, bytes]] = (),
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.headers = tuple(headers)

    def body(self) -> bytes:
        error = {"message": self.message, "type": self.type, "param": self.param, "code": self.code}
        return json.dumps({"error": error}).encode()

    # -- the statuses, by cause -------------------------------------------------

    @classmethod
    def bad_request(cls, message: str, param: str | None = None) -> APIError:
        return cls(400, message, param=param)

    @classmethod
    def unauthorized(cls) -> APIError:
        return cls(
            401,
            "invalid or missing API key; send it as 'Authorization: Bearer KEY'",
            code="invalid_api_key",
        )

    @classmethod
    def model_not_found(cls, name: str, served: Sequence[str]) -> APIError:
        listed = ", ".join(repr(model) for model in served)
        return cls(
            404,
            f"the model {name!r} does not exist here; this server serves {listed}",
            param="model",
            code="model_not_found",
        )

    @classmethod
    def too_large(cls, limit: int) -> APIError:
        return cls(
            413,
            f"the request body is larger than this server's limit of {limit} bytes",
            code="request_too_large",
        )

    @classmethod
    def over_capacity(cls, retry_after: int) -> APIError:
        return cls(
            429,
            "the server is at capacity (every generation slot and queue place is taken); "
            f"retry after {retry_after} s",
            type="rate_limit_error",
            code="over_capacity",
            headers=[(b"retry-after", str(retry_after).encode())],
        )

    @classmethod
    def shutting_down(cls, *, finished: bool = True) -> APIError:
        message = (
            "the server is shutting down and takes no new requests"
            if finished
            else "the server shut down before this request finished (its shutdown grace ran out)"
        )
        return cls(503, message, type="server_error", code="shutting_down")

    @classmethod
    def internal(cls, message: str) -> APIError:
        return cls(500, message, type="server_error", code="engine_error")


def from_engine_error(exc: InfercoreError) -> APIError:
    """The response for an error the engine raised for one request."""
    if isinstance(exc, MediaError):
        return APIError(exc.status, str(exc), param=exc.param, code=exc.reason)
    if isinstance(exc, InvalidRequestError):
        return APIError.bad_request(str(exc), exc.param)
    if isinstance(exc, OverCapacityError):
        return APIError.over_capacity(1)
    if isinstance(exc, ModelNotFoundError):
        return APIError(404, str(exc), param="model", code="model_not_found")
    if isinstance(exc, EngineError):
        return APIError.internal(str(exc))
    return APIError.internal(f"{type(exc).__name__}: {exc}")


def _location(loc: tuple[int | str, ...], aliases: Mapping[str, str]) -> str:
    # pydantic names the union member it tried ("str", "list[...]"); a client
    # knows only its own fields and indexes.
    parts = [str(part) for part in loc if not (isinstance(part, str) and part in _TYPE_WORDS)]
    parts = [part for part in parts if "[" not in part]
    if parts:
        parts[0] = aliases.get(parts[0], parts[0])
    return ".".join(parts)


def from_validation_error(exc: ValidationError, aliases: Mapping[str, str] = {}) -> APIError:
    """400 for a body that is not JSON or names a field this server does not take; else 422.

    ``aliases`` renames top-level fields in the message, where the body model
    holds a client's field under another name.
    """
    errors = exc.errors(include_url=False, include_input=False)
    first = errors[0]
    param = _location(first["loc"], aliases) or None
    if first["type"] == "json_invalid":
        return APIError.bad_request(f"the body is not valid JSON: {first['msg']}")
    if first["type"] == "extra_forbidden" and len(first["loc"]) == 1:
        return APIError.bad_request(
            f"unrecognized request argument supplied: {param}; this server does not take it",
            param,
        )
    problems: dict[str, None] = {}  # in order, without repeats
    for error in errors:
        problems[f"{_location(error['loc'], aliases) or 'body'}: {error['msg']}"] = None
    listed = "; ".join(list(problems)[:_MAX_LISTED])
    more = f" (and {len(problems) - _MAX_LISTED} more)" if len(problems) > _MAX_LISTED else ""
    return APIError(422, f"invalid request: {listed}{more}", param=param, code="invalid_value")
