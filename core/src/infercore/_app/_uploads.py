"""Uploaded files as the content parts of a user message, under the media limits."""

from __future__ import annotations

import base64
import mimetypes
from pathlib import Path
from typing import Any

from infercore._errors import InvalidRequestError
from infercore._media import MediaLimits, Modality

__all__ = ["UPLOAD_TYPES", "upload_part"]

#: What the upload button takes, per modality (file-type groups as gradio names them).
UPLOAD_TYPES: dict[Modality, str] = {"image": "image", "video": "video", "audio": "audio"}


def _modality(path: Path) -> Modality | None:
    kind, _ = mimetypes.guess_type(path.name)
    head = (kind or "").partition("/")[0]
    return head if head in UPLOAD_TYPES else None


def upload_part(path: str, allowed: frozenset[Modality], limits: MediaLimits) -> dict[str, Any]:
    """The content part that carries the file at ``path``, inline as base64.

    The bytes travel in the request, so the engine (or the server) loads them under
    its own limits exactly as an API request's media; a file over the modality's byte
    cap, of a kind the model does not take, or of no media kind at all is refused
    here, naming ``files``, before it is read.
    """
    file = Path(path)
    modality = _modality(file)
    if modality is None or modality not in allowed:
        takes = ", ".join(sorted(allowed)) or "no media"
        raise InvalidRequestError(
            f"{file.name}: this model takes {takes}; the file is none of them", param="files"
        )
    cap = limits.max_bytes(modality)
    size = file.stat().st_size
    if size > cap:
        raise InvalidRequestError(
            f"{file.name}: {size} bytes is over the {modality} limit of {cap} bytes",
            param="files",
        )
    data = base64.b64encode(file.read_bytes()).decode()
    if modality == "audio":
        return {
            "type": "input_audio",
            "input_audio": {"data": data, "format": file.suffix.lstrip(".").lower()},
        }
    kind, _ = mimetypes.guess_type(file.name)
    key = "image_url" if modality == "image" else "video_url"
    return {"type": key, key: {"url": f"data:{kind};base64,{data}"}}
