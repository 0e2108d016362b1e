"""LoRA adapters on the pt backend: chosen per request, never mixed in a batch."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from lora_models import make_lora_adapter
from peft import PeftModel
from transformers import AutoModelForCausalLM, AutoTokenizer

import infercore

MODEL = "smollm2-135m-instruct"
QUESTION = {"messages": [{"role": "user", "content": "What is the capital of France?"}]}
GREEDY = {"temperature": 0.0, "max_tokens": 20}


@pytest.fixture(scope="module")
def model_path() -> str:
    return infercore.get_plugin_manager().registry.resolve_model(MODEL)


@pytest.fixture(scope="module")
def adapter(model_path: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_lora_adapter(model_path, tmp_path_factory.mktemp("lora") / "a")


@pytest.fixture(scope="module")
def engine(adapter: Path) -> Iterator[infercore.Engine]:
    with infercore.Engine(MODEL, backend="pt", dtype="float32", adapters={"a": str(adapter)}) as e:
        yield e


def _answer(engine: infercore.Engine, request: dict[str, object]) -> str:
    (response,) = engine.infer([request], GREEDY)
    assert isinstance(response, infercore.ChatCompletionResponse)
    return response.choices[0].message.content or ""


def _peft_answer(model_path: str, adapter: Path) -> str:
    """The same greedy answer from peft itself, the reference for what the adapter does."""
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    base = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32)
    model = PeftModel.from_pretrained(base, str(adapter)).eval()
    prompt = tokenizer.apply_chat_template(
        QUESTION["messages"], tokenize=False, add_generation_prompt=True
    )
    ids = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
    with torch.inference_mode():
        out = model.generate(**ids, max_new_tokens=20, do_sample=False)
    return str(tokenizer.decode(out[0, ids["input_ids"].shape[1] :], skip_special_tokens=True))


def test_the_adapter_changes_the_answer_as_peft_does(
    engine: infercore.Engine, model_path: str, adapter: Path
) -> None:
    base = _answer(engine, QUESTION)
    adapted = _answer(engine, {**QUESTION, "adapter": "a"})
    assert adapted != base
    assert adapted == _peft_answer(model_path, adapter)


def test_base_and_adapter_requests_in_one_call_each_get_their_own(
    engine: infercore.Engine,
) -> None:
    base = _answer(engine, QUESTION)
    adapted = _answer(engine, {**QUESTION, "adapter": "a"})
    mixed = engine.infer([QUESTION, {**QUESTION, "adapter": "a"}] * 3, GREEDY)
    contents = [r.choices[0].message.content for r in mixed]  # type: ignore[union-attr]
    assert contents == [base, adapted] * 3
    assert engine.backend.active_requests == 0


def test_an_unknown_adapter_is_refused_by_name(engine: infercore.Engine) -> None:
    with pytest.raises(infercore.InvalidRequestError, match="unknown adapter 'nope'") as caught:
        engine.infer([{**QUESTION, "adapter": "nope"}], GREEDY)
    assert caught.value.param == "adapter"
    assert "a" in str(caught.value)


def test_an_adapter_path_that_holds_none_is_refused(tmp_path: Path) -> None:
    with pytest.raises(infercore.InvalidRequestError, match="cannot load LoRA adapter"):
        infercore.Engine(MODEL, backend="pt", dtype="float32", adapters={"b": str(tmp_path)})


def _command(*args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "infercore", *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=180, check=False)


def test_infer_loads_adapters_and_answers_with_the_one_named(
    engine: infercore.Engine, adapter: Path
) -> None:
    question = QUESTION["messages"][0]["content"]
    result = _command(
        "infer", "--model", MODEL, "--backend", "pt", "-O", "dtype=float32",
        "--adapters", f"a={adapter}", "--adapter", "a", "--query", question,
        "--temperature", "0", "--max-tokens", "20", "--no-stream",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == _answer(engine, {**QUESTION, "adapter": "a"}).strip()


def test_run_batch_answers_each_request_with_the_adapter_its_model_names(
    engine: infercore.Engine, adapter: Path, tmp_path: Path
) -> None:
    requests = [
        {"custom_id": name, "method": "POST", "url": "/v1/chat/completions",
         "body": {"model": name, **QUESTION, "temperature": 0, "max_tokens": 20}}
        for name in (MODEL, "a")
    ]  # fmt: skip
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(request) + "\n" for request in requests))
    out = tmp_path / "out.jsonl"
    result = _command(
        "run-batch", "-i", str(source), "-o", str(out),
        "--model", MODEL, "--backend", "pt", "-O", "dtype=float32", "--adapters", f"a={adapter}",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    bodies = {
        line["custom_id"]: line["response"]["body"]
        for line in map(json.loads, out.read_text().splitlines())
    }
    assert bodies[MODEL]["choices"][0]["message"]["content"] == _answer(engine, QUESTION)
    assert bodies["a"]["model"] == "a"
    assert bodies["a"]["choices"][0]["message"]["content"] == _answer(
        engine, {**QUESTION, "adapter": "a"}
    )
