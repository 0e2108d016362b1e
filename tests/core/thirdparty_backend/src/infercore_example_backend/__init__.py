"""An example third-party infercore backend: one Backend class and one hook.

The entry point ``example = "infercore_example_backend"`` in the ``infercore`` group
makes the core load this module; its ``register_backends`` hook names the backend.
"""

from __future__ import annotations

from collections.abc import Callable

from infercore import Backend, BackendSpec, Capabilities, hookimpl
from infercore_example_backend._parrot import ParrotBackend, ParrotOptions, ParrotTokenizer

__all__ = ["ParrotBackend", "ParrotOptions", "ParrotTokenizer", "register_backends"]


def _load() -> type[Backend]:
    return ParrotBackend


@hookimpl
def register_backends(register: Callable[[BackendSpec], None]) -> None:
    register(
        BackendSpec(
            name="example",
            load=_load,
            capabilities=Capabilities(sampling=frozenset({"temperature", "seed", "ignore_eos"})),
            options=ParrotOptions,
            priority=None,  # a toy: never chosen by backend="auto"
            description="example third-party backend: repeats the last user message word by word",
        )
    )
