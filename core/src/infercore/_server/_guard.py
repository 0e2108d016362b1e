"""The first stop of every HTTP request: API key, shutdown, in-flight count, status metrics."""

from __future__ import annotations

import hmac

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from infercore._openai import APIError
from infercore._server._http import CLIENT_GONE, send_error
from infercore._server._state import ServerState
from infercore._server._table import metrics_label, route_of

__all__ = ["Guard"]


class Guard:
    """ASGI middleware in front of every route.

    - 401 without the right ``Authorization: Bearer KEY`` (every route but
      ``/health``), the key compared in constant time;
    - 503 while the server drains for shutdown (but ``/health``, which says
      so itself, and ``/metrics``);
    - counts the requests in flight, which the drain waits for, and every
      response by route and status (``499``: the client left before its
      response was complete, as the route marks with ``CLIENT_GONE``; a
      stream cut off after its ``200`` status line included).
    """

    def __init__(self, app: ASGIApp, state: ServerState) -> None:
        self._app = app
        self._state = state
        key = state.settings.api_key
        self._key = key.encode() if key is not None else None

    def _authorized(self, scope: Scope) -> bool:
        if self._key is None:
            return True
        for name, value in scope["headers"]:
            if name == b"authorization":
                scheme, _, token = value.partition(b" ")
                # compare_digest takes as long whatever the token, so timing tells nothing.
                return scheme.lower() == b"bearer" and hmac.compare_digest(token.strip(), self._key)
        return False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)  # lifespan
            return
        served = route_of(scope["path"])
        route = metrics_label(served)
        metrics = self._state.metrics
        lifecycle = self._state.lifecycle
        error = None
        if (served is None or served.keyed) and not self._authorized(scope):
            error = APIError.unauthorized()
        elif lifecycle.draining and (served is None or not served.while_draining):
            error = APIError.shutting_down()
        if error is not None:
            await send_error(send, error)
            metrics.count_response(route, error.status)
            return

        status = 499
        complete = False

        async def counting_send(message: Message) -> None:
            nonlocal status, complete
            if message["type"] == "http.response.start":
                status = message["status"]
            elif not message.get("more_body", False):
                complete = True
            await send(message)

        lifecycle.enter()
        try:
            await self._app(scope, receive, counting_send)
        except Exception:
            if status == 499:
                status = 500  # the framework's error middleware answers it
            raise
        finally:
            lifecycle.leave()
            # A stream's status line goes out first: if the route marks that its
            # client left, the stream was cut off whatever that line said. Once the
            # response is complete, a disconnect seen later (uvicorn reports one as
            # soon as the last byte is sent) cut nothing off.
            if not complete and scope.get(CLIENT_GONE):
                status = 499
            metrics.count_response(route, status)
