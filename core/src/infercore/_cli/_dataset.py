"""``infercore infer --val-dataset``: a dataset job from the command line, in one process or
in ``--nproc`` processes under torchrun."""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys

from infercore._cli._connect import connect
from infercore._cli._flags import generation_settings
from infercore._coerce import validated
from infercore._errors import InvalidRequestError
from infercore._jobs._dataset import infer_dataset
from infercore._jobs._metrics import Scorer
from infercore._jobs._shard import Shard
from infercore._types import RequestConfig

__all__ = ["run_dataset"]

#: The shuffle's seed when --seed is not given, so a rerun picks the same rows.
_DEFAULT_SEED = 42


def run_dataset(args: argparse.Namespace) -> int:
    """Run the job here, or with --nproc N (outside torchrun) launch it under torchrun."""
    if args.nproc is not None and args.nproc > 1 and Shard.from_environment() is None:
        return _launch(args.nproc)
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
    if args.metric is not None:
        Scorer(args.metric)  # a metric whose package is missing fails before the model loads
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
            adapter=args.adapter,
        )
    shard = Shard.from_environment()
    print(f"rank {shard.rank}: {summary}" if shard is not None else summary)
    return 0


def _launch(nproc: int) -> int:
    """This very command again, under ``torchrun --nproc-per-node nproc``, without --nproc."""
    if importlib.util.find_spec("torch") is None:
        raise InvalidRequestError(
            "--nproc runs the job under torchrun, which comes with torch: "
            "pip install 'infercore[pt]'",
            param="nproc",
        )
    argv = sys.argv[1:]
    kept: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--nproc":
            skip = True
        elif not arg.startswith("--nproc="):
            kept.append(arg)
    command = [sys.executable, "-m", "torch.distributed.run", f"--nproc-per-node={nproc}"]
    return subprocess.call([*command, "-m", "infercore", *kept])
