"""What each export format costs and gives, on the built-in SmolLM2 model and the CPU.

For the float32 checkpoint, the same saved in bfloat16, and each quantization method that
runs on a CPU (``infercore export --quant-method``; GPTQ calibrated on the prose paragraphs
of tests/support): the weights' size on disk, the perplexity on a fixed text relative to
float32's, and the pt backend's output tokens/s on 8 chat prompts x 64 new tokens (EOS
ignored), greedy, measured as bench_pt.py measures it.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

import infercore
from infercore.export import quantize
from infercore_pt._quantization import quiet_int8_casts

# bench_pt.py beside this file measures tokens/s; tests/support holds the fixed text that
# the export tests measure perplexity on too, and the prose they calibrate on.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "support"))
from bench_pt import bench_infercore, requests
from calibration_prose import write_calibration_set
from perplexity import perplexity

MODEL = "smollm2-135m-instruct"


def _size_mb(folder: Path) -> float:
    return sum(path.stat().st_size for path in folder.glob("*.safetensors")) / 1e6


def _perplexity(folder: Path, dtype: torch.dtype | None) -> float:
    kwargs = {"dtype": dtype} if dtype is not None else {}
    model = AutoModelForCausalLM.from_pretrained(folder, device_map="cpu", **kwargs)
    # As the pt backend does: bitsandbytes' 8-bit layers log a notice at every forward.
    quiet_int8_casts(model.config)
    return perplexity(model, AutoTokenizer.from_pretrained(folder))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--max-tokens", type=int, default=64)
    args = parser.parse_args()
    source = Path(infercore.get_plugin_manager().registry.resolve_model(MODEL))
    with tempfile.TemporaryDirectory(prefix="bench-export-") as scratch:
        bf16 = Path(scratch) / "bf16"
        model = AutoModelForCausalLM.from_pretrained(source, dtype=torch.bfloat16)
        model.save_pretrained(bf16)
        AutoTokenizer.from_pretrained(source).save_pretrained(bf16)
        # Each row: its folder, the dtype its perplexity is measured in, the pt dtype.
        rows: list[tuple[str, Path, torch.dtype | None, str]] = [
            ("float32", source, torch.float32, "float32"),
            ("bfloat16", bf16, torch.bfloat16, "bfloat16"),
        ]
        calibration = write_calibration_set(Path(scratch) / "prose.jsonl")
        for method, bits in (("int8", 8), ("bnb", 8), ("bnb", 4), ("gptq", 8), ("gptq", 4)):
            folder = quantize(
                MODEL,
                method,
                bits,
                Path(scratch) / f"{method}{bits}",
                dtype="float32",
                calibration_dataset=calibration if method == "gptq" else None,
            )
            rows.append((f"{method} {bits}-bit", folder, None, "float32"))
        fp8 = quantize(MODEL, "fp8", 8, Path(scratch) / "fp8", dtype="float32")
        rows.append(("fp8", fp8, None, "float32"))
        reference = _perplexity(source, torch.float32)
        print(
            f"SmolLM2-135M-Instruct, {torch.get_num_threads()} threads; "
            f"float32 perplexity on the fixed text: {reference:.2f}"
        )
        print(f"{'format':<12} {'size MB':>8} {'ppl ratio':>10} {'tokens/s':>9}")
        for name, folder, dtype, pt_dtype in rows:
            ratio = _perplexity(folder, dtype) / reference
            speed = bench_infercore(str(folder), pt_dtype, requests(8), args.max_tokens)
            print(f"{name:<12} {_size_mb(folder):>8.0f} {ratio:>10.3f} {speed:>9.1f}", flush=True)


if __name__ == "__main__":
    main()
