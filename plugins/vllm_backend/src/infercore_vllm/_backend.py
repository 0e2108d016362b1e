"""The vLLM backend: vLLM's async engine, one request per infercore choice, or (loaded
for ``embed``, ``classify`` or ``score``) its pooling runner, one request per input."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from contextlib import aclosing, nullcontext
from dataclasses import replace
from typing import Any

from vllm.config import StructuredOutputsConfig
from vllm.exceptions import VLLMValidationError
from vllm.inputs import TextPrompt, TokensPrompt
from vllm.inputs.engine import tokens_input
from vllm.lora.request import LoRARequest
from vllm.platforms import current_platform
from vllm.sampling_params import RequestOutputKind, StructuredOutputsParams
from vllm.transformers_utils.processor import cached_processor_from_config
from vllm.v1.engine.async_llm import AsyncLLM

from infercore import (
    Backend,
    ClassifierHead,
    Delta,
    EngineError,
    InvalidRequestError,
    PoolingRequest,
    PreparedRequest,
    SamplingParams,
    StructuredOutput,
    TokenLogprobs,
    VideoClip,
)
from infercore.types import FinishReason
from infercore_vllm._gate import AdapterGate
from infercore_vllm._options import VllmOptions
from vllm import AsyncEngineArgs, PoolingParams
from vllm import SamplingParams as VllmSamplingParams

__all__ = ["VllmBackend"]

#: Options that map one to one onto vLLM's engine arguments when set.
_ENGINE_ARGS = (
    "gpu_memory_utilization",
    "max_model_len",
    "max_num_seqs",
    "dtype",
    "quantization",
    "enforce_eager",
    "enable_prefix_caching",
    "tensor_parallel_size",
    "pipeline_parallel_size",
    "data_parallel_size",
    "distributed_executor_backend",
    "limit_mm_per_prompt",
    "enable_lora",
    "max_loras",
    "max_lora_rank",
    "seed",
    "trust_remote_code",
)

_FINISH: dict[str, FinishReason] = {"stop": "stop", "length": "length"}


def engine_args(model: str, options: VllmOptions) -> AsyncEngineArgs:
    settings: dict[str, Any] = {
        name: getattr(options, name) for name in _ENGINE_ARGS if getattr(options, name) is not None
    }
    if options.task != "generate":
        # The pooling runner: the model's own pooler (read from its sentence-transformers
        # config where it has one), a sequence classifier's head, or a generative model
        # converted to embed.
        settings["runner"] = "pooling"
    if "structured_outputs_config" not in options.engine_kwargs:
        # xgrammar, as the pt backend uses, and JSON without optional whitespace,
        # as it compiles it: a model may otherwise sample blank space without end.
        # vLLM takes the whitespace setting for the whole engine only (a request's
        # own flag is not read), and only with a named grammar backend.
        settings["structured_outputs_config"] = StructuredOutputsConfig(
            backend="xgrammar", disable_any_whitespace=True
        )
    return AsyncEngineArgs(model=model, **settings, **options.engine_kwargs)


def structured_outputs(structured: StructuredOutput) -> StructuredOutputsParams:
    """vLLM's form of a constraint (whitespace is the engine's setting: `engine_args`)."""
    if structured.reasoning is not None:
        # The thinking, then the constraint: one grammar over the whole answer.
        return StructuredOutputsParams(structural_tag=json.dumps(structured.structural_tag()))
    if structured.kind == "json_schema":
        return StructuredOutputsParams(json=structured.schema)
    if structured.kind == "regex":
        return StructuredOutputsParams(regex=structured.spec)
    return StructuredOutputsParams(choice=structured.choices)


def sampling_params(params: SamplingParams) -> VllmSamplingParams:
    """vLLM's settings for one sequence; unset fields keep vLLM's defaults."""
    settings: dict[str, Any] = {
        name: value
        for name in (
            "temperature",
            "top_p",
            "min_p",
            "repetition_penalty",
            "presence_penalty",
            "frequency_penalty",
            "seed",
        )
        if (value := getattr(params, name)) is not None
    }
    if params.top_k is not None:
        settings["top_k"] = max(params.top_k, 0)  # vLLM: 0 disables top-k
    if params.structured is not None:
        settings["structured_outputs"] = structured_outputs(params.structured)
    return VllmSamplingParams(
        n=1,
        max_tokens=params.max_tokens,
        ignore_eos=params.ignore_eos,
        logprobs=params.logprobs,
        # A whole answer comes in one output: vLLM then skips the work of each step's.
        output_kind=RequestOutputKind.FINAL_ONLY if params.final_only else RequestOutputKind.DELTA,
        skip_special_tokens=True,
        **settings,
    )


class VllmBackend(Backend[VllmOptions]):
    def __init__(self, model: str, options: VllmOptions) -> None:
        super().__init__(model, options)
        self._engine = AsyncLLM.from_engine_args(engine_args(model, options))
        self._tokenizer = self._engine.get_tokenizer()
        # vLLM's own copy of the checkpoint's processor, which expands the placeholders.
        model_config = self._engine.model_config
        self._processor = (
            cached_processor_from_config(model_config) if model_config.is_multimodal_model else None
        )
        self._max_model_len = int(self._engine.model_config.max_model_len)
        self._head = (
            ClassifierHead.from_config(model_config.hf_config.to_dict())
            if options.task in ("classify", "score")
            else None
        )
        self._lora_enabled = options.enable_lora
        self._adapters: dict[str, LoRARequest] = {}
        # vLLM's CPU LoRA kernels pick each token's adapter with
        # `weights[index]`, so a base request (index -1) in a batch with
        # adapter requests gets the last adapter slot applied. On the CPU,
        # requests for different adapters (or none) therefore never run
        # together; on GPUs the kernels mask index -1 and all mix freely.
        self._gate = AdapterGate() if current_platform.is_cpu() else None

    async def load_adapter(self, name: str, path: str) -> None:
        if not self._lora_enabled:
            raise InvalidRequestError(
                "LoRA is off in this vLLM engine: start it with enable_lora=true "
                "(-O enable_lora=true) and a max_lora_rank of at least the adapter's rank",
                param="adapters",
            )
        adapter = LoRARequest(lora_name=name, lora_int_id=len(self._adapters) + 1, lora_path=path)
        try:
            await self._engine.add_lora(adapter)
        except Exception as exc:
            raise InvalidRequestError(
                f"vLLM cannot load LoRA adapter {name!r} from {path}: {exc}", param="adapters"
            ) from exc
        self._adapters[name] = adapter

    async def check_structured(self, structured: StructuredOutput) -> None:
        # vLLM's own check of a request, as its engine makes it on submission,
        # but before anything is sent: what none of its grammar backends takes.
        config = self._engine.vllm_config
        probe = VllmSamplingParams(max_tokens=1, structured_outputs=structured_outputs(structured))
        try:
            probe.verify(
                config.model_config,
                config.speculative_config,
                config.structured_outputs_config,
                self._tokenizer,
            )
        except (ValueError, VLLMValidationError) as exc:
            raise InvalidRequestError(
                f"vLLM refuses {structured.param}: {exc}", param=structured.param
            ) from None

    @property
    def tokenizer(self) -> Any:
        return self._tokenizer

    @property
    def processor(self) -> Any:
        return self._processor

    @property
    def max_model_len(self) -> int:
        return self._max_model_len

    @property
    def active_requests(self) -> int:
        return int(self._engine.get_num_unfinished_requests())

    @property
    def classifier_head(self) -> ClassifierHead | None:
        return self._head

    async def pool(self, requests: Sequence[PoolingRequest]) -> list[list[float]]:
        # Each input is one vLLM request; the engine's scheduler batches them.
        return list(await asyncio.gather(*(self._pool_one(request) for request in requests)))

    async def _pool_one(self, request: PoolingRequest) -> list[float]:
        # The core has tokenized and bounded the input: it goes to the engine as it is.
        prompt = tokens_input(list(request.prompt_token_ids))
        # A score is the classifier's head on a pair (vLLM has one pooling task for both);
        # the core applies the activation, so the head's raw logits are asked for.
        params = (
            PoolingParams(task="embed")
            if request.task == "embed"
            else PoolingParams(task="classify", use_activation=False)
        )
        outputs = self._engine.encode(prompt, params, request.request_id)
        final = None
        async with aclosing(outputs):
            async for output in outputs:
                final = output
        if final is None:
            raise EngineError(f"vLLM returned nothing for pooling request {request.request_id}")
        vector: list[float] = final.outputs.data.tolist()
        return vector

    async def generate(
        self, request: PreparedRequest, params: SamplingParams
    ) -> AsyncIterator[Delta]:
        prompt: Any = TokensPrompt(prompt_token_ids=list(request.prompt_token_ids))
        if request.has_media:
            # vLLM's own processor expands each placeholder of the text prompt.
            prompt = TextPrompt(prompt=request.prompt, multi_modal_data=_media_data(request))
        adapter = self._adapters[request.adapter] if request.adapter is not None else None
        async with self._gate.hold(request.adapter) if self._gate else nullcontext():
            outputs = self._engine.generate(
                prompt, sampling_params(params), request.request_id, lora_request=adapter
            )
            # Closing vLLM's generator (the caller stopped) makes it abort the request.
            async with aclosing(outputs):
                first = True
                async for output in outputs:
                    delta = _delta(output, params.logprobs)
                    if first and request.has_media:
                        delta = replace(delta, prompt_tokens=len(output.prompt_token_ids))
                    first = False
                    yield delta

    async def aclose(self) -> None:
        self._engine.shutdown()
        # Dropped now, its finaliser runs while the interpreter is whole,
        # rather than at exit where it fails noisily.
        del self._engine


def _media_data(request: PreparedRequest) -> dict[str, Any]:
    data: dict[str, Any] = {}
    if request.images:
        data["image"] = list(request.images)
    if request.videos:
        data["video"] = [(clip.frames, _video_metadata(clip)) for clip in request.videos]
    if request.audios:
        # Already at the rate of the processor's feature extractor, as vLLM expects.
        data["audio"] = list(request.audios)
    return data


def _video_metadata(clip: VideoClip) -> dict[str, Any]:
    """What vLLM's own video loader tells the processor about frames it sampled,
    so that the processor samples no more and places each frame in time."""
    return {
        "total_num_frames": clip.total_frames,
        "fps": clip.source_fps,
        "duration": clip.duration,
        "frames_indices": list(clip.frame_indices),
        "do_sample_frames": False,
    }


def _delta(output: Any, top_logprobs: int | None) -> Delta:
    sequence = output.outputs[0]
    finish = None
    if sequence.finish_reason is not None:
        finish = _FINISH.get(sequence.finish_reason)
        if finish is None:
            raise EngineError(f"vLLM ended the request: {sequence.finish_reason}")
    return Delta(
        tuple(sequence.token_ids),
        sequence.text,
        _logprobs(sequence.token_ids, sequence.logprobs, top_logprobs),
        finish,
    )


def _logprobs(token_ids: Any, logprobs: Any, top: int | None) -> tuple[TokenLogprobs, ...] | None:
    if top is None or logprobs is None:
        return None
    entries = []
    for token_id, candidates in zip(token_ids, logprobs, strict=True):
        ranked = sorted(candidates.items(), key=lambda item: item[1].rank)
        best = tuple((tid, float(lp.logprob)) for tid, lp in ranked if lp.rank <= top)
        entries.append(TokenLogprobs(token_id, float(candidates[token_id].logprob), best[:top]))
    return tuple(entries)
