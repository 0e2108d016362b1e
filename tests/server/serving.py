"""Starting the real ``infercore deploy`` in a subprocess on a free loopback port.

Shared by the client and bench tests (and ``benchmarks/bench_server.py``
has its own copy of the few lines it needs, so it runs outside pytest).
"""

from __future__ import annotations

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
from collections.abc import Iterator
from pathlib import Path

# The console script next to this interpreter; `python -m infercore._cli` where there is none.
_SCRIPT = shutil.which("infercore", path=str(Path(sys.executable).parent))
COMMAND = [_SCRIPT] if _SCRIPT else [sys.executable, "-m", "infercore._cli"]
START_TIMEOUT_S = 90.0


def env() -> dict[str, str]:
    """This environment with plugin autoload on: the core's test conftest turns it off."""
    environment = {**os.environ, "PYTHONUNBUFFERED": "1", "HF_HUB_OFFLINE": "1"}
    environment.pop("INFERCORE_PLUGINS", None)
    environment.pop("INFERCORE_DISABLE_PLUGINS", None)
    return environment


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


@contextlib.contextmanager
def deployed(*args: str) -> Iterator[str]:
    """``infercore deploy ARGS --port P`` running until the block ends; yields its root URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryFile("w+") as log:
        process = subprocess.Popen(
            [*COMMAND, "deploy", "--host", "127.0.0.1", "--port", str(port), *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env(),
            text=True,
        )
        try:
            deadline = time.monotonic() + START_TIMEOUT_S
            while not _healthy(url):
                if process.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    raise RuntimeError(f"the server did not come up:\n{log.read()[-4000:]}")
                time.sleep(0.1)
            yield url
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
