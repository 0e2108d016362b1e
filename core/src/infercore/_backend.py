"""The backend contract: what a backend author implements, and what the core owns.

A backend turns one prepared request into an asynchronous stream of token
deltas (the ``generate`` task), or a batch of token sequences into pooled
vectors (``embed``) or a classifier's logits (``classify``, ``score``), through
:meth:`Backend.pool`. Everything that is common
to all backends (validation, chat rendering, ``n``, stop strings, aggregation,
usage, the logprobs shape, errors) lives in the core, so a backend stays small.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Literal, Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from infercore._classifier_head import ClassifierHead
from infercore._media import Modality
from infercore._structured import StructuredOutput

__all__ = [
    "Backend",
    "BackendOptions",
    "Capabilities",
    "Delta",
    "PoolingRequest",
    "PreparedRequest",
    "SamplingParams",
    "Task",
    "TokenLogprobs",
    "Tokenizer",
]

#: What a backend can be asked to do: generate text; embed, classify or score inputs;
#: classify each token (``token_classify``: a process reward model's steps).
Task = Literal["generate", "embed", "classify", "score", "token_classify"]

#: The sampling settings a backend may declare it honours.
SAMPLING_FIELDS = frozenset(
    {
        "temperature",
        "top_p",
        "top_k",
        "min_p",
        "repetition_penalty",
        "presence_penalty",
        "frequency_penalty",
        "seed",
        "ignore_eos",
    }
)


@dataclass(frozen=True)
class Capabilities:
    """What a backend can do; the engine refuses a request that needs more.

    Nothing is claimed by default but the one task every backend serves:
    a backend lists what it honours, and a request that asks for anything
    else is refused rather than silently ignored. ``sampling`` names the
    :class:`SamplingParams` fields it honours (see ``SAMPLING_FIELDS``).
    """

    tasks: frozenset[Task] = frozenset({"generate"})
    sampling: frozenset[str] = frozenset()
    #: The most alternatives per token it reports; ``None``: no logprobs at all.
    max_top_logprobs: int | None = None
    modalities: frozenset[Modality] = frozenset()
    lora: bool = False
    #: Whether it constrains answers to a JSON schema, a regex or a choice
    #: (:attr:`SamplingParams.structured`).
    structured_output: bool = False

    def __post_init__(self) -> None:
        unknown = self.sampling - SAMPLING_FIELDS
        if unknown:
            raise ValueError(
                f"unknown sampling settings {sorted(unknown)}; a backend may claim only "
                f"{sorted(SAMPLING_FIELDS)}"
            )

    def describe(self) -> list[str]:
        """Short words for listings such as ``infercore backends``."""
        words: list[str] = sorted(self.tasks)
        words.extend(sorted(self.sampling))
        if self.max_top_logprobs is not None:
            words.append(f"logprobs(top {self.max_top_logprobs})")
        words.extend(sorted(self.modalities))
        if self.lora:
            words.append("lora")
        if self.structured_output:
            words.append("structured-output")
        return words


class BackendOptions(BaseModel):
    """The base of every backend's typed engine options.

    Subclasses add fields; an option a backend does not define is refused.
    ``task`` is every backend's: what the engine loads the model for (an
    embedding model for ``"embed"``, say); the engine refuses a task that the
    backend's :class:`Capabilities` do not list.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    task: Task = Field(
        default="generate",
        description="what to load the model for: one of the tasks its capabilities list",
    )


@runtime_checkable
class Tokenizer(Protocol):
    """The part of a Hugging Face tokenizer that the core uses."""

    def apply_chat_template(self, conversation: Any, /, **kwargs: Any) -> Any: ...

    def encode(self, text: str, /, **kwargs: Any) -> list[int]: ...

    def decode(self, token_ids: Any, /, **kwargs: Any) -> str: ...


