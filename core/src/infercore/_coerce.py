"""What the public calls accept, turned into the core's own types, or refused clearly."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from infercore._errors import InvalidRequestError
from infercore._types import InferRequest, RequestConfig
from infercore._validation import validation_problems

__all__ = [
    "ConfigLike",
    "RequestLike",
    "as_config",
    "as_request",
    "as_requests",
    "for_whole_responses",
    "invalid_request",
    "validated",
]

M = TypeVar("M", bound=BaseModel)

#: A request as a model or as its JSON-shaped mapping.
RequestLike = InferRequest | Mapping[str, Any]
#: A config as a model, its mapping, or ``None`` for the defaults.
ConfigLike = RequestConfig | Mapping[str, Any] | None


def invalid_request(exc: ValidationError, what: str) -> InvalidRequestError:
    """One :class:`InvalidRequestError` for all that pydantic found wrong, the first field
    as its ``param``."""
    param, problems = validation_problems(exc, what)
    return InvalidRequestError(f"invalid {what}: {'; '.join(problems)}", param=param)


def validated(model: type[M], value: M | Mapping[str, Any], what: str) -> M:
    """``value`` as a ``model``; a mapping is validated, a validation error becomes
    :class:`InvalidRequestError`."""
    if isinstance(value, model):
        return value
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        raise invalid_request(exc, what) from exc


def as_request(request: RequestLike) -> InferRequest:
    return validated(InferRequest, request, "request")


def as_requests(requests: Sequence[RequestLike]) -> list[InferRequest]:
    """A list of requests; one request given alone is a mistake worth naming."""
    if isinstance(requests, InferRequest | Mapping):
        raise TypeError("these calls take a list of requests; use [request] for one")
    return [as_request(request) for request in requests]


def as_config(config: ConfigLike) -> RequestConfig:
    return RequestConfig() if config is None else validated(RequestConfig, config, "request config")


def for_whole_responses(config: RequestConfig, call: str) -> RequestConfig:
    """``config`` for ``call``, which answers whole responses: it cannot ask to stream."""
    if config.stream:
        streaming = call.replace("infer_iter", "stream").replace("infer", "stream")
        raise InvalidRequestError(
            f"{call} answers whole responses, and this config has stream=True; for chunks "
            f"call {streaming} with the same arguments",
            param="stream",
        )
    return config
