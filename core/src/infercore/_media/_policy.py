"""Which URLs media may be fetched from, before any address is looked up: scheme and domain."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass

import httpx

from infercore._media._errors import MediaRefusedError

__all__ = ["MediaTarget", "check_url", "is_domain_allowed"]

_DEFAULT_PORTS = {"http": 80, "https": 443}
#: What a DNS name (IDNA-encoded already) may hold; underscores occur in the wild.
_HOSTNAME = re.compile(r"[a-z0-9_-]+(\.[a-z0-9_-]+)*")


@dataclass(frozen=True)
class MediaTarget:
    """A URL that passed the scheme and domain rules.

    ``host`` is the ASCII (IDNA) host without brackets, as DNS and TLS see it; ``port``
    is explicit; ``host_header`` is what the ``Host`` header carries.
    """

    url: httpx.URL
    host: str
    port: int
    host_header: str

    @property
    def is_https(self) -> bool:
        return self.url.scheme == "https"


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def is_domain_allowed(host: str, allowed: Sequence[str] | None) -> bool:
    """Whether ``host`` is one of ``allowed`` or a subdomain of one; any host when ``None``.

    ``allowed`` holds lower-case ASCII names (as ``MediaLimits`` normalises them). An IP
    literal matches only itself: ``1.2.3.4`` is no subdomain of ``3.4``.
    """
    if allowed is None:
        return True
    name = host.lower().rstrip(".")
    if _is_ip_literal(name):
        return name in allowed
    return any(
        name == domain or (name.endswith("." + domain) and not _is_ip_literal(domain))
        for domain in allowed
    )


def check_url(url: str | httpx.URL, allowed_domains: Sequence[str] | None) -> MediaTarget:
    """Parse ``url`` and apply the scheme and domain rules; raise :class:`MediaRefusedError`.

    Only ``http`` and ``https`` are fetched. URLs carrying credentials are refused rather
    than silently stripped of them.
    """
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise MediaRefusedError(
            f"{str(url)[:200]!r} is not a valid URL: {exc}", reason="invalid_url"
        ) from exc
    shown = str(parsed)[:200]
    if parsed.scheme not in _DEFAULT_PORTS:
        raise MediaRefusedError(
            f"refused to fetch media from {shown!r}: only http and https URLs are fetched",
            reason="scheme_not_allowed",
        )
    if not parsed.raw_host:
        raise MediaRefusedError(f"the URL {shown!r} has no host", reason="invalid_url")
    if parsed.userinfo:
        raise MediaRefusedError(
            "refused to fetch media from a URL with credentials in it", reason="invalid_url"
        )
    host = parsed.raw_host.decode("ascii").lower().rstrip(".")
    if not (_HOSTNAME.fullmatch(host) or _is_ip_literal(host)):
        raise MediaRefusedError(f"the URL {shown!r} has an invalid host", reason="invalid_url")
    if not is_domain_allowed(host, allowed_domains):
        listed = ", ".join(allowed_domains or ())
        raise MediaRefusedError(
            f"refused to fetch media from {host}: it is not one of the allowed media domains "
            f"({listed}) nor a subdomain of one",
            reason="domain_not_allowed",
        )
    port = parsed.port or _DEFAULT_PORTS[parsed.scheme]
    return MediaTarget(url=parsed, host=host, port=port, host_header=parsed.netloc.decode("ascii"))
