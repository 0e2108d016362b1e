"""A folder served over real HTTP on loopback, for media given by URL in tests."""

from __future__ import annotations

import contextlib
import http.server
import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path

__all__ = ["serving_folder"]


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        """Tests read their own output; the access log stays out of it."""


@contextlib.contextmanager
def serving_folder(folder: Path) -> Iterator[str]:
    """Serve ``folder``'s files on 127.0.0.1 until the block ends; yields the base URL.

    A server refuses loopback media unless told otherwise (for example
    ``--allowed-media-networks 127.0.0.0/8``); the Python API allows it.
    """
    handler = partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
