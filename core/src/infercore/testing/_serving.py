"""Running the real ``infercore deploy`` (or another OpenAI-compatible server) in a subprocess,
or the server's app over an engine already built, in this process.

For tests and benchmarks: the server listens on a free loopback port until
the ``with`` block ends, then gets SIGTERM (or, in this process, stops), as a
deployment would.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from infercore._engine import Engine
    from infercore._server import ServerSettings

__all__ = ["INFERCORE_COMMAND", "deployed", "free_port", "server_env", "serving_engine"]

# The console script beside this interpreter; `python -m infercore` where there is none.
_SCRIPT = shutil.which("infercore", path=str(Path(sys.executable).parent))
INFERCORE_COMMAND = [_SCRIPT] if _SCRIPT else [sys.executable, "-m", "infercore"]


def server_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This environment with plugin autoload on (the core's own tests switch it off)."""
    environment = {**os.environ, "PYTHONUNBUFFERED": "1", "HF_HUB_OFFLINE": "1"}
    environment.pop("INFERCORE_PLUGINS", None)
    environment.pop("INFERCORE_DISABLE_PLUGINS", None)
    environment.update(extra or {})
    return environment


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _healthy(url: str, path: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}{path}", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


#: How often a server whose port was taken before it bound it is started again.
_PORT_TRIES = 3


@contextlib.contextmanager
def deployed(
    *args: str,
    command: list[str] | None = None,
    env: Mapping[str, str] | None = None,
    start_timeout: float = 120.0,
    ready_path: str = "/health",
) -> Iterator[str]:
    """``infercore deploy ARGS`` (or ``command ARGS``) on a free loopback port; yields its URL.

    ``command`` runs another server that takes ``--host`` and ``--port``, such
    as vLLM's own (or ``infercore app``). ``env`` adds to this process's environment; the
    server is up once ``ready_path`` answers 200. The port is free
    when chosen, but a process may take it before the server binds it (an engine
    that opens ports of its own while it starts, say): then the server is started
    again on another port.
    """
    server = command or [*INFERCORE_COMMAND, "deploy"]
    for attempt in range(1, _PORT_TRIES + 1):
        with _started(server, args, env, start_timeout, ready_path) as (url, log):
            if url is not None:
                yield url
                return
            if "address already in use" not in log or attempt == _PORT_TRIES:
                raise RuntimeError(f"the server did not come up:\n{log[-4000:]}")


@contextlib.contextmanager
def _started(
    server: list[str],
    args: tuple[str, ...],
    env: Mapping[str, str] | None,
    timeout: float,
    ready_path: str,
) -> Iterator[tuple[str | None, str]]:
    """The server on a free port: its URL once healthy, or None and its log if it exited or
    timed out; stopped with SIGTERM when the block ends."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryFile("w+") as log:
        process = subprocess.Popen(
            [*server, "--host", "127.0.0.1", "--port", str(port), *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=server_env(env),
            text=True,
        )
        try:
            deadline = time.monotonic() + timeout
            while not _healthy(url, ready_path):
                if process.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    yield None, log.read()
                    return
                time.sleep(0.1)
            yield url, ""
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


@contextlib.contextmanager
def serving_engine(engine: Engine, settings: ServerSettings | None = None) -> Iterator[str]:
    """``engine`` behind the server's app (``create_app``), under uvicorn on the engine's
    own loop, as ``infercore deploy`` runs it, on a free loopback port; yields its URL.

    For an engine built in this process: no second model load. ``settings`` default
    to a server that trusts the engine's media limits.
    """
    import uvicorn

    from infercore._server import ServerSettings, create_app

    port = free_port()
    app = create_app(engine, settings or ServerSettings(trust_engine_media=True))
    config = uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="warning")
    server = uvicorn.Server(config)
    served = asyncio.run_coroutine_threadsafe(server.serve(), engine.loop)
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            if served.done() or time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start: {served.exception(timeout=0)!r}")
            time.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        served.result(timeout=30)