@dataclass(frozen=True)
class PreparedRequest:
    """A request after validation and chat rendering, ready for a backend.

    ``prompt_token_ids`` is what the model must see; ``prompt`` is the same
    prompt as text, for backends that only take text. With media, the prompt
    holds one placeholder per item (``<image>``, say) and the backend's
    processor expands each into the model's media tokens. ``adapter`` names a
    LoRA adapter given to :meth:`Backend.load_adapter`, or is ``None`` for
    the base model.
    """

    request_id: str
    prompt: str
    prompt_token_ids: Sequence[int]
    adapter: str | None = None
    #: Loaded media, in the order of their placeholders in the prompt: Pillow
    #: images, :class:`infercore.VideoClip`\s, and mono float32 audio arrays
    #: at the processor's sampling rate.
    images: tuple[Any, ...] = ()
    videos: tuple[Any, ...] = ()
    audios: tuple[Any, ...] = ()
    #: What :meth:`Backend.prepare` made for :meth:`Backend.generate` (a processor's
    #: tensors, say); the core carries it along untouched.
    inputs: Any = None

    @property
    def has_media(self) -> bool:
        return bool(self.images or self.videos or self.audios)


@dataclass(frozen=True)
class SamplingParams:
    """How to sample one sequence. ``None`` means the backend's default.

    ``max_tokens`` is always set: the engine bounds it by the model's context.
    ``logprobs`` is the number of alternatives to report per token, or
    ``None`` for no logprobs at all (``0`` reports only the chosen token's).
    ``structured``, only for a backend that declares ``structured_output``,
    constrains the text: the backend allows only tokens that keep it valid, and
    finishes with ``"stop"`` once the constraint is complete.
    ``final_only`` says that the caller reads nothing before the sequence is
    finished (a whole answer, with no stop strings to watch): a backend whose
    engine is cheaper asked for whole sequences may then send all of it in the
    delta that carries the finish; one that streams anyway is just as right.
    """

    max_tokens: int
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    min_p: float | None = None
    repetition_penalty: float | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    seed: int | None = None
    ignore_eos: bool = False
    logprobs: int | None = None
    structured: StructuredOutput | None = None
    final_only: bool = False

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0 or self.top_k == 1


@dataclass(frozen=True)
class TokenLogprobs:
    """The log-probability of one generated token and of its best alternatives.

    ``top`` holds up to ``SamplingParams.logprobs`` (token id, logprob) pairs, best
    first. Where fewer tokens are possible at that step, the list is shorter: the
    engine drops alternatives whose logprob is not finite (-inf: no chance at all).
    """

    token_id: int
    logprob: float
    top: tuple[tuple[int, float], ...] = ()


@dataclass(frozen=True)
class Delta:
    """What one step of generation adds to a sequence.

    ``text`` is the newly decoded text: a backend never emits half of a
    multi-byte character (it holds bytes back until they decode; see
    :class:`infercore.IncrementalDetokenizer`). ``finish_reason`` is set on
    the last delta only: ``"stop"`` at an end-of-sequence token, ``"length"``
    at ``max_tokens``.
    """

    token_ids: tuple[int, ...]
    text: str
    logprobs: tuple[TokenLogprobs, ...] | None = None
    finish_reason: Literal["stop", "length"] | None = None
    #: Only from an engine that expands media placeholders itself, inside
    #: generation (vLLM): on the first delta, how many tokens the prompt holds
    #: once expanded, for usage. A backend that expands in :meth:`Backend.prepare`
    #: returns the expanded ``prompt_token_ids`` there instead.
    prompt_tokens: int | None = None


@dataclass(frozen=True)
class PoolingRequest:
    """One input to pool: its token ids, exactly as the model must see them.

    The core has tokenized the input (special tokens included), applied any
    truncation and checked the length against :attr:`Backend.max_model_len`.
    ``task`` says which pooled output is wanted: ``"embed"``, the model's sentence
    embedding; ``"classify"``, its sequence-classification head's raw logits, one
    per label; ``"score"``, the same for a (query, document) pair that the core
    joined as the tokenizer joins two texts (a head of one label: its one logit);
    ``"token_classify"``, a token-classification head's raw logits at every token,
    flattened token by token (``len(prompt_token_ids) * labels`` numbers).
    """

    request_id: str
    prompt_token_ids: tuple[int, ...]
    task: Task = "embed"


OptionsT = TypeVar("OptionsT", bound=BackendOptions)


