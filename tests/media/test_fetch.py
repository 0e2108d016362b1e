"""The safe fetcher against a real HTTP server on 127.0.0.1.

Each refusal is checked by its error reason, and after it the same server still serves
an image. The loopback guard (conftest) proves that refused addresses are never contacted.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import httpx
import pytest
from media_server import LOOPBACK, MediaServer, NetworkLog, TlsSetup, fixed_resolver

from infercore._media import (
    MediaError,
    MediaFetcher,
    MediaFetchError,
    MediaLimits,
    MediaRefusedError,
    MediaTimeoutError,
    MediaTooLargeError,
)

CAP = 64 * 1024


@pytest.fixture
async def fetcher(loopback_limits: MediaLimits) -> AsyncIterator[MediaFetcher]:
    """A fetcher that may reach 127.0.0.1 (the test server) and nothing else non-global."""
    limits = loopback_limits.model_copy(update={"image_max_bytes": CAP})
    async with MediaFetcher(limits) as fetcher:
        yield fetcher


async def still_serving(media_server: MediaServer, fetcher: MediaFetcher) -> None:
    expected = media_server.files["/image.png"][0]
    assert await fetcher.fetch(media_server.url("/image.png"), "image") == expected


async def test_fetches_an_image(media_server: MediaServer, fetcher: MediaFetcher) -> None:
    await still_serving(media_server, fetcher)
    assert media_server.requests[-1] == ("/image.png", f"127.0.0.1:{media_server.port}")


async def test_loopback_is_refused_by_default_without_a_request(
    media_server: MediaServer, loopback_only: NetworkLog
) -> None:
    before = len(media_server.requests)
    async with MediaFetcher() as default:
        for url in (media_server.url("/image.png"), f"http://localhost:{media_server.port}/x"):
            with pytest.raises(MediaRefusedError) as refused:
                await default.fetch(url, "image")
            assert refused.value.reason == "address_not_allowed"
            assert "loopback" in str(refused.value)
    assert len(media_server.requests) == before
    assert loopback_only.connects == []


@pytest.mark.parametrize("host", ["127.1", "2130706433", "0x7f.0.0.1", "[::ffff:7f00:1]"])
async def test_other_spellings_of_loopback_are_judged_by_the_address(
    media_server: MediaServer, loopback_limits: MediaLimits, host: str
) -> None:
    url = f"http://{host}:{media_server.port}/image.png"
    async with MediaFetcher() as default:
        with pytest.raises(MediaRefusedError) as refused:
            await default.fetch(url, "image")
        assert refused.value.reason == "address_not_allowed"
    if host.startswith("["):
        return  # reaching an IPv4 server through IPv6 needs a dual-stack host
    # They do name the test server: with loopback allowed, the same URL is fetched.
    async with MediaFetcher(loopback_limits) as allowed:
        assert await allowed.fetch(url, "image") == media_server.files["/image.png"][0]


async def test_follows_redirects_to_itself(
    media_server: MediaServer, fetcher: MediaFetcher
) -> None:
    body = await fetcher.fetch(media_server.url("/redirect/image"), "image")
    assert body == media_server.files["/image.png"][0]
    assert media_server.paths()[-2:] == ["/redirect/image", "/image.png"]
    chain = await fetcher.fetch(media_server.url("/redirect/chain/4"), "image")
    assert chain == body


@pytest.mark.parametrize(
    ("location", "reason"),
    [
        ("http://10.0.0.1/x", "address_not_allowed"),
        ("http://192.168.1.1:8080/x.png", "address_not_allowed"),
        ("http://169.254.169.254/latest/meta-data/", "address_not_allowed"),
        ("http://[::ffff:10.0.0.1]/x", "address_not_allowed"),
        ("http://[fe80::1]/x", "address_not_allowed"),
        ("http://0.0.0.0/x", "address_not_allowed"),
        ("file:///etc/passwd", "scheme_not_allowed"),
        ("ftp://127.0.0.1/x", "scheme_not_allowed"),
    ],
)
async def test_redirects_are_checked_again_at_each_hop(
    media_server: MediaServer,
    fetcher: MediaFetcher,
    loopback_only: NetworkLog,
    location: str,
    reason: str,
) -> None:
    url = str(httpx.URL(media_server.url("/redirect/to"), params={"url": location}))
    with pytest.raises(MediaRefusedError) as refused:
        await fetcher.fetch(url, "image")
    assert refused.value.reason == reason
    # Refused without connecting or even looking anything up: only the test server was reached.
    assert set(loopback_only.connects) == {"127.0.0.1"}
    for address in ("10.0.0.1", "192.168.1.1", "169.254.169.254", "fe80::1", "0.0.0.0"):
        assert not loopback_only.contacted(address)
    await still_serving(media_server, fetcher)


async def test_the_metadata_address_stays_refused_even_with_private_addresses_allowed(
    media_server: MediaServer, loopback_only: NetworkLog
) -> None:
    location = "http://169.254.169.254/latest/meta-data/"
    url = str(httpx.URL(media_server.url("/redirect/to"), params={"url": location}))
    async with MediaFetcher(MediaLimits(allow_private_addresses=True)) as fetcher:
        with pytest.raises(MediaRefusedError, match="link-local") as refused:
            await fetcher.fetch(url, "image")
        assert refused.value.reason == "address_not_allowed"
        assert not loopback_only.contacted("169.254.169.254")
        await still_serving(media_server, fetcher)


async def test_too_many_redirects(media_server: MediaServer, loopback_limits: MediaLimits) -> None:
    async with MediaFetcher(loopback_limits.model_copy(update={"max_redirects": 2})) as fetcher:
        await fetcher.fetch(media_server.url("/redirect/chain/2"), "image")
        for path in ("/redirect/chain/3", "/redirect/loop"):
            with pytest.raises(MediaRefusedError) as refused:
                await fetcher.fetch(media_server.url(path), "image")
            assert refused.value.reason == "too_many_redirects"
        await still_serving(media_server, fetcher)


@pytest.mark.parametrize("length", ["yes", "no"])
async def test_a_body_over_the_cap_is_refused(
    media_server: MediaServer, fetcher: MediaFetcher, length: str
) -> None:
    url = media_server.url(f"/big?size={50 * CAP}&length={length}")
    with pytest.raises(MediaTooLargeError) as too_large:
        await fetcher.fetch(url, "image")
    assert too_large.value.reason == "too_large"
    assert too_large.value.status == 413
    assert f"{CAP} bytes" in str(too_large.value)
    # Exactly at the cap is fine.
    assert len(await fetcher.fetch(media_server.url(f"/big?size={CAP}&length=no"), "image")) == CAP
    await still_serving(media_server, fetcher)


async def test_a_gzip_bomb_is_refused_while_decompressing(
    media_server: MediaServer, fetcher: MediaFetcher
) -> None:
    # 20 MiB of zeros gzip to ~20 KiB: the cap must hold for the decoded size.
    with pytest.raises(MediaTooLargeError) as too_large:
        await fetcher.fetch(media_server.url(f"/gzip-bomb?size={20 * 1024 * 1024}"), "image")
    assert too_large.value.reason == "too_large"
    small = await fetcher.fetch(media_server.url("/gzip-bomb?size=1000"), "image")
    assert small == b"\0" * 1000


async def test_a_server_that_drips_is_cut_off_at_the_deadline(
    media_server: MediaServer, loopback_limits: MediaLimits
) -> None:
    limits = loopback_limits.model_copy(update={"image_timeout_s": 0.5})
    async with MediaFetcher(limits) as fetcher:
        started = time.monotonic()
        with pytest.raises(MediaTimeoutError) as slow:
            await fetcher.fetch(media_server.url("/drip"), "image")
        assert time.monotonic() - started < 3
        assert slow.value.reason == "fetch_timeout"
        assert slow.value.status == 400
        assert "0.5 s" in str(slow.value)
        await still_serving(media_server, fetcher)


async def test_upstream_errors(media_server: MediaServer, fetcher: MediaFetcher) -> None:
    with pytest.raises(MediaFetchError, match="answered 404") as missing:
        await fetcher.fetch(media_server.url("/nothing-here"), "image")
    assert missing.value.reason == "fetch_failed"
    # A port nobody listens on: the connection is refused.
    with pytest.raises(MediaFetchError, match="could not connect") as refused:
        await fetcher.fetch("http://127.0.0.1:9/x", "image")
    assert refused.value.reason == "fetch_failed"
    await still_serving(media_server, fetcher)


async def test_the_connection_goes_to_the_address_checked_once(
    media_server: MediaServer, loopback_only: NetworkLog
) -> None:
    # The resolver answers 127.0.0.1 first and 10.0.0.1 after that: a rebinding attack.
    calls: list[str] = []
    answers = iter([["127.0.0.1"], ["10.0.0.1"], ["10.0.0.1"]])

    async def rebinding(host: str, port: int) -> list[object]:
        calls.append(host)
        return await fixed_resolver({host: next(answers)})(host, port)  # type: ignore[no-any-return]

    async with MediaFetcher(MediaLimits(allowed_networks=(LOOPBACK,)), resolver=rebinding) as f:
        body = await f.fetch(f"http://media.test:{media_server.port}/image.png", "image")
    assert body == media_server.files["/image.png"][0]
    assert calls == ["media.test"]  # resolved once, and the checked answer was used
    assert media_server.requests[-1] == ("/image.png", f"media.test:{media_server.port}")
    assert not loopback_only.contacted("10.0.0.1")
    assert "media.test" not in loopback_only.lookups  # never handed to the system resolver


async def test_a_name_with_any_refused_address_is_refused(
    media_server: MediaServer, loopback_only: NetworkLog
) -> None:
    resolver = fixed_resolver({"mixed.test": ["127.0.0.1", "10.0.0.1"]})
    async with MediaFetcher(MediaLimits(allowed_networks=(LOOPBACK,)), resolver=resolver) as f:
        with pytest.raises(MediaRefusedError, match=r"mixed\.test resolves to 10\.0\.0\.1") as r:
            await f.fetch(f"http://mixed.test:{media_server.port}/image.png", "image")
    assert r.value.reason == "address_not_allowed"
    assert loopback_only.connects == []


async def test_allowed_media_domains(media_server: MediaServer) -> None:
    port = media_server.port
    table = {name: ["127.0.0.1"] for name in ("media.test", "cdn.media.test", "evil.test")}
    limits = MediaLimits(allowed_networks=(LOOPBACK,), allowed_media_domains=("media.test",))
    async with MediaFetcher(limits, resolver=fixed_resolver(table)) as fetcher:
        await fetcher.fetch(f"http://media.test:{port}/image.png", "image")
        await fetcher.fetch(f"http://cdn.media.test:{port}/image.png", "image")
        for url in (
            f"http://evil.test:{port}/image.png",
            f"http://127.0.0.1:{port}/image.png",
            # An allowed host redirecting to a host that is not allowed.
            str(
                httpx.URL(
                    f"http://media.test:{port}/redirect/to",
                    params={"url": f"http://evil.test:{port}/image.png"},
                )
            ),
        ):
            with pytest.raises(MediaRefusedError) as refused:
                await fetcher.fetch(url, "image")
            assert refused.value.reason == "domain_not_allowed"
    assert not any(host.startswith("evil.test") for _, host in media_server.requests)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("file:///etc/passwd", "scheme_not_allowed"),
        ("ftp://127.0.0.1/x", "scheme_not_allowed"),
        ("http://user:pw@127.0.0.1/x", "invalid_url"),
        ("not a url", "scheme_not_allowed"),
    ],
)
async def test_only_http_urls_are_fetched(fetcher: MediaFetcher, url: str, reason: str) -> None:
    with pytest.raises(MediaError) as refused:
        await fetcher.fetch(url, "image")
    assert refused.value.reason == reason


async def test_https_connects_to_the_checked_address_and_verifies_the_host_name(
    tls_server: TlsSetup,
) -> None:
    server, port = tls_server.server, tls_server.server.port
    resolver = fixed_resolver({"media.test": ["127.0.0.1"], "other.test": ["127.0.0.1"]})
    limits = MediaLimits(allowed_networks=(LOOPBACK,))
    async with MediaFetcher(limits, resolver=resolver, verify=tls_server.client_context) as fetcher:
        # The request went to 127.0.0.1, with SNI and the certificate check for media.test.
        body = await fetcher.fetch(f"https://media.test:{port}/image.png", "image")
        assert body == server.files["/image.png"][0]
        assert server.requests[-1] == ("/image.png", f"media.test:{port}")
        # Same address, another name: the certificate (for media.test only) does not match.
        with pytest.raises(MediaFetchError) as mismatch:
            await fetcher.fetch(f"https://other.test:{port}/image.png", "image")
        assert mismatch.value.reason == "fetch_failed"
        assert (
            "other.test" in str(mismatch.value.__cause__)
            or "certificate" in str(mismatch.value).lower()
        )
        # And the IP itself is not a name the certificate holds either.
        with pytest.raises(MediaFetchError):
            await fetcher.fetch(f"https://127.0.0.1:{port}/image.png", "image")
        assert await fetcher.fetch(f"https://media.test:{port}/image.png", "image") == body
