"""A model quantized as it loads, through transformers' quantization configs, and saved so
that transformers (the pt backend) loads it back from the config it carries."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from infercore._export._checkpoint import load_model, save_checkpoint, saved_dtype
from infercore._export._methods import quant_method
from infercore._export._output import check_output, default_output, staged
from infercore._export._requires import require
from infercore._export._source import resolve_model

__all__ = ["quantize"]


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


def quantize(
    model: str,
    method: str,
    bits: int | None = None,
    output: str | Path | None = None,
    *,
    overwrite: bool = False,
    dtype: str = "auto",
) -> Path:
    """Quantize ``model``'s linear layers with ``method`` (see ``QUANT_METHODS``) to ``bits``
    (default: the method's first) and save the checkpoint with its tokenizer.

    ``dtype`` is what the layers that stay unquantized are kept in (``auto``: the
    checkpoint's). ``output`` defaults to ``{model}-{method}{bits}`` (``-int8`` for
    int8); a folder with files in it is refused unless ``overwrite``. Returns the output
    folder. Needs ``infercore[export,quant]``.
    """
    spec, width = quant_method(method, bits)
    source = resolve_model(model)
    target = Path(output) if output is not None else default_output(model, spec.suffix(width))
    check_output(target, overwrite=overwrite, inputs=[source])
    require(f"--quant-method {spec.name}", spec.requirement, "torch", "transformers", spec.library)
    kept = saved_dtype(source, dtype)
    config = _config(spec.name, width, kept)
    quantized = load_model(source, kept, quantization_config=config, device_map="cpu")
    with staged(target) as staging:
        save_checkpoint(quantized, staging, source)
    return target.expanduser().resolve()
