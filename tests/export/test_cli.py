"""`infercore export` on the command line: the output folder's rules, and bad input refused
with a clear error before any model is loaded."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from lora_models import make_lora_adapter

import infercore
from infercore._cli import main
from infercore.export import quantize
from infercore.testing import INFERCORE_COMMAND

MODEL = "smollm2-135m-instruct"


@pytest.fixture(scope="module")
def adapter(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = infercore.get_plugin_manager().registry.resolve_model(MODEL)
    return make_lora_adapter(path, tmp_path_factory.mktemp("lora") / "adapter")


def _export(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*INFERCORE_COMMAND, "export", "--model", MODEL, *args],
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_the_default_output_is_the_adapter_folder_merged_and_is_not_overwritten(
    adapter: Path,
) -> None:
    merged = adapter.with_name("adapter-merged")
    first = _export("--adapters", f"a={adapter}", "--merge-lora")
    assert first.returncode == 0, first.stderr
    assert f"exported to {merged}" in first.stdout
    assert (merged / "model.safetensors").is_file()
    stamp = (merged / "model.safetensors").stat().st_mtime_ns
    (merged / "stale.txt").write_text("from before")

    again = _export("--adapters", f"a={adapter}", "--merge-lora")
    assert again.returncode == 2
    assert "is not empty" in again.stderr
    assert "--overwrite" in again.stderr
    assert (merged / "model.safetensors").stat().st_mtime_ns == stamp

    replaced = _export("--adapters", f"a={adapter}", "--merge-lora", "--overwrite")
    assert replaced.returncode == 0, replaced.stderr
    assert not (merged / "stale.txt").exists()
    assert (merged / "model.safetensors").is_file()
    assert sorted(p.name for p in merged.parent.iterdir()) == ["adapter", "adapter-merged"]


def test_merge_and_quantize_in_one_command(tmp_path: Path) -> None:
    path = infercore.get_plugin_manager().registry.resolve_model(MODEL)
    adapter = make_lora_adapter(path, tmp_path / "tuned", seed=3)
    done = _export("--adapters", f"a={adapter}", "--merge-lora", "--quant-method", "int8")
    assert done.returncode == 0, done.stderr
    folder = tmp_path / "tuned-merged-int8"
    assert f"exported to {folder}" in done.stdout
    config = json.loads((folder / "config.json").read_text())
    assert config["quantization_config"]["quant_method"] == "torchao"
    assert "adapter_config.json" not in {p.name for p in folder.iterdir()}
    # Only the adapter and the export: the merged model in between was temporary.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tuned", "tuned-merged-int8"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--quant-method", "bnb", "--quant-bits", "3"], "quantizes to 4 or 8 bits, not 3"),
        (["--quant-method", "int8", "--quant-bits", "4"], "quantizes to 8 bits, not 4"),
        (["--quant-method", "gptq"], "gptq calibrates on a dataset: give --calibration-dataset"),
        (["--quant-method", "awq", "--quant-bits", "8"], "awq quantizes to 4 bits, not 8"),
        (
            ["--quant-method", "int8", "--calibration-dataset", "x.jsonl"],
            "int8 takes no calibration dataset",
        ),
        (["--calibration-dataset", "x.jsonl"], "--calibration-dataset needs a --quant-method"),
        (
            ["--quant-method", "fp8", "--calibration-dataset", "x.jsonl"],
            "fp8 takes no calibration dataset",
        ),
        (
            [
                "--quant-method",
                "gptq",
                "--calibration-dataset",
                "x.jsonl",
                "--calibration-samples",
                "0",
            ],
            "--calibration-samples must be at least 1",
        ),
        (["--quant-bits", "8"], "--quant-bits needs a --quant-method"),
        ([], "nothing to export"),
        (["--merge-lora"], "--merge-lora merges one adapter: give one NAME=PATH"),
        (["--adapters", "a=x", "b=y", "--merge-lora"], "not 2"),
        (["--adapters", "a=x"], "--adapters is given without --merge-lora"),
        (["--adapters", "a=/nonexistent", "--merge-lora"], "has no adapter_config.json"),
    ],
)
def test_bad_input_is_refused_with_a_clear_error(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["export", "--model", MODEL, *args]) == 2
    assert message in capsys.readouterr().err


def test_an_unknown_method_is_refused_by_the_parser(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["export", "--model", MODEL, "--quant-method", "int3"])
    assert "invalid choice: 'int3'" in capsys.readouterr().err


def test_an_output_that_is_a_file_or_the_model_itself_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    afile = tmp_path / "file"
    afile.write_text("")
    assert main(["export", "--model", MODEL, "--quant-method", "int8", "--output", str(afile)]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err
    model = infercore.get_plugin_manager().registry.resolve_model(MODEL)
    args = ["export", "--model", MODEL, "--quant-method", "int8", "--output", model, "--overwrite"]
    assert main(args) == 2
    assert "which the export reads" in capsys.readouterr().err


def test_a_missing_library_is_named_with_the_extra_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "torchao", None)
    with pytest.raises(infercore.InfercoreError, match=r"pip install 'infercore\[export,quant\]'"):
        quantize(MODEL, "int8", output=tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_llm_compressor_missing_is_named_with_the_extra_to_install(tmp_path: Path) -> None:
    # This session installs the export and quant extras, not llm-compressor's.
    with pytest.raises(
        infercore.InfercoreError, match=r"pip install 'infercore\[export,compress\]'"
    ):
        quantize(MODEL, "fp8", output=tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_backends_says_pt_loads_what_export_writes_here() -> None:
    listing = subprocess.run(
        [*INFERCORE_COMMAND, "backends"], capture_output=True, text=True, timeout=120
    )
    assert listing.returncode == 0, listing.stderr
    assert "quantized checkpoints: bitsandbytes, torchao" in listing.stdout
