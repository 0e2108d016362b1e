"""A stand-in for LMDeploy's AsyncEngine, for the LMDeploy backend's adapter layer only.

It answers through LMDeploy's own session manager, request handles, request and
output classes, as its ``preprocess`` and ``generate`` do (``lmdeploy.serve.core.async_engine``):
text deltas come with the new token ids (all of them in one output when TurboMind
is asked ``stream_response=False``; LMDeploy 0.18's PyTorch engine sends an output
per token either way), the stop
token is held back for the last output, which carries the finish reason, and a
generator closed early cancels its request through the handle. What it generates
is scripted: ``ANSWER``. It runs no model: a test on it shows the adapter's logic,
never that LMDeploy runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from lmdeploy.messages import GenerationConfig
from lmdeploy.serve.core import PreprocessedRequest, RequestError
from lmdeploy.serve.core.async_engine import GenOut
from lmdeploy.serve.core.exceptions import ErrorCode
from lmdeploy.serve.managers import SessionManager

__all__ = ["ANSWER", "FakeAsyncEngine"]

ANSWER = "The capital of France is Paris."
#: The context length the fake reports.
SESSION_LEN = 256


class FakeInstance:
    """A request handle: records the sessions it was asked to cancel."""

    def __init__(self, engine: FakeAsyncEngine) -> None:
        self._engine = engine

    async def async_cancel(self, session_id: int) -> None:
        self._engine.cancelled.append(session_id)


class FakeAsyncEngine:
    """Each instance records what it was built with; the class records every instance."""

    instances: list[FakeAsyncEngine] = []  # noqa: RUF012  (a record the tests read)
    tokenizer: Any = None  # set by the tests: the model's tokenizer

    def __init__(
        self, model_path: str, backend: str, backend_config: Any, trust_remote_code: bool
    ) -> None:
        self.model_path = model_path
        self.backend = backend
        self.backend_config = backend_config
        self.session_len = SESSION_LEN
        self.session_mgr = SessionManager()
        self.session_mgr.build_request_handle_pool(self, 4)
        self.gen_configs: list[GenerationConfig] = []
        self.prompts: list[list[int]] = []
        self.adapter_names: list[str | None] = []
        self.streamed: list[bool] = []
        self.cancelled: list[int] = []
        self.started = False
        self.closed = False
        #: Each request pauses before each token until this is set; tests clear it to
        #: hold requests in the middle of generation.
        self.flowing = asyncio.Event()
        self.flowing.set()
        #: Set once a request holds a handle, generating.
        self.generating = asyncio.Event()
        FakeAsyncEngine.instances.append(self)

    def create_instance(self) -> FakeInstance:
        return FakeInstance(self)

    def start_loop(self, loop: asyncio.AbstractEventLoop, use_async_api: bool) -> None:
        assert use_async_api, "the backend must use LMDeploy's async API"
        self.session_mgr.attach_event_loop(loop)
        self.started = True

    def close(self) -> None:
        self.closed = True

    async def preprocess(
        self,
        messages: Any,
        session_id: Any,
        gen_config: GenerationConfig | None = None,
        adapter_name: str | None = None,
        input_ids: list[int] | None = None,
    ) -> PreprocessedRequest:
        if messages is not None or input_ids is None:
            raise RequestError(ErrorCode.INVALID_REQUEST, "the backend sends token ids")
        if not input_ids:
            raise RequestError(ErrorCode.INVALID_REQUEST, "an empty prompt")
        assert gen_config is not None
        self.gen_configs.append(gen_config)
        self.prompts.append(input_ids)
        self.adapter_names.append(adapter_name)
        return PreprocessedRequest(
            session=session_id,
            inputs={"input_ids": input_ids},
            input_token_len=len(input_ids),
            gen_config=gen_config,
            adapter_name=adapter_name,
        )

    async def generate(
        self, request: PreprocessedRequest, stream_response: bool = True
    ) -> AsyncIterator[GenOut]:
        config = request.gen_config
        answer = self.tokenizer.encode(ANSWER, add_special_tokens=False)
        eos = config.stop_token_ids[0]
        if config.ignore_eos:
            tokens = [answer[i % len(answer)] for i in range(config.max_new_tokens)]
        else:
            tokens = [*answer, eos][: config.max_new_tokens]
        stopped = tokens[-1] == eos and not config.ignore_eos
        body = tokens[:-1] if stopped else tokens
        prompt_len = request.input_token_len
        session = request.session
        session._remove_on_request_exit = True
        self.streamed.append(stream_response)
        per_token = stream_response or self.backend == "pytorch"
        outputs = [[token] for token in body] if per_token else [body]
        async with session.request_handle():
            self.generating.set()
            done = 0
            for output in outputs:
                await self.flowing.wait()
                done += len(output)
                yield GenOut(
                    self.tokenizer.decode(output),
                    prompt_len,
                    done,
                    token_ids=output,
                    logprobs=_logprobs(output, config.logprobs),
                )
            if stopped:
                # As LMDeploy answers with include_stop_str_in_output: the stop token's id.
                yield GenOut(
                    "", prompt_len, len(tokens), "stop", [eos], _logprobs([eos], config.logprobs)
                )
            else:
                yield GenOut("", prompt_len, len(tokens), "length", [])


def _logprobs(tokens: list[int], top: int | None) -> list[dict[int, float]] | None:
    """LMDeploy's shape, for each token: the best ``top`` tokens and the chosen one,
    by id; one impossible alternative (-inf) among them."""
    if not top:
        return None
    return [
        {
            **{token + 1 + rank: -1.0 - rank for rank in range(top)},
            token + 100: float("-inf"),
            token: -0.25,
        }
        for token in tokens
    ]
