"""``create_app``: the OpenAI-compatible FastAPI application over one engine."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from infercore._engine import Engine
from infercore._openai import APIError
from infercore._server._guard import Guard
from infercore._server._openapi import OpenAPIRoute, add_openai_routes
from infercore._server._settings import ServerSettings
from infercore._server._state import ServerState
from infercore._server._table import ROUTE_TABLE
from infercore._version import __version__

__all__ = ["OpenAIApp", "create_app"]


async def _http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own errors (no such route, wrong method) in the OpenAI shape."""
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code)
    error = APIError(
        exc.status_code, f"{request.method} {request.url.path}: {exc.detail}", code=code
    )
    return Response(
        error.body(), exc.status_code, headers=exc.headers, media_type="application/json"
    )


class OpenAIApp(FastAPI):
    """FastAPI, with the generation routes served ahead of its middleware stack.

    Every route is registered as usual (so routing, 405s and added routes
    work as in any FastAPI app), behind :class:`Guard`. A ``POST`` to a
    generation route, the server's hot path, goes straight to the guard and
    its endpoint instead: the framework's layers (error, telemetry and
    body-limit middleware, exception handlers, the router) would cost more
    per request than the route itself. Those routes answer every error
    themselves, so nothing is lost; middleware added to the app does not
    see them.
    """

    def __init__(self, state: ServerState) -> None:
        # FastAPI's own documentation routes would be added outside the key's guard:
        # /openapi.json is this app's route instead (see create_app), and no docs pages.
        super().__init__(
            title="infercore",
            version=__version__,
            docs_url=None,
            redoc_url=None,
            openapi_url=None,
        )
        self.state.infercore = state
        self._direct: dict[str, ASGIApp] = {}

    def openapi(self) -> dict[str, Any]:
        """FastAPI's document (routes added with its decorators) and the OpenAI routes.

        Built on the first call and kept, as FastAPI keeps its own.
        """
        if self.openapi_schema is None:
            document = super().openapi()
            state: ServerState = self.state.infercore
            add_openai_routes(document, keyed=state.settings.api_key is not None)
            self.openapi_schema = document
        return self.openapi_schema

    def add_generation_route(self, path: str, endpoint: ASGIApp) -> None:
        state: ServerState = self.state.infercore
        self._direct[path] = Guard(endpoint, state)
        self.router.routes.append(Route(path, endpoint, methods=["POST"]))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            direct = self._direct.get(scope["path"])
            if direct is not None:
                await direct(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


def create_app(engine: Engine, settings: ServerSettings | None = None) -> FastAPI:
    """The OpenAI-compatible app serving ``engine``, under ``settings``.

    Routes: those of ``ROUTE_TABLE`` (``POST /v1/chat/completions``,
    ``POST /v1/completions``, ``GET /v1/models``, ``GET /v1/models/{model}``,
    ``GET /health``, ``GET /metrics``, ``GET /openapi.json``). It must run on
    the engine's own event loop (see :func:`infercore._server.serve`): the
    routes call the engine directly.
    Raises :class:`InfercoreError` for settings the engine cannot serve.
    """
    state = ServerState.create(engine, settings or ServerSettings())
    app = OpenAIApp(state)
    for route in ROUTE_TABLE:
        endpoint = OpenAPIRoute(app.openapi) if route.endpoint is None else route.endpoint(state)
        if route.generation:
            app.add_generation_route(route.path, endpoint)
        else:
            app.router.routes.append(Route(route.path, endpoint, methods=[route.method]))
    app.add_exception_handler(HTTPException, _http_error)
    app.add_middleware(Guard, state=state)
    return app
