"""SmolLM2 quantized by each method that runs on this CPU: a smaller checkpoint that carries
its quantization config, loads on pt, answers the Paris question, and keeps its perplexity
near the unquantized model's: within 10% at 8 bits; 4-bit NF4 costs a model this small
about 17% on the fixed text, so it is held to 25%."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from perplexity import perplexity

import infercore
from infercore.export import quantize

MODEL = "smollm2-135m-instruct"
PARIS = {"messages": [{"role": "user", "content": "What is the capital of France?"}]}
# Each method: its library's name in the config, the largest share of the float32
# checkpoint's size (538 MB) its folder may take, and the largest perplexity ratio.
METHODS = [
    pytest.param(("int8", 8, "torchao", 0.45, 1.10), id="int8"),
    pytest.param(("bnb", 8, "bitsandbytes", 0.45, 1.10), id="bnb8"),
    pytest.param(("bnb", 4, "bitsandbytes", 0.35, 1.25), id="bnb4"),
]
Quantized = tuple[Path, str, float, float]


def _size(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.glob("*.safetensors"))


@pytest.fixture(scope="module")
def model_path() -> Path:
    return Path(infercore.get_plugin_manager().registry.resolve_model(MODEL))


@pytest.fixture(scope="module", params=METHODS)
def quantized(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Quantized:
    method, bits, quant_method, share, most = request.param
    folder = quantize(MODEL, method, bits, tmp_path_factory.mktemp(method) / "out", dtype="float32")
    return folder, quant_method, share, most


@pytest.fixture(scope="module")
def engine(quantized: Quantized) -> Iterator[infercore.Engine]:
    with infercore.Engine(str(quantized[0]), backend="pt", dtype="float32") as e:
        yield e


@pytest.fixture(scope="module")
def reference_perplexity(model_path: Path) -> float:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(model_path, dtype="float32")
    return perplexity(model, AutoTokenizer.from_pretrained(model_path))


def test_the_quantized_model_answers_the_paris_question_on_pt(
    engine: infercore.Engine, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        (response,) = engine.infer([PARIS], {"temperature": 0.0, "max_tokens": 20})
    assert "Paris" in (response.choices[0].message.content or "")  # type: ignore[union-attr]
    # Nothing logged for each layer at each step (bitsandbytes' 8-bit cast notice).
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_the_checkpoint_is_smaller_and_carries_its_quantization_config(
    quantized: Quantized, model_path: Path
) -> None:
    folder, quant_method, share, _ = quantized
    config = json.loads((folder / "config.json").read_text())
    assert config["quantization_config"]["quant_method"] == quant_method
    assert _size(folder) < share * _size(model_path)
    assert {"tokenizer.json", "generation_config.json", "chat_template.jinja"} <= {
        path.name for path in folder.iterdir()
    }


def test_the_perplexity_stays_near_the_unquantized_models(
    quantized: Quantized, reference_perplexity: float
) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, _, _, most = quantized
    model = AutoModelForCausalLM.from_pretrained(folder, device_map="cpu")
    ratio = perplexity(model, AutoTokenizer.from_pretrained(folder)) / reference_perplexity
    assert 0.98 < ratio < most
