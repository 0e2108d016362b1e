"""The engine or the server client a command works with, from its flags."""

from __future__ import annotations

import argparse

from infercore._cli._flags import adapters, parser_names
from infercore._client import InferClient
from infercore._engine import Engine
from infercore._errors import InvalidRequestError
from infercore._media import MediaLimits

__all__ = ["connect"]


def connect(
    args: argparse.Namespace, *, what: str, media: MediaLimits | None = None
) -> Engine | InferClient:
    """A local engine, or with --base-url (or --backend remote) a client of a running server.

    ``media`` bounds the local engine's media (by default a trusted caller's limits).
    """
    if args.base_url is None and args.backend != "remote":
        if args.model is None:
            raise InvalidRequestError(
                f"give --model, or --base-url to {what} a running server", param="model"
            )
        if args.api_key is not None:
            raise InvalidRequestError("--api-key goes with --base-url", param="api_key")
        return Engine(
            args.model,
            backend=args.backend,
            adapters=adapters(args),
            media=media,
            **parser_names(args),
            **dict(args.options),
        )
    if args.base_url is None:
        raise InvalidRequestError(
            "--backend remote needs --base-url, the URL of a running server", param="base_url"
        )
    if args.backend not in {"auto", "remote"}:
        raise InvalidRequestError(
            f"--base-url talks to a running server, which has its own backend; "
            f"drop --backend {args.backend}",
            param="backend",
        )
    if args.options:
        raise InvalidRequestError(
            "-O sets a local backend's options; a server takes them at `infercore deploy`",
            param="options",
        )
    if args.adapters:
        raise InvalidRequestError(
            "--adapters loads adapters into a local engine; a server loads them at "
            "`infercore deploy --adapters` and serves each under its own name",
            param="adapters",
        )
    for name, value in parser_names(args).items():
        if value is not None:
            raise InvalidRequestError(
                f"--{name.replace('_', '-')} sets a local engine's parser; a server takes it "
                "at `infercore deploy`",
                param=name,
            )
    client = InferClient(args.base_url, api_key=args.api_key, model=args.model)
    try:
        _ = client.model  # asks the server now: an unreachable one fails before the prompt
    except BaseException:
        client.close()
        raise
    return client
