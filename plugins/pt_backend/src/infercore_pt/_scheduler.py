"""The worker thread that owns the model and batches every request it is given."""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from infercore import EngineError, SamplingParams, TokenLogprobs
from infercore.types import FinishReason
from infercore_pt._batch import Batch
from infercore_pt._inputs import MediaInputs
from infercore_pt._prefill import Prefill, prompt_kv
from infercore_pt._prefix_cache import CachedPrefix, PrefixCache
from infercore_pt._sampling import RowState, sample

__all__ = ["Scheduler", "SequenceState"]

#: What a sequence receives per step: the token, its logprobs, the finish reason.
Step = tuple[int, tuple[TokenLogprobs, ...] | None, FinishReason | None]


@dataclass(eq=False)
class SequenceState:
    """One request inside the scheduler.

    ``batch_key`` says which sequences may share a batch (for example the
    same LoRA adapter); ``media`` holds the processor's tensors of a prompt
    with images, videos or audio; ``cancelled`` is
    set by the consumer and honoured at the next step.
    """

    prompt_ids: Sequence[int]
    params: SamplingParams
    row: RowState
    loop: asyncio.AbstractEventLoop
    receive: Callable[[Step | BaseException], None]
    batch_key: Hashable = None
    media: MediaInputs | None = None
    cancelled: bool = field(default=False)


def _prefill_together(first: SequenceState, other: SequenceState) -> bool:
    """Text prompts prefill together; prompts with media together when their tensors
    stack. Either way, all of them then decode in one batch."""
    if first.media is None or other.media is None:
        return first.media is None and other.media is None
    return first.media.stacks_with(other.media)


def _deliver(items: list[tuple[SequenceState, Step | BaseException]]) -> None:
    for sequence, item in items:
        sequence.receive(item)


