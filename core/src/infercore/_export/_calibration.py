"""The calibration dataset a GPTQ or AWQ export measures the model's activations on: rows
read as a dataset job reads them, each turned into the token ids the model sees."""

from __future__ import annotations

import os
from typing import Any

from infercore._errors import InvalidRequestError
from infercore._jobs._read import UnreadableRecord, read_records

__all__ = ["DEFAULT_SAMPLES", "MAX_TOKENS", "calibration_ids"]

#: How many rows are calibrated on unless told: enough for a stable Hessian (GPTQ) or
#: activation scale (AWQ) on models of a few billion parameters, and minutes on a CPU.
DEFAULT_SAMPLES = 128
#: A row's tokens beyond this are cut: longer rows cost time and memory, and add little.
MAX_TOKENS = 2048

_PARAM = "calibration_dataset"
_SHAPE = (
    "a row is a string, or an object with text (a string) or messages (a chat, rendered "
    "with the model's chat template)"
)


def _ids(record: Any, index: int, tokenizer: Any) -> list[int]:
    if isinstance(record, UnreadableRecord):
        raise InvalidRequestError(f"calibration row {index}: {record.message}", param=_PARAM)
    if isinstance(record, dict) and isinstance(record.get("text"), str):
        record = record["text"]
    if isinstance(record, str):
        return list(tokenizer(record, truncation=True, max_length=MAX_TOKENS).input_ids)
    if isinstance(record, dict) and isinstance(record.get("messages"), list):
        try:
            chat = tokenizer.apply_chat_template(record["messages"], tokenize=False)
            # The template already holds the special tokens the model starts with.
            cut = {"truncation": True, "max_length": MAX_TOKENS}
            return list(tokenizer(chat, add_special_tokens=False, **cut).input_ids)
        except (ValueError, TypeError, KeyError) as exc:
            raise InvalidRequestError(
                f"calibration row {index}: its messages do not render: {exc}", param=_PARAM
            ) from exc
    raise InvalidRequestError(f"calibration row {index} has no text: {_SHAPE}", param=_PARAM)


def calibration_ids(
    source: str | os.PathLike[str], samples: int, tokenizer: Any
) -> list[list[int]]:
    """The token ids of the first ``samples`` rows of ``source`` (a ``.jsonl``, ``.json``,
    ``.csv`` or ``.parquet`` file, or a folder saved by ``datasets``), each cut at
    ``MAX_TOKENS``; empty rows are skipped. Refuses a row of no known shape, and a
    dataset with no text at all."""
    rows: list[list[int]] = []
    for index, record in read_records([source]):
        ids = _ids(record, index, tokenizer)
        if ids:
            rows.append(ids)
        if len(rows) == samples:
            break
    if not rows:
        raise InvalidRequestError(f"the calibration dataset {source} holds no text", param=_PARAM)
    return rows
