"""The interactive chat of ``infercore infer``.

Commands typed at the prompt: ``multi-line`` (each query then ends with a
line ending in ``#``), ``single-line``, ``reset-system``, ``clear`` (forget
the conversation), ``quit`` or ``exit``. A query with ``<image>``,
``<video>`` or ``<audio>`` tags asks for each one's path or URL in turn.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Sequence
from typing import Any, Protocol, TextIO

from infercore._cli._connect import connect
from infercore._cli._flags import generation_settings
from infercore._client import InferClient
from infercore._errors import InfercoreError, InvalidRequestError
from infercore._multimodal import MEDIA_TAG
from infercore._types import ChatCompletionChunk, ChatCompletionResponse, RequestConfig

__all__ = ["run_chat"]

_HELP = "Commands: multi-line (end a query with #), single-line, reset-system, clear, quit or exit."
_ARTICLE = {"image": "an", "video": "a", "audio": "an"}


class _Infers(Protocol):
    """What the chat needs: an ``Engine``, or an ``InferClient`` of a running server."""

    def infer(
        self, requests: Sequence[dict[str, Any]], config: RequestConfig
    ) -> list[ChatCompletionResponse]: ...

    def stream(
        self, requests: Sequence[dict[str, Any]], config: RequestConfig
    ) -> list[Iterator[ChatCompletionChunk]]: ...


class _Session:
    def __init__(
        self, engine: _Infers, config: RequestConfig, system: str | None, adapter: str | None
    ) -> None:
        self.engine = engine
        self.config = config
        self.system = system
        self.adapter = adapter
        self.history: list[dict[str, Any]] = []
        # The conversation's media so far, in tag order: the history keeps its tags.
        self.media: dict[str, list[str]] = {"images": [], "videos": [], "audios": []}

    def clear(self) -> None:
        self.history.clear()
        for sources in self.media.values():
            sources.clear()

    def messages(self, query: str) -> list[dict[str, Any]]:
        head = [{"role": "system", "content": self.system}] if self.system else []
        return [*head, *self.history, {"role": "user", "content": query}]

    def ask(self, query: str, out: TextIO, media: dict[str, list[str]] | None = None) -> str:
        """Answer ``query`` (with ``media`` for its tags), writing the answer as it comes."""
        added = media or {}
        media_so_far = {
            kind: [*sources, *added.get(kind, [])] for kind, sources in self.media.items()
        }
        request: dict[str, Any] = {"messages": self.messages(query), "adapter": self.adapter}
        request.update({kind: sources for kind, sources in media_so_far.items() if sources})
        if self.config.stream:
            (chunks,) = self.engine.stream([request], self.config)
            answer = _write_stream(chunks, out)
        else:
            (response,) = self.engine.infer([request], self.config)
            answer = response.choices[0].message.content or ""
            out.write(answer)
        out.write("\n")
        out.flush()
        self.history += [
            {"role": "user", "content": query},
            {"role": "assistant", "content": answer},
        ]
        self.media = media_so_far
        return answer


def _ask_for_media(query: str) -> dict[str, list[str]] | None:
    """The path or URL of each tag in ``query``, asked in turn; None at end of input."""
    media: dict[str, list[str]] = {"images": [], "videos": [], "audios": []}
    for match in MEDIA_TAG.finditer(query):
        kind = match.group(1)
        source = _read(f"Input {_ARTICLE[kind]} {kind} path or URL <<< ", multi_line=False)
        if source is None:
            return None
        media[f"{kind}s"].append(source.strip())
    return media


def _write_stream(chunks: Iterator[ChatCompletionChunk], out: TextIO) -> str:
    pieces: list[str] = []
    for chunk in chunks:
        for choice in chunk.choices:
            if choice.delta.content:
                pieces.append(choice.delta.content)
                out.write(choice.delta.content)
                out.flush()
    return "".join(pieces)


def _read(prompt: str, multi_line: bool) -> str | None:
    """One query from stdin; ``None`` at end of input."""
    sys.stdout.write(prompt)
    sys.stdout.flush()
    lines: list[str] = []
    while True:
        line = sys.stdin.readline()
        if not line:
            return None if not lines else "\n".join(lines)
        line = line.rstrip("\n")
        if not multi_line:
            return line
        if line.endswith("#"):
            lines.append(line[:-1])
            return "\n".join(lines)
        lines.append(line)


def run_chat(args: argparse.Namespace) -> int:
    config = RequestConfig(**generation_settings(args), stream=args.stream)
    given = {kind: getattr(args, kind) for kind in ("images", "videos", "audios")}
    if any(given.values()) and args.query is None:
        raise InvalidRequestError(
            "--images, --videos and --audios go with --query; the chat asks for each tag's source"
        )
    with connect(args, what="chat with") as engine:
        session = _Session(engine, config, args.system, args.adapter)
        if args.query is not None:
            media: dict[str, list[str]] | None = (
                {kind: sources or [] for kind, sources in given.items()}
                if any(given.values())
                else _ask_for_media(args.query)
            )
            session.ask(args.query, sys.stdout, media)
            return 0
        if isinstance(engine, InferClient):
            print(f"infercore chat with {engine.model} at {engine.base_url}. {_HELP}")
        else:
            print(f"infercore chat with {args.model} on backend {engine.backend_name}. {_HELP}")
        multi_line = False
        while True:
            query = _read("<<<[M] " if multi_line else "<<< ", multi_line)
            if query is None:
                print()
                return 0
            command = query.strip()
            if command in {"quit", "exit"}:
                return 0
            if command == "multi-line":
                multi_line = True
                print("Multi-line mode: end each query with #.")
            elif command == "single-line":
                multi_line = False
                print("Single-line mode.")
            elif command == "clear":
                session.clear()
                print("Conversation cleared.")
            elif command == "reset-system":
                system = _read("<<<[S] ", multi_line)
                session.system = system.strip() if system and system.strip() else None
                session.clear()
                print("System prompt set; conversation cleared.")
            elif command:
                media = _ask_for_media(query)
                if media is None:
                    print()
                    return 0
                sys.stdout.write(">>> ")
                try:
                    session.ask(query, sys.stdout, media)
                except InfercoreError as exc:
                    # A refused query (say, the conversation outgrew the context) ends
                    # that answer, not the chat; `clear` makes room again.
                    sys.stdout.write("\n")
                    print(f"error: {exc}", file=sys.stderr)
