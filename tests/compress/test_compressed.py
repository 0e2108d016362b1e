"""SmolLM2 quantized through llm-compressor on this CPU (GPTQ calibrated on prose, FP8 with no
calibration), written by `infercore export` as a compressed-tensors checkpoint, loaded on pt;
AWQ, which llm-compressor runs only on a GPU, refused here with its reason."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from calibration_prose import PARAGRAPHS, write_calibration_set
from perplexity import perplexity

import infercore
from infercore.export import quantize
from infercore.testing import INFERCORE_COMMAND

MODEL = "smollm2-135m-instruct"
PARIS = {"messages": [{"role": "user", "content": "What is the capital of France?"}]}
# The float32 checkpoint's weights take 538 MB; its tied embedding (113 MB) stays float32.
FLOAT32_MB = 538


@pytest.fixture(scope="module")
def model_path() -> Path:
    return Path(infercore.get_plugin_manager().registry.resolve_model(MODEL))


@pytest.fixture(scope="module")
def calibration(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_calibration_set(tmp_path_factory.mktemp("calibration") / "prose.jsonl")


@pytest.fixture(scope="module")
def reference_perplexity(model_path: Path) -> float:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(model_path, dtype="float32")
    return perplexity(model, AutoTokenizer.from_pretrained(model_path))


Exported = tuple[Path, subprocess.CompletedProcess[str]]


@pytest.fixture(scope="module")
def gptq4(calibration: Path, tmp_path_factory: pytest.TempPathFactory) -> Exported:
    """`infercore export --quant-method gptq` on the command line, as a user runs it: the
    folder it wrote, and what it printed."""
    output = tmp_path_factory.mktemp("gptq") / "smollm2-gptq4"
    args = ["export", "--model", MODEL, "--quant-method", "gptq", "--output", str(output)]
    calibrated = ["--calibration-dataset", str(calibration), "--dtype", "float32"]
    done = subprocess.run(
        [*INFERCORE_COMMAND, *args, *calibrated], capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stderr
    return output, done


def _size_mb(folder: Path) -> float:
    return sum(path.stat().st_size for path in folder.glob("*.safetensors")) / 1e6


def _answer(folder: Path) -> str:
    # float32, as exported: on a CPU with native bfloat16, pt's auto dtype would compute in
    # bfloat16, and this small model's greedy answers may then change.
    with infercore.Engine(str(folder), backend="pt", dtype="float32") as engine:
        (response,) = engine.infer([PARIS], {"temperature": 0.0, "max_tokens": 20})
    return response.choices[0].message.content or ""  # type: ignore[union-attr]


def _perplexity_ratio(folder: Path, reference: float) -> float:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(folder, device_map="cpu")
    return perplexity(model, AutoTokenizer.from_pretrained(folder)) / reference


def _config(folder: Path) -> dict:
    return json.loads((folder / "config.json").read_text())["quantization_config"]


def test_the_command_prints_the_folder_and_shows_progress_not_the_librarys_log(
    gptq4: Exported,
) -> None:
    output, done = gptq4
    assert done.stdout.splitlines() == [
        f"exported to {output}",
        f"serve it with: infercore deploy --model {output}",
    ]
    # A bar over the calibration rows, and no log lines.
    rows = len(PARAGRAPHS)
    bars = done.stderr.replace("\r", "\n").splitlines()
    assert any(bar.startswith("Calibrating: 100%") and f" {rows}/{rows} " in bar for bar in bars)
    assert " | INFO - " not in done.stderr
    assert " | WARNING - " not in done.stderr
    assert "is_fx_tracing" not in done.stderr


def test_gptq_4bit_is_a_compressed_tensors_checkpoint_that_pt_loads(
    gptq4: Exported, reference_perplexity: float
) -> None:
    output, _ = gptq4
    config = _config(output)
    assert config["quant_method"] == "compressed-tensors"
    weights = config["config_groups"]["group_0"]["weights"]
    # SmolLM2's 576-wide rows take groups of 64, not the usual 128.
    assert (weights["num_bits"], weights["group_size"], weights["symmetric"]) == (4, 64, True)
    assert config["ignore"] == ["lm_head"]
    assert _size_mb(output) < 0.35 * FLOAT32_MB
    assert {"tokenizer.json", "generation_config.json", "chat_template.jinja"} <= {
        path.name for path in output.iterdir()
    }
    assert "Paris" in _answer(output)
    # 4 bits cost a model this small more than 8 do (NF4 with no calibration: 1.17).
    assert 0.98 < _perplexity_ratio(output, reference_perplexity) < 1.20


@pytest.mark.parametrize(
    ("method", "bits", "calibrated", "share"),
    [("gptq", 8, True, 0.50), ("fp8", 8, False, 0.50)],
)
def test_8_bit_methods_stay_within_10_percent_of_the_models_perplexity(
    method: str,
    bits: int,
    calibrated: bool,
    share: float,
    calibration: Path,
    reference_perplexity: float,
    tmp_path: Path,
) -> None:
    folder = quantize(
        MODEL,
        method,
        bits,
        tmp_path / "out",
        dtype="float32",
        calibration_dataset=calibration if calibrated else None,
        calibration_samples=16,
    )
    assert _config(folder)["quant_method"] == "compressed-tensors"
    assert _size_mb(folder) < share * FLOAT32_MB
    assert "Paris" in _answer(folder)
    assert 0.98 < _perplexity_ratio(folder, reference_perplexity) < 1.10


def test_awq_is_refused_on_a_machine_without_a_cuda_gpu(tmp_path: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU, where AWQ runs")
    with pytest.raises(infercore.InfercoreError, match="awq needs a CUDA GPU"):
        quantize(MODEL, "awq", output=tmp_path / "out", calibration_dataset=tmp_path / "x.jsonl")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([{"prompt": "no text"}], "calibration row 0 has no text"),
        (["a row", {"text": 3}], "calibration row 1 has no text"),
        ([""], "holds no text"),
    ],
)
def test_a_calibration_dataset_without_text_is_refused_naming_the_row(
    rows: list[object], message: str, tmp_path: Path
) -> None:
    dataset = tmp_path / "rows.jsonl"
    dataset.write_text("".join(json.dumps(row) + "\n" for row in rows))
    with pytest.raises(infercore.InvalidRequestError, match=message):
        quantize(MODEL, "gptq", output=tmp_path / "out", calibration_dataset=dataset)
    assert not (tmp_path / "out").exists()


def test_chat_rows_are_calibrated_on_as_the_chat_template_renders_them(tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    from infercore._export._calibration import calibration_ids

    dataset = tmp_path / "chats.jsonl"
    chat = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]
    dataset.write_text(json.dumps({"messages": chat}) + "\n" + json.dumps("Plain text.") + "\n")
    tokenizer = AutoTokenizer.from_pretrained(
        infercore.get_plugin_manager().registry.resolve_model(MODEL)
    )
    rendered, plain = calibration_ids(dataset, 8, tokenizer)
    assert tokenizer.decode(rendered) == tokenizer.apply_chat_template(chat, tokenize=False)
    assert tokenizer.decode(plain) == "Plain text."


def test_backends_says_pt_loads_compressed_tensors_checkpoints_here() -> None:
    listing = subprocess.run(
        [*INFERCORE_COMMAND, "backends"], capture_output=True, text=True, timeout=120
    )
    assert listing.returncode == 0, listing.stderr
    pt = listing.stdout[listing.stdout.index("\npt ") :]
    line = next(line for line in pt.splitlines() if "quantized checkpoints:" in line)
    loaded = line.partition("quantized checkpoints: ")[2].partition(";")[0].split(", ")
    assert "compressed-tensors" in loaded
