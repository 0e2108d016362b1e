"""The core's own plugin, registered through the same entry-point group as any other."""

from __future__ import annotations

from collections.abc import Callable

from infercore._echo import ECHO_CAPABILITIES, EchoBackend, EchoOptions
from infercore._hookspec import hookimpl
from infercore._registry import BackendSpec


def _load_echo() -> type[EchoBackend]:
    return EchoBackend


@hookimpl
def register_backends(register: Callable[[BackendSpec], None]) -> None:
    register(
        BackendSpec(
            name="echo",
            load=_load_echo,
            capabilities=ECHO_CAPABILITIES,
            options=EchoOptions,
            priority=None,
            description="no model: repeats the last user message at a set rate, for load tests",
        )
    )
