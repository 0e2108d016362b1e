"""Address rules as pure functions: nothing here connects anywhere."""

from __future__ import annotations

from ipaddress import ip_address, ip_network

import pytest

from infercore._media import MediaRefusedError, address_kind, is_address_allowed
from infercore._media._addresses import check_address

REFUSED = {
    "10.0.0.1": "private",
    "172.16.0.1": "private",
    "172.31.255.254": "private",
    "192.168.1.1": "private",
    "169.254.169.254": "link-local",
    "127.0.0.1": "loopback",
    "127.8.8.8": "loopback",
    "0.0.0.0": "unspecified",
    "100.64.0.1": "shared",
    "224.0.0.1": "multicast",
    "240.0.0.1": "reserved",
    "255.255.255.255": "reserved",
    "::1": "loopback",
    "::": "unspecified",
    "fe80::1": "link-local",
    "fc00::1": "private",
    "fd12:3456::1": "private",
    "ff02::1": "multicast",
    # IPv6 forms that carry an IPv4 address are judged by it.
    "::ffff:127.0.0.1": "loopback",
    "::ffff:10.0.0.1": "private",
    "::ffff:169.254.169.254": "link-local",
    "::ffff:0.0.0.0": "unspecified",
    "::127.0.0.1": "loopback",
    "64:ff9b::a00:1": "private",  # NAT64 of 10.0.0.1
    "2002:a00:1::1": "private",  # 6to4 of 10.0.0.1
    "2002:a9fe:a9fe::1": "link-local",  # 6to4 of 169.254.169.254
}

ALLOWED = ["8.8.8.8", "1.1.1.1", "93.184.216.34", "2606:4700:4700::1111", "::ffff:8.8.8.8"]


@pytest.mark.parametrize(("address", "kind"), REFUSED.items())
def test_non_global_addresses_are_refused_by_default(address: str, kind: str) -> None:
    ip = ip_address(address)
    assert address_kind(ip) == kind
    assert not is_address_allowed(ip)
    with pytest.raises(MediaRefusedError) as refused:
        check_address(ip, "media.example")
    assert refused.value.reason == "address_not_allowed"
    assert refused.value.status == 400
    assert str(ip) in str(refused.value)
    assert f"a {kind} address" in str(refused.value)


@pytest.mark.parametrize("address", ALLOWED)
def test_global_addresses_are_allowed(address: str) -> None:
    ip = ip_address(address)
    assert address_kind(ip) is None
    assert is_address_allowed(ip)
    check_address(ip, "media.example")


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("127.0.0.1", True),
        ("::1", True),
        ("10.0.0.1", True),
        ("192.168.1.1", True),
        ("fd00::1", True),
        ("::ffff:127.0.0.1", True),
        # Never opened by the blanket flag: the metadata service, multicast, 0.0.0.0.
        ("169.254.169.254", False),
        ("fe80::1", False),
        ("224.0.0.1", False),
        ("0.0.0.0", False),
        ("240.0.0.1", False),
    ],
)
def test_allow_private_opens_loopback_and_private_only(address: str, allowed: bool) -> None:
    assert is_address_allowed(ip_address(address), allow_private=True) is allowed


def test_allowed_networks_open_exactly_those_networks() -> None:
    networks = [ip_network("127.0.0.1/32"), ip_network("169.254.0.0/16")]
    assert is_address_allowed(ip_address("127.0.0.1"), allowed_networks=networks)
    assert is_address_allowed(ip_address("::ffff:127.0.0.1"), allowed_networks=networks)
    assert is_address_allowed(ip_address("169.254.1.2"), allowed_networks=networks)
    assert not is_address_allowed(ip_address("127.0.0.2"), allowed_networks=networks)
    assert not is_address_allowed(ip_address("10.0.0.1"), allowed_networks=networks)
    assert not is_address_allowed(ip_address("::1"), allowed_networks=networks)


def test_message_names_the_host_and_what_it_resolved_to() -> None:
    with pytest.raises(MediaRefusedError, match=r"evil\.example resolves to 10\.0\.0\.1"):
        check_address(ip_address("10.0.0.1"), "evil.example")
