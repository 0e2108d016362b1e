"""``infercore export``: merge a LoRA adapter into its base model, quantize, or both.

The libraries are imported only when the export runs, so the command exists (and
says what to install) where the ``export`` and ``quant`` extras are missing.
"""

from __future__ import annotations

import argparse

from infercore._cli._flags import adapters, add_adapter_flags
from infercore._command import Command
from infercore._errors import InvalidRequestError
from infercore._export import DEFAULT_SAMPLES, DTYPES, QUANT_METHODS, export

__all__ = ["EXPORT"]


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model", required=True, help="the base model: a path, hub id or built-in name"
    )
    add_adapter_flags(parser)
    parser.add_argument(
        "--merge-lora",
        action="store_true",
        help="merge the adapter of --adapters into the model's weights",
    )
    quant = parser.add_argument_group("quantization")
    quant.add_argument(
        "--quant-method",
        choices=sorted(QUANT_METHODS),
        help="; ".join(f"{method.name}: {method.description}" for method in QUANT_METHODS.values()),
    )
    quant.add_argument(
        "--quant-bits",
        type=int,
        help="bits per weight: 4 or 8 for bnb and gptq (default: the method's first)",
    )
    quant.add_argument(
        "--calibration-dataset",
        metavar="PATH",
        help="what gptq and awq calibrate on: a .jsonl, .json, .csv or .parquet file, or a "
        "folder saved by datasets; each row a string, or an object with text or messages",
    )
    quant.add_argument(
        "--calibration-samples",
        type=int,
        default=DEFAULT_SAMPLES,
        metavar="N",
        help=f"how many of its first rows to calibrate on (default: {DEFAULT_SAMPLES})",
    )
    parser.add_argument(
        "--output",
        help="the folder to write (default: ADAPTER-merged, MODEL-int8, MODEL-bnb4 ...)",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="replace what an existing --output folder holds"
    )
    parser.add_argument(
        "--dtype",
        choices=DTYPES,
        default="auto",
        help="the saved weights' dtype (the unquantized ones', when quantizing); "
        "auto: the model's own",
    )


def _adapter(args: argparse.Namespace) -> str | None:
    named = adapters(args)
    if not args.merge_lora:
        if named:
            raise InvalidRequestError(
                "--adapters is given without --merge-lora; add --merge-lora to merge it",
                param="merge_lora",
            )
        return None
    if len(named) != 1:
        raise InvalidRequestError(
            f"--merge-lora merges one adapter: give one NAME=PATH in --adapters, not {len(named)}",
            param="adapters",
        )
    (path,) = named.values()
    return path


def _run(args: argparse.Namespace) -> int:
    folder = export(
        args.model,
        adapter=_adapter(args),
        quant_method=args.quant_method,
        quant_bits=args.quant_bits,
        output=args.output,
        overwrite=args.overwrite,
        dtype=args.dtype,
        calibration_dataset=args.calibration_dataset,
        calibration_samples=args.calibration_samples,
    )
    print(f"exported to {folder}")
    print(f"serve it with: infercore deploy --model {folder}")
    return 0


EXPORT = Command(
    "export",
    "merge a LoRA adapter into its base model and/or quantize a model",
    _add_arguments,
    _run,
    description="Merge a LoRA adapter into its base model's weights (--merge-lora), quantize "
    "(--quant-method), or both; the output folder is a checkpoint that infercore deploy "
    "and the backends load.",
)
