"""The server's one route table: every path, what serves it, and how the guard treats it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from starlette.types import ASGIApp

from infercore._server._embeddings import EmbeddingsRoute
from infercore._server._routes import (
    ChatRoute,
    CompletionRoute,
    HealthRoute,
    MetricsRoute,
    ModelsRoute,
)
from infercore._server._scores import ClassifyRoute, RerankRoute, ScoreRoute, StepScoreRoute
from infercore._server._state import ServerState

__all__ = ["ROUTE_TABLE", "ServedRoute", "metrics_label", "route_of"]


@dataclass(frozen=True)
class ServedRoute:
    """One route.

    ``path`` is Starlette's pattern; ``label`` the name it is counted under in the
    metrics (its path, without a converter). ``keyed``: it needs the API key;
    ``while_draining``: it answers while the server shuts down; ``generation``: a
    ``POST`` served ahead of the framework's middleware (see ``OpenAIApp``).
    ``endpoint`` is None for ``/openapi.json``, which the app serves from its own
    document.
    """

    path: str
    method: str
    endpoint: Callable[[ServerState], ASGIApp] | None
    keyed: bool = True
    while_draining: bool = False
    generation: bool = False

    @property
    def label(self) -> str:
        return self.path.replace(":path}", "}")


ROUTE_TABLE = (
    ServedRoute("/v1/chat/completions", "POST", ChatRoute, generation=True),
    ServedRoute("/v1/completions", "POST", CompletionRoute, generation=True),
    ServedRoute("/v1/embeddings", "POST", EmbeddingsRoute, generation=True),
    # vLLM's paths: each call under /v1 and at the root, and rerank's /v2 as Cohere's.
    ServedRoute("/v1/classify", "POST", ClassifyRoute, generation=True),
    ServedRoute("/classify", "POST", ClassifyRoute, generation=True),
    ServedRoute("/v1/score", "POST", ScoreRoute, generation=True),
    ServedRoute("/score", "POST", ScoreRoute, generation=True),
    ServedRoute("/v1/rerank", "POST", RerankRoute, generation=True),
    ServedRoute("/rerank", "POST", RerankRoute, generation=True),
    ServedRoute("/v2/rerank", "POST", RerankRoute, generation=True),
    # A process reward model's scores at its step tags, at vLLM's path for them, and
    # under /v1 beside the others (where a client's base URL points).
    ServedRoute("/pooling", "POST", StepScoreRoute, generation=True),
    ServedRoute("/v1/pooling", "POST", StepScoreRoute, generation=True),
    ServedRoute("/v1/models", "GET", ModelsRoute),
    ServedRoute("/v1/models/{model:path}", "GET", ModelsRoute),
    ServedRoute("/health", "GET", HealthRoute, keyed=False, while_draining=True),
    ServedRoute("/metrics", "GET", MetricsRoute, while_draining=True),
    ServedRoute("/openapi.json", "GET", None),
)

_EXACT = {route.path: route for route in ROUTE_TABLE if "{" not in route.path}
_PREFIXED = [(route.path.partition("{")[0], route) for route in ROUTE_TABLE if "{" in route.path]


def route_of(path: str) -> ServedRoute | None:
    """The table's route for a request path, or None for a path the server does not serve."""
    route = _EXACT.get(path)
    if route is not None:
        return route
    return next((route for prefix, route in _PREFIXED if path.startswith(prefix)), None)


def metrics_label(route: ServedRoute | None) -> str:
    """A route's name in the metrics; "other" for every path the table does not hold."""
    return route.label if route is not None else "other"
