"""``infer_dataset``: a model over a whole dataset, into a resumable, exactly-once result file."""

from __future__ import annotations

import os
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from functools import partial
from itertools import islice
from pathlib import Path
from typing import Any

from infercore._coerce import ConfigLike, as_config, for_whole_responses, validated
from infercore._engine import Engine
from infercore._errors import (
    AuthenticationError,
    InfercoreError,
    InvalidRequestError,
    ModelNotFoundError,
    ServerUnreachableError,
)
from infercore._jobs._metrics import Scorer
from infercore._jobs._progress import Progress
from infercore._jobs._read import read_records
from infercore._jobs._results import ResultFile, read_lines
from infercore._jobs._runner import (
    Answerer,
    Line,
    answer_with_retries,
    error_fields,
    run_job,
    run_window,
)
from infercore._jobs._shapes import to_row
from infercore._jobs._shard import Shard
from infercore._jobs._summary import JobSummary
from infercore._types import ChatCompletionResponse, RequestConfig

__all__ = ["RowsLike", "answer_row", "infer_dataset"]

#: Dataset files (one or several, read in turn), or the rows themselves.
RowsLike = str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | Iterable[Mapping[str, Any]]

# Faults of the whole job, not of a row: every row would fail the same way, so
# the job stops instead of writing each one off as done.
_JOB_FAULTS = (AuthenticationError, ModelNotFoundError, ServerUnreachableError)


def infer_dataset(
    target: Answerer,
    rows: RowsLike,
    *,
    result_path: str | os.PathLike[str],
    config: ConfigLike = None,
    sample: int | None = None,
    shuffle: bool = False,
    seed: int = 42,
    metric: str | None = None,
    concurrency: int = 256,
    progress: bool | None = None,
    adapter: str | None = None,
) -> JobSummary:
    """Answer every row of a dataset with ``target`` (an Engine or an InferClient) and
    write one JSON line per row to ``result_path``; returns the summary.

    ``rows`` are dataset files (``.jsonl``, ``.json``, ``.csv``, ``.parquet``, a
    folder saved by ``datasets``), read in turn and numbered from 0, or the row
    objects themselves. A row's reference answer (its last assistant message,
    ``output`` or ``response``) is kept as ``labels`` and not sent. ``sample``
    takes that many rows (after a ``shuffle`` by ``seed``, if asked).

    Each line holds the row's ``index``, the ``messages`` (and media) sent, the
    ``response``, ``labels``, ``finish_reason``, ``usage`` and, where there are any,
    ``reasoning`` and ``tool_calls``, and where the config asks for them,
    ``logprobs``; a row that fails (bad shape or media, a prompt over the context, a
    backend failure) holds its ``error`` instead, and the
    job goes on. Rows go to ``target`` ``concurrency`` at a time, so the
    backend batches them, and each is written as it finishes.

    Run again with the same arguments after a crash or a kill, it answers only
    the rows the file lacks; at the end the file holds every row exactly once,
    in index order. Under ``torchrun`` (``WORLD_SIZE`` over 1) each rank answers
    the rows whose index modulo the world size is its rank, into a part file
    that rank 0 merges into ``result_path`` when all are done. ``metric``
    (``acc`` or ``rouge``) scores the answers against the labels. ``progress``
    shows a bar on a terminal, or a line now and then in a log (None: where
    stderr is either; False: never). ``adapter`` names the LoRA adapter that answers
    every row (one the engine loaded, or one the server serves; None: the base model).
    """
    if concurrency < 1:
        raise InvalidRequestError("concurrency must be at least 1", param="concurrency")
    if sample is not None and sample < 0:
        raise InvalidRequestError("sample must not be negative", param="dataset_sample")
    scorer = Scorer(metric) if metric is not None else None  # an unknown name fails now
    if isinstance(target, Engine) and adapter is not None and adapter not in target.adapters:
        # Every row would fail alike, and be written off as done: refuse the job instead.
        loaded = ", ".join(sorted(target.adapters)) or "none"
        raise InvalidRequestError(
            f"unknown adapter {adapter!r}; loaded adapters: {loaded}", param="adapter"
        )
    base = for_whole_responses(as_config(config), "infer_dataset")
    chosen, total = _choose(_numbered(rows), sample, shuffle, seed)
    result = Path(result_path)
    shard = Shard.from_environment()
    if shard is not None:
        shard.join()
    try:
        answer = partial(answer_row, target, base, adapter=adapter)
        return _run_share(
            target, answer, chosen, total, result, shard, scorer, concurrency, progress
        )
    finally:
        if shard is not None:
            shard.leave()


