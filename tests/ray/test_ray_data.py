"""EngineBatches in Ray Data's map_batches, on a local cluster: SmolLM2 on pt in an actor.

Every row of a file of mixed shapes comes back once, with the answers that an Engine
in this process gives the same requests; a bad row carries its error.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import infercore
import ray
from infercore._jobs._dataset import answer_row
from infercore.ray import EngineBatches

MODEL = "smollm2-135m-instruct"
GREEDY = {"temperature": 0, "max_tokens": 16}
ENGINE = {"model": MODEL, "backend": "pt", "options": {"dtype": "float32"}, "config": GREEDY}

# Each row, and the request it must become (with its reference answer and its own
# max_tokens where it has one); "id" is a data column, ignored by the reader.
ROWS: list[tuple[dict[str, Any], list[dict[str, str]], str | None, int | None]] = [
    (
        {
            "messages": [
                {"role": "user", "content": "What is the capital of France?"},
                {"role": "assistant", "content": "Paris."},
            ]
        },
        [{"role": "user", "content": "What is the capital of France?"}],
        "Paris.",
        None,
    ),
    (
        {"instruction": "Translate to French.", "input": "Good morning", "output": "Bonjour"},
        [{"role": "user", "content": "Translate to French.\nGood morning"}],
        "Bonjour",
        None,
    ),
    (
        {"instruction": "Name a fruit that is yellow.", "input": "", "output": "A banana."},
        [{"role": "user", "content": "Name a fruit that is yellow."}],
        "A banana.",
        None,
    ),
    (
        {"query": "Name a primary colour.", "response": "Red", "system": "Answer in one word."},
        [
            {"role": "system", "content": "Answer in one word."},
            {"role": "user", "content": "Name a primary colour."},
        ],
        "Red",
        None,
    ),
    (
        {
            "query": "And what is 3 + 3?",
            "response": "3 + 3 is 6.",
            "history": [["What is 2 + 2?", "2 + 2 is 4."]],
        },
        [
            {"role": "user", "content": "What is 2 + 2?"},
            {"role": "assistant", "content": "2 + 2 is 4."},
            {"role": "user", "content": "And what is 3 + 3?"},
        ],
        "3 + 3 is 6.",
        None,
    ),
    (
        {
            "model": "any",
            "messages": [
                {"role": "system", "content": "You are a helpful assistant."},
                {"role": "user", "content": "Say hello."},
            ],
            "max_tokens": 4,
        },
        [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "Say hello."},
        ],
        None,
        4,
    ),
    (
        {
            "messages": [
                {"role": "user", "content": "Write a haiku about the sea."},
                {"role": "assistant", "content": "Waves fold into foam.", "loss": True},
            ]
        },
        [{"role": "user", "content": "Write a haiku about the sea."}],
        "Waves fold into foam.",
        None,
    ),
    (
        {"query": "What is the boiling point of water?"},
        [{"role": "user", "content": "What is the boiling point of water?"}],
        None,
        None,
    ),
    (
        {"instruction": "List three animals."},
        [{"role": "user", "content": "List three animals."}],
        None,
        None,
    ),
    (
        {"messages": [{"role": "user", "content": "Who wrote Hamlet?"}], "system": "Be brief."},
        [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Who wrote Hamlet?"},
        ],
        None,
        None,
    ),
    (
        {"query": "What colour is the sky?", "response": "Blue."},
        [{"role": "user", "content": "What colour is the sky?"}],
        "Blue.",
        None,
    ),
    (
        {"messages": [{"role": "user", "content": "Give me a word that rhymes with cat."}]},
        [{"role": "user", "content": "Give me a word that rhymes with cat."}],
        None,
        None,
    ),
]
BAD = {"text": "a row of no known shape"}


@pytest.fixture(scope="module")
def local() -> Iterator[EngineBatches]:
    # Built first, so the model is converted to the cache before the actor loads it.
    batches = EngineBatches(**ENGINE)
    yield batches
    batches.close()


@pytest.fixture(scope="module")
def cluster() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        # Nothing leaves this machine: no usage report.
        patch.setenv("RAY_USAGE_STATS_ENABLED", "0")
        ray.init(
            num_cpus=2,
            include_dashboard=False,
            object_store_memory=200 * 1024**2,
            _node_ip_address="127.0.0.1",  # the cluster talks over loopback only
        )
        ray.data.DataContext.get_current().enable_progress_bars = False
        try:
            yield
        finally:
            ray.shutdown()


def _expected(engine: infercore.Engine) -> list[dict[str, Any]]:
    """The answers of the engine here: every row's request, each with its own max_tokens."""
    answers = []
    for _, messages, labels, max_tokens in ROWS:
        config = {**GREEDY, "max_tokens": max_tokens} if max_tokens else GREEDY
        [response] = engine.infer([{"messages": messages}], config)
        answers.append(
            {
                "response": response.choices[0].message.content,
                "finish_reason": response.choices[0].finish_reason,
                "prompt_tokens": response.usage.prompt_tokens,
                "completion_tokens": response.usage.completion_tokens,
                "labels": labels,
                "error": None,
            }
        )
    return answers


