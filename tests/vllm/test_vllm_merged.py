"""A LoRA adapter merged by ``infercore export`` and served by ``infercore deploy --backend
vllm``: the official ``openai`` client gets the answers vLLM gives with the adapter itself."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from lora_models import make_lora_adapter
from vllm_settings import VLLM_OPTIONS

import infercore
from infercore.export import merge_lora
from infercore.testing import deployed

MODEL = "smollm2-135m-instruct"
SERVED = "smollm2-merged"
MAX_TOKENS = 24
PROMPTS = ("What is the capital of France?", "Name three colours.", "What do bees make?")
PROMPTS += ("Write one sentence about the sea.", "What is 2 + 2?", "Suggest a name for a cat.")


@pytest.fixture(scope="module")
def adapter(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = infercore.get_plugin_manager().registry.resolve_model(MODEL)
    return make_lora_adapter(path, tmp_path_factory.mktemp("lora") / "a")


@pytest.fixture(scope="module")
def with_adapter(adapter: Path) -> tuple[list[str], list[str]]:
    """vLLM's greedy answers with the adapter, and without it; the engine is closed before
    the merged model is served, so that two vLLM engines never hold memory at once."""
    options = {**VLLM_OPTIONS, "enable_lora": True, "max_lora_rank": 8}
    chats = [{"messages": [{"role": "user", "content": prompt}]} for prompt in PROMPTS]
    greedy = {"temperature": 0.0, "max_tokens": MAX_TOKENS}
    with infercore.Engine(MODEL, backend="vllm", adapters={"a": str(adapter)}, **options) as e:
        adapted = e.infer([{**chat, "adapter": "a"} for chat in chats], greedy)
        base = e.infer(chats, greedy)
    return (
        [r.choices[0].message.content or "" for r in adapted],  # type: ignore[union-attr]
        [r.choices[0].message.content or "" for r in base],  # type: ignore[union-attr]
    )


@pytest.fixture(scope="module")
def client(
    adapter: Path, with_adapter: object, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[openai.OpenAI]:
    merged = merge_lora(MODEL, adapter, tmp_path_factory.mktemp("out") / "merged", dtype="float32")
    options = [item for name, value in VLLM_OPTIONS.items() for item in ("-O", f"{name}={value}")]
    flags = ["--model", str(merged), "--served-model-name", SERVED, "--backend", "vllm"]
    with deployed(*flags, *options, start_timeout=600) as url:
        yield openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)


def test_the_merged_model_served_by_vllm_answers_as_vllm_with_the_adapter(
    client: openai.OpenAI, with_adapter: tuple[list[str], list[str]]
) -> None:
    adapted, base = with_adapter
    assert adapted != base, "the adapter must change the answers"
    served = [
        client.chat.completions.create(
            model=SERVED,
            messages=[{"role": "user", "content": prompt}],
            max_tokens=MAX_TOKENS,
            temperature=0,
        )
        .choices[0]
        .message.content
        for prompt in PROMPTS
    ]
    assert served == adapted
