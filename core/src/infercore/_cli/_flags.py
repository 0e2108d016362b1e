"""Flags that several subcommands share: the engine, a remote server, generation settings."""

from __future__ import annotations

import argparse
import json
from typing import Any, TypedDict

from infercore._errors import InvalidRequestError

__all__ = [
    "ParserFlags",
    "adapters",
    "add_adapter_flags",
    "add_engine_flags",
    "add_generation_flags",
    "add_remote_flags",
    "generation_settings",
    "parser_names",
    "positive_int",
]

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
    parsing = parser.add_argument_group("tool calls and reasoning (see `infercore backends`)")
    parsing.add_argument(
        "--tool-call-parser",
        metavar="NAME",
        help="parse tool calls in this format (hermes, llama3_json, mistral, a plugin's, or "
        "auto: the one the chat template shows); without it, requests with tools are refused",
    )
    parsing.add_argument(
        "--reasoning-parser",
        metavar="NAME",
        help="answer a reasoning model's thinking apart, as reasoning (qwen3, deepseek_r1, "
        "or auto)",
    )


class ParserFlags(TypedDict):
    tool_call_parser: str | None
    reasoning_parser: str | None


def parser_names(args: argparse.Namespace) -> ParserFlags:
    """The engine's ``tool_call_parser`` and ``reasoning_parser`` from the flags."""
    return {"tool_call_parser": args.tool_call_parser, "reasoning_parser": args.reasoning_parser}


def _adapter(text: str) -> tuple[str, str]:
    name, sep, path = text.partition("=")
    if not sep or not name or not path:
        raise argparse.ArgumentTypeError(f"expected NAME=PATH, got {text!r}")
    return name, path


def add_adapter_flags(parser: argparse.ArgumentParser, *, choose: bool = False) -> None:
    """--adapters NAME=PATH to load LoRA adapters; with ``choose``, --adapter NAME to answer
    with one of them."""
    group = parser.add_argument_group("LoRA adapters")
    group.add_argument(
        "--adapters",
        nargs="+",
        action="extend",
        type=_adapter,
        default=[],
        metavar="NAME=PATH",
        help="LoRA adapters to load on the --model, each under its own name "
        "(the backend must support LoRA)",
    )
    if choose:
        group.add_argument(
            "--adapter",
            metavar="NAME",
            help="answer with this adapter (one of --adapters, or one a --base-url server "
            "serves; default: the base model)",
        )


def adapters(args: argparse.Namespace) -> dict[str, str]:
    """The --adapters as a name-to-path mapping; a name given twice is refused."""
    names = [name for name, _ in args.adapters]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise InvalidRequestError(
            f"--adapters names each adapter once; repeated: {repeated}", param="adapters"
        )
    return dict(args.adapters)


def add_remote_flags(parser: argparse.ArgumentParser) -> None:
    """--base-url and --api-key: talk to a running server instead of loading a model."""
    group = parser.add_argument_group("remote server")
    group.add_argument(
        "--base-url",
        help="a running OpenAI-compatible server, such as http://127.0.0.1:8000/v1 "
        "(--model then names a served model; default: the first it serves)",
    )
    group.add_argument("--api-key", help="the server's API key")


def positive_int(text: str) -> int:
    """An argparse type: an integer of at least 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value
