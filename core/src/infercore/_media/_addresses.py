"""Which IP addresses media may be fetched from: pure functions, no network.

Only global unicast addresses are fetched from by default. IPv6 forms that carry an IPv4
address (IPv4-mapped ``::ffff:a.b.c.d``, IPv4-compatible ``::a.b.c.d``, NAT64
``64:ff9b::/96`` and 6to4 ``2002::/16``) are judged by the IPv4 address inside, so
``::ffff:127.0.0.1`` is loopback whatever the Python version's ``ipaddress`` says.
"""

from __future__ import annotations

from collections.abc import Sequence
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

from infercore._media._errors import MediaRefusedError

__all__ = ["IPAddress", "IPNetwork", "address_kind", "check_address", "is_address_allowed"]

IPAddress = IPv4Address | IPv6Address
IPNetwork = IPv4Network | IPv6Network

_NAT64 = IPv6Network("64:ff9b::/96")
_IPV4_COMPATIBLE = IPv6Network("::/96")

#: Kinds that ``allow_private_addresses`` opens. Link-local (the cloud metadata service at
#: 169.254.169.254 lives there), multicast, unspecified and reserved addresses stay closed:
#: an internal media store is never on them.
PRIVATE_KINDS = frozenset({"loopback", "private", "shared"})


def _embedded_ipv4(address: IPv6Address) -> IPv4Address | None:
    """The IPv4 address an IPv6 address stands for, where it stands for one."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64 or (address in _IPV4_COMPATIBLE and int(address) > 1):
        return IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _unwrap(address: IPAddress) -> IPAddress:
    if isinstance(address, IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            return embedded
    return address


def address_kind(address: IPAddress) -> str | None:
    """``None`` for a global unicast address; else what it is.

    One of ``"unspecified"``, ``"loopback"``, ``"link-local"``, ``"multicast"``,
    ``"private"``, ``"reserved"``, ``"shared"`` (100.64.0.0/10 and other non-global space).
    """
    address = _unwrap(address)
    # Order matters: 169.254.0.0/16 is also "private" to ipaddress, and must read link-local.
    if address.is_unspecified:
        return "unspecified"
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if address.is_multicast:
        return "multicast"
    # Before private, which to ipaddress includes 240.0.0.0/4 and 255.255.255.255.
    if address.is_reserved:
        return "reserved"
    if address.is_private:
        return "private"
    if not address.is_global:
        return "shared"
    return None


def is_address_allowed(
    address: IPAddress,
    *,
    allow_private: bool = False,
    allowed_networks: Sequence[IPNetwork] = (),
) -> bool:
    """Whether media may be fetched from ``address``.

    Global addresses are; others only when in ``allowed_networks``, or when
    ``allow_private`` and they are loopback, private or shared (see ``PRIVATE_KINDS``).
    """
    kind = address_kind(address)
    if kind is None:
        return True
    if allow_private and kind in PRIVATE_KINDS:
        return True
    candidates = {address, _unwrap(address)}
    return any(
        candidate.version == network.version and candidate in network
        for candidate in candidates
        for network in allowed_networks
    )


def check_address(
    address: IPAddress,
    host: str,
    *,
    allow_private: bool = False,
    allowed_networks: Sequence[IPNetwork] = (),
) -> None:
    """Raise :class:`MediaRefusedError` (``address_not_allowed``) unless allowed."""
    if is_address_allowed(address, allow_private=allow_private, allowed_networks=allowed_networks):
        return
    kind = f"a {address_kind(address)} address"
    if _unwrap(address) != address:
        kind += f" (IPv4 {_unwrap(address)} inside)"
    where = (
        f"{address} is {kind}" if host == str(address) else f"{host} resolves to {address}, {kind}"
    )
    raise MediaRefusedError(
        f"refused to fetch media: {where}; only global "
        "addresses are fetched from (allow_private_addresses or allowed_networks open others)",
        reason="address_not_allowed",
    )
