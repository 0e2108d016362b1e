"""Where a request's images, videos and audios sit in its conversation.

Requests name media in two forms: OpenAI content parts (``image_url``,
``video_url``, ``input_audio``, and the short ``image``/``video``/``audio``
parts), and ``<image>``/``<video>``/``<audio>`` tags in the text with the
sources listed in order in ``images``/``videos``/``audios``. Both become the
same conversation for the model's processor: content lists whose media
parts are ``{"type": "image"}`` (and so on) placeholders, in order, and one
list of sources per modality.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from infercore._errors import InvalidRequestError
from infercore._media import Modality
from infercore._types import (
    AudioContent,
    ChatMessage,
    ContentPart,
    ImageContent,
    ImageURLContent,
    InferRequest,
    InputAudioContent,
    TextContent,
    VideoContent,
    VideoURLContent,
)

__all__ = ["MEDIA_TAG", "MODALITIES", "MediaPlan", "plan_media"]

MODALITIES: tuple[Modality, ...] = ("image", "video", "audio")
#: A media tag in a prompt: ``<image>``, ``<video>`` or ``<audio>``.
MEDIA_TAG = re.compile(r"<(image|video|audio)>")
_PLURAL = {"image": "images", "video": "videos", "audio": "audios"}


@dataclass
class MediaPlan:
    """A conversation in the processor's form, and the sources its placeholders stand for."""

    conversation: list[dict[str, Any]]
    sources: dict[Modality, list[str]] = field(
        default_factory=lambda: {modality: [] for modality in MODALITIES}
    )

    @property
    def has_media(self) -> bool:
        return any(self.sources.values())

    def counts(self) -> dict[Modality, int]:
        return {modality: len(found) for modality, found in self.sources.items() if found}


def _part_source(part: ContentPart) -> tuple[Modality, str] | None:
    match part:
        case ImageURLContent():
            return "image", part.image_url.url
        case ImageContent():
            return "image", part.image
        case VideoURLContent():
            return "video", part.video_url.url
        case VideoContent():
            return "video", part.video
        case InputAudioContent():
            return "audio", f"data:audio/{part.input_audio.format};base64,{part.input_audio.data}"
        case AudioContent():
            return "audio", part.audio
    return None


class _Planner:
    def __init__(self, request: InferRequest) -> None:
        self.listed: dict[Modality, list[str]] = {
            "image": list(request.images),
            "video": list(request.videos),
            "audio": list(request.audios),
        }
        self.taken = dict.fromkeys(MODALITIES, 0)
        self.plan = MediaPlan([])

    def text_parts(self, text: str) -> list[dict[str, Any]]:
        """``text`` split at its tags, each tag taking the next listed source."""
        parts: list[dict[str, Any]] = []
        position = 0
        for match in MEDIA_TAG.finditer(text):
            if match.start() > position:
                parts.append({"type": "text", "text": text[position : match.start()]})
            modality: Modality = match.group(1)  # type: ignore[assignment]
            index = self.taken[modality]
            listed = self.listed[modality]
            if index >= len(listed):
                raise InvalidRequestError(
                    f"the messages have more <{modality}> tags than the {len(listed)} "
                    f"{_PLURAL[modality]} the request lists",
                    param=_PLURAL[modality],
                )
            self.taken[modality] += 1
            self.plan.sources[modality].append(listed[index])
            parts.append({"type": modality})
            position = match.end()
        if position < len(text):
            parts.append({"type": "text", "text": text[position:]})
        return parts

    def message(self, message: ChatMessage) -> dict[str, Any]:
        rendered = message.model_dump(exclude_none=True, exclude={"content"})
        content = message.content
        if content is None:
            rendered["content"] = ""
        elif isinstance(content, str):
            parts = self.text_parts(content)
            has_media = any(part["type"] != "text" for part in parts)
            rendered["content"] = parts if has_media else content
        else:
            parts = []
            for part in content:
                if isinstance(part, TextContent):
                    parts.extend(self.text_parts(part.text))
                    continue
                found = _part_source(part)
                assert found is not None
                modality, source = found
                self.plan.sources[modality].append(source)
                parts.append({"type": modality})
            if all(part["type"] == "text" for part in parts):
                # Text-only templates expect a string; joining the parts is
                # what the OpenAI API does for a list of text parts.
                rendered["content"] = "\n".join(part["text"] for part in parts)
            else:
                rendered["content"] = parts
        return rendered

    def check_all_taken(self) -> None:
        for modality in MODALITIES:
            listed = len(self.listed[modality])
            if self.taken[modality] != listed:
                raise InvalidRequestError(
                    f"the request lists {listed} {_PLURAL[modality]} but the messages have "
                    f"{self.taken[modality]} <{modality}> tags",
                    param=_PLURAL[modality],
                )


def plan_media(request: InferRequest) -> MediaPlan:
    """The processor's conversation for ``request`` and its media sources, in order.

    A tag count that does not match the listed sources is an
    :class:`InvalidRequestError` naming the list.
    """
    planner = _Planner(request)
    messages = request.messages or []
    planner.plan.conversation = [planner.message(message) for message in messages]
    planner.check_all_taken()
    if request.prompt is not None and planner.plan.has_media:
        raise InvalidRequestError(
            "a raw prompt takes no images, videos or audios; send messages instead",
            param="prompt",
        )
    return planner.plan