class Scheduler:
    """Decodes up to ``max_batch_size`` sequences at a time on one thread.

    New sequences are prefilled together and join the running batch once
    their prompts are in; finished and cancelled ones leave it at once. Only
    sequences with one ``batch_key`` share a batch; ``select(key)`` readies
    the model for that key (a LoRA adapter) before each forward pass.

    With a ``prefix_cache``, text prompts start from the KV that earlier
    prompts left of their longest shared prefix. With ``step_tokens``, a step
    feeds at most that many tokens, the running rows' and the entering
    prompts' together, so a long prompt enters over several steps while the
    running rows keep decoding (chunked prefill); without, prompts enter whole.
    """

    def __init__(
        self,
        model: Any,
        eos_ids: frozenset[int],
        pad_id: int,
        max_batch_size: int,
        select: Callable[[Hashable], None],
        prefix_cache: PrefixCache | None = None,
        step_tokens: int | None = None,
    ) -> None:
        self._model = model
        self._select = select
        self._eos_ids = eos_ids
        self._pad_id = pad_id
        self._max_batch_size = max_batch_size
        self._prefix_cache = prefix_cache
        self._step_tokens = step_tokens
        self._waiting: deque[SequenceState] = deque()
        self._condition = threading.Condition()
        self._stopping = False
        self._held = 0
        self._thread = threading.Thread(target=self._run, name="infercore-pt", daemon=True)
        self._thread.start()

    @property
    def active(self) -> int:
        """Sequences waiting, entering or decoding."""
        return self._held

    def submit(self, sequence: SequenceState) -> None:
        with self._condition:
            if self._stopping:
                raise EngineError("the pt backend is closed")
            self._waiting.append(sequence)
            self._held += 1
            self._condition.notify()

    def stop(self) -> None:
        with self._condition:
            self._stopping = True
            self._condition.notify()
        self._thread.join()

    def _release(self, count: int) -> None:
        with self._condition:
            self._held -= count

    def _admit(self, batch: Batch | None) -> list[SequenceState]:
        """Take waiting sequences that may join ``batch``, oldest first."""
        if batch is not None and not batch.can_merge:
            return []
        room = self._max_batch_size - (len(batch.members) if batch is not None else 0)
        key = batch.members[0].batch_key if batch is not None else None
        admitted: list[SequenceState] = []
        while self._waiting and room > 0:
            head = self._waiting[0]
            if head.cancelled:
                self._waiting.popleft()
                self._held -= 1
                continue
            if batch is None and not admitted:
                key = head.batch_key
            if head.batch_key != key:
                break
            if admitted and not _prefill_together(admitted[0], head):
                break
            admitted.append(self._waiting.popleft())
            room -= 1
        return admitted

    def _run(self) -> None:
        batch: Batch | None = None
        entering: Prefill | None = None
        with torch.inference_mode():
            while True:
                with self._condition:
                    while (
                        not self._waiting
                        and batch is None
                        and entering is None
                        and not self._stopping
                    ):
                        self._condition.wait()
                    if self._stopping:
                        closed = EngineError("the pt backend was closed")
                        self._fail(list(self._waiting), closed)
                        for group in (batch, entering):
                            if group is not None:
                                self._fail(group.members, closed)
                        return
                    joining = self._admit(batch) if entering is None else []
                try:
                    if joining:
                        entering = self._enter(joining)
                    batch, entering = self._iterate(batch, entering)
                except Exception as exc:
                    failed = [s for group in (batch, entering) if group for s in group.members]
                    failed += [s for s in joining if s not in failed]
                    self._fail(failed, EngineError(f"the model failed: {exc!r}"))
                    batch, entering = None, None

    def _enter(self, joining: list[SequenceState]) -> Prefill:
        """Start the prefill of ``joining``, from the prefixes the cache holds."""
        media = [s.media for s in joining if s.media is not None]
        served: list[CachedPrefix | None] = [None] * len(joining)
        if self._prefix_cache is not None and not media:
            served = [self._prefix_cache.lookup(s.batch_key, s.prompt_ids) for s in joining]
        return Prefill(
            self._model,
            joining,
            [s.prompt_ids for s in joining],
            self._pad_id,
            media or None,
            served,
        )

    def _iterate(
        self, batch: Batch | None, entering: Prefill | None
    ) -> tuple[Batch | None, Prefill | None]:
        """One step: a part of the entering prompts (all, without a step budget) and
        a token for every running row."""
        if entering is not None and all(s.cancelled for s in entering.members):
            self._release(len(entering.members))
            entering = None
        group = entering or batch
        if group is None:
            return None, None
        self._select(group.members[0].batch_key)
        entered = None
        if entering is not None:
            running = len(batch.members) if batch is not None else 0
            entered = entering.feed(self._model, self._columns(entering, running))
        if batch is not None:
            self._advance(batch, batch.step(self._model))
        if entered is not None:
            assert entering is not None
            joined, logits = entered
            self._remember(entering, joined)
            self._advance(joined, logits)
            if batch is None or not batch.members:
                batch = joined
            elif joined.members:
                batch.merge(joined)
            entering = None
        return (batch if batch is not None and batch.members else None), entering

    def _columns(self, entering: Prefill, running: int) -> int | None:
        """How many prompt columns the entering rows may feed in this step."""
        if self._step_tokens is None:
            return None
        rows = len(entering.members)
        return max(1, (self._step_tokens - running) // rows)

    def _remember(self, entering: Prefill, batch: Batch) -> None:
        """Offer the prompts that just entered to the prefix cache."""
        if self._prefix_cache is None or not batch.can_merge:
            return
        for row, sequence in enumerate(entering.members):
            if sequence.media is None:
                self._prefix_cache.store(
                    sequence.batch_key,
                    sequence.prompt_ids,
                    lambda tokens, row=row: prompt_kv(batch, row, tokens),
                )

    def _advance(self, batch: Batch, logits: torch.Tensor) -> None:
        """Sample each row's next token, hand it over, and let finished rows leave."""
        members = batch.members
        tokens, logprobs = sample(logits, [s.row for s in members])
        keep: list[int] = []
        out: list[tuple[SequenceState, Step | BaseException]] = []
        for index, sequence in enumerate(members):
            if sequence.cancelled:
                continue
            token = tokens[index]
            sequence.row.output_ids.append(token)
            grammar = sequence.row.grammar
            if grammar is not None and not grammar.accept(token):
                # The mask allowed only what the grammar accepts: a row that
                # gets here has no allowed token left (a grammar that cannot end).
                out.append((sequence, EngineError("the grammar allowed no next token")))
                continue
            # A complete grammar ends the text even under ignore_eos: it allows no more.
            ended = grammar.done if grammar is not None else False
            eos = token in self._eos_ids and not sequence.params.ignore_eos
            finish: FinishReason | None = None
            if ended or eos:
                finish = "stop"
            elif len(sequence.row.output_ids) >= sequence.params.max_tokens:
                finish = "length"
            out.append((sequence, (token, logprobs[index], finish)))
            if finish is None:
                keep.append(index)
        batch.pending = torch.tensor(tokens, dtype=torch.long, device=batch.mask.device)
        batch.keep(keep)
        self._release(len(members) - len(keep))
        self._send(out)

    def _fail(self, sequences: list[SequenceState], error: BaseException) -> None:
        self._release(len(sequences))
        self._send([(sequence, error) for sequence in sequences])

    @staticmethod
    def _send(items: list[tuple[SequenceState, Step | BaseException]]) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[SequenceState, Step | BaseException]]]
        by_loop = {}
        for sequence, item in items:
            by_loop.setdefault(sequence.loop, []).append((sequence, item))
        for loop, batch_items in by_loop.items():
            if not loop.is_closed():
                loop.call_soon_threadsafe(_deliver, batch_items)
