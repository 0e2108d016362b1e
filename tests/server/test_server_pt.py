"""The real ``infercore deploy`` on the pt backend and SmolLM2, driven by the ``openai`` client.

One server for the module; every request is short (a few tokens) so the
whole file stays well under two minutes on a CPU.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import jsonschema
import openai
import pydantic
import pytest
from openai.types.chat import ChatCompletion

from infercore.testing import deployed
from infercore.testing._structured_suite import CITY_SCHEMA, STRUCTURED_MAX_TOKENS

pytest.importorskip("torch")
pytest.importorskip("transformers")

MODEL = "smollm2-135m-instruct"
SERVED = "smollm2"
KEY = "sk-pt-test"
QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    flags = ["--model", MODEL, "--backend", "pt", "-O", "dtype=float32",
             "--served-model-name", SERVED, "--api-key", KEY, "--max-tokens", "16"]  # fmt: skip
    # One torch thread: the server shares two cores with this client, and torch's
    # spinning worker threads on oversubscribed cores run several times slower.
    with deployed(*flags, env={"OMP_NUM_THREADS": "1"}) as root:
        yield root


@pytest.fixture(scope="module")
def client(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{url}/v1", api_key=KEY, max_retries=0)


def test_models_list_names_the_served_model(client: openai.OpenAI) -> None:
    models = client.models.list().data
    assert [model.id for model in models] == [SERVED]
    assert models[0].owned_by == "infercore"


@pytest.fixture(scope="module")
def answer(client: openai.OpenAI) -> ChatCompletion:
    """The greedy answer to the question, which several tests compare against."""
    return client.chat.completions.create(model=SERVED, messages=QUESTION, temperature=0)


def test_chat_answers_the_question(answer: ChatCompletion) -> None:
    assert answer.object == "chat.completion"
    assert answer.model == SERVED
    choice = answer.choices[0]
    assert choice.message.role == "assistant"
    assert "Paris" in (choice.message.content or "")
    assert choice.finish_reason in ("stop", "length")
    assert answer.usage is not None
    assert answer.usage.completion_tokens <= 16  # the server's default --max-tokens
    assert answer.usage.total_tokens == (
        answer.usage.prompt_tokens + answer.usage.completion_tokens
    )


def test_a_stream_says_what_the_answer_says(client: openai.OpenAI, answer: ChatCompletion) -> None:
    chunks = list(
        client.chat.completions.create(model=SERVED, messages=QUESTION, temperature=0, stream=True)
    )
    assert all(chunk.object == "chat.completion.chunk" for chunk in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
    assert text == answer.choices[0].message.content
    assert chunks[-1].choices[0].finish_reason == answer.choices[0].finish_reason


def test_completions_continue_a_raw_prompt(client: openai.OpenAI) -> None:
    completion = client.completions.create(
        model=SERVED, prompt="The capital of France is", max_tokens=4, temperature=0
    )
    assert completion.object == "text_completion"
    assert completion.model == SERVED
    assert completion.choices[0].text.strip()
    assert completion.usage is not None
    assert completion.usage.completion_tokens <= 4
    streamed = client.completions.create(
        model=SERVED, prompt="The capital of France is", max_tokens=4, temperature=0, stream=True
    )
    text = "".join(choice.text for chunk in streamed for choice in chunk.choices)
    assert text == completion.choices[0].text


def test_n_2_gives_two_choices(client: openai.OpenAI) -> None:
    response = client.chat.completions.create(
        model=SERVED, messages=QUESTION, n=2, max_tokens=6, temperature=1.0, seed=3
    )
    assert sorted(choice.index for choice in response.choices) == [0, 1]
    assert all(choice.message.content for choice in response.choices)
    assert response.usage is not None
    assert response.usage.completion_tokens <= 12


def test_chat_logprobs_carry_the_top_alternatives(client: openai.OpenAI) -> None:
    response = client.chat.completions.create(
        model=SERVED, messages=QUESTION, max_tokens=4, temperature=0, logprobs=True,
        top_logprobs=3,
    )  # fmt: skip
    logprobs = response.choices[0].logprobs
    assert logprobs is not None
    assert logprobs.content is not None
    assert len(logprobs.content) == response.usage.completion_tokens  # type: ignore[union-attr]
    for entry in logprobs.content:
        assert entry.logprob <= 0.0
        assert len(entry.top_logprobs) == 3
        # Greedy: the chosen token is the most likely one.
        assert entry.logprob == pytest.approx(max(t.logprob for t in entry.top_logprobs))
    assert "".join(e.token for e in logprobs.content) == response.choices[0].message.content


def test_completion_logprobs_are_in_the_completions_shape(client: openai.OpenAI) -> None:
    completion = client.completions.create(
        model=SERVED, prompt="The capital of France is", max_tokens=4, temperature=0, logprobs=2
    )
    logprobs = completion.choices[0].logprobs
    assert logprobs is not None
    tokens = logprobs.tokens or []
    assert len(tokens) == len(logprobs.token_logprobs or []) == len(logprobs.top_logprobs or [])
    assert len(tokens) == len(logprobs.text_offset or [])
    assert logprobs.text_offset == [sum(len(t) for t in tokens[:i]) for i in range(len(tokens))]
    for token, top in zip(tokens, logprobs.top_logprobs or [], strict=True):
        assert token in top  # the sampled token is always reported
        assert 2 <= len(top) <= 3


def test_a_stop_string_ends_the_answer_before_it(
    client: openai.OpenAI, answer: ChatCompletion
) -> None:
    full = answer.choices[0].message.content or ""
    assert "Paris" in full
    stopped = client.chat.completions.create(
        model=SERVED, messages=QUESTION, temperature=0, stop=["Paris"]
    )
    content = stopped.choices[0].message.content or ""
    assert content == full[: full.index("Paris")]
    assert stopped.choices[0].finish_reason == "stop"


def test_a_seed_repeats_a_sampled_answer(client: openai.OpenAI) -> None:
    def sample() -> list[str]:
        response = client.chat.completions.create(
            model=SERVED, messages=QUESTION, temperature=1.0, max_tokens=8, seed=1234, n=2
        )
        return [choice.message.content or "" for choice in response.choices]

    first = sample()
    assert sample() == first
    # The choices are sampled with seeds 1234 and 1235: a seed changes the answer.
    assert first[0] != first[1]


def test_max_tokens_bounds_the_answer(client: openai.OpenAI) -> None:
    response = client.chat.completions.create(
        model=SERVED, messages=QUESTION, max_tokens=3, temperature=0
    )
    assert response.usage is not None
    assert response.usage.completion_tokens == 3
    assert response.choices[0].finish_reason == "length"


def test_max_tokens_beyond_the_context_is_400(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model=SERVED, messages=QUESTION, max_tokens=10**6)
    assert caught.value.param == "max_tokens"


def test_embeddings_on_a_generation_server_are_400_saying_how(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError, match="task=embed") as caught:
        client.embeddings.create(model=SERVED, input="hi")
    assert caught.value.param == "model"


CITY_FORMAT = {
    "type": "json_schema",
    "json_schema": {"name": "city", "strict": True, "schema": CITY_SCHEMA},
}


def test_response_format_json_schema_validates_for_twenty_sampled_prompts(
    client: openai.OpenAI,
) -> None:
    def ask(number: int) -> ChatCompletion:
        return client.chat.completions.create(
            model=SERVED,
            messages=[{"role": "user", "content": f"Describe city number {number} as JSON."}],
            temperature=1.0,
            max_tokens=STRUCTURED_MAX_TOKENS,
            response_format=CITY_FORMAT,  # type: ignore[arg-type]
        )

    # Sent at once, so that the server batches them.
    with ThreadPoolExecutor(max_workers=20) as pool:
        completions = list(pool.map(ask, range(20)))
    for completion in completions:
        jsonschema.validate(json.loads(completion.choices[0].message.content or ""), CITY_SCHEMA)
        assert completion.choices[0].finish_reason == "stop"


class City(pydantic.BaseModel):
    name: str = pydantic.Field(max_length=20)
    country: str = pydantic.Field(max_length=20)


def test_the_clients_parse_gives_the_pydantic_model(client: openai.OpenAI) -> None:
    completion = client.chat.completions.parse(
        model=SERVED, messages=QUESTION, temperature=0, max_tokens=48, response_format=City
    )
    parsed = completion.choices[0].message.parsed
    assert isinstance(parsed, City)
    assert parsed.name


@pytest.mark.parametrize(
    ("fields", "status", "param"),
    [
        (
            {
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {"name": "bad", "schema": {"type": "objekt"}},
                }
            },
            400,
            "response_format",
        ),
        ({"extra_body": {"regex": "(unclosed"}}, 400, "regex"),
        # Not a shape of response_format at all: a validation error, as for every field.
        ({"response_format": {"type": "xml"}}, 422, "response_format"),
    ],
)
def test_a_constraint_that_cannot_be_honoured_is_refused_naming_it(
    client: openai.OpenAI, fields: dict[str, object], status: int, param: str
) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(
            model=SERVED,
            messages=QUESTION,
            max_tokens=4,
            **fields,  # type: ignore[arg-type]
        )
    assert caught.value.status_code == status
    assert caught.value.body["param"] == param  # type: ignore[index]


def test_a_wrong_model_is_404_in_the_openai_shape(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model=MODEL, messages=QUESTION)
    error = caught.value
    assert error.status_code == 404
    assert error.body == {
        "message": error.body["message"],  # type: ignore[index]
        "type": "invalid_request_error",
        "param": "model",
        "code": "model_not_found",
    }
    assert SERVED in error.message


def test_a_wrong_key_is_401_in_the_openai_shape(url: str) -> None:
    wrong = openai.OpenAI(base_url=f"{url}/v1", api_key="sk-wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as caught:
        wrong.models.list()
    error = caught.value
    assert error.status_code == 401
    assert isinstance(error.body, dict)
    assert error.body["code"] == "invalid_api_key"
    assert set(error.body) == {"message", "type", "param", "code"}


def test_raw_sse_lines_end_with_done_and_carry_usage_when_asked(url: str) -> None:
    body = {
        "model": SERVED,
        "messages": QUESTION,
        "max_tokens": 5,
        "temperature": 0,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    headers = {"Authorization": f"Bearer {KEY}"}
    with (
        httpx.Client(timeout=60) as http,
        http.stream("POST", f"{url}/v1/chat/completions", json=body, headers=headers) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        raw = response.read().decode()
    events = raw.split("\n\n")
    assert events[-1] == ""
    assert events[-2] == "data: [DONE]"
    chunks = [json.loads(event.removeprefix("data: ")) for event in events[:-2]]
    assert all(event.startswith("data: {") for event in events[:-2])
    assert all(chunk["model"] == SERVED for chunk in chunks)
    usage_chunk = chunks[-1]
    assert usage_chunk["choices"] == []
    assert usage_chunk["usage"]["completion_tokens"] == 5
    assert all(chunk["usage"] is None for chunk in chunks[:-1])


def test_a_lora_adapter_is_served_under_its_own_name(tmp_path: Path) -> None:
    pytest.importorskip("peft")
    from lora_models import make_lora_adapter

    from infercore_pt import _smollm2

    adapter = make_lora_adapter(str(_smollm2.resolve()), tmp_path / "adapter")
    flags = ["--model", MODEL, "--backend", "pt", "-O", "dtype=float32",
             "--served-model-name", SERVED, "--adapters", f"mine={adapter}"]  # fmt: skip
    with deployed(*flags, env={"OMP_NUM_THREADS": "1"}) as root:
        client = openai.OpenAI(base_url=f"{root}/v1", api_key="unused", max_retries=0)
        models = {model.id: model for model in client.models.list().data}
        assert list(models) == [SERVED, "mine"]
        assert models["mine"].model_extra == {"root": str(adapter), "parent": SERVED,
                                               "max_model_len": 8192}  # fmt: skip

        def answer(model: str) -> str:
            response = client.chat.completions.create(
                model=model, messages=QUESTION, max_tokens=10, temperature=0
            )
            assert response.model == model
            return response.choices[0].message.content or ""

        # The adapter's random weights change the greedy answer; the base stays as it was.
        base = answer(SERVED)
        assert answer("mine") != base
        assert answer(SERVED) == base
