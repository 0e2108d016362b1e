"""The ``infercore`` command: one module per subcommand, each a :class:`Command`.

Plugins add subcommands through the ``register_commands`` hook, in the same shape.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from infercore._cli._app import APP
from infercore._cli._backends import BACKENDS
from infercore._cli._bench import BENCH
from infercore._cli._deploy import DEPLOY
from infercore._cli._export import EXPORT
from infercore._cli._infer import INFER
from infercore._cli._new_backend import NEW_BACKEND
from infercore._cli._run_batch import RUN_BATCH
from infercore._command import Command
from infercore._errors import InfercoreError
from infercore._plugins import get_plugin_manager

__all__ = ["Command", "build_parser", "main"]

BUILTIN_COMMANDS = (BACKENDS, INFER, DEPLOY, APP, BENCH, NEW_BACKEND, RUN_BATCH, EXPORT)


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, Command]]:
    """The parser, and every subcommand by name: the core's, then the plugins'."""
    parser = argparse.ArgumentParser(prog="infercore", description="The infercore command.")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands: dict[str, Command] = {}
    for command in (*BUILTIN_COMMANDS, *get_plugin_manager().commands()):
        if command.name in commands:
            raise InfercoreError(f"the subcommand {command.name!r} is registered twice")
        command.add_arguments(
            subparsers.add_parser(
                command.name, help=command.help, description=command.description or command.help
            )
        )
        commands[command.name] = command
    return parser, commands


def main(argv: Sequence[str] | None = None) -> int:
    try:
        parser, commands = build_parser()
        args = parser.parse_args(argv)
        return commands[args.command].run(args)
    except InfercoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
