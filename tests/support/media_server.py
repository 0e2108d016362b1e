"""A real HTTP(S) server on 127.0.0.1, in a thread, that serves media and misbehaves on cue.

Routes: the files it was given (by path); ``/redirect/image`` (to ``/image.png``);
``/redirect/chain/N`` (N hops, then the image); ``/redirect/to?url=U&status=S``;
``/redirect/loop``; ``/big?size=N[&length=no]`` (N zero bytes, with or without
Content-Length); ``/gzip-bomb?size=N`` (N zeros, gzip-encoded); ``/drip`` (a byte every
50 ms); anything else is 404. Every request is recorded with its Host header.
"""

from __future__ import annotations

import contextlib
import gzip
import ipaddress
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class MediaServer:
    """The running test server: its base URL, what it serves, and what it was asked."""

    host: str
    port: int
    files: dict[str, tuple[bytes, str]]
    requests: list[tuple[str, str]] = field(default_factory=list)  # (path, Host header)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.port}"

    def url(self, path: str) -> str:
        return self.base + path

    def paths(self) -> list[str]:
        with self.lock:
            return [path for path, _ in self.requests]


def _handler(server: MediaServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        # HTTP/1.0: a body without Content-Length ends when the connection closes.
        protocol_version = "HTTP/1.0"

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None):
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            with server.lock:
                server.requests.append((parts.path, self.headers.get("Host", "")))
            # The fetcher hangs up on purpose when it refuses a body.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self._route(parts.path, query)

        def _route(self, path: str, query: dict[str, str]) -> None:
            if path in server.files:
                body, kind = server.files[path]
                headers = {"Content-Type": kind, "Content-Length": str(len(body))}
                self._send(200, body, headers)
            elif path == "/redirect/image":
                self._send(302, headers={"Location": "/image.png"})
            elif path.startswith("/redirect/chain/"):
                left = int(path.rsplit("/", 1)[1])
                target = "/image.png" if left <= 1 else f"/redirect/chain/{left - 1}"
                self._send(302, headers={"Location": target})
            elif path == "/redirect/to":
                self._send(int(query.get("status", "302")), headers={"Location": query["url"]})
            elif path == "/redirect/loop":
                self._send(307, headers={"Location": "/redirect/loop"})
            elif path == "/big":
                size = int(query["size"])
                headers = {"Content-Type": "image/png"}
                if query.get("length", "yes") == "yes":
                    headers["Content-Length"] = str(size)
                self.send_response(200)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                chunk = b"\0" * 65536
                for _ in range(0, size, len(chunk)):
                    self.wfile.write(chunk)
            elif path == "/gzip-bomb":
                body = gzip.compress(b"\0" * int(query["size"]))
                headers = {
                    "Content-Type": "image/png",
                    "Content-Encoding": "gzip",
                    "Content-Length": str(len(body)),
                }
                self._send(200, body, headers)
            elif path == "/drip":
                self.send_response(200)
                self.send_header("Content-Length", "100000")
                self.end_headers()
                # One byte every 50 ms: never idle long enough for a read timeout.
                for _ in range(100000):
                    self.wfile.write(b"\0")
                    self.wfile.flush()
                    time.sleep(0.05)
            else:
                self._send(404, b"not found", {"Content-Length": "9"})

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def serve(server: MediaServer, tls: ssl.SSLContext | None = None) -> Iterator[MediaServer]:
    httpd = _Server(("127.0.0.1", 0), _handler(server))
    if tls is not None:
        httpd.socket = tls.wrap_socket(httpd.socket, server_side=True)
    server.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield server
    finally:
        httpd.shutdown()
        httpd.server_close()


#: The only network the tests open to the fetcher (the test server's).
LOOPBACK = "127.0.0.1/32"


def fixed_resolver(
    table: dict[str, list[str]], calls: list[str] | None = None
) -> Callable[[str, int], Any]:
    """A resolver from a table (no DNS), recording the names it was asked for."""

    async def resolve(host: str, port: int) -> list[Any]:
        if calls is not None:
            calls.append(host)
        return [ipaddress.ip_address(address) for address in table[host]]

    return resolve


@dataclass
class NetworkLog:
    """Every address something in this process tried to connect to or look up."""

    connects: list[str] = field(default_factory=list)
    lookups: list[str] = field(default_factory=list)

    def contacted(self, address: str) -> bool:
        return any(address in entry for entry in self.connects + self.lookups)


@dataclass
class TlsSetup:
    server: MediaServer
    client_context: ssl.SSLContext
