"""AdapterGate: requests for different adapters never run together, and none starves."""

from __future__ import annotations

import asyncio
from collections.abc import Hashable

import pytest

from infercore_vllm._gate import AdapterGate


async def _run(
    gate: AdapterGate, key: Hashable, log: list[tuple[str, Hashable]], hold: float
) -> None:
    async with gate.hold(key):
        log.append(("in", key))
        await asyncio.sleep(hold)
        log.append(("out", key))


def _never_mixed(log: list[tuple[str, Hashable]]) -> bool:
    inside: list[Hashable] = []
    for event, key in log:
        if event == "in":
            if inside and inside[0] != key:
                return False
            inside.append(key)
        else:
            inside.remove(key)
    return True


async def test_same_key_requests_run_together() -> None:
    gate = AdapterGate()
    log: list[tuple[str, Hashable]] = []
    await asyncio.gather(*(_run(gate, "a", log, 0.05) for _ in range(4)))
    assert [event for event, _ in log[:4]] == ["in"] * 4


async def test_different_keys_take_turns_in_arrival_order() -> None:
    gate = AdapterGate()
    log: list[tuple[str, Hashable]] = []
    tasks = []
    for key in [None, "a", None, "a", "b"]:
        tasks.append(asyncio.create_task(_run(gate, key, log, 0.02)))
        await asyncio.sleep(0)
    await asyncio.gather(*tasks)
    assert _never_mixed(log)
    order = [key for event, key in log if event == "in"]
    # The None running first lets "a" queue; the later None waits behind "a".
    assert order == [None, "a", "a", None, "b"] or order == [None, "a", None, "a", "b"]
    assert order[:2] == [None, "a"]


async def test_a_cancelled_waiter_does_not_block_the_gate() -> None:
    gate = AdapterGate()
    log: list[tuple[str, Hashable]] = []
    first = asyncio.create_task(_run(gate, None, log, 0.05))
    await asyncio.sleep(0)
    waiter = asyncio.create_task(_run(gate, "a", log, 0.01))
    await asyncio.sleep(0.01)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    await first
    await asyncio.wait_for(_run(gate, "b", log, 0.0), timeout=1.0)
    assert ("in", "a") not in log
    assert ("in", "b") in log
