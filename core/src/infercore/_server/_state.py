"""What every route of one server shares: the engine and the server's own bookkeeping."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from infercore._engine import Engine
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