class Backend(abc.ABC, Generic[OptionsT]):
    """An inference engine behind the core, generic over its typed options.

    The core creates one instance per :class:`infercore.Engine`, on the
    engine's own event loop, with ``options`` already validated against the
    options model that its :class:`~infercore.BackendSpec` declares, and calls
    :meth:`prepare` and :meth:`generate` concurrently from that loop. The
    backend owns the model, its tokenizer and any batching; the core owns
    everything that is the same for every backend.
    """

    def __init__(self, model: str, options: OptionsT) -> None:
        self.model = model
        self.options = options

    @property
    @abc.abstractmethod
    def tokenizer(self) -> Tokenizer:
        """The model's tokenizer, whose chat template renders every prompt."""

    @property
    def processor(self) -> Tokenizer | None:
        """The model's multimodal processor, whose chat template renders prompts with media.

        ``None`` (the default) for text-only models; a backend that declares
        modalities in its :class:`Capabilities` returns it.
        """
        return None

    @property
    @abc.abstractmethod
    def max_model_len(self) -> int:
        """The most tokens, prompt and output together, that one sequence may hold."""

    @property
    @abc.abstractmethod
    def active_requests(self) -> int:
        """How many requests the backend holds now, running or waiting."""

    async def prepare(self, request: PreparedRequest) -> PreparedRequest:
        """Ready ``request`` for :meth:`generate`, or refuse it; by default as it is.

        The engine awaits this before anything of the answer is sent, so every
        fault of the client's found here (a media item the processor refuses,
        say) reaches it as an :class:`~infercore.InvalidRequestError` (a 400 on
        the server), never as an error in the middle of a stream. A backend
        whose processor expands media placeholders does it here and returns
        the request with the expanded ``prompt_token_ids`` (the engine then
        checks them against :attr:`max_model_len` and counts them in usage)
        and whatever :meth:`generate` needs in ``inputs``. Called once per
        request, not per choice.
        """
        return request

    async def check_structured(self, structured: StructuredOutput) -> None:
        """Refuse ``structured`` if this backend cannot compile it; by default accept it.

        The engine awaits this once per request that asks for structured
        output (only of a backend that declares ``structured_output``), before
        anything of the answer is sent, so that a schema or pattern the grammar
        engine refuses is an :class:`~infercore.InvalidRequestError` naming
        ``structured.param`` (a 400 on the server), never an error mid-stream.
        A backend may compile here what :meth:`generate` then reuses.
        """

    @abc.abstractmethod
    def generate(self, request: PreparedRequest, params: SamplingParams) -> AsyncIterator[Delta]:
        """Generate one sequence for ``request``, yielding deltas as tokens come.

        The stream ends after the delta that carries a ``finish_reason``. The
        caller may stop iterating early (``aclose``, or cancellation of the
        task): the backend must then release the request at once, so that
        :attr:`active_requests` no longer counts it. Stop strings, ``n`` and
        aggregation are the core's: the backend stops only at end-of-sequence
        tokens (unless ``params.ignore_eos``) and at ``params.max_tokens``.
        """

    async def pool(self, requests: Sequence[PoolingRequest]) -> list[list[float]]:
        """One pooled vector per request, in their order.

        Asked only of a backend whose :class:`Capabilities` list the request's
        task and whose engine was loaded for it (``options.task``). For
        ``"embed"`` it is the model's sentence embedding as the model's own
        configuration defines it: its pooling (mean, CLS, last token) and, where
        the model normalises, unit length (for the other tasks, see
        :class:`PoolingRequest`). The backend owns the forward pass and
        its batching (the requests may be many); the core owns the inputs'
        validation, tokenization and length limits, the response shape, usage,
        the wire encodings and ``dimensions``. For ``"classify"``, ``"score"`` and
        ``"token_classify"`` it is the head's raw logits, before any activation:
        the core applies the one :attr:`classifier_head` names.
        """
        raise NotImplementedError(f"{type(self).__name__} does not pool")

    @property
    def classifier_head(self) -> ClassifierHead | None:
        """The model's classification head, where the engine was loaded for ``"classify"``,
        ``"score"`` or ``"token_classify"``: ``ClassifierHead.from_config`` on the checkpoint's
        config (its labels, and the activation its ``problem_type`` names). ``None``
        (the default) for other tasks."""
        return None

    async def load_adapter(self, name: str, path: str) -> None:
        """Load the LoRA adapter at ``path`` under ``name``, before any request uses it.

        Only backends whose :class:`Capabilities` declare ``lora`` are asked.
        Requests naming the adapter must never share a batch with requests
        that name another adapter or none.
        """
        raise NotImplementedError(f"{type(self).__name__} does not load LoRA adapters")

    async def aclose(self) -> None:
        """Release the model and any worker; the engine calls it once, last."""
