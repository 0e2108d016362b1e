"""The linear layers a CPU decode step runs with the weight on the left: the same
products as ``nn.Linear``, chosen per weight shape by timing both orders, and only
for plain float32 CPU layers."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import torch

from infercore_pt import _few_rows_linear
from infercore_pt._few_rows_linear import FewRowsLinear, left_order_rows, use_few_rows_linear


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
    layer.__class__ = FewRowsLinear
    layer.few_rows = 16
    got = layer(x)
    assert got.shape == expected.shape
    assert got.is_contiguous()
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def _limits(
    by_outputs: dict[int, int], timed: list[tuple[int, ...]]
) -> Callable[[torch.Tensor], int]:
    def limit(weight: torch.Tensor) -> int:
        timed.append(tuple(weight.shape))
        return by_outputs[weight.shape[0]]

    return limit


def test_only_plain_float32_cpu_layers_are_timed_and_changed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    timed: list[tuple[int, ...]] = []
    monkeypatch.setattr(_few_rows_linear, "left_order_rows", _limits({8: 4}, timed))
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
    assert model[0].few_rows == 4
    assert timed == [(8, 8)]


def test_each_shape_is_timed_once_and_left_alone_where_the_usual_order_wins(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    timed: list[tuple[int, ...]] = []
    monkeypatch.setattr(_few_rows_linear, "left_order_rows", _limits({8: 0, 32: 12}, timed))
    model = torch.nn.Sequential(*(torch.nn.Linear(8, n) for n in (8, 32, 8, 32)))
    use_few_rows_linear(model)
    assert timed == [(8, 8), (32, 8)]
    assert [type(module) for module in model] == [torch.nn.Linear, FewRowsLinear] * 2
    assert [getattr(module, "few_rows", None) for module in model] == [None, 12] * 2


def test_a_layer_whose_weight_is_kept_packed_is_left_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # compressed-tensors' quantized layers (GPTQ, AWQ checkpoints) stay nn.Linear but
    # hold their weight packed under other names, with a forward of their own.
    monkeypatch.setattr(_few_rows_linear, "left_order_rows", _limits({8: 4}, []))
    packed = torch.nn.Linear(8, 8)
    del packed.weight
    model = torch.nn.Sequential(packed, torch.nn.Linear(8, 8))
    use_few_rows_linear(model)
    assert [type(module) for module in model] == [torch.nn.Linear, FewRowsLinear]


def _clock(times: list[tuple[float, float]]) -> Iterator[float]:
    """Each row count's time for the usual order, then for the weight on the left."""
    for usual, left in times:
        yield usual
        yield left


@pytest.mark.parametrize(
    ("times", "expected"),
    [
        ([(10, 5), (10, 5), (10, 5), (10, 11)], 4),  # wins up to 4 rows, loses at 6
        ([(10, 12)], 0),  # loses at 2 rows: never used
        ([(10, 9.5)], 0),  # a near tie is not a win
        ([(10, 5)] * len(_few_rows_linear.ROW_COUNTS), 16),
    ],
    ids=["up-to-4", "never", "near-tie", "always"],
)
def test_the_weight_goes_left_for_as_many_rows_as_it_clearly_wins(
    times: list[tuple[float, float]], expected: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = _clock(times)
    monkeypatch.setattr(_few_rows_linear, "_best_time", lambda product: next(clock))
    assert left_order_rows(torch.zeros(8, 8)) == expected


def test_timing_a_real_weight_gives_one_of_the_counts_tried() -> None:
    limit = left_order_rows(torch.randn(1024, 256))
    assert limit in (0, *_few_rows_linear.ROW_COUNTS)
