"""A LoRA adapter merged into SmolLM2: the merged checkpoint answers as the base model with
the adapter does, on pt, and holds what every engine needs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lora_models import make_lora_adapter

import infercore
from infercore.export import merge_lora

MODEL = "smollm2-135m-instruct"
GREEDY = {"temperature": 0.0, "max_tokens": 24}
FIRST_TOKEN = {"temperature": 0.0, "max_tokens": 1, "logprobs": True, "top_logprobs": 5}
PROMPTS = [
    "What is the capital of France?",
    "Name three colours.",
    "Write one sentence about the sea.",
    "What do bees make?",
]


def _chat(content: str, **extra: Any) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": content}], **extra}


@pytest.fixture(scope="module")
def adapter(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = infercore.get_plugin_manager().registry.resolve_model(MODEL)
    return make_lora_adapter(path, tmp_path_factory.mktemp("lora") / "a")


@pytest.fixture(scope="module")
def merged(adapter: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return merge_lora(MODEL, adapter, tmp_path_factory.mktemp("out") / "merged", dtype="float32")


@pytest.fixture(scope="module")
def with_adapter(adapter: Path) -> Iterator[infercore.Engine]:
    with infercore.Engine(MODEL, backend="pt", dtype="float32", adapters={"a": str(adapter)}) as e:
        yield e


@pytest.fixture(scope="module")
def merged_engine(merged: Path) -> Iterator[infercore.Engine]:
    with infercore.Engine(str(merged), backend="pt", dtype="float32") as e:
        yield e


def _answers(engine: infercore.Engine, adapter: str | None = None) -> list[str]:
    extra = {"adapter": adapter} if adapter else {}
    responses = engine.infer([_chat(p, **extra) for p in PROMPTS], GREEDY)
    return [r.choices[0].message.content or "" for r in responses]  # type: ignore[union-attr]


def test_the_merged_model_answers_as_the_base_model_with_the_adapter(
    with_adapter: infercore.Engine, merged_engine: infercore.Engine
) -> None:
    adapted = _answers(with_adapter, "a")
    assert adapted != _answers(with_adapter), "the adapter must change the answers"
    assert _answers(merged_engine) == adapted


def test_the_first_token_logprobs_match_within_1e_3(
    with_adapter: infercore.Engine, merged_engine: infercore.Engine
) -> None:
    for prompt in PROMPTS:
        (reference,) = with_adapter.infer([_chat(prompt, adapter="a")], FIRST_TOKEN)
        (answer,) = merged_engine.infer([_chat(prompt)], FIRST_TOKEN)
        expected = reference.choices[0].logprobs.content[0]  # type: ignore[union-attr]
        got = answer.choices[0].logprobs.content[0]  # type: ignore[union-attr]
        assert got.token == expected.token
        assert got.logprob == pytest.approx(expected.logprob, abs=1e-3)
        assert [t.token for t in got.top_logprobs] == [t.token for t in expected.top_logprobs]
        for mine, theirs in zip(got.top_logprobs, expected.top_logprobs, strict=True):
            assert mine.logprob == pytest.approx(theirs.logprob, abs=1e-3)


def test_the_merged_folder_is_a_plain_checkpoint_with_its_tokenizer(merged: Path) -> None:
    names = {path.name for path in merged.iterdir()}
    assert "model.safetensors" in names
    assert {"config.json", "generation_config.json", "tokenizer.json"} <= names
    assert "adapter_config.json" not in names
    config = json.loads((merged / "config.json").read_text())
    assert config["dtype"] == "float32"
    assert "quantization_config" not in config
    template = merged / "chat_template.jinja"
    tokenizer_config = json.loads((merged / "tokenizer_config.json").read_text())
    assert template.is_file() or "chat_template" in tokenizer_config
    # No staging folder is left beside the output.
    assert [p.name for p in merged.parent.iterdir()] == [merged.name]
