"""The LMDeploy backend: LMDeploy's async engine (TurboMind or its PyTorch engine),
one session per infercore choice."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import aclosing
from pathlib import Path
from typing import Any

from lmdeploy.serve.core import AsyncEngine
from lmdeploy.utils import get_logger, get_model
from transformers import AutoTokenizer

from infercore import (
    Backend,
    Delta,
    InvalidRequestError,
    PreparedRequest,
    SamplingParams,
    StructuredOutput,
)
from infercore_lmdeploy._configs import engine_config
from infercore_lmdeploy._deltas import DeltaMaker
from infercore_lmdeploy._guided import check_response_format
from infercore_lmdeploy._options import LmdeployOptions
from infercore_lmdeploy._sampling import generation_config, response_format
from infercore_lmdeploy._stream import stream

__all__ = ["LmdeployBackend"]

# How long closing waits for the engine's cancelled loops to end, then for the rest.
_CLOSE_TIMEOUT_S = 10.0


class LmdeployBackend(Backend[LmdeployOptions]):
    def __init__(self, model: str, options: LmdeployOptions) -> None:
        super().__init__(model, options)
        # As LMDeploy's own pipeline quiets it: its engine alone logs every request.
        os.environ.setdefault("TM_LOG_LEVEL", "WARNING")
        get_logger("lmdeploy").setLevel("WARNING")
        config = engine_config(options)
        # A hub id is fetched as LMDeploy's own pipeline fetches it.
        self._path = model
        if not os.path.exists(model):
            self._path = get_model(model, config.download_dir, config.revision)
        # The checkpoint's own tokenizer, as the other backends load it: its chat
        # template renders the same prompt tokens everywhere.
        self._tokenizer = AutoTokenizer.from_pretrained(
            self._path, trust_remote_code=options.trust_remote_code
        )
        eos = self._tokenizer.eos_token_id
        self._stop_token_ids: tuple[int, ...] = () if eos is None else (int(eos),)
        self._adapters: dict[str, str] = {}
        self._starting = asyncio.Lock()
        self._engine: AsyncEngine | None = self._start()
        self._max_model_len = int(self._engine.session_len)
        self._running = 0

    def _start(self) -> AsyncEngine:
        engine = AsyncEngine(
            self._path,
            backend=self.options.engine,
            backend_config=engine_config(self.options, self._adapters),
            trust_remote_code=self.options.trust_remote_code,
        )
        # The engine serves this event loop's requests, through the async API only.
        engine.start_loop(asyncio.get_running_loop(), use_async_api=True)
        return engine

    async def _ready(self) -> AsyncEngine:
        async with self._starting:
            if self._engine is None:
                self._engine = self._start()
            return self._engine

    async def load_adapter(self, name: str, path: str) -> None:
        if self.options.engine != "pytorch":
            raise InvalidRequestError(
                "LMDeploy serves LoRA adapters on its PyTorch engine only: "
                "start it with engine='pytorch' (-O engine=pytorch)",
                param="adapters",
            )
        if not (Path(path) / "adapter_config.json").is_file():
            raise InvalidRequestError(
                f"no LoRA adapter {name!r} at {path}: it holds no adapter_config.json",
                param="adapters",
            )
        self._adapters[name] = path
        # The PyTorch engine takes its adapters when it starts: it starts again, with
        # every adapter, before the first request (once, however many are loaded).
        await self._close_engine()

    async def check_structured(self, structured: StructuredOutput) -> None:
        check_response_format(response_format(structured), structured.param)

    @property
    def tokenizer(self) -> Any:
        return self._tokenizer

    @property
    def max_model_len(self) -> int:
        return self._max_model_len

    @property
    def active_requests(self) -> int:
        return self._running

    async def prepare(self, request: PreparedRequest) -> PreparedRequest:
        await self._ready()
        return request

    async def generate(
        self, request: PreparedRequest, params: SamplingParams
    ) -> AsyncIterator[Delta]:
        engine = await self._ready()
        deltas = DeltaMaker(self._tokenizer, params.logprobs, whole=params.final_only)
        config = generation_config(params, self._stop_token_ids)
        deltas_of = stream(engine, request.prompt_token_ids, config, request.adapter, deltas)
        self._running += 1
        try:
            # Closed with this generator, not left for the garbage collector: the
            # request is cancelled in the engine at once.
            async with aclosing(deltas_of):
                async for delta in deltas_of:
                    yield delta
        finally:
            self._running -= 1

    async def aclose(self) -> None:
        await self._close_engine()

    async def _close_engine(self) -> None:
        if self._engine is None:
            return
        engine, self._engine = self._engine, None
        engine.close()
        await _engine_tasks_ended()


async def _engine_tasks_ended() -> None:
    """Wait until LMDeploy's own tasks on this event loop have ended.

    The PyTorch engine runs its loops as tasks of the loop that started it, and its
    ``close()`` only cancels them: left pending, they are destroyed when the loop
    closes, each printing an error at exit.
    """
    tasks = {task for task in asyncio.all_tasks() if _runs_lmdeploy_code(task)}
    if not tasks:
        return
    _, pending = await asyncio.wait(tasks, timeout=_CLOSE_TIMEOUT_S)
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending, timeout=_CLOSE_TIMEOUT_S)


def _runs_lmdeploy_code(task: asyncio.Task[Any]) -> bool:
    frame = getattr(task.get_coro(), "cr_frame", None)
    module = "" if frame is None else str(frame.f_globals.get("__name__", ""))
    return module.partition(".")[0] == "lmdeploy"
