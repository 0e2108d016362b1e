"""``infercore.testing.deployed``: a server whose port was taken first starts on another."""

from __future__ import annotations

import socket
import urllib.request
from collections.abc import Iterator

import pytest

from infercore.testing import _serving, deployed, free_port

pytest.importorskip("fastapi", reason="the server needs 'infercore[serve]'")


def test_a_taken_port_is_left_for_another(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        ports: Iterator[int] = iter([busy, free_port()])
        monkeypatch.setattr(_serving, "free_port", lambda: next(ports))

        with (
            deployed("--model", "m", "--backend", "echo") as url,
            urllib.request.urlopen(f"{url}/health", timeout=5) as health,
        ):
            assert health.status == 200

    assert not url.endswith(f":{busy}")


def test_a_server_that_fails_otherwise_is_reported_at_once() -> None:
    with (
        pytest.raises(RuntimeError, match="unknown backend 'nope'"),
        deployed("--model", "m", "--backend", "nope"),
    ):
        pass
