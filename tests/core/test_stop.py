"""StopMatcher: stop strings found in text that arrives in pieces."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from infercore._stop import StopMatcher


def feed_all(matcher: StopMatcher, pieces: Sequence[str]) -> str:
    out = "".join(matcher.feed(piece) for piece in pieces)
    return out if matcher.stopped else out + matcher.flush()


def chars(text: str) -> list[str]:
    return list(text)


def test_without_stop_strings_text_passes_straight_through() -> None:
    matcher = StopMatcher([])

    assert matcher.feed("Hello") == "Hello"
    assert matcher.feed(", world") == ", world"
    assert matcher.flush() == ""
    assert not matcher.stopped


def test_stop_string_in_one_piece_cuts_before_it() -> None:
    matcher = StopMatcher(["END"])

    assert matcher.feed("all done END and more") == "all done "
    assert matcher.stopped


def test_stop_string_split_one_character_per_piece_is_found() -> None:
    matcher = StopMatcher(["</answer>"])

    out = feed_all(matcher, chars("42</answer> trailing"))

    assert out == "42"
    assert matcher.stopped


def test_possible_stop_prefix_is_held_back_until_decided() -> None:
    matcher = StopMatcher(["world"])

    assert matcher.feed("hello wo") == "hello "
    assert matcher.feed("r") == ""
    assert matcher.feed("k") == "work"
    assert not matcher.stopped


def test_held_back_prefix_comes_out_on_flush() -> None:
    matcher = StopMatcher(["world"])

    assert matcher.feed("hello wor") == "hello "
    assert matcher.flush() == "wor"
    assert matcher.flush() == ""


def test_nothing_is_emitted_after_stopping() -> None:
    matcher = StopMatcher(["x"])

    assert matcher.feed("abxcd") == "ab"
    assert matcher.feed("more") == ""
    assert matcher.flush() == ""


def test_earliest_of_several_stop_strings_wins() -> None:
    matcher = StopMatcher(["three", "two"])

    assert feed_all(matcher, chars("one two three")) == "one "


def test_overlapping_candidates_find_the_later_complete_one() -> None:
    # "aab" begins with "a", which begins "ab": the first "a" is released once "aa" shows
    # it cannot start "ab".
    matcher = StopMatcher(["ab"])

    assert feed_all(matcher, chars("xaab")) == "xa"
    assert matcher.stopped


def test_stop_string_spanning_many_pieces_of_different_sizes() -> None:
    matcher = StopMatcher(["<|end|>"])

    out = feed_all(matcher, ["The answer", " is 4<", "|e", "nd", "|> extra"])

    assert out == "The answer is 4"


def test_stop_string_at_the_very_start_gives_empty_text() -> None:
    matcher = StopMatcher(["Q:"])

    assert feed_all(matcher, chars("Q: next")) == ""
    assert matcher.stopped


@pytest.mark.parametrize("stop", ["🌍", "世界"])
def test_multi_character_unicode_stop_strings(stop: str) -> None:
    matcher = StopMatcher([stop])

    assert feed_all(matcher, chars(f"hi {stop} there")) == "hi "


@pytest.mark.parametrize(
    "text", ["no stop here", "almost </answe", "<", "</answer", "a</ans</answerb"]
)
def test_text_without_a_complete_stop_comes_out_whole(text: str) -> None:
    matcher = StopMatcher(["</answer>"])

    assert feed_all(matcher, chars(text)) == text
    assert not matcher.stopped


@pytest.mark.parametrize("size", [1, 2, 3, 5, 100])
def test_result_does_not_depend_on_how_the_text_is_split(size: int) -> None:
    text = "alpha beta gamma STOP delta"
    pieces = [text[i : i + size] for i in range(0, len(text), size)]

    assert feed_all(StopMatcher(["STOP", "gam!"]), pieces) == "alpha beta gamma "
