"""The core's own embedding logic, on the fake backend: the task at construction, what an
input may be, conversations through the chat template, refusals naming the field."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from infercore import EmbedConfig, Engine, InvalidRequestError, get_plugin_manager
from infercore import _builtin as builtin


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    with Engine("fake", backend="fake", task="embed", max_model_len=64) as engine:
        yield engine


def test_a_backend_without_the_task_is_refused_naming_task_and_backend() -> None:
    manager = get_plugin_manager()
    manager.register(builtin, "builtin")
    try:
        with pytest.raises(InvalidRequestError, match=r"'echo'.*'embed'.*generate") as refused:
            Engine("echo", backend="echo", task="embed")
    finally:
        manager.unregister("builtin")
    assert refused.value.param == "task"


def test_a_generation_engine_does_not_embed() -> None:
    with Engine("fake", backend="fake") as engine:
        assert engine.task == "generate"
        with pytest.raises(InvalidRequestError, match="task='embed'") as refused:
            engine.embed(["hello"])
    assert refused.value.param == "model"


def test_one_text_or_one_token_list_is_one_input(engine: Engine) -> None:
    ids = engine.backend.tokenizer.encode("hello")
    assert len(engine.embed("hello").data) == 1
    assert len(engine.embed(ids).data) == 1
    mixed = engine.embed(["hello", ids, "other"])
    assert [item.index for item in mixed.data] == [0, 1, 2]
    assert mixed.data[0].embedding == mixed.data[1].embedding
    assert mixed.data[0].embedding != mixed.data[2].embedding


def test_a_conversation_is_embedded_as_its_chat_template_renders_it(engine: Engine) -> None:
    messages = [{"role": "user", "content": "What is the capital of France?"}]
    tokenizer = engine.backend.tokenizer
    rendered = tokenizer.apply_chat_template(messages, tokenize=False)
    ids = tokenizer.encode(rendered, add_special_tokens=False)
    by_messages = engine.embed([messages])
    assert by_messages.data[0].embedding == engine.embed([ids]).data[0].embedding
    assert by_messages.usage.prompt_tokens == len(ids)


@pytest.mark.parametrize(
    ("inputs", "match"),
    [
        ([], "non-empty list"),
        ([""], "empty text"),
        ([[-1]], "outside the vocabulary"),
        ([[10**6]], "outside the vocabulary"),
        ([3.5], r"input\[0\] must be"),
        ([{"role": "user", "content": "hi"}], "conversation is one input"),
        (
            [[{"role": "user", "content": [{"type": "image", "image": "x.png"}]}]],
            "text only",
        ),
    ],
)
def test_bad_inputs_are_refused_naming_input(engine: Engine, inputs: object, match: str) -> None:
    with pytest.raises(InvalidRequestError, match=match) as refused:
        engine.embed(inputs)  # type: ignore[arg-type]
    assert refused.value.param == "input"


def test_config_fields_are_validated(engine: Engine) -> None:
    with pytest.raises(InvalidRequestError) as refused:
        engine.embed("hello", {"dimensions": 0})
    assert refused.value.param == "dimensions"
    with pytest.raises(InvalidRequestError) as refused:
        engine.embed("hello", {"normalize": False})
    assert refused.value.param == "normalize"


def test_truncation_keeps_the_tokenizers_side(engine: Engine) -> None:
    ids = list(range(97, 123)) * 3  # 78 tokens, over the 64 the engine takes
    cut = engine.embed([ids], EmbedConfig(truncate_prompt_tokens=10))
    assert cut.usage.prompt_tokens == 10
    assert cut.data[0].embedding == engine.embed([ids[:10]]).data[0].embedding
