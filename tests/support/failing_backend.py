"""A test plugin: the echo backend, failing on purpose where the prompt says ``FAIL``.

``FAIL`` fails at once, ``FAIL-LATER`` after two tokens (mid-stream), so the
server's handling of a backend error in one request can be seen from outside.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import aclosing

import infercore
from infercore import BackendSpec, Delta, PreparedRequest, SamplingParams
from infercore._echo import ECHO_CAPABILITIES, EchoBackend, EchoOptions


class FailingBackend(EchoBackend):
    async def generate(
        self, request: PreparedRequest, params: SamplingParams
    ) -> AsyncIterator[Delta]:
        if "FAIL" in request.prompt and "FAIL-LATER" not in request.prompt:
            raise RuntimeError("the backend broke on purpose")
        count = 0
        # Closed at once when this one fails, so the echo backend's count is right on time.
        async with aclosing(super().generate(request, params)) as deltas:
            async for delta in deltas:
                if "FAIL-LATER" in request.prompt and count == 2:
                    raise RuntimeError("the backend broke on purpose, mid-stream")
                count += 1
                yield delta


@infercore.hookimpl
def register_backends(register: Callable[[BackendSpec], None]) -> None:
    register(
        BackendSpec(
            name="failing",
            load=lambda: FailingBackend,
            capabilities=ECHO_CAPABILITIES,
            options=EchoOptions,
            priority=None,
        )
    )
