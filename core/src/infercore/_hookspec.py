"""The hooks a plugin may implement. Their docstrings are the contract.

A plugin is a module or object with functions marked ``@infercore.hookimpl``,
named by an entry point in the ``infercore`` group. The core's own built-ins
are registered the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from infercore._command import Command
    from infercore._parsers import ReasoningParserSpec, ToolParserSpec
    from infercore._registry import BackendSpec, ModelAlias

__all__ = ["hookimpl", "hookspec"]

hookspec = pluggy.HookspecMarker("infercore")
hookimpl = pluggy.HookimplMarker("infercore")


@hookspec
def register_backends(register: Callable[[BackendSpec], None]) -> None:
    """Register backends by calling ``register(BackendSpec(...))`` once for each.

    This runs whenever the registry is built, including for ``infercore
    backends`` on a machine that cannot run the backend: it must not import
    torch or the engine itself. Import those inside ``BackendSpec.load``, and
    report what is missing from ``BackendSpec.probe``.
    """


@hookspec
def register_models(register: Callable[[ModelAlias], None]) -> None:
    """Register model names by calling ``register(ModelAlias(...))`` once for each.

    An alias maps a short name (``smollm2-135m-instruct``) to a function that
    returns a loadable model path or hub id; it runs only when the name is used.
    """


@hookspec
def register_commands(register: Callable[[Command], None]) -> None:
    """Add subcommands to the ``infercore`` command by calling ``register(Command(...))``.

    A :class:`~infercore.Command` names the subcommand, adds its flags to the
    ``argparse.ArgumentParser`` the CLI makes for it, and runs with the parsed
    arguments, returning the exit code. Like ``register_backends``, this runs for
    every ``infercore`` invocation: import what the command needs inside ``run``.
    A name already taken is refused.
    """


@hookspec
def register_tool_parsers(register: Callable[[ToolParserSpec], None]) -> None:
    """Register tool-call formats by calling ``register(ToolParserSpec(...))`` once for each.

    A :class:`~infercore.ToolParserSpec` names the format (``Engine(tool_call_parser=NAME)``,
    ``deploy --tool-call-parser NAME``) and holds its :class:`~infercore.ToolParser`; its
    ``template_marker`` is text only chat templates of this format hold, so that the name
    ``auto`` can pick it. Parsers are plain Python: this runs whenever the registry is
    built, and imports nothing heavy. A name already taken is refused.
    """


@hookspec
def register_reasoning_parsers(register: Callable[[ReasoningParserSpec], None]) -> None:
    """Register reasoning formats by calling ``register(ReasoningParserSpec(...))`` once for each.

    As ``register_tool_parsers``, for a :class:`~infercore.ReasoningParser`
    (``Engine(reasoning_parser=NAME)``, ``deploy --reasoning-parser NAME``).
    """
