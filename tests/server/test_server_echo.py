"""The real ``infercore deploy`` on the echo backend: errors, limits, robustness, shutdown.

The echo backend needs no model and repeats the last user message one byte
(one token) at a time, then ends; ``token_rate`` paces it, so a generation
can be kept running while a test disconnects, overloads or stops the server.
Every server here is a subprocess on a free loopback port, driven by the
official ``openai`` client, ``httpx`` and raw sockets.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import prometheus_client
import pytest
from prometheus_client.parser import text_string_to_metric_families

from infercore.testing import INFERCORE_COMMAND, deployed, free_port, server_env

MODEL = "echo-model"
KEY = "sk-server-test"
AUTH = {"Authorization": f"Bearer {KEY}"}
CONTEXT = 512  # the echo backend's max_model_len here
DEFAULT_MAX_TOKENS = 8  # the server's --max-tokens here


def chat(text: str, **fields: Any) -> dict[str, Any]:
    return {"model": MODEL, "messages": [{"role": "user", "content": text}], **fields}


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with deployed(
        "--model", MODEL, "--backend", "echo", "--api-key", KEY,
        "--max-tokens", str(DEFAULT_MAX_TOKENS), "--max-body-size", "1M",
        "-O", f"max_model_len={CONTEXT}",
    ) as root:  # fmt: skip
        yield root


@pytest.fixture(scope="module")
def http(url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=url, headers=AUTH, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def client(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{url}/v1", api_key=KEY, max_retries=0)


def assert_error(response: httpx.Response, status: int, param: str | None = None) -> str:
    """The response is an OpenAI-shaped error with ``status``; returns its message."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert body["error"]["message"]
    if param is not None:
        assert body["error"]["param"] == param, body
    return str(body["error"]["message"])


def assert_still_serving(http: httpx.Client) -> None:
    response = http.post("/v1/chat/completions", json=chat("ok"))
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == "ok"


def metrics(http: httpx.Client) -> dict[str, float]:
    """``/metrics`` as {series with labels: value}."""
    response = http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"] == prometheus_client.CONTENT_TYPE_LATEST
    values = {}
    for line in response.text.splitlines():
        if line and not line.startswith("#"):
            series, _, value = line.rpartition(" ")
            values[series] = float(value)
    return values


def metric(http: httpx.Client, name: str, **labels: str) -> float:
    """The value of one series; labels other than ``model_name`` picked by ``labels``."""
    wanted = {"model_name": MODEL, **labels}
    found = 0.0
    for series, value in metrics(http).items():
        series_name, _, rest = series.partition("{")
        pairs = dict(pair.split("=", 1) for pair in rest.rstrip("}").split(",") if "=" in pair)
        if series_name == name and {k: v.strip('"') for k, v in pairs.items()} == wanted:
            found += value
    return found


