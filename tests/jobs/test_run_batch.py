"""run_batch and ``infercore run-batch``: OpenAI batch input files in, OpenAI batch output out.

The request bodies are built with the official ``openai`` package's request
types, and every answer is read back with its response types. The fake
backend answers with the last user message and the echo backend repeats the
message or the raw prompt, so every answer is known.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
from openai.types import Completion, ErrorObject
from openai.types.chat import ChatCompletion
from openai.types.chat.completion_create_params import (
    CompletionCreateParamsNonStreaming as ChatBody,
)
from openai.types.completion_create_params import (
    CompletionCreateParamsNonStreaming as CompletionBody,
)
from openai.types.embedding_create_params import EmbeddingCreateParams

import infercore
from infercore import _builtin
from infercore._jobs._batch import run_batch
from infercore.testing import INFERCORE_COMMAND, deployed, free_port, server_env

CHAT = "/v1/chat/completions"
COMPLETIONS = "/v1/completions"
ECHO = "echo-model"
KEY = "sk-batch"
# Longer than the completions API's default of 16 tokens (one byte is one token here).
RAW_PROMPT = "Once upon a time there was a batch file"


def _request(
    custom_id: str, url: str, body: Mapping[str, Any], *, method: str = "POST"
) -> dict[str, Any]:
    """One line of a batch input file, as OpenAI's Batch API documents it."""
    return {"custom_id": custom_id, "method": method, "url": url, "body": dict(body)}


def _chat(text: str, *, model: str = "fake", **settings: Any) -> ChatBody:
    return ChatBody(model=model, messages=[{"role": "user", "content": text}], **settings)


def _write_jsonl(path: Path, lines: list[Any]) -> Path:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path


def _outputs(path: Path) -> dict[str, dict[str, Any]]:
    """The output lines by custom_id, each checked against OpenAI's batch output shape."""
    lines = [json.loads(text) for text in path.read_text(encoding="utf-8").splitlines()]
    for line in lines:
        assert set(line) == {"id", "custom_id", "response", "error"}
        assert line["id"].startswith("batch_req_")
        assert line["error"] is None
        assert set(line["response"]) == {"status_code", "request_id", "body"}
        assert line["response"]["request_id"]
    assert len({line["id"] for line in lines}) == len(lines)
    by_id = {line["custom_id"]: line for line in lines}
    assert len(by_id) == len(lines)
    return by_id


def _order(path: Path) -> list[str]:
    return [json.loads(text)["custom_id"] for text in path.read_text().splitlines()]


def _status(line: dict[str, Any]) -> int:
    status = line["response"]["status_code"]
    assert isinstance(status, int)
    return status


def _error(line: dict[str, Any]) -> ErrorObject:
    assert _status(line) >= 400
    return ErrorObject.model_validate(line["response"]["body"]["error"])


def _without_ids(body: dict[str, Any]) -> dict[str, Any]:
    """An answer without what differs between two answers to one request."""
    return {name: value for name, value in body.items() if name not in {"id", "created"}}


@pytest.fixture(scope="module")
def echo_engine() -> Iterator[infercore.Engine]:
    manager = infercore.PluginManager(autoload=False)
    manager.register(_builtin, name="builtin")
    with infercore.Engine(ECHO, backend="echo", plugins=manager) as engine:
        yield engine


# -- a local engine --------------------------------------------------------------------


