"""``infercore deploy``: serve a model over the OpenAI HTTP API.

This module imports neither FastAPI nor uvicorn, so the command exists (and
says how to install them) where the ``serve`` extra is missing.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

from infercore._cli._flags import (
    adapters,
    add_adapter_flags,
    add_engine_flags,
    add_generation_flags,
    generation_settings,
    parser_names,
    positive_int,
)
from infercore._command import Command
from infercore._server._settings import DEFAULT_MAX_BODY_BYTES, ServerSettings

__all__ = ["DEPLOY"]

_SIZE = re.compile(r"(\d+)\s*([kmg]i?b?|b)?", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def _size(text: str) -> int:
    """Bytes from ``"8388608"``, ``"512K"``, ``"8M"`` or ``"1GiB"`` (binary units)."""
    match = _SIZE.fullmatch(text.strip())
    if match is None or int(match.group(1)) < 1:
        raise argparse.ArgumentTypeError(f"expected a size such as 8M or 1048576, got {text!r}")
    unit = (match.group(2) or "").lower()[:1]
    return int(match.group(1)) * _UNITS[unit]


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected 0 or more, got {text!r}")
    return value


def _seconds(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected 0 or more seconds, got {text!r}")
    return value


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    add_engine_flags(parser)
    add_adapter_flags(parser)
    server = parser.add_argument_group("server")
    server.add_argument(
        "--served-model-name", help="the name clients send as model (default: --model)"
    )
    server.add_argument("--host", default="127.0.0.1", help="address to listen on")
    server.add_argument("--port", type=int, default=8000, help="port to listen on")
    server.add_argument(
        "--api-key",
        default=os.environ.get("INFERCORE_API_KEY"),
        help="require 'Authorization: Bearer KEY' on every route but /health "
        "(default: $INFERCORE_API_KEY; none: no key needed)",
    )
    server.add_argument(
        "--max-concurrency",
        type=positive_int,
        default=256,
        help="requests generating at once (default: 256)",
    )
    server.add_argument(
        "--max-queue",
        type=_count,
        default=1024,
        help="requests waiting for a turn beyond those; more get 429 (default: 1024)",
    )
    server.add_argument(
        "--shutdown-grace",
        type=_seconds,
        default=30.0,
        help="on SIGTERM, seconds that requests in flight get to finish (default: 30)",
    )
    server.add_argument(
        "--max-body-size",
        type=_size,
        default=DEFAULT_MAX_BODY_BYTES,
        help="largest request body, such as 8M; larger ones get 413 (default: 8M)",
    )
    server.add_argument(
        "--access-log", action="store_true", help="log every request (costs throughput)"
    )
    server.add_argument(
        "--log-level",
        default="info",
        choices=["critical", "error", "warning", "info", "debug"],
        help="server log level (default: info)",
    )
    media = parser.add_argument_group(
        "media",
        "where request media may come from (budgets: MAX_PIXELS, VIDEO_MAX_PIXELS, "
        "FPS, FPS_MAX_FRAMES)",
    )
    media.add_argument(
        "--allowed-media-domains",
        nargs="+",
        metavar="DOMAIN",
        help="fetch media only from these hosts and their subdomains (default: any global host)",
    )
    media.add_argument(
        "--allowed-local-media-path",
        type=Path,
        metavar="DIR",
        help="let requests name local files and file:// URLs inside DIR (default: refused)",
    )
    media.add_argument(
        "--allowed-media-networks",
        nargs="+",
        metavar="CIDR",
        default=[],
        help="non-global networks media may be fetched from, such as 10.1.0.0/16 "
        "(default: global addresses only)",
    )
    media.add_argument(
        "--limit-mm-per-prompt",
        type=json.loads,
        metavar="JSON",
        help='most media items of a kind per prompt, such as \'{"image": 4, "video": 1}\'',
    )
    add_generation_flags(parser)


def _run(args: argparse.Namespace) -> int:
    try:
        from infercore._server._run import serve
    except ImportError as exc:
        print(
            f"error: infercore deploy needs FastAPI and uvicorn ({exc}): "
            "pip install 'infercore[serve]'",
            file=sys.stderr,
        )
        return 2
    from infercore._engine import Engine

    served_adapters = adapters(args)
    settings = ServerSettings(
        served_model_name=args.served_model_name,
        api_key=args.api_key or None,
        host=args.host,
        port=args.port,
        max_concurrency=args.max_concurrency,
        max_queue=args.max_queue,
        shutdown_grace=args.shutdown_grace,
        max_body_bytes=args.max_body_size,
        generation_defaults=generation_settings(args),
        access_log=args.access_log,
        log_level=args.log_level,
        allowed_media_domains=(
            tuple(args.allowed_media_domains) if args.allowed_media_domains else None
        ),
        allowed_local_media_path=args.allowed_local_media_path,
        allowed_media_networks=tuple(args.allowed_media_networks),
        limit_mm_per_prompt=args.limit_mm_per_prompt,
    )
    # Settings errors come before the model loads, which may take minutes; the
    # engine refuses adapters for a backend without LoRA before loading too.
    settings.checked_defaults()
    media = settings.media_limits()
    options: dict[str, Any] = dict(args.options)
    with Engine(
        args.model,
        backend=args.backend,
        adapters=served_adapters,
        media=media,
        **parser_names(args),
        **options,
    ) as engine:
        return serve(engine, settings)


DEPLOY = Command(
    "deploy",
    "serve a model over the OpenAI HTTP API",
    _add_arguments,
    _run,
    description="Serve a model over the OpenAI HTTP API (needs: pip install 'infercore[serve]').",
)
