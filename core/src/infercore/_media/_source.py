"""Where a media item's bytes come from: a URL, a data URI, base64, a local file or bytes.

The forms ms-swift and the OpenAI API use are strings, and a string is told apart so:
``http(s)://`` is a URL, ``data:`` a data URI, ``file:`` a file URL, any other
``scheme://`` is refused; a string that names an existing file inside the allowed local
folder is that file; a string spelled as a path (a leading ``/``, ``./``, ``../``, ``~`` or
a drive) is a path; otherwise valid base64 is base64, and anything else is a path (refused
where local files are not allowed). Existence is only ever checked inside the allowed
folder, so a server reveals nothing about other paths.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import os
import re
from pathlib import Path
from typing import Literal
from urllib.parse import unquote_to_bytes

from infercore._media._errors import (
    MediaDecodeError,
    MediaRefusedError,
    MediaTooLargeError,
)
from infercore._media._fetch import MediaFetcher
from infercore._media._limits import MediaLimits, Modality
from infercore._media._local import file_url_to_path, read_local_file, resolve_local_path

__all__ = [
    "MediaSource",
    "SourceKind",
    "classify_source",
    "decode_base64",
    "decode_data_uri",
    "read_source",
]

#: What the loaders take besides decoded objects: a string (URL, data URI, base64, path),
#: a path object, or the file's bytes.
MediaSource = str | bytes | os.PathLike[str]

SourceKind = Literal["url", "data_uri", "file_url", "base64", "path"]

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
# The standard or the URL-safe alphabet (never both: a path like "/a/b-c" mixes them),
# optional padding.
_BASE64 = re.compile(r"([A-Za-z0-9+/]+|[A-Za-z0-9_-]+)={0,2}")


def _too_large(what: str, size: int, cap: int) -> MediaTooLargeError:
    return MediaTooLargeError(
        f"the {what} holds {size} bytes, over the limit of {cap}", reason="too_large"
    )


def _looks_like_base64(text: str) -> bool:
    compact = "".join(text.split())
    return bool(_BASE64.fullmatch(compact)) and len(compact.rstrip("=")) % 4 != 1


# "/9j/" is how base64 of a JPEG (bytes FF D8 FF) begins: that one leading "/" is data.
_JPEG_BASE64 = "/9j/"
_DRIVE = re.compile(r"^[A-Za-z]:[\\/]")


def _spelled_as_path(text: str) -> bool:
    """Written as a path: absolute, relative to here or home, or on a drive."""
    if text.startswith("/"):
        return not text.startswith(_JPEG_BASE64)
    return text.startswith(("./", "../", "~")) or bool(_DRIVE.match(text))


def _exists_inside(text: str, root: Path | None) -> bool:
    if root is None:
        return False
    try:
        return resolve_local_path(text, root).is_file()
    except (MediaRefusedError, OSError, ValueError):
        return False


def classify_source(text: str, *, local_root: Path | None = None) -> SourceKind:
    """What kind of source the string ``text`` is (see the module's rules).

    Raises :class:`MediaRefusedError` (``scheme_not_allowed``) for a URL whose scheme is
    neither http(s), data nor file.
    """
    lowered = text[:10].lower()
    if lowered.startswith(("http://", "https://")):
        return "url"
    if lowered.startswith("data:"):
        return "data_uri"
    if lowered.startswith("file:"):
        return "file_url"
    if _SCHEME.match(text):
        scheme = text.split("://", 1)[0]
        raise MediaRefusedError(
            f"refused the media URL scheme {scheme!r}: media is read from http(s) URLs, "
            "data URIs, base64 and (where allowed) local files",
            reason="scheme_not_allowed",
        )
    if _exists_inside(text, local_root) or _spelled_as_path(text):
        return "path"
    if _looks_like_base64(text):
        return "base64"
    return "path"


def decode_base64(text: str, cap: int, what: str = "base64 data") -> bytes:
    """Decode standard or URL-safe base64 (padding optional), at most ``cap`` bytes out."""
    compact = "".join(text.split())
    # Refuse by the size it would decode to, before decoding it.
    size = len(compact.rstrip("=")) * 3 // 4
    if size > cap:
        raise _too_large(what, size, cap)
    padded = compact + "=" * (-len(compact) % 4)
    try:
        if "-" in padded or "_" in padded:
            return base64.urlsafe_b64decode(padded)
        return base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MediaDecodeError(
            f"the {what} is not valid base64: {exc}", reason="invalid_media"
        ) from exc


def decode_data_uri(uri: str, cap: int) -> bytes:
    """The bytes of a ``data:[<type>][;base64],<data>`` URI, at most ``cap``."""
    header, comma, payload = uri[len("data:") :].partition(",")
    if not comma:
        raise MediaDecodeError("the data URI has no ',' before its data", reason="invalid_media")
    if header.lower().endswith(";base64"):
        return decode_base64(payload, cap, what="data URI")
    try:
        data = unquote_to_bytes(payload)
    except UnicodeEncodeError as exc:  # a lone surrogate has no bytes
        raise MediaDecodeError(
            f"the data URI's data is not valid text: {exc}", reason="invalid_media"
        ) from exc
    if len(data) > cap:
        raise _too_large("data URI", len(data), cap)
    return data


async def read_source(
    source: MediaSource,
    modality: Modality,
    limits: MediaLimits,
    fetcher: MediaFetcher | None = None,
) -> bytes:
    """The raw bytes of ``source``, under ``modality``'s byte cap and ``limits``' policy.

    URLs go through ``fetcher`` (whose own limits decide the network rules; a fetcher
    with ``limits`` is made for this call when none is given). Decoding base64 and reading
    files run in a thread.
    """
    cap = limits.max_bytes(modality)
    root = limits.allowed_local_media_path
    if isinstance(source, bytes | bytearray | memoryview):
        if len(source) > cap:
            raise _too_large(f"{modality} data", len(source), cap)
        return bytes(source)
    if isinstance(source, os.PathLike):
        return await asyncio.to_thread(read_local_file, source, root, cap)
    text = source.strip()
    kind = classify_source(text, local_root=root)
    if kind == "url":
        if fetcher is not None:
            return await fetcher.fetch(text, modality)
        async with MediaFetcher(limits) as own:
            return await own.fetch(text, modality)
    if kind == "data_uri":
        return await asyncio.to_thread(decode_data_uri, text, cap)
    if kind == "base64":
        return await asyncio.to_thread(decode_base64, text, cap, f"base64 {modality}")
    path = file_url_to_path(text) if kind == "file_url" else text
    return await asyncio.to_thread(read_local_file, path, root, cap)