def test_every_request_gets_one_line_in_order_and_faults_are_the_servers_errors(
    fake_engine: infercore.Engine, tmp_path: Path
) -> None:
    requests = [
        _request("chat", CHAT, _chat("hello", temperature=0.0, max_tokens=64)),
        _request("two-choices", CHAT, _chat("abc", temperature=1.0, seed=1, n=2, max_tokens=8)),
        _request("raw", COMPLETIONS, CompletionBody(model="fake", prompt="raw", max_tokens=4)),
        _request("too-hot", CHAT, _chat("x", temperature=9)),
        _request("unknown-field", CHAT, {**_chat("x"), "bogus": 1}),
        _request(
            "tools", CHAT, _chat("x", tools=[{"type": "function", "function": {"name": "f"}}])
        ),
        _request("stream", CHAT, _chat("x", stream=True)),
        _request("unknown-model", CHAT, _chat("x", model="gpt-4o-mini")),
        _request("too-long", CHAT, _chat("long " * 400)),
        _request("embeddings", "/v1/embeddings", EmbeddingCreateParams(model="fake", input="x")),
        _request("get", CHAT, _chat("x"), method="GET"),
        {"custom_id": "no-body", "method": "POST", "url": CHAT},
    ]
    source = _write_jsonl(tmp_path / "in.jsonl", requests)
    # A blank line is no request.
    source.write_text(source.read_text().replace("\n", "\n\n", 1))
    out = tmp_path / "out" / "results.jsonl"
    summary = run_batch(fake_engine, source, out, progress=False)

    assert _order(out) == [request["custom_id"] for request in requests]
    lines = _outputs(out)
    assert (summary.rows, summary.answered, summary.failed, summary.resumed) == (12, 3, 9, 0)

    chat = ChatCompletion.model_validate(lines["chat"]["response"]["body"])
    assert _status(lines["chat"]) == 200
    assert chat.object == "chat.completion"
    assert chat.model == "fake"
    assert chat.choices[0].message.content == "hello"
    assert chat.choices[0].finish_reason == "stop"
    assert chat.usage is not None
    assert chat.usage.completion_tokens == len("hello") + 1  # and the end token
    assert len(ChatCompletion.model_validate(lines["two-choices"]["response"]["body"]).choices) == 2
    raw = Completion.model_validate(lines["raw"]["response"]["body"])
    assert raw.object == "text_completion"
    assert raw.id.startswith("cmpl-")
    assert raw.model == "fake"

    too_hot = _error(lines["too-hot"])
    assert (_status(lines["too-hot"]), too_hot.param, too_hot.code) == (
        422,
        "temperature",
        "invalid_value",
    )
    assert (_status(lines["unknown-field"]), _error(lines["unknown-field"]).param) == (400, "bogus")
    assert _error(lines["tools"]).param == "tools"
    assert (_status(lines["stream"]), _error(lines["stream"]).param) == (400, "stream")
    unknown = _error(lines["unknown-model"])
    assert (_status(lines["unknown-model"]), unknown.code) == (404, "model_not_found")
    assert "gpt-4o-mini" in unknown.message
    assert (_status(lines["too-long"]), _error(lines["too-long"]).param) == (400, "messages")
    embeddings = _error(lines["embeddings"])
    assert embeddings.param == "url"
    assert "'/v1/embeddings'" in embeddings.message
    assert "not supported" in embeddings.message
    assert _error(lines["get"]).param == "method"
    assert _error(lines["no-body"]).param == "body"
    assert all(
        _error(lines[name]).type == "invalid_request_error"
        for name in lines
        if _status(lines[name]) != 200
    )

    assert summary.completion_tokens == sum(
        (line["response"]["body"].get("usage") or {}).get("completion_tokens", 0)
        for line in lines.values()
    )


def test_completions_default_to_16_tokens_as_the_server_does(
    echo_engine: infercore.Engine, tmp_path: Path
) -> None:
    requests = [
        _request("default", COMPLETIONS, CompletionBody(model=ECHO, prompt=RAW_PROMPT)),
        _request(
            "chosen", COMPLETIONS, CompletionBody(model=ECHO, prompt=RAW_PROMPT, max_tokens=64)
        ),
        _request("chat", CHAT, _chat(RAW_PROMPT, model=ECHO)),
    ]
    out = tmp_path / "out.jsonl"
    run_batch(echo_engine, _write_jsonl(tmp_path / "in.jsonl", requests), out, progress=False)
    lines = _outputs(out)
    default = Completion.model_validate(lines["default"]["response"]["body"])
    assert (default.choices[0].text, default.choices[0].finish_reason) == (
        RAW_PROMPT[:16],
        "length",
    )
    assert (
        Completion.model_validate(lines["chosen"]["response"]["body"]).choices[0].text == RAW_PROMPT
    )
    chat = ChatCompletion.model_validate(lines["chat"]["response"]["body"])
    assert chat.choices[0].message.content == RAW_PROMPT