def _answers(line: dict[str, Any]) -> dict[str, Any]:
    names = ("response", "finish_reason", "prompt_tokens", "completion_tokens", "labels", "error")
    return {name: line.get(name) for name in names}


def test_every_row_comes_back_once_with_the_engines_answer(
    local: EngineBatches, cluster: None, tmp_path: Path
) -> None:
    records = [{"id": i, **row} for i, (row, *_) in enumerate(ROWS)]
    bad_id = len(records)
    records.insert(5, {"id": bad_id, **BAD})
    source = tmp_path / "rows.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")

    answered = ray.data.read_json(str(source)).map_batches(
        EngineBatches,
        fn_constructor_kwargs=ENGINE,
        compute=ray.data.ActorPoolStrategy(size=1),
        num_cpus=1,
        batch_size=5,
    )
    answered.write_json(str(tmp_path / "out"))

    lines = [
        json.loads(text)
        for path in sorted((tmp_path / "out").iterdir())
        for text in path.read_text(encoding="utf-8").splitlines()
    ]
    assert sorted(line["id"] for line in lines) == list(range(len(records)))
    by_id = {line["id"]: line for line in lines}
    bad = by_id.pop(bad_id)
    assert bad["error"]["type"] == "invalid_request_error"
    assert bad["error"]["param"] == "messages"
    assert "no known shape" in bad["error"]["message"]
    assert (bad["response"], bad["prompt_tokens"], bad["completion_tokens"]) == (None, 0, 0)

    expected = _expected(local.engine)
    assert [_answers(by_id[i]) for i in range(len(ROWS))] == expected
    assert expected[5]["completion_tokens"] == 4  # the body row's own max_tokens
    assert expected[0]["response"] == "The capital of France is Paris."


def test_a_pandas_batch_is_answered_as_a_dataframe(local: EngineBatches) -> None:
    batch = pd.DataFrame([ROWS[0][0], ROWS[3][0], BAD])

    answered = local(batch)

    assert isinstance(answered, pd.DataFrame)
    assert list(answered["labels"][:2]) == ["Paris.", "Red"]
    assert pd.isna(answered["labels"][2])  # pandas' own missing value
    assert answered["response"][0] == "The capital of France is Paris."
    assert answered["error"][0] is None
    assert answered["error"][2]["param"] == "messages"
    assert answered["query"][1] == "Name a primary colour."  # the batch's own columns stay


def test_a_numpy_batch_keeps_its_columns_and_answers_in_order(local: EngineBatches) -> None:
    messages = np.empty(2, dtype=object)
    messages[0] = np.array([{"role": "user", "content": "What is the capital of France?"}])
    messages[1] = None
    batch = {
        "messages": messages,
        "query": np.array([None, "Name a primary colour."], dtype=object),
        "max_tokens": np.array([np.nan, 2.0]),  # a number column with a missing value
    }

    answered = local(batch)

    # Object columns come back as plain lists and dicts, which Ray turns back into Arrow.
    assert list(answered["messages"]) == [
        [{"role": "user", "content": "What is the capital of France?"}],
        None,
    ]
    assert answered["max_tokens"] is batch["max_tokens"]
    assert answered["response"][0] == "The capital of France is Paris."
    assert answered["completion_tokens"][1] == 2
    assert answered["completion_tokens"].dtype == np.int64
    assert list(answered["error"]) == [None, None]


def test_a_bad_config_or_adapter_fails_before_the_model_loads() -> None:
    with pytest.raises(infercore.InvalidRequestError, match="stream"):
        EngineBatches(MODEL, backend="pt", config={"stream": True})
    with pytest.raises(infercore.InvalidRequestError, match="'missing'") as caught:
        EngineBatches(MODEL, backend="pt", adapters={}, adapter="missing")
    assert caught.value.param == "adapter"


def test_every_row_goes_to_the_adapter_named(
    local: EngineBatches, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An adapter this engine never loaded: the engine's refusal shows that it was asked.
    answer = partial(answer_row, local.engine, local.config, adapter="absent")
    monkeypatch.setattr(local, "_answer", answer)

    answered = local({"query": np.array(["Name a primary colour."], dtype=object)})

    [error] = answered["error"]
    assert error["param"] == "adapter"
    assert "'absent'" in error["message"]


def test_the_module_imports_without_ray() -> None:
    code = "import sys; sys.modules['ray'] = None; import infercore.ray; print('ok')"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.stdout.strip() == "ok", result.stderr
