"""``infercore infer``: chat with a model, answer one query, or run a whole dataset; locally
or on a running server."""

from __future__ import annotations

import argparse

from infercore._cli._flags import (
    add_adapter_flags,
    add_engine_flags,
    add_generation_flags,
    add_remote_flags,
    positive_int,
)
from infercore._command import Command

__all__ = ["INFER"]


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    add_engine_flags(parser, model_required=False)
    add_adapter_flags(parser, choose=True)
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
    _add_dataset_arguments(parser)


def _add_dataset_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "dataset",
        "answer every row of a dataset into a result file; run the same command again to "
        "resume after a crash",
    )
    group.add_argument(
        "--val-dataset",
        nargs="+",
        action="extend",
        metavar="PATH",
        help=".jsonl, .json, .csv, .parquet or a folder saved by `datasets`; several are "
        "read in turn",
    )
    group.add_argument("--result-path", metavar="OUT.jsonl", help="one JSON line per row")
    group.add_argument(
        "--dataset-sample", type=int, metavar="N", help="answer only N rows (after shuffling)"
    )
    group.add_argument(
        "--dataset-shuffle", action="store_true", help="shuffle the rows first, by --seed"
    )
    group.add_argument("--logprobs", action="store_true", help="keep each token's logprob")
    group.add_argument(
        "--top-logprobs", type=int, metavar="K", help="and the K most likely alternatives"
    )
    group.add_argument(
        "--metric", choices=("acc", "rouge"), help="score the answers against the rows' labels"
    )
    group.add_argument(
        "--nproc",
        type=positive_int,
        help="answer with N processes of this machine, each its own engine and share of "
        "the rows (data parallel through torchrun; one GPU each where there are GPUs)",
    )
    group.add_argument(
        "--concurrency",
        type=positive_int,
        default=256,
        help="rows in flight at once, which the backend batches (default: 256)",
    )


def _run(args: argparse.Namespace) -> int:
    # The engine's imports wait until it runs.
    if args.val_dataset is not None:
        from infercore._cli._dataset import run_dataset

        return run_dataset(args)
    from infercore._cli._chat import run_chat

    return run_chat(args)


INFER = Command(
    "infer", "chat with a model, answer one --query, or run a --val-dataset", _add_arguments, _run
)
