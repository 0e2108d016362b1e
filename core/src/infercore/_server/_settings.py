"""What an operator decides about a server: names, limits, keys, media and generation defaults."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from infercore._errors import InfercoreError
from infercore._media import MediaLimits
from infercore._types import RequestConfig
from infercore._validation import validation_problems

__all__ = ["DEFAULT_MAX_BODY_BYTES", "ServerSettings"]

DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class ServerSettings:
    """The settings of one served model.

    ``served_model_name`` is the name clients send as ``model`` (the engine's
    model name when ``None``). ``api_key``, when set, guards every route but
    ``/health``. ``max_concurrency`` requests generate at once and up to
    ``max_queue`` more wait for a turn; past both a request gets 429, whose
    ``Retry-After`` asks the client to come back in ``retry_after`` seconds.
    ``generation_defaults`` (``RequestConfig`` fields) fill in what a request
    leaves out. LoRA adapters are the engine's (``Engine(..., adapters=...)``):
    the server answers to each under its own name.

    Media come only from where the media settings open (see
    :meth:`media_limits`): by default global http(s) addresses, no local
    files. ``trust_engine_media`` serves with the engine's own
    ``media_limits`` instead, whatever they open (an engine built without
    ``media=`` reads local files anywhere and fetches from private
    addresses): only for clients trusted as much as the engine's owner.
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
    #: Fetch media only from these hosts and their subdomains (``None``: any global host).
    allowed_media_domains: tuple[str, ...] | None = None
    #: Requests may name local files (and ``file://`` URLs) inside this folder only.
    allowed_local_media_path: Path | None = None
    #: Non-global networks (CIDR) media may be fetched from.
    allowed_media_networks: tuple[str, ...] = ()
    #: The most media items of a modality per prompt, such as ``{"image": 4}``.
    limit_mm_per_prompt: Mapping[str, int] | None = None
    trust_engine_media: bool = False

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
            _, problems = validation_problems(exc, "defaults")
            raise InfercoreError(f"invalid generation defaults: {'; '.join(problems)}") from exc
        return config.model_dump(include=set(self.generation_defaults))

    def media_limits(self) -> MediaLimits:
        """The server's media limits: safe ones, opened only as the media settings say.

        The budgets come from the environment (``MAX_PIXELS``, ``VIDEO_MAX_PIXELS``,
        ``FPS``, ``FPS_MAX_FRAMES``); private addresses and local files stay closed
        unless ``allowed_media_networks`` or ``allowed_local_media_path`` open them.
        Raises :class:`InfercoreError` for settings that do not parse.
        """
        overrides: dict[str, Any] = {"allowed_networks": self.allowed_media_networks}
        if self.allowed_media_domains:
            overrides["allowed_media_domains"] = self.allowed_media_domains
        if self.allowed_local_media_path is not None:
            overrides["allowed_local_media_path"] = self.allowed_local_media_path.resolve()
        if self.limit_mm_per_prompt is not None:
            overrides["limit_per_prompt"] = dict(self.limit_mm_per_prompt)
        try:
            return MediaLimits.from_env(**overrides)
        except ValueError as exc:  # pydantic's ValidationError is one
            raise InfercoreError(f"invalid media settings: {exc}") from exc
