"""The backend's options on LMDeploy's real engine config classes, constructed here."""

from __future__ import annotations

from typing import Any

import pytest
from lmdeploy.messages import PytorchEngineConfig, QuantPolicy, TurbomindEngineConfig

import infercore
from infercore_lmdeploy import LmdeployOptions
from infercore_lmdeploy._configs import engine_config

SETTINGS: dict[str, Any] = {
    "tp": 2,
    "dp": 2,
    "session_len": 4096,
    "max_batch_size": 32,
    "cache_max_entry_count": 0.5,
    "quant_policy": 8,
    "enable_prefix_caching": True,
}


def test_turbomind_options_land_in_its_config() -> None:
    options = LmdeployOptions(**SETTINGS, model_format="awq")
    config = engine_config(options)
    assert type(config) is TurbomindEngineConfig
    assert {name: getattr(config, name) for name in SETTINGS} == SETTINGS
    assert config.quant_policy is QuantPolicy.INT8
    assert config.model_format == "awq"


def test_pytorch_options_land_in_its_config_with_the_adapters() -> None:
    options = LmdeployOptions(engine="pytorch", device_type="cuda", **SETTINGS)
    config = engine_config(options, {"a": "/adapters/a"})
    assert type(config) is PytorchEngineConfig
    assert {name: getattr(config, name) for name in SETTINGS} == SETTINGS
    assert config.device_type == "cuda"
    assert config.adapters == {"a": "/adapters/a"}
    # Without a logprobs mode the PyTorch engine computes none.
    assert config.logprobs_mode == "raw_logprobs"


def test_unset_options_keep_lmdeploys_defaults() -> None:
    for options, default in (
        (LmdeployOptions(), TurbomindEngineConfig()),
        (LmdeployOptions(engine="pytorch"), PytorchEngineConfig()),
    ):
        config = engine_config(options)
        for name in ("tp", "dp", "session_len", "max_batch_size", "cache_max_entry_count"):
            assert getattr(config, name) == getattr(default, name), name


def test_engine_kwargs_pass_through_to_the_config() -> None:
    turbomind = engine_config(LmdeployOptions(engine_kwargs={"cache_block_seq_len": 128}))
    assert turbomind.cache_block_seq_len == 128
    pytorch = engine_config(LmdeployOptions(engine="pytorch", engine_kwargs={"eager_mode": True}))
    assert pytorch.eager_mode is True


@pytest.mark.parametrize(
    ("options", "lmdeploy_says"),
    [
        ({"engine": "pytorch", "cache_max_entry_count": 1.5}, "invalid cache_max_entry_count"),
        ({"quant_policy": 3}, "invalid quant_policy: 3"),
        ({"engine": "pytorch", "device_type": "cpu"}, "invalid device_type: cpu"),
        ({"tp": 0}, "tp must be a positive integer"),
        ({"engine": "pytorch", "dp": 0}, "invalid dp"),
        ({"engine_kwargs": {"no_such_field": 1}}, "has no field no_such_field"),
        ({"engine": "pytorch", "engine_kwargs": {"no_such_field": 1}}, "no_such_field"),
        ({"engine_kwargs": {"cache_prompt": "never"}}, "invalid cache_prompt"),
    ],
)
def test_a_value_lmdeploy_refuses_is_refused_at_engine_with_its_message(
    options: dict[str, Any], lmdeploy_says: str
) -> None:
    # The options are checked first, whether or not the backend can run here.
    with pytest.raises(infercore.InvalidRequestError, match=lmdeploy_says) as refused:
        infercore.Engine("smollm2-135m-instruct", backend="lmdeploy", **options)
    assert "LMDeploy's" in str(refused.value)


def test_turbomind_refuses_a_device_of_the_pytorch_engine() -> None:
    with pytest.raises(infercore.InvalidRequestError, match="TurboMind runs on CUDA only"):
        infercore.Engine("smollm2-135m-instruct", backend="lmdeploy", device_type="ascend")


def test_an_unknown_option_is_refused_with_its_name() -> None:
    with pytest.raises(infercore.InvalidRequestError, match="no_such_option"):
        infercore.Engine("smollm2-135m-instruct", backend="lmdeploy", no_such_option=1)
