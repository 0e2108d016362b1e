"""Data parallel dataset jobs on one machine: each ``torchrun`` rank answers its own rows.

Under ``torchrun --nproc-per-node N -m infercore infer --val-dataset ...`` every
rank reads the whole dataset and takes the rows whose index it owns (index
modulo N). Each writes its own part file beside the result file
(``OUT.jsonl.rank0-of-2``), resumable as a result file is; when all ranks are
done, rank 0 merges the parts into the result file in index order and removes
them. A rerun with the same N picks up wherever a kill left any rank, the merge
included.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from infercore._errors import InvalidRequestError
from infercore._jobs._results import Key, ResultFile, read_lines

__all__ = ["Shard"]

# A barrier waits for the slowest rank's whole share of the dataset.
_BARRIER_TIMEOUT = timedelta(days=7)


@dataclass(frozen=True)
class Shard:
    """This process's place among the ranks of a job."""

    rank: int
    world_size: int

    @classmethod
    def from_environment(cls) -> Shard | None:
        """The rank torchrun gives this process (``RANK``, ``WORLD_SIZE``); None alone."""
        world_size = int(os.environ.get("WORLD_SIZE", "1"))
        if world_size <= 1:
            return None
        return cls(int(os.environ["RANK"]), world_size)

    def owns(self, index: int) -> bool:
        return index % self.world_size == self.rank

    def part_path(self, result_path: Path, rank: int | None = None) -> Path:
        rank = self.rank if rank is None else rank
        return result_path.with_name(f"{result_path.name}.rank{rank}-of-{self.world_size}")

    def join(self) -> None:
        """Join the ranks' process group (gloo, on any device), and on a CUDA machine
        make this rank's GPU the current one, so each rank's engine takes its own."""
        import torch
        import torch.distributed as dist

        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", self.rank)))
        if not dist.is_initialized():
            dist.init_process_group("gloo", timeout=_BARRIER_TIMEOUT)

    def wait_for_all(self) -> None:
        import torch.distributed as dist

        dist.barrier()

    def leave(self) -> None:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()

    def merge(self, result_path: Path, order: list[Key]) -> None:
        """Rank 0, once every rank is done: every part's lines into the result file, in
        ``order``; then the parts go."""
        parts = [self.part_path(result_path, rank) for rank in range(self.world_size)]
        others = sorted(
            path
            for path in result_path.parent.glob(f"{result_path.name}.rank*-of-*")
            if path not in parts
        )
        if others:
            raise InvalidRequestError(
                f"{others[0]} is a part of a run with another number of ranks; "
                "finish that run with its own number of ranks, or remove its parts",
                param="result_path",
            )
        with ResultFile(result_path, "index") as merged:
            for part in parts:
                for line in read_lines(part):
                    if line["index"] not in merged.done:
                        merged.write(line)
            merged.finish(order)
        for part in parts:
            part.unlink(missing_ok=True)

    def done_before(self, result_path: Path) -> set[Any]:
        """The rows a finished merge already holds (read, not opened: rank 0 owns it)."""
        return {line["index"] for line in read_lines(result_path)}
