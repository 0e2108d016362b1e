"""Reading a response body under a byte cap, compressed or not."""

from __future__ import annotations

import zlib

import httpx

from infercore._media._errors import MediaFetchError, MediaTooLargeError

__all__ = ["read_capped"]

#: Content-Encoding -> zlib ``wbits``. The fetcher asks for ``identity``; these are for
#: servers that compress anyway. Decompressing through ``max_length`` keeps a gzip bomb
#: from expanding past the cap even inside one network chunk.
_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


def _too_large(shown: str, cap: int) -> MediaTooLargeError:
    return MediaTooLargeError(
        f"the media at {shown} is larger than the limit of {cap} bytes", reason="too_large"
    )


def _declared_length(response: httpx.Response) -> int | None:
    value = response.headers.get("content-length")
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None


async def read_capped(response: httpx.Response, cap: int, shown: str) -> bytes:
    """The (decoded) body of a streamed ``response``, refusing more than ``cap`` bytes.

    A ``Content-Length`` over the cap is refused before any of the body is read; the bytes
    are counted as they arrive as well, since the header may be absent or lie. Raises
    :class:`MediaTooLargeError`, or :class:`MediaFetchError` for an encoding we cannot
    decode.
    """
    declared = _declared_length(response)
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if declared is not None and declared > cap:
        raise _too_large(shown, cap)
    if encoding not in ("identity", "", *_WBITS):
        raise MediaFetchError(
            f"the media at {shown} came with Content-Encoding {encoding!r}, which is not "
            "supported (identity, gzip and deflate are)",
            reason="fetch_failed",
        )
    decoder = zlib.decompressobj(_WBITS[encoding]) if encoding in _WBITS else None
    body = bytearray()
    async for raw in response.aiter_raw():
        if decoder is None:
            body += raw
        else:
            try:
                # One byte past what is left: getting it proves the body is over the cap.
                body += decoder.decompress(raw, cap - len(body) + 1)
            except zlib.error as exc:
                raise MediaFetchError(
                    f"the media at {shown} is not valid {encoding}: {exc}", reason="fetch_failed"
                ) from exc
        if len(body) > cap:
            raise _too_large(shown, cap)
    if decoder is not None:
        body += decoder.flush()
        if len(body) > cap:
            raise _too_large(shown, cap)
    return bytes(body)
