"""``run_batch``: a file in the OpenAI Batch API's input format, answered into its output format.

Each input line is one request, as OpenAI's Batch API and vLLM's ``run_batch`` take them::

    {"custom_id": "q1", "method": "POST", "url": "/v1/chat/completions", "body": {...}}

and each output line is its answer, as OpenAI's batch output file holds it::

    {"id": "batch_req_...", "custom_id": "q1",
     "response": {"status_code": 200, "request_id": "req_...", "body": {...}},
     "error": null}

The ``body`` of a response is what ``infercore deploy`` answers to the same
body on the same route: the server's request models parse and refuse it, its
model table resolves ``model``, and the answer is shaped by the same code. A
request that fails is answered as the server fails it, with the HTTP status
and the OpenAI error body (``{"error": {"message", "type", "param", "code"}}``)
in ``response``; ``error`` stays null, as OpenAI keeps it for failures that
are not an HTTP answer, which a batch here does not have.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from infercore._engine import Engine
from infercore._errors import (
    AuthenticationError,
    InfercoreError,
    InvalidRequestError,
    ServerUnreachableError,
)
from infercore._jobs._progress import Progress
from infercore._jobs._results import ResultFile
from infercore._jobs._runner import Answerer, Line, answer_with_retries, run_job, run_window
from infercore._jobs._summary import JobSummary
from infercore._openai import (
    APIError,
    ChatCompletionRequest,
    CompletionRequest,
    GenerationBody,
    completion_from_chat,
    from_engine_error,
)
from infercore._server._models import ModelTable
from infercore._types import ChatCompletionResponse, RequestConfig

__all__ = ["run_batch"]

PathLike = str | os.PathLike[str]

# Faults of the whole job, not of a request: every request would fail the same
# way, so the job stops and a rerun resumes. An unknown model is not one of
# them here, unlike in a dataset job: each line names its own model.
_JOB_FAULTS = (AuthenticationError, ServerUnreachableError)

_CONFIG_FIELDS = frozenset(RequestConfig.model_fields)


def _chat_body(response: ChatCompletionResponse, model: str) -> dict[str, Any]:
    response.model = model
    return response.model_dump(mode="json")


def _completion_body(response: ChatCompletionResponse, model: str) -> dict[str, Any]:
    return completion_from_chat(response, model).model_dump(mode="json")


@dataclass(frozen=True)
class _Route:
    """What the server's route for one URL does with a body and with the engine's answer."""

    body_model: type[GenerationBody]
    shape: Callable[[ChatCompletionResponse, str], dict[str, Any]]


_ROUTES = {
    "/v1/chat/completions": _Route(ChatCompletionRequest, _chat_body),
    "/v1/completions": _Route(CompletionRequest, _completion_body),
}


def run_batch(
    target: Answerer,
    input_path: PathLike,
    output_path: PathLike,
    *,
    concurrency: int = 256,
    progress: bool | None = None,
    served_model_name: str | None = None,
) -> JobSummary:
    """Answer every request of an OpenAI batch input file with ``target`` (an Engine or an
    InferClient) and write OpenAI batch output lines to ``output_path``; returns the summary.

    ``url`` may be ``/v1/chat/completions`` or ``/v1/completions`` (``method``
    ``POST``). Each ``custom_id`` must be a non-empty string, unique in the
    file: a line without one (not JSON included) or a repeated one refuses
    the whole file before any request runs, with
    :class:`~infercore.InvalidRequestError` naming the line. Any other fault of
    a line (another method or URL, a body the server would refuse, ``stream``
    set, an unknown model, a prompt over the context, a backend failure) is
    that line's error answer, and the job goes on; an unreachable server or a
    refused API key stops it.

    A body's ``model``: with an :class:`~infercore.Engine`, the engine's model
    name (``served_model_name`` where given, as ``infercore deploy
    --served-model-name``) or the name of a LoRA adapter the engine loaded,
    which then answers that line; another name is a 404 ``model_not_found``.
    Any other target is a server's client: the name is sent to the server,
    which resolves it.

    Requests go to ``target`` ``concurrency`` at a time, so the backend
    batches them, and each line is written as it finishes. Run again with the
    same files after a crash or a kill, it answers only the requests the output
    lacks (a failed request's line counts as done); at the end the output holds
    every ``custom_id`` exactly once, in input order. ``progress`` shows a bar
    on a terminal, or a line now and then in a log (None: where stderr is
    either; False: never).
    """
    if concurrency < 1:
        raise InvalidRequestError("concurrency must be at least 1", param="concurrency")
    models = _model_table(target, served_model_name)
    source, output = Path(input_path), Path(output_path)
    if output.exists() and source.exists() and output.resolve() == source.resolve():
        raise InvalidRequestError(
            f"the output file {output} is the input file; choose another path",
            param="output_file",
        )
    order = _custom_ids(source)
    started = time.monotonic()
    with ResultFile(output, "custom_id", param="output_file") as results:
        _check_foreign(results, order)
        resumed = len(results.done)
        todo = (
            (custom_id, record)
            for _, custom_id, record in _requests(source)
            if custom_id not in results.done
        )
        bar = Progress(len(order) - resumed, enabled=progress, what="requests")
        answer = partial(_answer_line, target, models)
        try:
            tally = run_job(
                target, run_window(todo, answer, results, window=concurrency, progress=bar)
            )
        finally:
            bar.close()
        results.finish(order)
    return JobSummary(
        result_path=output,
        rows=len(order),
        answered=tally.answered,
        failed=tally.failed,
        resumed=resumed,
        prompt_tokens=tally.prompt_tokens,
        completion_tokens=tally.completion_tokens,
        seconds=time.monotonic() - started,
    )


def _model_table(target: Answerer, served_model_name: str | None) -> ModelTable | None:
    """The server's table of names for a local engine; None for a server's client."""
    if isinstance(target, Engine):
        return ModelTable.for_engine(served_model_name or target.model, target)
    if served_model_name is not None:
        raise InvalidRequestError(
            "served_model_name names a local engine's model; a server has its own names",
            param="served_model_name",
        )
    return None


# -- the input file ------------------------------------------------------------------


def _requests(path: Path) -> Iterator[tuple[int, str, dict[str, Any]]]:
    """``(line number, custom_id, request)`` for each line that is not blank.

    A line that cannot get an output line (no JSON object, no usable
    ``custom_id``) refuses the file: InvalidRequestError names it.
    """
    try:
        lines = path.open("rb")
    except OSError as exc:
        raise InvalidRequestError(
            f"cannot read the batch input file {path}: {exc.strerror}", param="input_file"
        ) from exc
    with lines:
        for number, raw in enumerate(lines, start=1):
            if not raw.strip():
                continue
            try:
                record = json.loads(raw)
            except ValueError:
                raise _unusable(path, number, "it is not JSON") from None
            if not isinstance(record, dict):
                raise _unusable(path, number, "it is not a JSON object")
            custom_id = record.get("custom_id")
            if not isinstance(custom_id, str) or not custom_id:
                raise _unusable(path, number, "it has no custom_id (a non-empty string)")
            yield number, custom_id, record


def _unusable(path: Path, number: int, why: str) -> InvalidRequestError:
    return InvalidRequestError(
        f"line {number} of {path} cannot be answered, because {why}: each line must be a "
        'request such as {"custom_id": "request-1", "method": "POST", '
        '"url": "/v1/chat/completions", "body": {...}}; fix the line and run again',
        param="input_file",
    )


def _custom_ids(path: Path) -> list[str]:
    """Every request's custom_id in input order, read before any runs: OpenAI refuses a file
    with a repeated one, since its answers could not be told apart."""
    first_line: dict[str, int] = {}
    for number, custom_id, _ in _requests(path):
        seen = first_line.setdefault(custom_id, number)
        if seen != number:
            raise InvalidRequestError(
                f"the custom_id {custom_id!r} is on line {seen} and line {number} of {path}; "
                "each request needs a custom_id of its own, which its answer carries",
                param="input_file",
            )
    return list(first_line)


def _check_foreign(results: ResultFile, order: list[str]) -> None:
    """Refuse, before any request runs, an output file written for another input."""
    extra = results.done - set(order)
    if extra:
        shown = sorted(extra, key=str)[:5]
        raise InvalidRequestError(
            f"{results.path} holds answers to {len(extra)} requests that the input does not "
            f"have (custom_id {shown!r}...): it was written for another input; remove it or "
            "choose another output file",
            param="output_file",
        )


# -- one request ---------------------------------------------------------------------


async def _answer_line(
    target: Answerer, models: ModelTable | None, item: tuple[str, dict[str, Any]]
) -> Line:
    custom_id, record = item
    try:
        route, body = _parse(record)
        adapter, name = _resolve(models, body.model)
        response = await _generate(target, route, body, adapter, local=models is not None)
    except APIError as error:
        return _failed(custom_id, error)
    except _JOB_FAULTS:
        raise
    except InfercoreError as exc:
        return _failed(custom_id, from_engine_error(exc))
    usage = response.usage
    answer = _output(custom_id, 200, route.shape(response, name or response.model))
    return Line(answer, False, usage.prompt_tokens, usage.completion_tokens)


def _parse(record: dict[str, Any]) -> tuple[_Route, GenerationBody]:
    """The route and the parsed body of a request, or the APIError the server would answer."""
    method, url = record.get("method"), record.get("url")
    if method != "POST":
        problem = "has no method" if method is None else f"uses the method {method!r}"
        raise APIError.bad_request(f"the request {problem}; batch requests are POST", "method")
    route = _ROUTES.get(url) if isinstance(url, str) else None
    if route is None:
        problem = "has no url" if url is None else f"calls {url!r}, which is not supported"
        raise APIError.bad_request(
            f"the request {problem}; a batch here may call /v1/chat/completions "
            "and /v1/completions",
            "url",
        )
    body = record.get("body")
    if not isinstance(body, dict):
        raise APIError.bad_request("body must be the request body, a JSON object", "body")
    parsed = route.body_model.parse(body)  # as the server's route parses it
    if parsed.stream:
        raise APIError.bad_request(
            "a batch answers each request whole and cannot stream; leave stream out "
            "or set it to false",
            "stream",
        )
    return route, parsed


def _resolve(models: ModelTable | None, name: str) -> tuple[str | None, str | None]:
    """The adapter to answer with and the model name the answer carries.

    A local engine's names are the server's (a 404 for others). A server's
    client sends a request's adapter as the model name, so the name goes to
    the server as it is, and the answer carries the server's name.
    """
    if models is None:
        return name, None
    served = models.get(name)
    return served.adapter, served.id


async def _generate(
    target: Answerer, route: _Route, body: GenerationBody, adapter: str | None, *, local: bool
) -> ChatCompletionResponse:
    request = body.infer_request(adapter)
    config = body.engine_config({})
    if not local:
        config = _only_set(body, config)
    elif config.max_tokens is None:
        config.max_tokens = body.default_max_tokens
    return await body.within_context(
        config, lambda config: answer_with_retries(target, request, config)
    )


def _only_set(body: GenerationBody, config: RequestConfig) -> RequestConfig:
    """``config`` marked with only the settings that ``body`` set: InferClient sends only
    those, so a server's own defaults apply to the rest, as they would to the body."""
    chosen = body.model_fields_set & _CONFIG_FIELDS
    if body.max_completion_tokens is not None:
        chosen.add("max_tokens")
    values = {name: getattr(config, name) for name in _CONFIG_FIELDS}
    return RequestConfig.model_construct(_fields_set=chosen, **values)


def _failed(custom_id: str, error: APIError) -> Line:
    return Line(_output(custom_id, error.status, json.loads(error.body())), failed=True)


def _output(custom_id: str, status: int, body: dict[str, Any]) -> dict[str, Any]:
    """One line of OpenAI's batch output format."""
    return {
        "id": f"batch_req_{uuid.uuid4().hex}",
        "custom_id": custom_id,
        "response": {
            "status_code": status,
            "request_id": f"req_{uuid.uuid4().hex}",
            "body": body,
        },
        "error": None,
    }
