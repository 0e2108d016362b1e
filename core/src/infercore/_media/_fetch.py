"""``MediaFetcher``: http(s) media under the address, domain, redirect, byte and time rules."""

from __future__ import annotations

import asyncio
import ipaddress
import ssl
from collections.abc import Sequence
from types import TracebackType

import httpx

from infercore._media._addresses import IPAddress, check_address
from infercore._media._body import read_capped
from infercore._media._errors import (
    MediaFetchError,
    MediaRefusedError,
    MediaTimeoutError,
)
from infercore._media._limits import MediaLimits, Modality
from infercore._media._policy import MediaTarget, check_url
from infercore._media._resolve import Resolver, ThreadedResolver
from infercore._version import __version__

__all__ = ["MediaFetcher"]

_REDIRECTS = frozenset({301, 302, 303, 307, 308})


def _shown(url: str) -> str:
    # A data URI pasted where a URL was expected can be megabytes long.
    return url if len(url) <= 200 else url[:200] + "..."


class MediaFetcher:
    """Fetches media over http(s), safely enough for a server that fetches users' URLs.

    Per hop (the first request and each redirect, at most ``limits.max_redirects``):

    - the scheme must be http or https, the host in ``allowed_media_domains`` when set;
    - the host is resolved once, and every address it resolves to must be allowed (global,
      or opened by ``allow_private_addresses`` / ``allowed_networks``);
    - the request goes to a checked address itself, with the ``Host`` header and, for https,
      the TLS server name (SNI) set to the host, so the certificate is verified against the
      host name and a second DNS answer can never redirect the connection.

    Bytes are capped per modality (``Content-Length`` up front and counted while reading);
    time by ``connect_timeout_s``, ``read_timeout_s`` (the longest silence) and the
    modality's total deadline, which also ends a server that drips bytes slowly.

    Connections are not kept alive between fetches: a pooled TLS connection verified for
    one host name must never carry a request for another name on the same address.
    Proxy environment variables are ignored, since a proxy would do its own DNS.

    DNS runs in a small pool of the fetcher's own, apart from asyncio's default pool.
    ``resolver`` replaces DNS (tests map names without it); ``transport`` replaces httpx's
    (and with it ``verify``); ``verify`` is an SSL context for private CAs.
    """

    def __init__(
        self,
        limits: MediaLimits | None = None,
        *,
        resolver: Resolver | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        self.limits = limits if limits is not None else MediaLimits()
        # The fetcher's own pool for DNS, so slow names cannot stall media decoding.
        self._own_resolver: ThreadedResolver | None = None
        if resolver is None:
            resolver = self._own_resolver = ThreadedResolver()
        self._resolve: Resolver = resolver
        timeout = httpx.Timeout(
            connect=self.limits.connect_timeout_s,
            read=self.limits.read_timeout_s,
            write=self.limits.read_timeout_s,
            pool=self.limits.connect_timeout_s,
        )
        self._client = httpx.AsyncClient(
            transport=transport,
            verify=verify,
            trust_env=False,
            follow_redirects=False,
            timeout=timeout,
            limits=httpx.Limits(max_keepalive_connections=0),
            headers={
                "User-Agent": f"infercore/{__version__} (media fetcher)",
                # Compressed bodies are decoded under the cap (see _body), but plain is simplest.
                "Accept-Encoding": "identity",
            },
        )

    async def __aenter__(self) -> MediaFetcher:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP client and the DNS threads; the fetcher cannot be used afterwards."""
        await self._client.aclose()
        if self._own_resolver is not None:
            self._own_resolver.close()

    async def fetch(self, url: str, modality: Modality) -> bytes:
        """The body at ``url``, under ``modality``'s byte cap and total deadline.

        Raises a :class:`~infercore._media.MediaError`: ``MediaRefusedError`` (a URL,
        domain, address or redirect the rules refuse; nothing was sent to it),
        ``MediaTooLargeError``, ``MediaTimeoutError`` or ``MediaFetchError``.
        """
        deadline = self.limits.timeout_s(modality)
        try:
            async with asyncio.timeout(deadline):
                return await self._follow(url, self.limits.max_bytes(modality))
        except TimeoutError as exc:
            raise MediaTimeoutError(
                f"fetching the {modality} at {_shown(url)} took longer than its limit of "
                f"{deadline:g} s",
                reason="fetch_timeout",
            ) from exc
        except httpx.TimeoutException as exc:
            phase = "connecting to" if isinstance(exc, httpx.ConnectTimeout) else "reading"
            raise MediaTimeoutError(
                f"{phase} the {modality} at {_shown(url)} timed out ({type(exc).__name__})",
                reason="fetch_timeout",
            ) from exc
        except httpx.HTTPError as exc:
            raise MediaFetchError(
                f"fetching the {modality} at {_shown(url)} failed: {type(exc).__name__}: {exc}",
                reason="fetch_failed",
            ) from exc

    async def _follow(self, url: str, cap: int) -> bytes:
        current: str | httpx.URL = url
        for hop in range(self.limits.max_redirects + 1):
            try:
                target = check_url(current, self.limits.allowed_media_domains)
                addresses = await self._checked_addresses(target)
            except MediaRefusedError as exc:
                if hop == 0:
                    raise
                raise MediaRefusedError(
                    f"{exc.detail} (reached by a redirect from {_shown(url)})", reason=exc.reason
                ) from exc
            response = await self._open(target, addresses)
            try:
                if response.status_code in _REDIRECTS:
                    location = response.headers.get("location")
                    if not location:
                        raise MediaFetchError(
                            f"{target.url} redirected without a Location", reason="fetch_failed"
                        )
                    current = target.url.join(location)
                    continue
                if not response.is_success or response.status_code in (204, 206):
                    raise MediaFetchError(
                        f"the server at {target.host} answered {response.status_code} "
                        f"{response.reason_phrase} for {_shown(str(target.url))}",
                        reason="fetch_failed",
                    )
                return await read_capped(response, cap, _shown(str(target.url)))
            finally:
                await response.aclose()
        raise MediaRefusedError(
            f"fetching {_shown(url)} was redirected more than {self.limits.max_redirects} times",
            reason="too_many_redirects",
        )

    async def _checked_addresses(self, target: MediaTarget) -> Sequence[IPAddress]:
        """Resolve once (an IP literal is its own answer); refuse the host if any of its
        addresses is refused."""
        try:
            addresses: Sequence[IPAddress] = [ipaddress.ip_address(target.host)]
        except ValueError:
            addresses = await self._resolve(target.host, target.port)
        if not addresses:
            raise MediaFetchError(f"{target.host} resolved to no address", reason="fetch_failed")
        # Every address, not only the first: a name that mixes public and private answers
        # is how DNS rebinding reaches inside.
        for address in addresses:
            check_address(
                address,
                target.host,
                allow_private=self.limits.allow_private_addresses,
                allowed_networks=self.limits.allowed_networks,
            )
        return addresses

    async def _open(self, target: MediaTarget, addresses: Sequence[IPAddress]) -> httpx.Response:
        """Send the GET to the first checked address that accepts a connection."""
        extensions = {"sni_hostname": target.host} if target.is_https else {}
        failure: httpx.ConnectError | None = None
        for address in addresses:
            request = self._client.build_request(
                "GET",
                target.url.copy_with(host=str(address)),
                headers={"Host": target.host_header},
                extensions=extensions,
            )
            try:
                return await self._client.send(request, stream=True)
            except httpx.ConnectError as exc:
                failure = exc
        raise MediaFetchError(
            f"could not connect to the media host {target.host} "
            f"({', '.join(map(str, addresses))}): {failure}",
            reason="fetch_failed",
        )