def _run_share(
    target: Answerer,
    answer: Callable[[tuple[int, Any]], Awaitable[Line]],
    chosen: Iterable[tuple[int, Any]],
    total: int | None,
    result: Path,
    shard: Shard | None,
    scorer: Scorer | None,
    concurrency: int,
    progress: bool | None,
) -> JobSummary:
    """This process's rows: all of them, or under torchrun the rank's share, merged by
    rank 0 into the result file once every rank is done."""
    everyone: list[int] = []  # every chosen row, whoever answers it
    mine: list[int] = []  # the rows this process's file holds at the end
    resumed = 0
    started = time.monotonic()
    done_before = shard.done_before(result) if shard is not None else set()
    with ResultFile(shard.part_path(result) if shard else result, "index") as results:

        def todo() -> Iterator[tuple[int, Any]]:
            nonlocal resumed
            for index, record in chosen:
                everyone.append(index)
                if shard is not None and not shard.owns(index):
                    continue
                if index in done_before:
                    resumed += 1
                    continue
                mine.append(index)
                if index in results.done:
                    resumed += 1
                else:
                    yield index, record

        left = None
        if total is not None:  # the rows are a list: count this process's share ahead
            left = sum(
                1
                for index, _ in chosen
                if (shard is None or shard.owns(index))
                and index not in done_before
                and index not in results.done
            )
        bar = Progress(left, enabled=progress)
        try:
            tally = run_job(
                target, run_window(todo(), answer, results, window=concurrency, progress=bar)
            )
        finally:
            bar.close()
        results.finish(sorted(mine))
    merged = shard is None or shard.rank == 0
    if shard is not None:
        shard.wait_for_all()
        if merged:
            shard.merge(result, sorted(everyone))
    return JobSummary(
        result_path=result,
        rows=resumed + tally.answered + tally.failed,
        answered=tally.answered,
        failed=tally.failed,
        resumed=resumed,
        prompt_tokens=tally.prompt_tokens,
        completion_tokens=tally.completion_tokens,
        seconds=time.monotonic() - started,
        metric=_score(result, scorer) if scorer is not None and merged else {},
    )


def _numbered(rows: RowsLike) -> Iterator[tuple[int, Any]]:
    if isinstance(rows, str | os.PathLike):
        return read_records([rows])
    if isinstance(rows, Sequence) and rows and isinstance(rows[0], str | os.PathLike):
        return read_records(list(rows))
    return enumerate(rows)


def _choose(
    records: Iterator[tuple[int, Any]], sample: int | None, shuffle: bool, seed: int
) -> tuple[Iterable[tuple[int, Any]], int | None]:
    """The rows to answer, lazily where neither shuffling nor sampling needs them all,
    and their count where it is known."""
    if shuffle:
        everything = list(records)
        random.Random(seed).shuffle(everything)
        chosen = everything[:sample] if sample is not None else everything
        return chosen, len(chosen)
    if sample is not None:
        first = list(islice(records, sample))
        return first, len(first)
    return records, None


async def answer_row(
    target: Answerer, base: RequestConfig, item: tuple[int, Any], *, adapter: str | None = None
) -> Line:
    """One ``(index, record)`` answered by ``target`` (with ``adapter``, if given) as its
    result line, or its error's."""
    index, record = item
    try:
        row = to_row(index, record)
    except InvalidRequestError as exc:
        return Line({"index": index, "error": error_fields(exc)}, failed=True)
    request = (
        row.request if adapter is None else row.request.model_copy(update={"adapter": adapter})
    )
    line: dict[str, Any] = {
        "index": index,
        **row.request.model_dump(mode="json", exclude_defaults=True),
        "labels": row.labels,
    }
    try:
        config = (
            validated(RequestConfig, {**base.model_dump(exclude_unset=True), **row.settings}, "row")
            if row.settings
            else base
        )
        response = await answer_with_retries(target, request, config)
    except _JOB_FAULTS:
        raise
    except InfercoreError as exc:
        return Line({**line, "error": error_fields(exc)}, failed=True)
    line.update(_answer_fields(response))
    usage = response.usage
    return Line(line, False, usage.prompt_tokens, usage.completion_tokens)


def _answer_fields(response: ChatCompletionResponse) -> dict[str, Any]:
    """The answer's part of a line; with ``n`` choices, lists of ``n``."""
    choices = response.choices
    fields: dict[str, Any] = {
        "response": [choice.message.content for choice in choices],
        "finish_reason": [choice.finish_reason for choice in choices],
    }
    if any(choice.message.reasoning is not None for choice in choices):
        fields["reasoning"] = [choice.message.reasoning for choice in choices]
    if any(choice.message.tool_calls for choice in choices):
        fields["tool_calls"] = [
            [call.model_dump(mode="json") for call in choice.message.tool_calls or []]
            for choice in choices
        ]
    if any(choice.logprobs is not None for choice in choices):
        fields["logprobs"] = [
            choice.logprobs.model_dump(mode="json")["content"] if choice.logprobs else None
            for choice in choices
        ]
    if len(choices) == 1:
        fields = {name: values[0] for name, values in fields.items()}
    fields["usage"] = response.usage.model_dump(mode="json", exclude_none=True)
    return fields


def _score(path: Path, scorer: Scorer) -> dict[str, float | int]:
    """The metric over every answered row of the finished result file."""
    for line in read_lines(path):
        answer = line.get("response")
        scorer.add(answer if isinstance(answer, str) else None, line.get("labels"))
    return scorer.result()
