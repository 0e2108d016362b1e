"""The transformers backend: loads the model and streams tokens from the scheduler."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import warnings
from collections.abc import AsyncIterator, Hashable, Sequence
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoModelForMultimodalLM, AutoTokenizer
from transformers.utils import logging as hf_logging

from infercore import (
    Backend,
    ClassifierHead,
    Delta,
    EngineError,
    IncrementalDetokenizer,
    InvalidRequestError,
    PoolingRequest,
    PreparedRequest,
    SamplingParams,
    StructuredOutput,
)
from infercore_pt import _decode_attention as decode_attention
from infercore_pt._batched import BatchedModel
from infercore_pt._classifier import SequenceClassifier, TokenClassifier
from infercore_pt._encoder import SentenceEncoder
from infercore_pt._few_rows_linear import use_few_rows_linear
from infercore_pt._grammar import Grammars
from infercore_pt._inputs import MediaInputs, encode_media
from infercore_pt._options import PtOptions
from infercore_pt._prefix_cache import PrefixCache
from infercore_pt._processor import load_multimodal_processor
from infercore_pt._quantization import quiet_int8_casts
from infercore_pt._sampling import RowState
from infercore_pt._scheduler import Scheduler, SequenceState, Step
from infercore_pt._versions import installed_lora_incompatibility

__all__ = ["PtBackend"]

_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def _cpu_has_fast_bf16() -> bool:
    return bool(
        torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()
    )


def _choose_dtype(name: str, device: torch.device, *, pooling: bool = False) -> torch.dtype | str:
    if name != "auto":
        return _DTYPES[name]
    # Pooling models keep the checkpoint's precision: bfloat16 moves embeddings by ~1e-3
    # in cosine, and a classifier's probabilities as much.
    if device.type == "cpu" and not pooling:
        return torch.bfloat16 if _cpu_has_fast_bf16() else torch.float32
    return "auto"


def _eos_ids(model: Any, tokenizer: Any) -> frozenset[int]:
    ids: set[int] = set()
    configured = getattr(model.generation_config, "eos_token_id", None)
    if isinstance(configured, int):
        ids.add(configured)
    elif configured:
        ids.update(configured)
    if tokenizer.eos_token_id is not None:
        ids.add(tokenizer.eos_token_id)
    return frozenset(ids)


class PtBackend(Backend[PtOptions]):
    def __init__(self, model: str, options: PtOptions) -> None:
        super().__init__(model, options)
        if options.device is not None:
            device = torch.device(options.device)
        else:
            device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self._pooler: BatchedModel | None = None
        self._head: ClassifierHead | None = None
        if options.task != "generate":
            self._load_pooler(model, options, device)
            return
        self._processor = load_multimodal_processor(
            model, trust_remote_code=options.trust_remote_code
        )
        if self._processor is not None:
            self._tokenizer = self._processor.tokenizer
        else:
            self._tokenizer = AutoTokenizer.from_pretrained(
                model, trust_remote_code=options.trust_remote_code
            )
        kwargs: dict[str, Any] = dict(options.model_kwargs)
        if options.attn_implementation is not None:
            kwargs["attn_implementation"] = options.attn_implementation
        auto_model = AutoModelForCausalLM if self._processor is None else AutoModelForMultimodalLM
        self._model = auto_model.from_pretrained(
            model,
            dtype=_choose_dtype(options.dtype, device),
            device_map=options.device_map if options.device_map is not None else device,
            trust_remote_code=options.trust_remote_code,
            **kwargs,
        ).eval()
        quiet_int8_casts(self._model.config)
        use_few_rows_linear(self._model)
        if (
            self._processor is None
            and "attn_implementation" not in kwargs
            and self._model.config._attn_implementation == "sdpa"
        ):
            # Only in place of the default: a kernel the user chose stays.
            self._model.set_attn_implementation(decode_attention.register())
        # A vision-language config nests the language model's own.
        config = self._model.config.get_text_config()
        self._max_model_len = (
            options.max_model_len
            or getattr(config, "max_position_embeddings", None)
            or self._tokenizer.model_max_length
        )
        eos_ids = _eos_ids(self._model, self._tokenizer)
        self._eos_ids = eos_ids
        pad_id = self._tokenizer.pad_token_id
        if pad_id is None:
            pad_id = min(eos_ids) if eos_ids else 0
        self._adapter: Hashable = None
        self._scheduler: Scheduler | None = Scheduler(
            self._model,
            eos_ids,
            pad_id,
            options.max_batch_size,
            self._select_adapter,
            PrefixCache(options.prefix_cache_tokens) if options.enable_prefix_caching else None,
            options.max_num_batched_tokens if options.enable_chunked_prefill else None,
        )

    def _load_pooler(self, model: str, options: PtOptions, device: torch.device) -> None:
        """Loaded for a pooling task: with ``task="embed"`` an encoder and its pooling,
        with ``"classify"`` or ``"score"`` a sequence classifier, with
        ``"token_classify"`` a token classifier; no generation."""
        dtype = _choose_dtype(options.dtype, device, pooling=True)
        if options.task == "embed":
            self._pooler = SentenceEncoder(model, options, device, dtype)
        else:
            kind = TokenClassifier if options.task == "token_classify" else SequenceClassifier
            classifier = kind(model, options, device, dtype)
            self._head = classifier.head
            self._pooler = classifier
        self._processor = None
        self._tokenizer = self._pooler.tokenizer
        self._model = self._pooler.model
        self._max_model_len = self._pooler.max_model_len
        self._scheduler = None

    async def load_adapter(self, name: str, path: str) -> None:
        # transformers' own PEFT integration keeps the model object the
        # scheduler holds, with adapters switched per batch. Its load report
        # would list every base weight as "missing" (an adapter holds none of
        # them), which reads as a failure: keep it to real errors. peft warns
        # that a second adapter makes a model hold several, which is the point.
        incompatibility = installed_lora_incompatibility()
        if incompatibility is not None:
            raise EngineError(incompatibility)
        verbosity = hf_logging.get_verbosity()
        hf_logging.set_verbosity_error()
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", "Already found a `peft_config`", UserWarning)
                self._model.load_adapter(path, adapter_name=name)
        except (OSError, ValueError) as exc:
            raise InvalidRequestError(
                f"cannot load LoRA adapter {name!r} from {path}: {exc}", param="adapters"
            ) from exc
        finally:
            hf_logging.set_verbosity(verbosity)
        self._model.disable_adapters()

    def _select_adapter(self, name: Hashable) -> None:
        """Ready the model for a batch of requests for adapter ``name`` (None: the base)."""
        if name == self._adapter:
            return
        if name is None:
            self._model.disable_adapters()
        else:
            self._model.set_adapter(name)
            self._model.enable_adapters()
        self._adapter = name

    @functools.cached_property
    def _grammars(self) -> Grammars:
        """Built on the first request for structured output: it reads the whole vocabulary."""
        vocab_size = self._model.config.get_text_config().vocab_size
        return Grammars(self._tokenizer, vocab_size, self._eos_ids)

    async def check_structured(self, structured: StructuredOutput) -> None:
        # Compiled now, off the loop, so that generate finds it in the cache.
        await asyncio.to_thread(lambda: self._grammars.compile(structured))

    @property
    def hf_model(self) -> Any:
        """The transformers model, for inspection; the scheduler's thread runs it."""
        return self._model

    @property
    def tokenizer(self) -> Any:
        return self._tokenizer

    @property
    def processor(self) -> Any:
        return self._processor

    @property
    def max_model_len(self) -> int:
        return int(self._max_model_len)

    @property
    def active_requests(self) -> int:
        if self._pooler is not None:
            return self._pooler.active
        assert self._scheduler is not None
        return self._scheduler.active

    @property
    def classifier_head(self) -> ClassifierHead | None:
        return self._head

    async def pool(self, requests: Sequence[PoolingRequest]) -> list[list[float]]:
        if self._pooler is None:
            raise EngineError("this pt engine was loaded to generate, not to pool")
        wrong = {request.task for request in requests} - {self.options.task}
        if wrong:
            raise EngineError(f"this pt engine was loaded for {self.options.task!r}, not {wrong}")
        return await self._pooler.run([request.prompt_token_ids for request in requests])

    async def prepare(self, request: PreparedRequest) -> PreparedRequest:
        """The processor expands the media placeholders now, so that a refusal is the
        client's 400 and the engine checks the expanded prompt against the context."""
        if not request.has_media:
            return request
        media = await self._encode_media(request)
        return dataclasses.replace(request, prompt_token_ids=media.prompt_ids, inputs=media)

    async def generate(
        self, request: PreparedRequest, params: SamplingParams
    ) -> AsyncIterator[Delta]:
        media: MediaInputs | None = request.inputs
        if request.has_media and media is None:
            raise EngineError("a request with media reached generate without prepare")
        prompt_ids = request.prompt_token_ids
        grammar = None if params.structured is None else self._grammars.row(params.structured)
        steps: asyncio.Queue[Step | BaseException] = asyncio.Queue()
        sequence = SequenceState(
            prompt_ids=prompt_ids,
            params=params,
            row=RowState.create(params, prompt_ids, self._model.device, grammar),
            loop=asyncio.get_running_loop(),
            receive=steps.put_nowait,
            batch_key=request.adapter,
            media=media,
        )
        if self._scheduler is None:
            raise EngineError(
                f"this pt engine was loaded for {self.options.task!r}, not to generate"
            )
        self._scheduler.submit(sequence)
        detokenizer = IncrementalDetokenizer(self._tokenizer)
        try:
            while True:
                step = await steps.get()
                if isinstance(step, BaseException):
                    raise step
                token, logprobs, finish = step
                text = detokenizer.push([token])
                if finish is not None:
                    text += detokenizer.flush()
                yield Delta((token,), text, logprobs, finish)
                if finish is not None:
                    return
        finally:
            sequence.cancelled = True

    async def _encode_media(self, request: PreparedRequest) -> MediaInputs:
        if self._processor is None:
            raise InvalidRequestError(
                f"the model {self.model!r} takes text only: it has no multimodal processor; "
                "send images, videos and audio to a model made for them",
                param="messages",
            )
        for items, part, kind in (
            (request.images, "image_processor", "images"),
            (request.videos, "video_processor", "videos"),
            (request.audios, "feature_extractor", "audio"),
        ):
            if items and getattr(self._processor, part, None) is None:
                raise InvalidRequestError(
                    f"the model {self.model!r} does not take {kind}: its processor has no {part}",
                    param="messages",
                )
        try:
            # Pixel preprocessing is CPU work: keep it off the event loop.
            media = await asyncio.to_thread(encode_media, self._processor, request)
        except (ValueError, TypeError) as exc:
            raise InvalidRequestError(
                f"the model's processor refused the media: {exc}", param="messages"
            ) from exc
        return media

    async def aclose(self) -> None:
        # Joined on the loop, not in a worker thread: an engine left open is
        # closed at interpreter exit, when no new thread can start. The wait
        # is at most the decode step (or the pooling batch) in progress.
        if self._pooler is not None:
            self._pooler.close()
        if self._scheduler is not None:
            self._scheduler.stop()
