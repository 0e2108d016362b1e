"""Running the server: uvicorn on the engine's own event loop, and a graceful shutdown.

The engine's loop thread runs uvicorn's ``Server.serve()``, so a request and
its generation share one loop and ``Engine.infer_async`` calls the backend
without a hop between threads. Signals reach only the main thread, which
here just waits for the server to end: its handlers hand each signal to the
loop. The first SIGTERM or SIGINT starts the drain (new requests get 503,
those in flight finish, up to ``shutdown_grace`` seconds), then the server
stops and the process exits 0; a second signal stops it at once.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from types import FrameType

import uvicorn

from infercore._engine import Engine
from infercore._server._app import create_app
from infercore._server._lifecycle import Lifecycle
from infercore._server._settings import ServerSettings
from infercore._server._state import ServerState

__all__ = ["serve"]

logger = logging.getLogger("infercore.server")

_SIGNALS = (signal.SIGINT, signal.SIGTERM)
# uvicorn's own wait for connections after the drain: the grace is spent by then.
_FINAL_WAIT_S = 1


class _Shutdown:
    """Turns signals, delivered on the loop, into a drain and then a stop."""

    def __init__(self, server: uvicorn.Server, lifecycle: Lifecycle, grace: float) -> None:
        self._server = server
        self._lifecycle = lifecycle
        self._grace = grace
        self._drain: asyncio.Task[None] | None = None

    def request(self, signum: int) -> None:
        if self._drain is None:
            name = signal.Signals(signum).name
            logger.info(
                "%s: draining; %d requests in flight get up to %g s, new ones get 503",
                name,
                self._lifecycle.in_flight,
                self._grace,
            )
            self._drain = asyncio.get_running_loop().create_task(self._drain_then_stop())
        else:
            logger.info("second signal: stopping now")
            self._server.force_exit = True
            self._server.should_exit = True

    async def _drain_then_stop(self) -> None:
        if not await self._lifecycle.drain(self._grace):
            logger.warning(
                "%d requests still in flight after the %g s grace; they are cancelled",
                self._lifecycle.in_flight,
                self._grace,
            )
        self._server.should_exit = True


async def _serve(server: uvicorn.Server) -> int:
    try:
        await server.serve()
    except SystemExit as exc:
        # uvicorn exits this way when it cannot start (a port in use): it must
        # not escape, or it would stop the engine's loop under the main thread.
        return exc.code if isinstance(exc.code, int) else 1
    return 0 if server.started else 1


def _configure_logging(level: str) -> None:
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s:     %(message)s"))
        logger.addHandler(handler)
        logger.propagate = False
    logger.setLevel(level.upper())


def serve(engine: Engine, settings: ServerSettings) -> int:
    """Serve ``engine`` over HTTP until a signal stops it; returns the exit status.

    Call it from the main thread (signals are delivered there). The engine
    stays open; closing it is the caller's.
    """
    _configure_logging(settings.log_level)
    app = create_app(engine, settings)
    state: ServerState = app.state.infercore
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        access_log=settings.access_log,
        lifespan="off",
        server_header=False,
        # X-Forwarded-* rewriting costs every request and nothing here reads the client address.
        proxy_headers=False,
        timeout_graceful_shutdown=_FINAL_WAIT_S,
    )
    server = uvicorn.Server(config)
    shutdown = _Shutdown(server, state.lifecycle, settings.shutdown_grace)
    loop = engine.loop

    def on_signal(signum: int, frame: FrameType | None) -> None:
        loop.call_soon_threadsafe(shutdown.request, signum)

    previous = {sig: signal.signal(sig, on_signal) for sig in _SIGNALS}
    try:
        return engine.run_on_loop(_serve(server))
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
