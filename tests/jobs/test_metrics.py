"""The job summary's scores of answers against labels: exact match and ROUGE."""

from __future__ import annotations

import sys

import pytest

from infercore import InvalidRequestError
from infercore._jobs._metrics import METRICS, Scorer, score


def test_acc_is_the_share_of_answers_equal_to_their_label_after_stripping() -> None:
    pairs = [(" Paris\n", "Paris"), ("paris", "Paris"), ("Rome", "Paris "), ("4", "4")]
    assert score("acc", pairs) == {"acc": 0.5, "scored": 4, "skipped": 0}


def test_rows_without_a_label_or_an_answer_are_not_scored() -> None:
    pairs = [("Paris", "Paris"), ("Paris", None), (None, "Paris"), ("Rome", "Paris")]
    assert score("acc", pairs) == {"acc": 0.5, "scored": 2, "skipped": 2}
    assert score("acc", [(None, "Paris"), ("Paris", None)]) == {"scored": 0, "skipped": 2}


def test_rouge_is_rouge_score_s_f_measure_averaged_over_the_rows() -> None:
    rouge_scorer = pytest.importorskip("rouge_score.rouge_scorer")
    pairs = [
        ("the cats were sitting on the mat", "a cat sat on the mat"),
        ("The capital of France is Paris.", "Paris is the capital of France."),
        ("nothing in common", "whatsoever here"),
    ]
    reference = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    expected = {
        name: sum(reference.score(label, answer)[name].fmeasure for answer, label in pairs) / 3
        for name in ("rouge1", "rouge2", "rougeL")
    }
    result = score("rouge", [*pairs, ("an answer", None)])
    assert result == pytest.approx({**expected, "scored": 3, "skipped": 1})
    assert 0 < result["rouge2"] < result["rouge1"] < 1


def test_rouge_of_identical_strings_is_one() -> None:
    pytest.importorskip("rouge_score")
    text = "The capital of France is Paris."
    assert score("rouge", [(text, text)]) == {
        "rouge1": 1.0,
        "rouge2": 1.0,
        "rougeL": 1.0,
        "scored": 1,
        "skipped": 0,
    }


def test_rouge_scores_chinese_by_character_and_other_scripts_by_word() -> None:
    pytest.importorskip("rouge_score")
    # The same 8 characters; 5 of the 7 bigrams shared; the longest common run 法国的首都.
    result = score("rouge", [("法国的首都是巴黎", "巴黎是法国的首都")])
    assert result["rouge1"] == pytest.approx(1.0)
    assert result["rouge2"] == pytest.approx(5 / 7)
    assert result["rougeL"] == pytest.approx(5 / 8)
    mixed = score("rouge", [("Столица Франции — Париж", "Париж — столица Франции")])
    assert mixed["rouge1"] == pytest.approx(1.0)
    assert score("rouge", [("答案是B", "答案是B")])["rouge2"] == pytest.approx(1.0)
    assert score("rouge", [("完全不同", "毫无关系")])["rouge1"] == 0.0


def test_a_scorer_takes_the_rows_one_at_a_time() -> None:
    scorer = Scorer("acc")
    for answer, label in [("a", "a"), ("b", "c"), (None, "d"), ("e", "e")]:
        scorer.add(answer, label)
    assert scorer.result() == {"acc": 2 / 3, "scored": 3, "skipped": 1}
    assert scorer.metric == "acc"


def test_an_unknown_metric_is_refused_with_the_known_ones() -> None:
    with pytest.raises(
        InvalidRequestError, match="unknown metric 'bleu'; known metrics: acc, rouge"
    ) as caught:
        score("bleu", [])
    assert caught.value.param == "metric"
    assert set(METRICS) == {"acc", "rouge"}


def test_rouge_without_its_package_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    # A None entry makes the import fail as if rouge-score were not installed.
    monkeypatch.setitem(sys.modules, "rouge_score", None)
    with pytest.raises(InvalidRequestError, match=r"pip install 'infercore\[jobs\]'") as caught:
        Scorer("rouge")
    assert caught.value.param == "metric"
