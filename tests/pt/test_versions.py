"""The transformers and peft pairs that load LoRA adapters, and the message for those that don't."""

from __future__ import annotations

from infercore_pt._versions import lora_incompatibility


def test_transformers_before_5_24_loads_adapters_with_the_released_peft() -> None:
    assert lora_incompatibility("5.23.0", "0.21.2") is None


def test_transformers_5_24_with_an_older_peft_names_the_releases_that_work() -> None:
    message = lora_incompatibility("5.25.0", "0.21.2")
    assert message is not None
    assert "transformers 5.25.0" in message
    assert "peft 0.21.2" in message
    assert "'transformers<5.24.0'" in message
    assert "'peft>=0.22.0'" in message


def test_transformers_5_24_with_peft_0_22_loads_adapters() -> None:
    assert lora_incompatibility("5.24.0", "0.22.0") is None


def test_no_peft_says_which_extra_to_install() -> None:
    message = lora_incompatibility("5.23.0", None)
    assert message is not None
    assert "infercore-pt[lora]" in message
