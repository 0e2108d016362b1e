"""``infercore run-batch``: a file of OpenAI batch requests, answered into OpenAI's batch
output format, on a local engine or a running server.

The flags of vLLM's ``run_batch`` (``-i``, ``-o``, ``--model``,
``--served-model-name``) mean the same here, so its command lines and files
run unchanged.
"""

from __future__ import annotations

import argparse

from infercore._cli._flags import (
    add_adapter_flags,
    add_engine_flags,
    add_remote_flags,
    positive_int,
)
from infercore._command import Command
from infercore._errors import InvalidRequestError

__all__ = ["RUN_BATCH"]


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-i",
        "--input-file",
        required=True,
        metavar="IN.jsonl",
        help='one request a line: {"custom_id": ..., "method": "POST", '
        '"url": "/v1/chat/completions" or "/v1/completions", "body": {...}}',
    )
    parser.add_argument(
        "-o",
        "--output-file",
        required=True,
        metavar="OUT.jsonl",
        help="one answer a line, in input order; run the same command again to resume",
    )
    add_engine_flags(parser, model_required=False)
    parser.add_argument(
        "--served-model-name",
        help="the name the requests send as model (default: --model); the --adapters "
        "answer to their own names",
    )
    add_adapter_flags(parser)
    add_remote_flags(parser)
    parser.add_argument(
        "--concurrency",
        type=positive_int,
        default=256,
        help="requests in flight at once, which the backend batches (default: 256)",
    )


def _run(args: argparse.Namespace) -> int:
    # The engine's imports wait until the command runs.
    from infercore._cli._connect import connect
    from infercore._jobs._batch import run_batch

    if args.served_model_name is not None and (
        args.base_url is not None or args.backend == "remote"
    ):
        raise InvalidRequestError(
            "--served-model-name names a local engine's model; a server has its own names",
            param="served_model_name",
        )
    with connect(args, what="answer the batch with") as target:
        summary = run_batch(
            target,
            args.input_file,
            args.output_file,
            concurrency=args.concurrency,
            served_model_name=args.served_model_name,
        )
    print(summary)
    return 0


RUN_BATCH = Command(
    "run-batch",
    "answer a file of OpenAI batch requests into a file of answers",
    _add_arguments,
    _run,
    description="Answer every request of an OpenAI Batch API input file (as vLLM's run_batch "
    "takes it) into OpenAI's batch output format, on a local model or, with --base-url, "
    "a running server. A rerun of the same command resumes where a killed one stopped.",
)
