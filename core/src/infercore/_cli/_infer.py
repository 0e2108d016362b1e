"""``infercore infer``: chat with a model, answer one query, locally or on a running server."""

from __future__ import annotations

import argparse

from infercore._cli._flags import add_engine_flags, add_generation_flags, add_remote_flags
from infercore._command import Command

__all__ = ["INFER"]


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    add_engine_flags(parser, model_required=False)
    add_remote_flags(parser)
    parser.add_argument("--query", help="answer this one question and exit")
    for kind in ("images", "videos", "audios"):
        parser.add_argument(
            f"--{kind}",
            nargs="+",
            metavar="PATH_OR_URL",
            help=f"with --query: the {kind} for its <{kind[:-1]}> tags, in order",
        )
    parser.add_argument("--system", help="the system prompt")
    parser.add_argument(
        "--stream", action=argparse.BooleanOptionalAction, default=True, help="stream the answer"
    )
    add_generation_flags(parser)


def _run(args: argparse.Namespace) -> int:
    from infercore._cli._chat import run_chat  # the engine's imports wait until it runs

    return run_chat(args)


INFER = Command("infer", "chat with a model, or answer one --query", _add_arguments, _run)