def wait_for(condition: Callable[[], bool], timeout: float) -> float:
    """Seconds until ``condition()`` held; fails after ``timeout``."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            pytest.fail(f"not within {timeout} s")
        time.sleep(0.02)
    return time.monotonic() - start


# -- the API key ----------------------------------------------------------------


def test_a_wrong_key_gets_401_in_the_openai_shape(url: str) -> None:
    wrong = openai.OpenAI(base_url=f"{url}/v1", api_key="sk-wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as caught:
        wrong.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
    assert caught.value.status_code == 401
    assert caught.value.code == "invalid_api_key"
    assert isinstance(caught.value.body, dict)
    assert set(caught.value.body) == {"message", "type", "param", "code"}


@pytest.mark.parametrize("path", ["/v1/models", "/metrics", "/openapi.json", "/v1/no-such-route"])
@pytest.mark.parametrize("header", [None, "Bearer sk-wrong", f"Basic {KEY}", KEY])
def test_every_route_but_health_needs_the_key(url: str, path: str, header: str | None) -> None:
    headers = {} if header is None else {"Authorization": header}
    assert_error(httpx.get(f"{url}{path}", headers=headers), 401)


def test_health_needs_no_key(url: str) -> None:
    response = httpx.get(f"{url}/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_the_openapi_document_describes_the_request_bodies(http: httpx.Client, url: str) -> None:
    assert_error(httpx.get(f"{url}/openapi.json"), 401)
    response = http.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    document = response.json()
    assert document["openapi"].startswith("3.1")
    schemas = document["components"]["schemas"]

    def body(path: str) -> dict[str, Any]:
        operation = document["paths"][path]["post"]
        ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        return dict(schemas[ref.removeprefix("#/components/schemas/")])

    chat_body = body("/v1/chat/completions")
    assert {"model", "messages"} <= set(chat_body["required"])
    assert {"max_tokens", "temperature", "stream", "images"} <= set(chat_body["properties"])
    assert chat_body["additionalProperties"] is False  # unknown fields are a 400
    assert chat_body["properties"]["n"]["maximum"] == 128
    completion_body = body("/v1/completions")
    assert {"model", "prompt"} <= set(completion_body["required"])
    # logprobs=N on the wire, as OpenAI's completions take it; no top_logprobs.
    logprobs = completion_body["properties"]["logprobs"]["anyOf"][0]
    assert logprobs == {"type": "integer", "minimum": 0, "maximum": 20}
    assert "top_logprobs" not in completion_body["properties"]
    embedding_body = body("/v1/embeddings")
    assert {"model", "input"} <= set(embedding_body["required"])
    assert {"encoding_format", "dimensions", "user"} <= set(embedding_body["properties"])
    assert {"/v1/models", "/v1/models/{model}", "/health", "/metrics"} <= set(document["paths"])
    # The key guards everything but /health.
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert document["security"] == [{"bearer": []}]
    assert document["paths"]["/health"]["get"]["security"] == []


# -- models, and the errors of routing ---------------------------------------


def test_models_lists_the_served_name(client: openai.OpenAI) -> None:
    models = client.models.list()
    assert [model.id for model in models.data] == [MODEL]
    assert models.data[0].object == "model"
    assert client.models.retrieve(MODEL).id == MODEL


def test_an_unknown_model_gets_404_naming_the_served_ones(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    error = caught.value
    assert error.status_code == 404
    assert isinstance(error.body, dict)
    assert error.body["code"] == "model_not_found"
    assert error.body["param"] == "model"
    assert error.body["type"] == "invalid_request_error"
    assert MODEL in error.body["message"]
    assert "gpt-4o" in error.body["message"]
    with pytest.raises(openai.NotFoundError):
        client.completions.create(model="gpt-4o", prompt="x")
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("gpt-4o")


def test_an_unknown_route_and_a_wrong_method_are_openai_errors(http: httpx.Client) -> None:
    assert_error(http.get("/v1/no-such-route"), 404)
    response = http.get("/v1/chat/completions")
    assert_error(response, 405)
    assert "POST" in response.headers["allow"]


# -- bad input: each a clear 4xx, and the server serves on -------------------


def test_malformed_json_is_400(http: httpx.Client) -> None:
    response = http.post(
        "/v1/chat/completions",
        content=b'{"model": "echo-model", "messages": [',
        headers={"content-type": "application/json"},
    )
    assert "not valid JSON" in assert_error(response, 400)
    assert_still_serving(http)


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"max_tokens": "many"}, "max_tokens"),
        ({"temperature": "hot"}, "temperature"),
        ({"messages": "hello"}, "messages"),
        ({"messages": [{"role": "user", "content": 42}]}, "messages.0.content"),
        ({"stream": "sometimes"}, "stream"),
        ({"model": 7}, "model"),
    ],
)
def test_wrong_types_are_422_naming_the_field(
    http: httpx.Client, fields: dict[str, Any], param: str
) -> None:
    body = {**chat("hi"), **fields}
    message = assert_error(http.post("/v1/chat/completions", json=body), 422)
    assert message.startswith("invalid request: ")
    assert http.post("/v1/chat/completions", json=body).json()["error"]["param"].startswith(param)
    assert_still_serving(http)


def test_an_empty_messages_list_is_422(http: httpx.Client, client: openai.OpenAI) -> None:
    response = http.post("/v1/chat/completions", json={"model": MODEL, "messages": []})
    assert "at least 1" in assert_error(response, 422, "messages")
    with pytest.raises(openai.UnprocessableEntityError):
        client.chat.completions.create(model=MODEL, messages=[])
    assert_still_serving(http)


def test_an_unknown_role_is_422(http: httpx.Client) -> None:
    body = {"model": MODEL, "messages": [{"role": "wizard", "content": "hi"}]}
    assert "role" in assert_error(http.post("/v1/chat/completions", json=body), 422)
    assert_still_serving(http)


@pytest.mark.parametrize(("route", "body"), [
    ("/v1/chat/completions", chat("hi", n=1000)),
    ("/v1/completions", {"model": MODEL, "prompt": "hi", "n": 1000}),
])  # fmt: skip
def test_n_1000_is_422(http: httpx.Client, route: str, body: dict[str, Any]) -> None:
    assert "128" in assert_error(http.post(route, json=body), 422, "n")
    assert_still_serving(http)


def test_max_tokens_beyond_the_context_is_400(client: openai.OpenAI, http: httpx.Client) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "hi"}], max_tokens=CONTEXT
        )
    assert caught.value.param == "max_tokens"
    assert "context" in caught.value.message
    with pytest.raises(openai.BadRequestError):
        client.completions.create(model=MODEL, prompt="hi", max_tokens=CONTEXT + 1)
    assert_still_serving(http)


def test_a_prompt_longer_than_the_context_is_400(http: httpx.Client) -> None:
    response = http.post("/v1/chat/completions", json=chat("x" * CONTEXT))
    assert "context" in assert_error(response, 400, "messages")
    assert_still_serving(http)


def test_a_body_past_the_cap_is_413(http: httpx.Client) -> None:
    big = chat("x" * (10 * 1024 * 1024))
    response = http.post("/v1/chat/completions", json=big)
    assert "1048576 bytes" in assert_error(response, 413)
    assert_still_serving(http)


def test_a_chunked_body_past_the_cap_is_413_too(http: httpx.Client) -> None:
    def pieces() -> Iterator[bytes]:  # no content-length: the server counts as it reads
        yield b'{"model": "echo-model", "messages": [{"role": "user", "content": "'
        for _ in range(20):
            yield b"x" * 100_000
        yield b'"}]}'

    response = http.post(
        "/v1/chat/completions", content=pieces(), headers={"content-type": "application/json"}
    )
    assert_error(response, 413)
    assert_still_serving(http)


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"tools": [{"type": "function", "function": {"name": "f"}}]}, "tools"),
        ({"tool_choice": "required"}, "tool_choice"),
        ({"response_format": {"type": "json_object"}}, "response_format"),
        ({"logit_bias": {"42": 5}}, "logit_bias"),
        ({"stream_options": {"include_usage": True}}, "stream_options"),
        ({"max_tokens": 3, "max_completion_tokens": 4}, "max_completion_tokens"),
        ({"frobnicate": True}, "frobnicate"),
    ],
)
def test_what_cannot_be_honoured_is_400_naming_it(
    http: httpx.Client, fields: dict[str, Any], param: str
) -> None:
    assert param in assert_error(
        http.post("/v1/chat/completions", json=chat("hi", **fields)), 400, param
    )


def test_settings_that_ask_for_nothing_are_accepted(http: httpx.Client) -> None:
    fields = {
        "user": "someone",
        "tools": [],
        "tool_choice": "none",
        "response_format": {"type": "text"},
        "logit_bias": {},
        "store": False,
        "parallel_tool_calls": True,
    }
    response = http.post("/v1/chat/completions", json=chat("hi", **fields))
    assert response.status_code == 200, response.text


def test_what_the_backend_cannot_do_is_400_naming_it(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "hi"}], temperature=0.5
        )
    assert caught.value.param == "temperature"
    with pytest.raises(openai.BadRequestError) as caught:
        client.completions.create(model=MODEL, prompt="hi", logprobs=2)
    assert caught.value.param == "logprobs"


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"prompt": [1, 2, 3]}, "prompt"),
        ({"prompt": ["one", "two"]}, "prompt"),
        ({"echo": True}, "echo"),
        ({"suffix": "end"}, "suffix"),
        ({"best_of": 3}, "best_of"),
    ],
)
def test_completions_refuse_what_they_cannot_honour(
    http: httpx.Client, fields: dict[str, Any], param: str
) -> None:
    body = {"model": MODEL, "prompt": "hi", **fields}
    assert_error(http.post("/v1/completions", json=body), 400, param)


# -- answers, defaults and streams on echo -------------------------------------


def test_generation_defaults_fill_only_what_a_request_leaves_out(client: openai.OpenAI) -> None:
    text = "abcdefghijklmnopqrstuvwxyz"
    ask = [{"role": "user", "content": text}]
    short = client.chat.completions.create(model=MODEL, messages=ask)
    assert short.choices[0].message.content == text[:DEFAULT_MAX_TOKENS]
    assert short.choices[0].finish_reason == "length"
    assert short.model == MODEL
    longer = client.chat.completions.create(model=MODEL, messages=ask, max_tokens=12)
    assert longer.choices[0].message.content == text[:12]


def test_a_default_max_tokens_beyond_the_room_left_means_as_much_as_fits(
    http: httpx.Client,
) -> None:
    # The prompt leaves fewer tokens than the server's default --max-tokens: not an error.
    prompt = "y" * (CONTEXT - 3)
    response = http.post("/v1/completions", json={"model": MODEL, "prompt": prompt})
    assert response.status_code == 200, response.text
    assert response.json()["usage"]["completion_tokens"] == 3


def test_completions_answer_in_the_text_completion_shape(client: openai.OpenAI) -> None:
    completion = client.completions.create(model=MODEL, prompt="hello", max_tokens=10)
    assert completion.object == "text_completion"
    assert completion.id.startswith("cmpl-")
    assert completion.model == MODEL
    assert completion.choices[0].text == "hello"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == 5
    chunks = list(
        client.completions.create(
            model=MODEL, prompt="hey", stream=True, stream_options={"include_usage": True}
        )
    )
    assert "".join(c.text for chunk in chunks for c in chunk.choices) == "hey"
    assert all(chunk.object == "text_completion" for chunk in chunks)
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None


def test_raw_sse_is_data_lines_then_done(http: httpx.Client) -> None:
    body = chat("hey", stream=True, stream_options={"include_usage": True})
    with http.stream("POST", "/v1/chat/completions", json=body) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        raw = response.read().decode()
    assert raw.endswith("data: [DONE]\n\n")
    events = raw.split("\n\n")[:-1]
    assert all(event.startswith("data: ") and "\n" not in event for event in events)
    chunks = [json.loads(event.removeprefix("data: ")) for event in events[:-1]]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    text = "".join(chunk["choices"][0]["delta"].get("content") or "" for chunk in chunks[:-1])
    assert text == "hey"
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["completion_tokens"] == 4  # three bytes and end-of-sequence
    # Without include_usage there is no usage chunk.
    with http.stream("POST", "/v1/chat/completions", json=chat("hey", stream=True)) as response:
        lines = [line for line in response.iter_lines() if line]
    assert lines[-1] == "data: [DONE]"
    assert all(json.loads(line[6:])["choices"] for line in lines[:-1])


def test_metrics_count_what_was_served(http: httpx.Client, url: str) -> None:
    before = metrics(http)
    httpx.get(f"{url}/v1/models")  # no key: 401
    for _ in range(3):
        assert_still_serving(http)
    with http.stream("POST", "/v1/chat/completions", json=chat("ab", stream=True)) as response:
        response.read()
    after = metrics(http)
    labels = f'model_name="{MODEL}"'
    chat_200 = f'infercore_requests_total{{{labels},route="/v1/chat/completions",status="200"}}'
    models_401 = f'infercore_requests_total{{{labels},route="/v1/models",status="401"}}'
    assert after[chat_200] - before.get(chat_200, 0) == 4
    assert after[models_401] - before.get(models_401, 0) == 1
    tokens = f"infercore_generation_tokens_total{{{labels}}}"
    assert after[tokens] - before[tokens] == 3 * 3 + 3  # "ok" + end, "ab" + end
    prompt = f"infercore_prompt_tokens_total{{{labels}}}"
    assert after[prompt] > before[prompt]
    e2e = f"infercore_e2e_request_latency_seconds_count{{{labels}}}"
    assert after[e2e] - before[e2e] == 4
    ttft = f"infercore_time_to_first_token_seconds_count{{{labels}}}"
    assert after[ttft] - before.get(ttft, 0) == 1
    inf_bucket = metric(http, "infercore_e2e_request_latency_seconds_bucket", le="+Inf")
    assert inf_bucket == after[e2e]
    for gauge in ("requests_running", "requests_waiting", "backend_active_requests"):
        assert after[f"infercore_{gauge}{{{labels}}}"] == 0


def test_metrics_parse_as_prometheus_families(http: httpx.Client) -> None:
    assert_still_serving(http)
    text = http.get("/metrics").text
    kinds = {family.name: family for family in text_string_to_metric_families(text)}
    expected = {
        "infercore_requests": "counter",  # the parser names counters without _total
        "infercore_prompt_tokens": "counter",
        "infercore_generation_tokens": "counter",
        "infercore_time_to_first_token_seconds": "histogram",
        "infercore_e2e_request_latency_seconds": "histogram",
        "infercore_requests_running": "gauge",
        "infercore_requests_waiting": "gauge",
        "infercore_backend_active_requests": "gauge",
    }
    for name, kind in expected.items():
        assert kinds[name].type == kind, name
        assert all(sample.labels["model_name"] == MODEL for sample in kinds[name].samples)
    # Counters and histograms carry the time they were created, as prometheus-client writes.
    assert "infercore_requests_created" in kinds
    assert "infercore_e2e_request_latency_seconds_created" in kinds


# -- a client that leaves cancels its generation -------------------------------


@pytest.fixture(scope="module")
def slow_url() -> Iterator[str]:
    """20 tokens/s: a long generation stays running until it is cancelled."""
    with deployed("--model", MODEL, "--backend", "echo", "-O", "token_rate=20") as root:
        yield root


def _running(http: httpx.Client) -> float:
    return metric(http, "infercore_backend_active_requests")


def _long(stream: bool) -> dict[str, Any]:
    return chat("z", max_tokens=2000, ignore_eos=True, stream=stream)


def _chat_responses(http: httpx.Client, status: str) -> float:
    return metric(http, "infercore_requests_total", route="/v1/chat/completions", status=status)


def test_closing_a_stream_early_cancels_its_generation(slow_url: str) -> None:
    with httpx.Client(base_url=slow_url, timeout=10) as http:
        gone_before, ok_before = _chat_responses(http, "499"), _chat_responses(http, "200")
        with http.stream("POST", "/v1/chat/completions", json=_long(True)) as response:
            assert response.status_code == 200
            lines = response.iter_lines()
            assert next(lines).startswith("data: ")
            assert _running(http) == 1
        assert wait_for(lambda: _running(http) == 0, timeout=1.0) < 1.0
        assert metric(http, "infercore_requests_running") == 0
        # The status line said 200, but the client left before the end: 499.
        wait_for(lambda: _chat_responses(http, "499") == gone_before + 1, timeout=1.0)
        assert _chat_responses(http, "200") == ok_before


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "non-stream"])
def test_a_socket_closed_mid_request_cancels_its_generation(slow_url: str, stream: bool) -> None:
    host, port = slow_url.removeprefix("http://").split(":")
    body = json.dumps(_long(stream)).encode()
    request = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: {host}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    with httpx.Client(base_url=slow_url, timeout=10) as http:
        gone_before = _chat_responses(http, "499")
        with socket.create_connection((host, int(port))) as sock:
            sock.sendall(request)
            if stream:
                assert sock.recv(4096).startswith(b"HTTP/1.1 200")
            wait_for(lambda: _running(http) == 1, timeout=2.0)
        assert wait_for(lambda: _running(http) == 0, timeout=1.0) < 1.0
        wait_for(lambda: _chat_responses(http, "499") == gone_before + 1, timeout=1.0)


# -- back-pressure ----------------------------------------------------------------


async def test_past_the_slots_and_the_line_requests_get_429_and_the_rest_are_served() -> None:
    flags = ["--max-concurrency", "2", "--max-queue", "1", "-O", "token_rate=10"]
    with deployed("--model", MODEL, "--backend", "echo", *flags) as root:
        async with httpx.AsyncClient(base_url=root, timeout=30) as http:
            # Each taken request runs for 20 tokens at 10/s: 2 s.
            body = chat("q", max_tokens=20, ignore_eos=True)
            taken = [
                asyncio.create_task(http.post("/v1/chat/completions", json=body)) for _ in range(3)
            ]
            waiting = f'infercore_requests_waiting{{model_name="{MODEL}"}} 1'
            for _ in range(200):  # two running, one waiting: the line is full
                if waiting in (await http.get("/metrics")).text:
                    break
                await asyncio.sleep(0.01)
            else:
                pytest.fail("the third request never queued")
            refused = await http.post("/v1/chat/completions", json=body)
            assert_error(refused, 429)
            assert refused.headers["retry-after"] == "1"
            assert refused.json()["error"]["code"] == "over_capacity"
            # The server stays responsive meanwhile: listing models waits for no slot
            # (which would take the 2 s a taken request runs).
            started = time.monotonic()
            assert (await http.get("/v1/models")).status_code == 200
            assert time.monotonic() - started < 1.0
            # Every request it took is answered in full.
            for response in await asyncio.gather(*taken):
                assert response.status_code == 200, response.text
                assert response.json()["choices"][0]["message"]["content"] == "q" * 20
            # With the line free again, the next one is served.
            assert (await http.post("/v1/chat/completions", json=body)).status_code == 200
        client = openai.OpenAI(base_url=f"{root}/v1", api_key="unused", max_retries=0)
        assert client.models.list().data[0].id == MODEL


# -- SIGTERM: drain, then exit 0 ---------------------------------------------------


def test_sigterm_lets_requests_in_flight_finish_refuses_new_ones_and_exits_0() -> None:
    port = free_port()
    root = f"http://127.0.0.1:{port}"
    argv = [*INFERCORE_COMMAND, "deploy", "--model", MODEL, "--backend", "echo",
            "--port", str(port), "--shutdown-grace", "20", "-O", "token_rate=20"]  # fmt: skip
    with tempfile.TemporaryFile("w+") as log:
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=server_env())
        try:
            wait_for(lambda: _healthy(root), timeout=60)
            with httpx.Client(base_url=root, timeout=30) as http:
                # 30 tokens at 20/s: 1.5 s in flight, streamed so its progress shows.
                body = chat("w", max_tokens=30, ignore_eos=True, stream=True)
                with http.stream("POST", "/v1/chat/completions", json=body) as response:
                    lines = response.iter_lines()
                    assert next(lines).startswith("data: ")
                    process.send_signal(signal.SIGTERM)
                    wait_for(lambda: not _healthy(root), timeout=2)
                    with httpx.Client(base_url=root, timeout=5) as other:
                        assert_error(other.post("/v1/chat/completions", json=chat("new")), 503)
                        assert other.get("/health").status_code == 503
                    rest = [line for line in lines if line]
                assert rest[-1] == "data: [DONE]"
                text = "".join(
                    json.loads(line[6:])["choices"][0]["delta"].get("content") or ""
                    for line in rest[:-1]
                )
                assert len(text) >= 29  # every token after the first chunk arrived
            assert process.wait(timeout=15) == 0
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        log.seek(0)
        assert "draining" in log.read()


def test_past_the_grace_requests_still_running_get_503_and_the_process_exits_0() -> None:
    port = free_port()
    root = f"http://127.0.0.1:{port}"
    argv = [*INFERCORE_COMMAND, "deploy", "--model", MODEL, "--backend", "echo",
            "--port", str(port), "--shutdown-grace", "0.5", "-O", "token_rate=20"]  # fmt: skip
    process = subprocess.Popen(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=server_env()
    )
    try:
        wait_for(lambda: _healthy(root), timeout=60)
        with httpx.Client(base_url=root, timeout=30) as http:
            long = chat("w", max_tokens=200, ignore_eos=True)  # 10 s at 20 tokens/s
            with concurrent.futures.ThreadPoolExecutor(2) as pool:
                answers = [
                    pool.submit(http.post, "/v1/chat/completions", json=long),
                    pool.submit(http.post, "/v1/chat/completions", json={**long, "stream": True}),
                ]
                wait_for(lambda: metric(http, "infercore_requests_running") == 2, timeout=5)
                process.send_signal(signal.SIGTERM)
                plain, streamed = (answer.result() for answer in answers)
        assert "grace ran out" in assert_error(plain, 503)
        events = streamed.text.split("\n\n")
        assert events[-2:] == ["data: [DONE]", ""]
        assert json.loads(events[-3].removeprefix("data: "))["error"]["code"] == "shutting_down"
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def _healthy(root: str) -> bool:
    try:
        return httpx.get(f"{root}/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


# -- a backend error fails its own request only ---------------------------------------


def test_a_backend_error_fails_that_request_alone() -> None:
    port = free_port()
    root = f"http://127.0.0.1:{port}"
    # The failing test backend is registered in the server's own process, then deploy runs.
    code = (
        "import sys; sys.path.insert(0, sys.argv.pop(1)); import failing_backend, infercore; "
        "infercore.get_plugin_manager().register(failing_backend, 'failing'); "
        "from infercore._cli import main; sys.exit(main(sys.argv[1:]))"
    )
    argv = [sys.executable, "-c", code, str(Path(__file__).parents[1] / "support"), "deploy",
            "--model", MODEL, "--backend", "failing", "--port", str(port)]  # fmt: skip
    process = subprocess.Popen(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=server_env()
    )
    try:
        wait_for(lambda: _healthy(root) or process.poll() is not None, timeout=60)
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        with httpx.Client(base_url=root, timeout=30) as http:
            failed = http.post("/v1/chat/completions", json=chat("FAIL"))
            assert "broke on purpose" in assert_error(failed, 500)
            assert failed.json()["error"]["type"] == "server_error"
            assert_still_serving(http)
            # Mid-stream the status line is out already: the error is the last event.
            streamed = http.post("/v1/chat/completions", json=chat("FAIL-LATER", stream=True))
            assert streamed.status_code == 200
            events = streamed.text.split("\n\n")
            assert events[-2:] == ["data: [DONE]", ""]
            error = json.loads(events[-3].removeprefix("data: "))["error"]
            assert error["code"] == "engine_error"
            assert "mid-stream" in error["message"]
            assert_still_serving(http)
            assert metric(http, "infercore_backend_active_requests") == 0
            assert metric(http, "infercore_requests_running") == 0
    finally:
        process.terminate()
        process.wait(timeout=15)


# -- the command's own refusals ------------------------------------------------------


def _deploy(*args: str) -> subprocess.CompletedProcess[str]:
    argv = [
        *INFERCORE_COMMAND,
        "deploy",
        "--model",
        MODEL,
        "--backend",
        "echo",
        "--port",
        str(free_port()),
    ]
    argv += args
    return subprocess.run(argv, capture_output=True, text=True, env=server_env(), timeout=60)


def test_adapters_are_refused_where_the_backend_has_no_lora() -> None:
    result = _deploy("--adapters", "mine=/tmp/adapter")
    assert result.returncode == 2
    assert "does not support LoRA adapters" in result.stderr


def test_a_generation_default_out_of_bounds_is_refused() -> None:
    result = _deploy("--temperature", "5")
    assert result.returncode == 2
    assert "invalid generation defaults: temperature" in result.stderr


def test_without_fastapi_deploy_says_what_to_install() -> None:
    code = (
        "import sys; sys.modules['fastapi'] = None; from infercore._cli import main; "
        "sys.exit(main(['deploy', '--model', 'm', '--backend', 'echo']))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=server_env(), timeout=60
    )
    assert result.returncode == 2
    assert "pip install 'infercore[serve]'" in result.stderr
