"""Shared setup for the media tests: a loopback-only network guard, media files, a test server.

Every test here runs under :func:`loopback_only`: a connection or a name lookup for anything
other than the loopback interface fails the test (and is recorded), so a refused address
such as ``10.0.0.1`` is provably never contacted, and no test can reach the internet.

The test server is a real HTTP server on 127.0.0.1 (a thread, stdlib ``http.server``) that
serves media, redirects (to itself, to private addresses, to ``file:``), bodies over the
cap, a drip-feed, a gzip bomb and a decompression-bomb PNG.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from media_files import audio_bytes, bomb_png, png_bytes, video_bytes
from media_server import LOOPBACK, MediaServer, NetworkLog, TlsSetup, serve

from infercore._media import MediaLimits

# -- the network guard ------------------------------------------------------------------


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        pass
    else:
        mapped = getattr(address, "ipv4_mapped", None)
        return (mapped or address).is_loopback
    # Numeric forms the system resolver reads as IPv4 ("127.1", "2130706433", "0x7f.0.0.1").
    try:
        return socket.inet_aton(host)[0] == 127
    except OSError:
        return False


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> NetworkLog:
    """Refuse (and record) every connection and lookup that is not for loopback."""
    log = NetworkLog()
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def check(address: Any) -> None:
        if isinstance(address, tuple):
            log.connects.append(str(address[0]))
            if not _is_loopback(str(address[0])):
                raise ConnectionRefusedError(f"test guard: no connections to {address[0]}")

    def connect(self: socket.socket, address: Any) -> None:
        check(address)
        real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        check(address)
        return real_connect_ex(self, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host)
        log.lookups.append(name)
        if not _is_loopback(name):
            raise socket.gaierror(socket.EAI_NONAME, f"test guard: no lookups of {name}")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return log


@pytest.fixture(scope="session")
def media_files() -> dict[str, tuple[bytes, str]]:
    """What the test server serves by path: bytes and content type."""
    return {
        "/image.png": (png_bytes(), "image/png"),
        "/bomb.png": (bomb_png(30000, 30000), "image/png"),
        "/video.mp4": (video_bytes(), "video/mp4"),
        "/audio.wav": (audio_bytes(), "audio/wav"),
    }


@pytest.fixture(scope="session")
def media_server(media_files: dict[str, tuple[bytes, str]]) -> Iterator[MediaServer]:
    """The plain-HTTP test server on 127.0.0.1, shared by the session."""
    yield from serve(MediaServer("127.0.0.1", 0, media_files))


@pytest.fixture(scope="session")
def tls_server(
    media_files: dict[str, tuple[bytes, str]], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TlsSetup]:
    """An HTTPS test server with a self-signed certificate for ``media.test`` only."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    try:
        subprocess.run(
            [
                "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                "-subj", "/CN=media.test", "-addext", "subjectAltName=DNS:media.test",
                "-keyout", str(key), "-out", str(cert),
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )  # fmt: skip
    except (FileNotFoundError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"openssl could not make a test certificate: {exc}")
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert, key)
    client_context = ssl.create_default_context(cafile=str(cert))
    for server in serve(MediaServer("127.0.0.1", 0, media_files), tls=server_context):
        yield TlsSetup(server, client_context)


# -- limits and helpers --------------------------------------------------------------------


@pytest.fixture
def loopback_limits() -> MediaLimits:
    """The default limits, but 127.0.0.1 (only) may be fetched from, for the test server."""
    return MediaLimits(allowed_networks=(LOOPBACK,))


@pytest.fixture
def chdir_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path
