"""Errors in the OpenAI shape, ``{"error": {"message", "type", "param", "code"}}``, both ways.

Every failure a client can meet leaves the server as an :class:`APIError`:
the status says what kind of failure it is, the body says what to do. A client
(``InferClient``, ``bench serve``) turns such an answer, from any OpenAI-compatible
server, back into infercore's typed errors with :func:`error_for_status`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from infercore._errors import (
    AuthenticationError,
    EngineError,
    InfercoreError,
    InvalidRequestError,
    ModelNotFoundError,
    OverCapacityError,
)
from infercore._media import MediaError
from infercore._validation import validation_problems

__all__ = [
    "APIError",
    "error_for_status",
    "error_from_event",
    "from_engine_error",
    "from_validation_error",
]

#: The most validation problems one message lists; the first names ``param``.
_MAX_LISTED = 3


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


def from_engine_error(exc: InfercoreError, *, retry_after: int = 1) -> APIError:
    """The response for an error the engine raised for one request; a 429 asks the client
    to come back after ``retry_after`` seconds."""
    if isinstance(exc, MediaError):
        return APIError(exc.status, str(exc), param=exc.param, code=exc.reason)
    if isinstance(exc, InvalidRequestError):
        return APIError.bad_request(str(exc), exc.param)
    if isinstance(exc, OverCapacityError):
        return APIError.over_capacity(retry_after)
    if isinstance(exc, ModelNotFoundError):
        return APIError(404, str(exc), param="model", code="model_not_found")
    if isinstance(exc, EngineError):
        return APIError.internal(str(exc))
    return APIError.internal(f"{type(exc).__name__}: {exc}")


def from_validation_error(exc: ValidationError, aliases: Mapping[str, str] = {}) -> APIError:
    """400 for a body that is not JSON or names a field this server does not take; else 422.

    ``aliases`` renames top-level fields in the message, where the body model
    holds a client's field under another name.
    """
    first = exc.errors(include_url=False, include_input=False)[0]
    param, problems = validation_problems(exc, "body", aliases)
    if first["type"] == "json_invalid":
        return APIError.bad_request(f"the body is not valid JSON: {first['msg']}")
    if first["type"] == "extra_forbidden" and len(first["loc"]) == 1:
        return APIError.bad_request(
            f"unrecognized request argument supplied: {param}; this server does not take it",
            param,
        )
    listed = "; ".join(problems[:_MAX_LISTED])
    more = f" (and {len(problems) - _MAX_LISTED} more)" if len(problems) > _MAX_LISTED else ""
    return APIError(422, f"invalid request: {listed}{more}", param=param, code="invalid_value")


def _error_fields(body: str) -> tuple[str, str | None]:
    """The message and param of an OpenAI-shaped error body, or the body's text."""
    try:
        payload = json.loads(body)
    except ValueError:
        return body.strip()[:500] or "(empty answer)", None
    error = payload.get("error") if isinstance(payload, dict) else None
    if isinstance(error, dict):
        param = error.get("param")
        return str(error.get("message") or error), str(param) if param is not None else None
    if isinstance(error, str):  # some servers put the message right there
        return error, None
    if isinstance(payload, dict) and "detail" in payload:  # a bare FastAPI/Starlette error
        return str(payload["detail"]), None
    return body.strip()[:500], None


def error_for_status(
    status: int, body: str, *, url: str, retry_after: str | None = None
) -> InfercoreError:
    """The typed error for an HTTP error answer of an OpenAI-compatible server."""
    message, param = _error_fields(body)
    if status == 401:
        return AuthenticationError(
            f"the server at {url} refused the API key: {message} "
            "(pass the server's key as api_key= or --api-key)"
        )
    if status == 404:
        return ModelNotFoundError(f"{message} (HTTP 404 from {url})")
    if status == 429:
        wait = f"; retry after {retry_after} s" if retry_after else "; retry later"
        return OverCapacityError(f"the server is over capacity: {message}{wait}")
    if 400 <= status < 500:
        return InvalidRequestError(f"{message} (HTTP {status})", param=param)
    return EngineError(f"the server failed (HTTP {status}): {message}")


def error_from_event(payload: dict[str, Any], *, url: str) -> InfercoreError:
    """The typed error for an ``{"error": ...}`` event inside a stream."""
    error = payload.get("error")
    code = error.get("code") if isinstance(error, dict) else None
    status = code if isinstance(code, int) else 500
    if isinstance(code, str) and code.isdigit():
        status = int(code)
    return error_for_status(status, json.dumps(payload), url=url)
