"""Scores for a job's answers against its rows' labels: exact match (``acc``) and ROUGE.

A :class:`Scorer` takes the rows one at a time as they finish, so a job needs
no second pass and keeps no answers in memory; :func:`score` does it for an
iterable at once.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from infercore._errors import InvalidRequestError

__all__ = ["METRICS", "Scorer", "score"]

_RowScore = Callable[[str, str], dict[str, float]]
"""Scores one (answer, label) pair: each value in [0, 1], averaged over the rows."""

_ROUGE_TYPES = ("rouge1", "rouge2", "rougeL")

# Scripts written without spaces between words (Chinese, Japanese kana, Thai): each
# character is a token there, as ROUGE is scored for them; other text splits into
# words of letters and digits in any script. rouge-score's own tokenizer keeps only
# [a-z0-9], so it scores every Chinese answer 0.
_UNSPACED = "\u0e00-\u0e7f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_TOKEN = re.compile(f"[{_UNSPACED}]|[^\\W_{_UNSPACED}]+")


class _RougeTokenizer:
    """rouge-score's tokenizer for every script: on ASCII text it gives the very tokens
    of rouge-score's default (lowercased, Porter-stemmed past three letters)."""

    def __init__(self) -> None:
        from nltk.stem import porter  # rouge-score's own dependency

        self._stemmer = porter.PorterStemmer()

    def tokenize(self, text: str) -> list[str]:
        return [
            self._stemmer.stem(token) if len(token) > 3 and token.isascii() else token
            for token in _TOKEN.findall(text.lower())
        ]


def _exact_match() -> _RowScore:
    def row(answer: str, label: str) -> dict[str, float]:
        return {"acc": float(answer.strip() == label.strip())}

    return row


def _rouge() -> _RowScore:
    try:
        # rouge-score ships no annotations, and the type check may run without it installed.
        from rouge_score import rouge_scorer
    except ImportError as exc:
        raise InvalidRequestError(
            "the rouge metric needs the rouge-score package: pip install 'infercore[jobs]'",
            param="metric",
        ) from exc
    scorer = rouge_scorer.RougeScorer(list(_ROUGE_TYPES), tokenizer=_RougeTokenizer())

    def row(answer: str, label: str) -> dict[str, float]:
        scores = scorer.score(label, answer)
        return {name: float(scores[name].fmeasure) for name in _ROUGE_TYPES}

    return row


METRICS: dict[str, Callable[[], _RowScore]] = {"acc": _exact_match, "rouge": _rouge}
"""The metric names that ``--metric`` takes.

``acc``: the share of answers equal to their label once surrounding whitespace
is stripped. ``rouge``: the ROUGE-1, ROUGE-2 and ROUGE-L F-measures of
Google's ``rouge-score`` (with its Porter stemmer), each averaged over the rows;
text in scripts without spaces between words is scored character by character.
"""


class Scorer:
    """Accumulates one metric over rows given one at a time.

    Build it before the job runs: an unknown metric name, or the missing
    package that a metric needs, fails then rather than after the inference.
    """

    def __init__(self, metric: str) -> None:
        factory = METRICS.get(metric)
        if factory is None:
            raise InvalidRequestError(
                f"unknown metric {metric!r}; known metrics: {', '.join(METRICS)}",
                param="metric",
            )
        self.metric = metric
        self._row = factory()
        self._totals: dict[str, float] = {}
        self._scored = 0
        self._skipped = 0

    def add(self, answer: str | None, label: str | None) -> None:
        """Score one row; a row without a label, or without an answer (it failed), is skipped."""
        if answer is None or label is None:
            self._skipped += 1
            return
        for name, value in self._row(answer, label).items():
            self._totals[name] = self._totals.get(name, 0.0) + value
        self._scored += 1

    def result(self) -> dict[str, float | int]:
        """The averages (``acc``; or ``rouge1``, ``rouge2``, ``rougeL``) and the row counts.

        ``scored`` and ``skipped`` count the rows; with nothing scored there are
        no averages, only the counts.
        """
        averages = {name: total / self._scored for name, total in self._totals.items()}
        return {**averages, "scored": self._scored, "skipped": self._skipped}


def score(metric: str, pairs: Iterable[tuple[str | None, str | None]]) -> dict[str, float | int]:
    """Score ``(answer, label)`` pairs with ``metric``: :meth:`Scorer.result` over all of them."""
    scorer = Scorer(metric)
    for answer, label in pairs:
        scorer.add(answer, label)
    return scorer.result()
