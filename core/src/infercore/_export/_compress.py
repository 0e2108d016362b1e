"""Quantization through llm-compressor: GPTQ and AWQ calibrated on a dataset, FP8 without
one, saved as a compressed-tensors checkpoint that vLLM runs with its own kernels and
transformers (the pt backend) loads back."""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from infercore._errors import InfercoreError, InvalidRequestError
from infercore._export._calibration import MAX_TOKENS, calibration_ids
from infercore._export._checkpoint import is_multimodal, load_model, save_checkpoint
from infercore._export._methods import QuantMethod

__all__ = ["compress"]

#: The output layer stays in the model's dtype, as llm-compressor's own recipes leave it.
_IGNORE = ["lm_head"]
#: The group sizes tried, largest first: a group never straddles the end of a weight's
#: row, so the size must divide every quantized layer's input width (SmolLM2's 576: 64).
_GROUP_SIZES = (128, 64, 32)


def _group_size(model: Any) -> int:
    import torch

    widths = {
        module.in_features
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear) and name.rpartition(".")[2] not in _IGNORE
    }
    for size in _GROUP_SIZES:
        if all(width % size == 0 for width in widths):
            return size
    raise InfercoreError(
        f"no group size of {', '.join(map(str, _GROUP_SIZES))} divides the input widths of "
        f"this model's linear layers ({sorted(widths)}), so it cannot be quantized in groups"
    )


def _recipe(method: str, bits: int, model: Any) -> Any:
    from llmcompressor.modifiers.awq import AWQModifier
    from llmcompressor.modifiers.quantization import GPTQModifier, QuantizationModifier

    if method == "fp8":
        return QuantizationModifier(targets="Linear", scheme="FP8_DYNAMIC", ignore=_IGNORE)
    # GPTQ rounds towards zero-centred grids (what vLLM's GPTQ kernels expect); AWQ's
    # scales pair with a zero point per group, as in the AWQ paper.
    weights = {
        "num_bits": bits,
        "type": "int",
        "symmetric": method == "gptq",
        "strategy": "group",
        "group_size": _group_size(model),
    }
    groups = {"group_0": {"targets": ["Linear"], "weights": weights}}
    modifier = GPTQModifier if method == "gptq" else AWQModifier
    return modifier(config_groups=groups, ignore=_IGNORE)


def _pipeline(method: str) -> dict[str, str]:
    """GPTQ gathers every layer's statistics from the unquantized model in one pass.

    llm-compressor's default for it, layer by layer through a traced model, fits worse
    when rows differ in length (SmolLM2 on prose: perplexity 1.30 times float32's,
    against 1.12 in one pass). One pass holds every layer's Hessian at once: about
    4 bytes times the square of each layer's input width.
    """
    return {"pipeline": "basic"} if method == "gptq" else {}


class _DropMessages(logging.Filter):
    def __init__(self, *starts: str) -> None:
        super().__init__()
        self._starts = starts

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self._starts)


#: llm-compressor's own setting for what its log shows; unset, infercore shows its errors
#: only (it logs every step, and that a CPU is used, as a warning, to stdout).
_LOG_LEVEL = "LLM_COMPRESSOR_LOG_LEVEL"


def _import_quietly() -> None:
    """Import llm-compressor, which sets its log up as it is first imported."""
    unset = _LOG_LEVEL not in os.environ
    if unset:
        os.environ[_LOG_LEVEL] = "ERROR"
    try:
        import llmcompressor  # noqa: F401
    finally:
        if unset:
            del os.environ[_LOG_LEVEL]


@contextmanager
def _quiet() -> Iterator[None]:
    """Only the progress bars and errors while llm-compressor runs.

    torch warns once that its tracing check is ambiguous, which concerns the tracing
    code of llm-compressor, not what it is asked to do.
    """
    _import_quietly()
    traced = logging.getLogger("torch.fx._symbolic_trace")
    ambiguity = _DropMessages("is_fx_tracing will return true")
    traced.addFilter(ambiguity)
    try:
        with warnings.catch_warnings():
            # The model is saved from the CPU, where it was quantized: nothing is
            # offloaded, whatever the device map llm-compressor leaves on it says.
            warnings.filterwarnings("ignore", "Attempting to save a model with offloaded")
            yield
    finally:
        traced.removeFilter(ambiguity)


def compress(
    spec: QuantMethod,
    bits: int,
    source: str,
    target: Path,
    dtype: Any,
    *,
    calibration_dataset: str | os.PathLike[str] | None,
    calibration_samples: int,
) -> None:
    """Quantize ``source`` with llm-compressor's ``oneshot`` and save it into ``target``."""
    if is_multimodal(source):
        raise InvalidRequestError(
            f"--quant-method {spec.name} quantizes text models only: a multimodal model's "
            "vision or audio tower needs a recipe of its own (see llm-compressor's examples)",
            param="quant_method",
        )
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(source)
    ids = (
        calibration_ids(calibration_dataset, calibration_samples, tokenizer)
        if calibration_dataset is not None
        else None
    )
    model = load_model(source, dtype)
    with _quiet():
        from llmcompressor import oneshot

        recipe = _recipe(spec.name, bits, model)
        if ids is None:
            oneshot(model=model, recipe=recipe, tokenizer=tokenizer)
        else:
            from datasets import Dataset

            rows = {"input_ids": ids, "attention_mask": [[1] * len(row) for row in ids]}
            oneshot(
                model=model,
                tokenizer=tokenizer,
                recipe=recipe,
                dataset=Dataset.from_dict(rows),
                num_calibration_samples=len(ids),
                max_seq_length=MAX_TOKENS,
                shuffle_calibration_samples=False,
                **_pipeline(spec.name),
            )
        save_checkpoint(model, target, source)
