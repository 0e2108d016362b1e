"""``infercore infer --val-dataset``: a dataset job from the command line."""

from __future__ import annotations

import argparse

from infercore._cli._connect import connect
from infercore._cli._flags import generation_settings
from infercore._coerce import validated
from infercore._errors import InvalidRequestError
from infercore._jobs._dataset import infer_dataset
from infercore._types import RequestConfig

__all__ = ["run_dataset"]

#: The shuffle's seed when --seed is not given, so a rerun picks the same rows.
_DEFAULT_SEED = 42


def run_dataset(args: argparse.Namespace) -> int:
    if args.result_path is None:
        raise InvalidRequestError(
            "--val-dataset needs --result-path, the file a rerun resumes from",
            param="result_path",
        )
    media = (args.images, args.videos, args.audios)
    if args.query is not None or any(media):
        raise InvalidRequestError(
            "--query and its media answer one question; a dataset's rows carry their own",
            param="query",
        )
    if args.system is not None:
        raise InvalidRequestError(
            "a dataset's rows carry their own system prompt (a 'system' field)", param="system"
        )
    settings = {**generation_settings(args), "top_logprobs": args.top_logprobs}
    if args.logprobs:
        settings["logprobs"] = True
    config = validated(RequestConfig, settings, "generation flags")
    with connect(args, what="answer the dataset with") as target:
        summary = infer_dataset(
            target,
            args.val_dataset,
            result_path=args.result_path,
            config=config,
            sample=args.dataset_sample,
            shuffle=args.dataset_shuffle,
            seed=args.seed if args.seed is not None else _DEFAULT_SEED,
            metric=args.metric,
            concurrency=args.concurrency,
        )
    print(summary)
    return 0
