"""Typed media errors: each carries a ``reason`` code and the HTTP status a server answers with.

Every refusal is the client's doing (a URL, a file, a size), so every :class:`MediaError` is
an :class:`~infercore.InvalidRequestError` and a server that knows nothing of media still
answers 400. A server that knows them answers ``error.status``:

==========================  ======  ===================================================
reason                      status  cause
==========================  ======  ===================================================
``invalid_url``             400     not a URL that can be fetched (no host, credentials)
``scheme_not_allowed``      400     not http(s); ``file://`` where local files are off
``domain_not_allowed``      400     the host is not in ``allowed_media_domains``
``address_not_allowed``     400     the host resolves to a non-global address
``local_path_not_allowed``  400     local files are off, or the path leaves the folder
``too_many_redirects``      400     more redirect hops than ``max_redirects``
``not_found``               400     a local file that does not exist
``fetch_failed``            400     DNS failure, connection refused, a non-2xx answer
``invalid_media``           400     bytes that are no image/video/audio we can decode
``too_many_items``          400     more items of a modality in one prompt than allowed
``too_large``               413     more bytes than the modality's byte cap
``too_many_pixels``         413     an image or video frame over ``max_image_pixels``
``too_long``                413     audio longer than ``audio_max_seconds``
``fetch_timeout``           400     connect, idle-read or total deadline passed
==========================  ======  ===================================================

A fetch past its deadline is 400, not 408 or 504: clients (the official ``openai`` client
among them) retry those, and a URL that was too slow stays too slow.

A missing optional dependency is the server's fault, not the client's: that is
:class:`MediaDependencyError`, which is not a :class:`MediaError`.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from infercore._errors import InfercoreError, InvalidRequestError

__all__ = [
    "MediaCountError",
    "MediaDecodeError",
    "MediaDependencyError",
    "MediaError",
    "MediaFetchError",
    "MediaReason",
    "MediaRefusedError",
    "MediaTimeoutError",
    "MediaTooLargeError",
]

MediaReason = Literal[
    "invalid_url",
    "scheme_not_allowed",
    "domain_not_allowed",
    "address_not_allowed",
    "local_path_not_allowed",
    "too_many_redirects",
    "not_found",
    "fetch_failed",
    "invalid_media",
    "too_many_items",
    "too_large",
    "too_many_pixels",
    "too_long",
    "fetch_timeout",
]


class MediaError(InvalidRequestError):
    """A media item was refused or could not be loaded.

    ``reason`` is a stable code (see the module's table); ``status`` the HTTP status a
    server should answer with. The message ends with ``[reason: <code>]``.
    """

    status: ClassVar[int] = 400

    def __init__(self, detail: str, *, reason: MediaReason, param: str | None = None) -> None:
        super().__init__(f"{detail} [reason: {reason}]", param)
        self.reason: MediaReason = reason
        self.detail = detail


class MediaRefusedError(MediaError):
    """A URL, address, domain or path that the policy refuses; nothing was fetched from it."""


class MediaFetchError(MediaError):
    """Fetching or reading failed: DNS, connection, the remote server's status, a missing file."""


class MediaTooLargeError(MediaError):
    """Over a byte, pixel or duration cap; the rest was not read or decoded."""

    status: ClassVar[int] = 413


class MediaTimeoutError(MediaError):
    """A fetch ran past its connect, idle-read or total deadline (a slow or dripping server)."""


class MediaDecodeError(MediaError):
    """The bytes are not a decodable image, video or audio file (or not valid base64)."""


class MediaCountError(MediaError):
    """More items of one modality in one prompt than ``limit_per_prompt`` allows."""


class MediaDependencyError(InfercoreError, ImportError):
    """A loader needs an optional package; the message names the extra to install."""

    def __init__(self, what: str, package: str, extra: str) -> None:
        super().__init__(
            f"{what} needs {package}, which is not installed; "
            f"install it with: pip install 'infercore[{extra}]'"
        )
        self.package = package
        self.extra = extra
