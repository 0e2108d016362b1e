"""The ``echo`` backend: no model, deterministic tokens at a set rate.

It repeats the last user message (or the raw prompt) byte by byte, then ends
with end-of-sequence; with ``ignore_eos`` it goes on repeating up to
``max_tokens``. It is for trying clients and for load-testing servers: its
own cost is known, so what a benchmark measures beyond it is the server's.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from pydantic import Field

from infercore._backend import (
    Backend,
    BackendOptions,
    Capabilities,
    Delta,
    PreparedRequest,
    SamplingParams,
)
from infercore._byte_tokenizer import IM_END, ByteTokenizer, last_user_text
from infercore._types import FinishReason

__all__ = ["ECHO_CAPABILITIES", "EchoBackend", "EchoOptions"]

ECHO_CAPABILITIES = Capabilities(sampling=frozenset({"ignore_eos"}))


class EchoOptions(BackendOptions):
    max_model_len: int = Field(default=32768, ge=16, description="context length")
    token_rate: float = Field(
        default=0.0, ge=0.0, description="tokens per second per stream; 0: as fast as possible"
    )
    first_token_delay: float = Field(
        default=0.0, ge=0.0, description="seconds before the first token, as a prefill would take"
    )


class EchoBackend(Backend[EchoOptions]):
    def __init__(self, model: str, options: EchoOptions) -> None:
        super().__init__(model, options)
        self._tokenizer = ByteTokenizer()
        self._active = 0

    @property
    def tokenizer(self) -> ByteTokenizer:
        return self._tokenizer

    @property
    def max_model_len(self) -> int:
        return self.options.max_model_len

    @property
    def active_requests(self) -> int:
        return self._active

    async def generate(
        self, request: PreparedRequest, params: SamplingParams
    ) -> AsyncIterator[Delta]:
        text = (
            last_user_text(request.prompt) if "<|im_start|>" in request.prompt else request.prompt
        )
        text = text or "."
        source = text.encode()
        pieces = _pieces(text)
        interval = 1.0 / self.options.token_rate if self.options.token_rate else 0.0
        loop = asyncio.get_running_loop()
        self._active += 1
        try:
            if self.options.first_token_delay:
                await asyncio.sleep(self.options.first_token_delay)
            started = loop.time()
            for count in range(1, params.max_tokens + 1):
                if count > 1 and interval:
                    # Paced against the clock rather than by equal sleeps: uvloop's timers
                    # count whole milliseconds, so a shorter sleep would not wait at all.
                    await asyncio.sleep(max(started + (count - 1) * interval - loop.time(), 0.0))
                if count > len(source) and not params.ignore_eos:
                    yield Delta((IM_END,), "", finish_reason="stop")
                    return
                position = (count - 1) % len(source)
                piece = pieces[position]
                finish: FinishReason | None = "length" if count == params.max_tokens else None
                if finish is not None and not piece:
                    piece = "\ufffd"  # cut inside a character, as a detokenizer would show it
                yield Delta((source[position],), piece, finish_reason=finish)
                if finish is not None:
                    return
        finally:
            self._active -= 1


def _pieces(text: str) -> list[str]:
    """The text each byte token completes: a character at its last byte, else nothing.

    Precomputed once per request, this is what a detokenizer would emit for
    each token, at a fraction of the cost: the echo backend must stay cheap
    for load tests to measure the server rather than it.
    """
    pieces: list[str] = []
    for char in text:
        pieces.extend([""] * (len(char.encode()) - 1))
        pieces.append(char)
    return pieces
