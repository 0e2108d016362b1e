"""LMDeploy's own engine config classes, built from the backend's options."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from lmdeploy.messages import PytorchEngineConfig, TurbomindEngineConfig

from infercore_lmdeploy._options import LmdeployOptions

__all__ = ["engine_config"]

#: Options that both engines' configs take under the same name.
_SHARED = (
    "tp",
    "dp",
    "session_len",
    "max_batch_size",
    "cache_max_entry_count",
    "quant_policy",
    "model_format",
    "enable_prefix_caching",
)


def engine_config(options: LmdeployOptions, adapters: Mapping[str, str] | None = None) -> Any:
    """The config LMDeploy builds its engine from (a ``TurbomindEngineConfig`` or a
    ``PytorchEngineConfig``); LMDeploy's refusal as a ``ValueError``.

    ``adapters`` (name to path) are the PyTorch engine's LoRA adapters.
    """
    settings: dict[str, Any] = {
        name: getattr(options, name) for name in _SHARED if getattr(options, name) is not None
    }
    config_class: Any
    # What the backend needs of the engine, unless the options say otherwise.
    implied: dict[str, Any] = {}
    if options.engine == "pytorch":
        config_class = PytorchEngineConfig
        if options.device_type is not None:
            settings["device_type"] = options.device_type
        if adapters:
            settings["adapters"] = dict(adapters)
        # The PyTorch engine computes no logprobs unless told which; these are what
        # the other backends report: the model's own distribution.
        implied["logprobs_mode"] = "raw_logprobs"
    else:
        config_class = TurbomindEngineConfig
        if options.device_type not in (None, "cuda"):
            raise ValueError(
                f"TurboMind runs on CUDA only; device_type={options.device_type!r} "
                "is for LMDeploy's PyTorch engine (engine='pytorch')"
            )
    settings.update(options.engine_kwargs)
    # TurboMind's config, a pydantic dataclass, would drop a field it does not know.
    unknown = sorted(set(settings) - {field.name for field in dataclasses.fields(config_class)})
    if unknown:
        raise ValueError(f"LMDeploy's {config_class.__name__} has no field {', '.join(unknown)}")
    try:
        return config_class(**{**implied, **settings})
    except (AssertionError, TypeError, ValueError) as exc:
        # LMDeploy checks its configs with asserts, some without a message.
        reason = str(exc) or "a value it does not accept"
        refused = f"LMDeploy's {config_class.__name__} refuses {settings}"
        raise ValueError(f"{refused}: {reason}") from exc
