"""Host names to addresses, once per fetch hop, in a thread pool of their own."""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from infercore._media._addresses import IPAddress
from infercore._media._errors import MediaFetchError

__all__ = ["DNS_THREADS", "Resolver", "ThreadedResolver"]

#: ``(host, port) -> addresses``; the fetcher calls it once per hop and connects only to
#: what it returned (tests pass their own to map names without DNS).
Resolver = Callable[[str, int], Awaitable[Sequence[IPAddress]]]

#: Lookups a fetcher runs at once; more wait for a free thread.
DNS_THREADS = 8


class ThreadedResolver:
    """``getaddrinfo`` in a bounded pool that nothing else uses.

    ``getaddrinfo`` blocks for as long as the DNS server takes to answer. In asyncio's
    default pool (a handful of threads on a small machine) a few slow names would stall
    every image decode and local read queued behind them; here they can only delay other
    lookups. ``close`` lets the threads go without waiting for lookups still in flight.
    """

    def __init__(self, max_threads: int = DNS_THREADS) -> None:
        self._pool = ThreadPoolExecutor(max_threads, thread_name_prefix="infercore-dns")

    async def __call__(self, host: str, port: int) -> list[IPAddress]:
        """Every address ``host`` resolves to for TCP, in the resolver's order, without repeats.

        An IP literal is returned as it is, without a lookup. A name that does not resolve
        raises :class:`MediaFetchError`.
        """
        try:
            return [ipaddress.ip_address(host)]
        except ValueError:
            pass
        lookup = functools.partial(
            socket.getaddrinfo, host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
        )
        try:
            infos = await asyncio.get_running_loop().run_in_executor(self._pool, lookup)
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

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
