"""A test plugin: the echo backend taking images, answering with each image's size.

It answers ``WIDTHxHEIGHT`` for each image of a request, so what the engine
loaded (or refused to load) under a server's media limits shows from outside,
without a vision model.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import replace

import infercore
from infercore import BackendSpec, Capabilities, Delta, PreparedRequest, SamplingParams
from infercore._byte_tokenizer import ByteTokenizer
from infercore._echo import ECHO_CAPABILITIES, EchoBackend, EchoOptions


class ImageEchoBackend(EchoBackend):
    @property
    def processor(self) -> ByteTokenizer:
        # The byte tokenizer's template writes a content list out as it is: a prompt
        # the engine can count, which is all this backend needs of it.
        return self.tokenizer

    async def generate(
        self, request: PreparedRequest, params: SamplingParams
    ) -> AsyncIterator[Delta]:
        sizes = " ".join(f"{image.width}x{image.height}" for image in request.images)
        async for delta in super().generate(replace(request, prompt=sizes), params):
            yield delta


@infercore.hookimpl
def register_backends(register: Callable[[BackendSpec], None]) -> None:
    register(
        BackendSpec(
            name="image-echo",
            load=lambda: ImageEchoBackend,
            capabilities=Capabilities(
                sampling=ECHO_CAPABILITIES.sampling, modalities=frozenset({"image"})
            ),
            options=EchoOptions,
            priority=None,
        )
    )
