"""The ``infercore`` command."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from infercore._bench import add_bench_command
from infercore._errors import InfercoreError
from infercore._plugins import get_plugin_manager
from infercore._registry import FIRST_PARTY_BACKENDS
from infercore._server._command import add_deploy_command

__all__ = ["main"]

_GENERATION_FLAGS: tuple[tuple[str, type, str], ...] = (
    ("max_tokens", int, "most tokens to generate per answer"),
    ("temperature", float, "0 for greedy decoding"),
    ("top_p", float, "nucleus sampling mass"),
    ("top_k", int, "sample among the k most likely tokens"),
    ("min_p", float, "drop tokens below this share of the best one's probability"),
    ("repetition_penalty", float, "penalise tokens seen in the prompt or output"),
    ("presence_penalty", float, "penalise tokens already generated"),
    ("frequency_penalty", float, "penalise tokens by how often they were generated"),
    ("seed", int, "makes sampling repeatable"),
)


def _option(text: str) -> tuple[str, Any]:
    name, sep, raw = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return name.replace("-", "_"), value


def add_generation_flags(parser: argparse.ArgumentParser) -> None:
    """The RequestConfig flags, shared by every command that generates."""
    group = parser.add_argument_group("generation")
    for name, kind, text in _GENERATION_FLAGS:
        group.add_argument(f"--{name.replace('_', '-')}", dest=name, type=kind, help=text)
    group.add_argument("--stop", action="append", help="a stop string; repeat for several")


def generation_settings(args: argparse.Namespace) -> dict[str, Any]:
    names = [name for name, _, _ in _GENERATION_FLAGS] + ["stop"]
    return {name: getattr(args, name) for name in names if getattr(args, name) is not None}


def add_engine_flags(parser: argparse.ArgumentParser, *, model_required: bool = True) -> None:
    parser.add_argument(
        "--model", required=model_required, help="a model path, hub id or built-in name"
    )
    parser.add_argument("--backend", default="auto", help="backend name (default: auto)")
    parser.add_argument(
        "-O",
        "--option",
        dest="options",
        action="append",
        type=_option,
        default=[],
        metavar="NAME=VALUE",
        help="a backend option, such as -O max_batch_size=8 (see `infercore backends -v`)",
    )


def add_remote_flags(parser: argparse.ArgumentParser) -> None:
    """--base-url and --api-key: talk to a running server instead of loading a model."""
    group = parser.add_argument_group("remote server")
    group.add_argument(
        "--base-url",
        help="a running OpenAI-compatible server, such as http://127.0.0.1:8000/v1 "
        "(--model then names a served model; default: the first it serves)",
    )
    group.add_argument("--api-key", help="the server's API key")


def _backends(args: argparse.Namespace) -> int:
    manager = get_plugin_manager()
    registry = manager.registry
    for name in sorted(registry.backends):
        entry = registry.backends[name]
        origin = f"{entry.distribution} {entry.version}" if entry.distribution else entry.plugin
        state = "available" if entry.available else f"unavailable: {entry.unavailable_reason}"
        print(f"{name:<10} {origin:<28} {state}")
        if entry.spec.description:
            print(f"    {entry.spec.description}")
        print(f"    capabilities: {', '.join(entry.spec.capabilities.describe())}")
        if args.verbose:
            for field, info in entry.spec.options.model_fields.items():
                default = info.get_default(call_default_factory=True, validated_data={})
                print(f"    -O {field}=... (default {default!r}) {info.description or ''}".rstrip())
    for name, requirement in FIRST_PARTY_BACKENDS.items():
        if name not in registry.backends:
            print(f"{name:<10} {'not installed':<28} pip install '{requirement}'")
    if registry.models:
        print("\nmodels:")
        for alias in registry.models.values():
            print(f"  {alias.name:<28} {alias.description}")
    for failure in manager.failures:
        origin = f" (distribution {failure.distribution})" if failure.distribution else ""
        print(f"\nplugin {failure.name!r}{origin} failed to load: {failure.error}", file=sys.stderr)
    return 0


def _new_backend(args: argparse.Namespace) -> int:
    from infercore._scaffold import write_backend

    folder = write_backend(args.name, Path(args.dir))
    print(f"wrote {folder}: pip install -e '{folder}' && pytest '{folder}'")
    return 0


def _infer(args: argparse.Namespace) -> int:
    from infercore._chat_cli import run_chat

    return run_chat(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="infercore", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    backends = commands.add_parser("backends", help="list backends and whether each can run here")
    backends.add_argument(
        "-v", "--verbose", action="store_true", help="show each backend's options"
    )
    backends.set_defaults(func=_backends)

    infer = commands.add_parser("infer", help="chat with a model, or answer one --query")
    add_engine_flags(infer, model_required=False)
    add_remote_flags(infer)
    infer.add_argument("--query", help="answer this one question and exit")
    for kind in ("images", "videos", "audios"):
        infer.add_argument(
            f"--{kind}",
            nargs="+",
            metavar="PATH_OR_URL",
            help=f"with --query: the {kind} for its <{kind[:-1]}> tags, in order",
        )
    infer.add_argument("--system", help="the system prompt")
    infer.add_argument(
        "--stream", action=argparse.BooleanOptionalAction, default=True, help="stream the answer"
    )
    add_generation_flags(infer)
    infer.set_defaults(func=_infer)

    new_backend = commands.add_parser(
        "new-backend", help="write a backend distribution that passes the conformance suite"
    )
    new_backend.add_argument("name", help="the backend's name, such as mine")
    new_backend.add_argument("--dir", default=".", help="where to write it (default: here)")
    new_backend.set_defaults(func=_new_backend)

    add_bench_command(commands)

    add_deploy_command(commands)
    get_plugin_manager().add_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except InfercoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
