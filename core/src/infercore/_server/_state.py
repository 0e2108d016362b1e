"""What every route of one server shares: the engine and the server's own bookkeeping."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from infercore._engine import Engine
from infercore._errors import InfercoreError
from infercore._server._admission import Admission
from infercore._server._lifecycle import Lifecycle
from infercore._server._metrics import ServerMetrics
from infercore._server._models import ModelTable
from infercore._server._settings import ServerSettings

__all__ = ["ServerState"]


@dataclass
class ServerState:
    engine: Engine
    settings: ServerSettings
    models: ModelTable
    admission: Admission
    lifecycle: Lifecycle
    metrics: ServerMetrics
    #: The generation defaults, checked once against RequestConfig's bounds.
    defaults: dict[str, Any]

    @classmethod
    def create(cls, engine: Engine, settings: ServerSettings) -> ServerState:
        """The shared state; :class:`InfercoreError` for settings the engine cannot serve."""
        _check_media_limits(engine, settings)
        admission = Admission(settings.max_concurrency, settings.max_queue)
        name = settings.served_model_name or engine.model
        return cls(
            engine=engine,
            settings=settings,
            models=ModelTable.for_engine(name, engine),
            admission=admission,
            lifecycle=Lifecycle(),
            metrics=ServerMetrics(
                name,
                running=lambda: admission.running,
                waiting=lambda: admission.waiting,
                backend_active=lambda: engine.backend.active_requests,
            ),
            defaults=settings.checked_defaults(),
        )


def _check_media_limits(engine: Engine, settings: ServerSettings) -> None:
    """Refuse to serve media under limits the operator did not choose for a server.

    The engine loads every request's media under its own ``media_limits``, and an
    engine built for a script trusts its caller (local files anywhere, private
    addresses). A server passes its clients' URLs and paths on, so it serves only
    an engine built with the server's limits, unless told to trust the engine's.
    """
    if settings.trust_engine_media:
        return
    limits = settings.media_limits()
    if engine.media_limits == limits:
        return
    differing = [
        name
        for name in type(limits).model_fields
        if getattr(engine.media_limits, name) != getattr(limits, name)
    ]
    raise InfercoreError(
        "the engine's media limits are not this server's (they differ in "
        f"{', '.join(differing)}); a server loads its clients' media only under its own: "
        "build the engine with Engine(..., media=settings.media_limits()), or set "
        "ServerSettings(trust_engine_media=True) to serve with the engine's limits as they are"
    )
