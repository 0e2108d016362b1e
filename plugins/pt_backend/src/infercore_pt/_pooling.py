"""How a checkpoint pools token states into one vector: its sentence-transformers config.

A sentence-transformers folder lists its modules in ``modules.json``: the transformer,
then a ``Pooling`` module (its ``config.json`` names the mode) and, where the vectors are
unit length, a ``Normalize`` module. This backend runs that pipeline itself, with
transformers alone; a module it does not run (a ``Dense`` projection, say) is refused
at load rather than skipped. A folder without ``modules.json`` pools as
sentence-transformers pools a plain transformers model: the mean, not normalised.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from transformers.utils import cached_file

from infercore import InvalidRequestError

__all__ = ["Pooling", "read_pooling"]

PoolingMode = Literal["mean", "cls", "max", "lasttoken"]

_ST = "sentence_transformers.models."
_TRANSFORMER, _POOLING, _NORMALIZE = f"{_ST}Transformer", f"{_ST}Pooling", f"{_ST}Normalize"
# The older config's one flag per mode, by the mode's name in the newer `pooling_mode`.
_MODE_FLAGS: dict[str, str] = {
    "pooling_mode_cls_token": "cls",
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_max_tokens": "max",
    "pooling_mode_lasttoken": "lasttoken",
    "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len_tokens",
    "pooling_mode_weightedmean_tokens": "weightedmean",
}
_SUPPORTED: tuple[PoolingMode, ...] = ("mean", "cls", "max", "lasttoken")


@dataclass(frozen=True)
class Pooling:
    """One vector from a batch of right-padded token states."""

    mode: PoolingMode = "mean"
    normalize: bool = False
    #: sentence-transformers' ``max_seq_length``, where the folder sets one.
    max_seq_length: int | None = None

    def __call__(self, states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``states`` ``[batch, tokens, width]`` and ``mask`` ``[batch, tokens]`` (1 for a
        token, 0 for padding) to ``[batch, width]``, in float32."""
        states = states.float()
        weights = mask.unsqueeze(-1).to(states.dtype)
        if self.mode == "mean":
            pooled = (states * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
        elif self.mode == "cls":
            pooled = states[:, 0]
        elif self.mode == "max":
            # As sentence-transformers: padding can never be the maximum.
            pooled = states.masked_fill(weights == 0, -1e9).max(1).values
        else:
            last = mask.sum(1) - 1
            pooled = states[torch.arange(states.shape[0], device=states.device), last]
        if self.normalize:
            pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
        return pooled


def _json(model: str, name: str, **kwargs: Any) -> Any:
    """The JSON file ``name`` of ``model``, or None where it has none."""
    path = cached_file(model, name, _raise_exceptions_for_missing_entries=False, **kwargs)
    return None if path is None else json.loads(Path(path).read_text())


def _mode(config: dict[str, Any], model: str) -> PoolingMode:
    named = config.get("pooling_mode")
    modes = (
        [named]
        if isinstance(named, str)
        else [mode for flag, mode in _MODE_FLAGS.items() if config.get(flag)]
    )
    if len(modes) != 1 or modes[0] not in _SUPPORTED:
        raise InvalidRequestError(
            f"the model {model!r} pools with {modes or 'no mode'}; this backend pools "
            f"with one of {list(_SUPPORTED)}",
            param="model",
        )
    mode: PoolingMode = modes[0]
    return mode


def read_pooling(model: str, **kwargs: Any) -> Pooling:
    """The pooling ``model`` (a folder or hub id) declares; ``kwargs`` go to transformers'
    ``cached_file`` (``trust_remote_code`` is not among them)."""
    modules = _json(model, "modules.json", **kwargs)
    if modules is None:
        return Pooling()
    settings = _json(model, "sentence_bert_config.json", **kwargs) or {}
    max_seq_length = settings.get("max_seq_length")
    mode: PoolingMode | None = None
    normalize = False
    for module in sorted(modules, key=lambda entry: int(entry.get("idx", 0))):
        kind = module.get("type", "")
        if kind == _POOLING:
            config = _json(model, f"{module['path']}/config.json", **kwargs) or {}
            mode = _mode(config, model)
        elif kind == _NORMALIZE:
            normalize = True
        elif kind != _TRANSFORMER:
            raise InvalidRequestError(
                f"the model {model!r} has a sentence-transformers module this backend does not "
                f"run: {kind}",
                param="model",
            )
    return Pooling(mode or "mean", normalize, max_seq_length)
