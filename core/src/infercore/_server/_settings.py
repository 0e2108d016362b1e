"""What an operator decides about a server: names, limits, keys and generation defaults."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from infercore._errors import InfercoreError
from infercore._types import RequestConfig

__all__ = ["DEFAULT_MAX_BODY_BYTES", "ServerSettings"]

DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class ServerSettings:
    """The settings of one served model.

    ``served_model_name`` is the name clients send as ``model`` (the engine's
    model name when ``None``). ``api_key``, when set, guards every route but
    ``/health``. ``max_concurrency`` requests generate at once and up to
    ``max_queue`` more wait for a turn; past both a request gets 429.
    ``generation_defaults`` (``RequestConfig`` fields) fill in what a request
    leaves out. LoRA adapters are the engine's (``Engine(..., adapters=...)``):
    the server answers to each under its own name.
    """

    served_model_name: str | None = None
    api_key: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    max_concurrency: int = 256
    max_queue: int = 1024
    shutdown_grace: float = 30.0
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    retry_after: int = 1
    generation_defaults: Mapping[str, Any] = field(default_factory=dict)
    access_log: bool = False
    log_level: str = "info"

    def __post_init__(self) -> None:
        if self.max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        if self.max_queue < 0:
            raise ValueError("max_queue must not be negative")
        if self.shutdown_grace < 0:
            raise ValueError("shutdown_grace must not be negative")
        if self.max_body_bytes < 1:
            raise ValueError("max_body_bytes must be at least 1")

    def checked_defaults(self) -> dict[str, Any]:
        """``generation_defaults``, checked against ``RequestConfig``'s bounds and normalised."""
        try:
            config = RequestConfig.model_validate(dict(self.generation_defaults))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in error['loc']) or 'defaults'}: {error['msg']}"
                for error in exc.errors()
            )
            raise InfercoreError(f"invalid generation defaults: {problems}") from exc
        return config.model_dump(include=set(self.generation_defaults))