def test_the_served_model_name_is_the_name_requests_use(
    fake_engine: infercore.Engine, tmp_path: Path
) -> None:
    requests = [
        _request("renamed", CHAT, _chat("hi", model="gpt-4o-mini", temperature=0.0)),
        _request("engine-name", CHAT, _chat("hi", model="fake", temperature=0.0)),
    ]
    out = tmp_path / "out.jsonl"
    source = _write_jsonl(tmp_path / "in.jsonl", requests)
    run_batch(fake_engine, source, out, served_model_name="gpt-4o-mini", progress=False)
    lines = _outputs(out)
    renamed = ChatCompletion.model_validate(lines["renamed"]["response"]["body"])
    assert (renamed.model, renamed.choices[0].message.content) == ("gpt-4o-mini", "hi")
    assert _error(lines["engine-name"]).code == "model_not_found"


def test_a_rerun_answers_only_what_the_output_lacks(
    fake_engine: infercore.Engine, tmp_path: Path
) -> None:
    requests = [
        _request(f"request-{i}", CHAT, _chat(f"row {i}", temperature=0.0)) for i in range(20)
    ]
    source = _write_jsonl(tmp_path / "in.jsonl", requests)
    out = tmp_path / "out.jsonl"
    # What a killed run leaves: some lines, out of order, and a torn tail.
    earlier = [
        {
            "id": f"batch_req_kept{i}",
            "custom_id": f"request-{i}",
            "response": {"status_code": 200, "request_id": f"req_kept{i}", "body": {"kept": i}},
            "error": None,
        }
        for i in (7, 2, 11)
    ]
    out.write_text(
        "".join(json.dumps(line) + "\n" for line in earlier) + '{"id": "batch_req_x", "cus',
        encoding="utf-8",
    )
    summary = run_batch(fake_engine, source, out, concurrency=4, progress=False)
    assert _order(out) == [f"request-{i}" for i in range(20)]
    assert (summary.rows, summary.answered, summary.failed, summary.resumed) == (20, 17, 0, 3)
    lines = _outputs(out)
    for line in earlier:  # the earlier run's lines are kept as they were
        assert lines[line["custom_id"]] == line
    fifth = ChatCompletion.model_validate(lines["request-5"]["response"]["body"])
    assert fifth.choices[0].message.content == "row 5"
    # Once complete, the same command again answers nothing and changes nothing.
    before = out.read_bytes()
    again = run_batch(fake_engine, source, out, progress=False)
    assert (again.answered, again.failed, again.resumed) == (0, 0, 20)
    assert out.read_bytes() == before


