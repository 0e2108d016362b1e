"""``infercore app``: a web chat in the browser, over a local model or a running server.

This module imports no gradio, so the command exists (and says how to install it)
where the ``app`` extra is missing.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from types import FrameType

from infercore._cli._connect import connect
from infercore._cli._flags import (
    add_adapter_flags,
    add_engine_flags,
    add_generation_flags,
    add_remote_flags,
    generation_settings,
    positive_int,
)
from infercore._command import Command
from infercore._media import MediaLimits

__all__ = ["APP"]


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    add_engine_flags(parser, model_required=False)
    add_adapter_flags(parser)
    add_remote_flags(parser)
    page = parser.add_argument_group("web page")
    page.add_argument("--host", default="127.0.0.1", help="address to listen on")
    page.add_argument("--port", type=int, default=7860, help="port to listen on (default: 7860)")
    page.add_argument(
        "--share",
        action="store_true",
        help="also publish the page through a public gradio.live link (off unless given)",
    )
    page.add_argument(
        "--concurrency",
        type=positive_int,
        help="answers generated at once, which the backend batches (default: the backend's "
        "max_batch_size or max_num_seqs option where set, else 16)",
    )
    add_generation_flags(parser)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _run(args: argparse.Namespace) -> int:
    # No usage reports to gradio's servers unless the user asks for them.
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    try:
        from infercore._app import ChatTarget, build_page
    except ImportError as exc:
        print(
            f"error: infercore app needs gradio ({exc}): pip install 'infercore[app]'",
            file=sys.stderr,
        )
        return 2
    from infercore._client import InferClient

    settings = generation_settings(args)
    stop = settings.pop("stop", None)
    # The server's media rules: uploads are inline data under these caps; no local
    # files and no private addresses are opened to what a browser sends.
    limits = MediaLimits.from_env()
    with connect(args, what="chat with", media=limits) as source:
        target = (
            ChatTarget.for_client(source, limits, args.concurrency)
            if isinstance(source, InferClient)
            else ChatTarget.for_engine(source, args.concurrency)
        )
        page = build_page(target, settings, stop)
        # SIGTERM ends the page as Ctrl-C does: gradio closes its server, then the engine.
        signal.signal(signal.SIGTERM, _interrupt)
        page.queue(default_concurrency_limit=target.concurrency).launch(
            server_name=args.host,
            server_port=args.port,
            share=args.share,
            # gradio's own cap on an upload: the largest media cap of what may be uploaded;
            # none at all for a model that takes no media.
            max_file_size=max((limits.max_bytes(kind) for kind in target.media), default=0),
            ssr_mode=False,
            mcp_server=False,
            enable_monitoring=False,
        )
    return 0


APP = Command(
    "app",
    "chat in a web page with a local model or a running server",
    _add_arguments,
    _run,
    description="A web chat over --model (any backend) or --base-url (any OpenAI-compatible "
    "server), on 127.0.0.1:7860 by default (needs: pip install 'infercore[app]').",
)
