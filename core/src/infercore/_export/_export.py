"""One call for both: a LoRA adapter merged, then the result quantized."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from infercore._errors import InvalidRequestError
from infercore._export import _methods
from infercore._export._calibration import DEFAULT_SAMPLES
from infercore._export._merge import merge_lora
from infercore._export._output import check_output, default_output
from infercore._export._quantize import check_quantization, quantize
from infercore._export._source import resolve_model

__all__ = ["export"]


def export(
    model: str,
    *,
    adapter: str | Path | None = None,
    quant_method: str | None = None,
    quant_bits: int | None = None,
    output: str | Path | None = None,
    overwrite: bool = False,
    dtype: str = "auto",
    calibration_dataset: str | os.PathLike[str] | None = None,
    calibration_samples: int = DEFAULT_SAMPLES,
) -> Path:
    """Merge ``adapter`` into ``model``, quantize with ``quant_method``, or both in turn
    (the merged model is quantized); returns the output folder.

    The default output is ``{adapter}-merged``, ``{model}-{method}{bits}``, or for both
    ``{adapter}-merged-{method}{bits}``. See :func:`merge_lora` and :func:`quantize`.
    """
    if quant_method is None:
        if quant_bits is not None:
            raise InvalidRequestError("--quant-bits needs a --quant-method", param="quant_bits")
        if calibration_dataset is not None:
            raise InvalidRequestError(
                "--calibration-dataset needs a --quant-method", param="calibration_dataset"
            )
        if adapter is None:
            raise InvalidRequestError(
                "nothing to export: give an adapter to merge, a quantization method, or both",
                param="quant_method",
            )
        return merge_lora(model, adapter, output, overwrite=overwrite, dtype=dtype)
    if adapter is None:
        return quantize(
            model,
            quant_method,
            quant_bits,
            output,
            overwrite=overwrite,
            dtype=dtype,
            calibration_dataset=calibration_dataset,
            calibration_samples=calibration_samples,
        )
    # Both: every refusal comes before the merge, which takes a while.
    spec, bits = _methods.quant_method(quant_method, quant_bits)
    suffix = "-merged" + spec.suffix(bits)
    target = Path(output) if output is not None else default_output(str(adapter), suffix)
    check_output(target, overwrite=overwrite, inputs=[resolve_model(model), str(adapter)])
    check_quantization(spec, calibration_dataset, calibration_samples)
    with tempfile.TemporaryDirectory(prefix="infercore-merged-") as scratch:
        merged = merge_lora(model, adapter, Path(scratch) / "merged", dtype=dtype)
        return quantize(
            str(merged),
            spec.name,
            bits,
            target,
            overwrite=overwrite,
            dtype=dtype,
            calibration_dataset=calibration_dataset,
            calibration_samples=calibration_samples,
        )
