"""A model quantized and saved with the quantization config it carries, so that the
backends load it back: through transformers' quantization configs as it loads (torchao,
bitsandbytes), or through llm-compressor (GPTQ, AWQ, FP8)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from infercore._errors import InfercoreError, InvalidRequestError
from infercore._export._calibration import DEFAULT_SAMPLES
from infercore._export._checkpoint import load_model, save_checkpoint, saved_dtype
from infercore._export._compress import compress
from infercore._export._methods import QuantMethod, quant_method
from infercore._export._output import check_output, default_output, staged
from infercore._export._requires import require
from infercore._export._source import resolve_model

__all__ = ["check_quantization", "quantize"]


def _config(method: str, bits: int, compute_dtype: Any) -> Any:
    """transformers' quantization config for the method and width."""
    if method == "int8":
        from torchao.quantization import Int8WeightOnlyConfig
        from transformers import TorchAoConfig

        return TorchAoConfig(quant_type=Int8WeightOnlyConfig())
    from transformers import BitsAndBytesConfig

    if bits == 8:
        return BitsAndBytesConfig(load_in_8bit=True)
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=compute_dtype,
    )


def check_quantization(
    spec: QuantMethod, calibration_dataset: object, calibration_samples: int
) -> None:
    """Refuse, before any model is loaded, a calibration the method does not take or
    lacks, a library that is not installed, and AWQ on a machine without a CUDA GPU."""
    if spec.calibrated and calibration_dataset is None:
        raise InvalidRequestError(
            f"--quant-method {spec.name} calibrates on a dataset: give --calibration-dataset "
            "PATH (rows of text, or chats as messages)",
            param="calibration_dataset",
        )
    if not spec.calibrated and calibration_dataset is not None:
        raise InvalidRequestError(
            f"--quant-method {spec.name} takes no calibration dataset", param="calibration_dataset"
        )
    if calibration_samples < 1:
        raise InvalidRequestError(
            "--calibration-samples must be at least 1", param="calibration_samples"
        )
    require(f"--quant-method {spec.name}", spec.requirement, "torch", "transformers", spec.library)
    if spec.name == "awq":
        import torch

        if not torch.cuda.is_available():
            # llm-compressor's AWQ pins its cached activations in page-locked memory for
            # the copies to a GPU, which torch refuses on a machine without one.
            raise InfercoreError(
                "--quant-method awq needs a CUDA GPU: llm-compressor's AWQ fails without "
                "one; on this machine, --quant-method gptq makes a 4-bit checkpoint that "
                "vLLM serves alike"
            )


def quantize(
    model: str,
    method: str,
    bits: int | None = None,
    output: str | Path | None = None,
    *,
    overwrite: bool = False,
    dtype: str = "auto",
    calibration_dataset: str | os.PathLike[str] | None = None,
    calibration_samples: int = DEFAULT_SAMPLES,
) -> Path:
    """Quantize ``model``'s linear layers with ``method`` (see ``QUANT_METHODS``) to ``bits``
    (default: the method's first) and save the checkpoint with its tokenizer.

    ``dtype`` is what the layers that stay unquantized are kept in (``auto``: the
    checkpoint's). ``output`` defaults to ``{model}-{method}{bits}`` (``-int8`` for
    int8); a folder with files in it is refused unless ``overwrite``. Returns the output
    folder. Needs ``infercore[export,quant]``; ``gptq``, ``awq`` and ``fp8`` need
    ``infercore[export,compress]``.

    ``gptq`` and ``awq`` calibrate on the first ``calibration_samples`` rows of
    ``calibration_dataset`` (a ``.jsonl``, ``.json``, ``.csv`` or ``.parquet`` file or a
    folder saved by ``datasets``; each row a string, or an object with ``text`` or
    chat ``messages``), with a progress bar over the rows.
    """
    spec, width = quant_method(method, bits)
    source = resolve_model(model)
    target = Path(output) if output is not None else default_output(model, spec.suffix(width))
    check_output(target, overwrite=overwrite, inputs=[source])
    check_quantization(spec, calibration_dataset, calibration_samples)
    kept = saved_dtype(source, dtype)
    if spec.library == "llmcompressor":
        with staged(target) as staging:
            compress(
                spec,
                width,
                source,
                staging,
                kept,
                calibration_dataset=calibration_dataset,
                calibration_samples=calibration_samples,
            )
        return target.expanduser().resolve()
    config = _config(spec.name, width, kept)
    quantized = load_model(source, kept, quantization_config=config, device_map="cpu")
    with staged(target) as staging:
        save_checkpoint(quantized, staging, source)
    return target.expanduser().resolve()