@pytest.mark.parametrize(
    ("second", "named"),
    [
        ("not json", "line 2 of .*not JSON"),
        ('["a list"]', "line 2 of .*not a JSON object"),
        (json.dumps({"method": "POST", "url": CHAT, "body": {}}), "line 2 of .*no custom_id"),
        (json.dumps({"custom_id": 7, "method": "POST", "url": CHAT}), "line 2 of .*no custom_id"),
        (json.dumps(_request("same", CHAT, _chat("again"))), "'same' is on line 1 and line 2"),
    ],
    ids=["not-json", "not-object", "no-custom-id", "int-custom-id", "repeated"],
)
def test_a_file_with_a_line_that_cannot_be_answered_is_refused_before_any_runs(
    fake_engine: infercore.Engine, tmp_path: Path, second: str, named: str
) -> None:
    first = json.dumps(_request("same", CHAT, _chat("hi")))
    source = tmp_path / "in.jsonl"
    source.write_text(f"{first}\n{second}\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    with pytest.raises(infercore.InvalidRequestError, match=named) as refused:
        run_batch(fake_engine, source, out, progress=False)
    assert refused.value.param == "input_file"
    assert not out.exists()


def test_an_output_file_of_another_input_or_the_input_itself_is_refused(
    fake_engine: infercore.Engine, tmp_path: Path
) -> None:
    source = _write_jsonl(tmp_path / "in.jsonl", [_request("mine", CHAT, _chat("hi"))])
    out = _write_jsonl(
        tmp_path / "out.jsonl",
        [{"id": "batch_req_1", "custom_id": "theirs", "response": None, "error": None}],
    )
    before = out.read_bytes()
    with pytest.raises(infercore.InvalidRequestError, match="another input") as refused:
        run_batch(fake_engine, source, out, progress=False)
    assert refused.value.param == "output_file"
    assert out.read_bytes() == before
    with pytest.raises(infercore.InvalidRequestError, match="is the input file"):
        run_batch(fake_engine, source, source, progress=False)
    with pytest.raises(infercore.InvalidRequestError, match="cannot read") as missing:
        run_batch(fake_engine, tmp_path / "gone.jsonl", tmp_path / "o.jsonl", progress=False)
    assert missing.value.param == "input_file"


def test_a_server_that_is_not_there_stops_the_job_instead_of_failing_every_line(
    tmp_path: Path,
) -> None:
    source = _write_jsonl(
        tmp_path / "in.jsonl", [_request(f"r{i}", CHAT, _chat("hi")) for i in range(3)]
    )
    out = tmp_path / "out.jsonl"
    client = infercore.InferClient(f"http://127.0.0.1:{free_port()}/v1", model="m")
    with client, pytest.raises(infercore.ServerUnreachableError):
        run_batch(client, source, out, progress=False)
    assert out.read_text() == ""


# -- a running server --------------------------------------------------------------------


@pytest.fixture(scope="module")
def echo_server() -> Iterator[str]:
    pytest.importorskip("fastapi", reason="infercore deploy needs the serve extra")
    with deployed("--model", ECHO, "--backend", "echo", "--api-key", KEY) as url:
        yield url


def _server_answer(url: str, route: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """The server's own answer to ``body``, as any HTTP client gets it."""
    response = httpx.post(
        f"{url}{route}", json=dict(body), headers={"Authorization": f"Bearer {KEY}"}, timeout=30
    )
    assert response.status_code == 200, response.text
    answer = response.json()
    assert isinstance(answer, dict)
    return answer


def _run_batch_command(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*INFERCORE_COMMAND, "run-batch", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=server_env(),
    )


def test_run_batch_with_base_url_sends_each_request_to_the_server(
    echo_server: str, tmp_path: Path
) -> None:
    chat_body = _chat("Bonjour!", model=ECHO)
    completion_body = CompletionBody(model=ECHO, prompt=RAW_PROMPT)
    requests = [
        _request("chat", CHAT, chat_body),
        _request("raw", COMPLETIONS, completion_body),
        _request("unknown-model", CHAT, _chat("hi", model="nope")),
        _request("stream", CHAT, _chat("hi", model=ECHO, stream=True)),
        # The echo backend cannot sample: the server refuses it.
        _request("sampled", CHAT, _chat("hi", model=ECHO, temperature=0.5)),
    ]
    source = _write_jsonl(tmp_path / "in.jsonl", requests)
    out = tmp_path / "out.jsonl"
    result = _run_batch_command(
        "-i", str(source), "-o", str(out), "--base-url", echo_server, "--api-key", KEY
    )
    assert result.returncode == 0, result.stderr
    assert "rows: 5 (2 answered, 3 failed, 0 done before)" in result.stdout
    assert _order(out) == [request["custom_id"] for request in requests]
    lines = _outputs(out)

    chat = lines["chat"]["response"]["body"]
    assert ChatCompletion.model_validate(chat).choices[0].message.content == "Bonjour!"
    assert _without_ids(chat) == _without_ids(_server_answer(echo_server, CHAT, chat_body))
    raw = lines["raw"]["response"]["body"]
    assert Completion.model_validate(raw).choices[0].text == RAW_PROMPT[:16]  # the server's default
    # The server's completion id, not one built on it.
    assert raw["id"].startswith("cmpl-")
    assert not raw["id"].startswith("cmpl-cmpl-")
    assert _without_ids(raw) == _without_ids(
        _server_answer(echo_server, COMPLETIONS, completion_body)
    )

    unknown = _error(lines["unknown-model"])
    assert (_status(lines["unknown-model"]), unknown.code) == (404, "model_not_found")
    assert "nope" in unknown.message
    assert _error(lines["stream"]).param == "stream"
    assert (_status(lines["sampled"]), _error(lines["sampled"]).param) == (400, "temperature")


def test_a_local_engines_answers_are_the_servers_answers(
    echo_engine: infercore.Engine, echo_server: str, tmp_path: Path
) -> None:
    chat_body = _chat("the same answer", model=ECHO)
    completion_body = CompletionBody(model=ECHO, prompt=RAW_PROMPT, max_tokens=8)
    requests = [_request("chat", CHAT, chat_body), _request("raw", COMPLETIONS, completion_body)]
    out = tmp_path / "out.jsonl"
    run_batch(echo_engine, _write_jsonl(tmp_path / "in.jsonl", requests), out, progress=False)
    lines = _outputs(out)
    chat = lines["chat"]["response"]["body"]
    assert chat["id"].startswith("chatcmpl-")
    assert _without_ids(chat) == _without_ids(_server_answer(echo_server, CHAT, chat_body))
    raw = lines["raw"]["response"]["body"]
    assert raw["id"].startswith("cmpl-")
    assert _without_ids(raw) == _without_ids(
        _server_answer(echo_server, COMPLETIONS, completion_body)
    )


def test_run_batch_on_a_local_model_and_its_refusals(tmp_path: Path) -> None:
    source = _write_jsonl(
        tmp_path / "in.jsonl",
        [
            _request("renamed", CHAT, _chat("hi", model="gpt-4o-mini")),
            _request("raw", COMPLETIONS, CompletionBody(model="gpt-4o-mini", prompt="abc")),
        ],
    )
    out = tmp_path / "out.jsonl"
    result = _run_batch_command(
        "-i", str(source), "-o", str(out),
        "--model", ECHO, "--backend", "echo", "--served-model-name", "gpt-4o-mini",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = _outputs(out)
    assert (
        ChatCompletion.model_validate(lines["renamed"]["response"]["body"]).model == "gpt-4o-mini"
    )
    assert Completion.model_validate(lines["raw"]["response"]["body"]).choices[0].text == "abc"

    refused = _run_batch_command(
        "-i", str(source), "-o", str(tmp_path / "other.jsonl"),
        "--base-url", f"http://127.0.0.1:{free_port()}", "--served-model-name", "x",
    )  # fmt: skip
    assert refused.returncode == 2
    assert "error: --served-model-name names a local engine's model" in refused.stderr

    for flags, message in [
        (["--base-url", f"http://127.0.0.1:{free_port()}", "--adapters", "a=/x"],
         "error: --adapters loads adapters into a local engine"),
        (["--model", ECHO, "--backend", "echo", "--adapters", "a=/x", "a=/y"],
         "error: --adapters names each adapter once; repeated: ['a']"),
    ]:  # fmt: skip
        refused = _run_batch_command("-i", str(source), "-o", str(tmp_path / "other.jsonl"), *flags)
        assert refused.returncode == 2
        assert message in refused.stderr
