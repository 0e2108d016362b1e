"""The client side of the OpenAI HTTP API, independent of any HTTP library.

Shared by :class:`~infercore.InferClient` (httpx) and ``infercore bench
serve`` (aiohttp): the API root of a base URL, server-sent events, and the
OpenAI error shape ``{"error": {"message", "type", "param", "code"}}`` turned
into infercore's typed errors.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from infercore._errors import (
    AuthenticationError,
    EngineError,
    InfercoreError,
    InvalidRequestError,
    ModelNotFoundError,
    OverCapacityError,
)

__all__ = ["SSE_DONE", "SSEDecoder", "api_root", "error_for_status", "error_from_event"]

SSE_DONE = "[DONE]"


def api_root(base_url: str) -> str:
    """The URL that ``/models`` and ``/chat/completions`` hang off.

    ``http://host:8000``, ``http://host:8000/`` and ``http://host:8000/v1``
    all give ``http://host:8000/v1``: users paste either form, since the
    OpenAI client wants the ``/v1`` and vLLM's tools want the bare server.
    """
    parts = urlsplit(base_url.strip())
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise InvalidRequestError(
            f"base URL {base_url!r} is not an http(s) URL such as http://127.0.0.1:8000/v1",
            param="base_url",
        )
    path = parts.path.rstrip("/")
    if not path.endswith("/v1"):
        path += "/v1"
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


class SSEDecoder:
    """Server-sent events from lines: each event's ``data``, as one string.

    Follows the SSE format far enough for any OpenAI-compatible server:
    ``data:`` lines (one optional space after the colon) accumulate until a
    blank line ends the event; comments (``:``) and ``event:``/``id:``/
    ``retry:`` fields are skipped.
    """

    def __init__(self) -> None:
        self._data: list[str] = []

    def feed(self, line: str) -> str | None:
        """Take one line (with or without its line ending); an event's data when it ends."""
        line = line.rstrip("\r\n")
        if not line:
            return self.flush()
        if line.startswith("data:"):
            value = line[5:]
            self._data.append(value[1:] if value.startswith(" ") else value)
        return None

    def flush(self) -> str | None:
        """The pending event's data, if any: for a stream that ends without a blank line."""
        if not self._data:
            return None
        data = "\n".join(self._data)
        self._data.clear()
        return data


def _error_fields(body: str) -> tuple[str, str | None]:
    """The message and param of an OpenAI-shaped error body, or the body's text."""
    try:
        payload = json.loads(body)
    except ValueError:
        return body.strip()[:500] or "(empty answer)", None
    error = payload.get("error") if isinstance(payload, dict) else None
    if isinstance(error, dict):
        param = error.get("param")
        return str(error.get("message") or error), str(param) if param is not None else None
    if isinstance(error, str):  # some servers put the message right there
        return error, None
    if isinstance(payload, dict) and "detail" in payload:  # a bare FastAPI/Starlette error
        return str(payload["detail"]), None
    return body.strip()[:500], None


def error_for_status(
    status: int, body: str, *, url: str, retry_after: str | None = None
) -> InfercoreError:
    """The typed error for an HTTP error answer of an OpenAI-compatible server."""
    message, param = _error_fields(body)
    if status == 401:
        return AuthenticationError(
            f"the server at {url} refused the API key: {message} "
            "(pass the server's key as api_key= or --api-key)"
        )
    if status == 404:
        return ModelNotFoundError(f"{message} (HTTP 404 from {url})")
    if status == 429:
        wait = f"; retry after {retry_after} s" if retry_after else "; retry later"
        return OverCapacityError(f"the server is over capacity: {message}{wait}")
    if 400 <= status < 500:
        return InvalidRequestError(f"{message} (HTTP {status})", param=param)
    return EngineError(f"the server failed (HTTP {status}): {message}")


def error_from_event(payload: dict[str, Any], *, url: str) -> InfercoreError:
    """The typed error for an ``{"error": ...}`` event inside a stream."""
    error = payload.get("error")
    code = error.get("code") if isinstance(error, dict) else None
    status = code if isinstance(code, int) else 500
    if isinstance(code, str) and code.isdigit():
        status = int(code)
    return error_for_status(status, json.dumps(payload), url=url)
