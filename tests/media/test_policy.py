"""URL rules before any lookup: scheme, host, credentials and the domain allowlist."""

from __future__ import annotations

import pytest

from infercore._media import MediaLimits, MediaRefusedError
from infercore._media._policy import check_url, is_domain_allowed


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("example.com", True),
        ("EXAMPLE.com.", True),
        ("cdn.example.com", True),
        ("a.b.example.com", True),
        ("badexample.com", False),
        ("example.com.evil.net", False),
        ("example.org", False),
        ("1.2.3.4", True),
        ("5.1.2.3.4", False),
    ],
)
def test_domains_match_exactly_or_as_subdomains(host: str, allowed: bool) -> None:
    domains = MediaLimits(allowed_media_domains=("Example.COM", "1.2.3.4")).allowed_media_domains
    assert is_domain_allowed(host, domains) is allowed


def test_no_domain_list_allows_any_host() -> None:
    assert is_domain_allowed("anything.example", None)


def test_domain_list_normalises_wildcards_and_idna() -> None:
    limits = MediaLimits(allowed_media_domains=("*.Example.com", ".cdn.net", "bücher.example"))
    assert limits.allowed_media_domains == ("example.com", "cdn.net", "xn--bcher-kva.example")


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://example.com/a.png", "scheme_not_allowed"),
        ("file:///etc/passwd", "scheme_not_allowed"),
        ("gopher://example.com/", "scheme_not_allowed"),
        ("http://user:secret@example.com/a.png", "invalid_url"),
        ("http:///a.png", "invalid_url"),
        ("http://exa mple.com/", "invalid_url"),
        ("https://other.example/a.png", "domain_not_allowed"),
    ],
)
def test_refused_urls(url: str, reason: str) -> None:
    with pytest.raises(MediaRefusedError) as refused:
        check_url(url, ("example.com",))
    assert refused.value.reason == reason
    assert f"[reason: {reason}]" in str(refused.value)


def test_target_keeps_host_port_and_host_header() -> None:
    target = check_url("https://CDN.Example.com:8443/a.png?x=1", ("example.com",))
    assert (target.host, target.port, target.host_header) == (
        "cdn.example.com",
        8443,
        "cdn.example.com:8443",
    )
    assert target.is_https
    plain = check_url("http://[::1]/a.png", None)
    assert (plain.host, plain.port, plain.host_header) == ("::1", 80, "[::1]")
    idna = check_url("http://bücher.example/", None)
    assert idna.host == "xn--bcher-kva.example"
