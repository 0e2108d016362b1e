"""DNS in the fetcher's own threads: names that never answer stall no other media."""

from __future__ import annotations

import asyncio
import base64
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from media_files import png_bytes
from media_server import MediaServer

from infercore._media import MediaFetcher, MediaFetchError, MediaLimits, load_image
from infercore._media._resolve import DNS_THREADS, ThreadedResolver

SLOW = ".slow.test"


@pytest.fixture
def stalled_dns(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """Lookups of ``*.slow.test`` block until the test lets them fail."""
    answer = threading.Event()
    guarded = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if str(host).endswith(SLOW):
            answer.wait(30)
            raise socket.gaierror(socket.EAI_AGAIN, "test: the DNS server never answered")
        return guarded(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield answer
    answer.set()


async def test_stalled_lookups_leave_decoding_and_other_fetches_running(
    stalled_dns: threading.Event, media_server: MediaServer, loopback_limits: MediaLimits
) -> None:
    inline = "data:image/png;base64," + base64.b64encode(png_bytes()).decode()
    async with MediaFetcher(loopback_limits) as fetcher:
        # More stalled names than asyncio's default pool has threads on any machine here.
        stalled = [
            asyncio.create_task(fetcher.fetch(f"http://host{i}{SLOW}/a.png", "image"))
            for i in range(3 * DNS_THREADS)
        ]
        await asyncio.sleep(0.2)
        async with asyncio.timeout(10):
            image = await load_image(inline, loopback_limits)
            fetched = await fetcher.fetch(media_server.url("/image.png"), "image")
        assert image.size == (40, 30)
        assert fetched == media_server.files["/image.png"][0]
        assert not any(task.done() for task in stalled)
        stalled_dns.set()
        failures = await asyncio.gather(*stalled, return_exceptions=True)
    assert all(isinstance(failure, MediaFetchError) for failure in failures)
    assert all("never answered" in str(failure) for failure in failures)


async def test_the_resolver_answers_literals_without_a_lookup_and_names_through_dns() -> None:
    resolver = ThreadedResolver(max_threads=1)
    try:
        assert [str(a) for a in await resolver("127.0.0.1", 80)] == ["127.0.0.1"]
        assert [str(a) for a in await resolver("::1", 80)] == ["::1"]
        assert all(a.is_loopback for a in await resolver("localhost", 80))
    finally:
        resolver.close()
