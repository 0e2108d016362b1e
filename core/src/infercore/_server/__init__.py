"""The OpenAI-compatible HTTP server (``infercore deploy``); needs ``infercore[serve]``.

- ``_settings``: :class:`ServerSettings`, what an operator decides
- ``_protocol``: the request bodies, validated once, refusing what cannot be honoured
- ``_completions``: the ``text_completion`` shape made from the engine's chat shape
- ``_errors``: :class:`APIError`, the OpenAI error shape and its statuses
- ``_http``: plain-ASGI bodies, JSON, SSE and disconnect watching
- ``_routes``: the routes; ``_guard``: key, shutdown, in-flight count, status metrics
- ``_admission``: generation slots and the line for them (429 past both)
- ``_lifecycle``: draining for shutdown; ``_metrics``: the Prometheus metrics
- ``_models``: the served names; ``_state``: what the routes share
- ``_openapi``: the OpenAPI document of the routes, from their request models
- ``_app``: :func:`create_app`; ``_run``: :func:`serve`, uvicorn on the engine's loop
- ``_command``: the ``infercore deploy`` command

Only ``_command`` and ``_settings`` import without FastAPI, so the command can
say how to install it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from infercore._server._settings import ServerSettings

if TYPE_CHECKING:
    from infercore._server._app import create_app
    from infercore._server._run import serve

__all__ = ["ServerSettings", "create_app", "serve"]


def __getattr__(name: str) -> Any:
    # FastAPI and uvicorn are imported on first use, not with the package.
    if name == "create_app":
        from infercore._server._app import create_app

        return create_app
    if name == "serve":
        from infercore._server._run import serve

        return serve
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
