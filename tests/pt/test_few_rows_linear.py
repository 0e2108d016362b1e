"""The linear layers a CPU decode step runs with the weight on the left: the same
products as ``nn.Linear``, and only where the layer is a plain float32 CPU one."""

from __future__ import annotations

import pytest
import torch

from infercore_pt._few_rows_linear import FewRowsLinear, use_few_rows_linear


@pytest.mark.parametrize(("inputs", "outputs"), [(64, 48), (16, 512)])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("rows", [1, 2, 3, 4, 5, 9, 16, 17, 40])
def test_every_row_count_gives_the_linear_layers_result(
    inputs: int, outputs: int, bias: bool, rows: int
) -> None:
    torch.manual_seed(rows)
    layer = torch.nn.Linear(inputs, outputs, bias=bias)
    x = torch.randn(rows, 1, inputs)  # a decode step: (rows, one token, features)
    expected = layer(x)
    use_few_rows_linear(layer)
    assert type(layer) is FewRowsLinear
    got = layer(x)
    assert got.shape == expected.shape
    assert got.is_contiguous()
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_only_plain_float32_cpu_layers_change() -> None:
    model = torch.nn.Sequential(
        torch.nn.Linear(8, 8),
        torch.nn.Linear(8, 8).to(torch.bfloat16),
        torch.nn.LayerNorm(8),
    )
    use_few_rows_linear(model)
    assert [type(module) for module in model] == [
        FewRowsLinear,
        torch.nn.Linear,
        torch.nn.LayerNorm,
    ]


def test_a_layer_whose_weight_is_kept_packed_is_left_alone() -> None:
    # compressed-tensors' quantized layers (GPTQ, AWQ checkpoints) stay nn.Linear but
    # hold their weight packed under other names, with a forward of their own.
    packed = torch.nn.Linear(8, 8)
    del packed.weight
    model = torch.nn.Sequential(packed, torch.nn.Linear(8, 8))
    use_few_rows_linear(model)
    assert [type(module) for module in model] == [torch.nn.Linear, FewRowsLinear]
