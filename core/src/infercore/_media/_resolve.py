"""Host names to addresses, once per fetch hop, off the event loop."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Sequence

from infercore._media._addresses import IPAddress
from infercore._media._errors import MediaFetchError

__all__ = ["Resolver", "resolve_host"]

#: ``(host, port) -> addresses``; the fetcher calls it once per hop and connects only to
#: what it returned (tests pass their own to map names without DNS).
Resolver = Callable[[str, int], Awaitable[Sequence[IPAddress]]]


async def resolve_host(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to for TCP, in the resolver's order, without repeats.

    An IP literal is returned as it is, without a lookup. ``getaddrinfo`` blocks, so it runs
    in a thread. A name that does not resolve raises :class:`MediaFetchError`.
    """
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = await asyncio.to_thread(
            socket.getaddrinfo, host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
        )
    except (socket.gaierror, UnicodeError) as exc:
        raise MediaFetchError(
            f"could not resolve the media host {host!r}: {exc}", reason="fetch_failed"
        ) from exc
    addresses: dict[IPAddress, None] = {}
    for family, _, _, _, sockaddr in infos:
        if family in (socket.AF_INET, socket.AF_INET6):
            # A scoped IPv6 address ("fe80::1%eth0") keeps its scope; it is link-local anyway.
            addresses[ipaddress.ip_address(sockaddr[0])] = None
    if not addresses:
        raise MediaFetchError(
            f"the media host {host!r} has no IPv4 or IPv6 address", reason="fetch_failed"
        )
    return list(addresses)
