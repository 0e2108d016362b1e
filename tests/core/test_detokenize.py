"""IncrementalDetokenizer: token-by-token text that never splits a character."""

from __future__ import annotations

import pytest

from infercore import ByteTokenizer, IncrementalDetokenizer

TEXTS = [
    "plain ascii",
    "日本語のテキスト",
    "emoji 🌍🎉👩‍👩‍👧 mixed",
    "ZWJ 🏳️‍🌈 and combining é",
    "한국어 and Ελληνικά",
    "🌍",
]


def pieces(tokenizer: ByteTokenizer, text: str, step: int = 1) -> list[str]:
    detokenizer = IncrementalDetokenizer(tokenizer)
    ids = tokenizer.encode(text)
    out = [detokenizer.push(ids[i : i + step]) for i in range(0, len(ids), step)]
    out.append(detokenizer.flush())
    return out


@pytest.mark.parametrize("text", TEXTS)
def test_byte_by_byte_pushes_add_up_to_the_whole_decode(text: str) -> None:
    tokenizer = ByteTokenizer()

    out = pieces(tokenizer, text)

    assert "".join(out) == tokenizer.decode(tokenizer.encode(text)) == text
    assert not any("\ufffd" in piece for piece in out)


@pytest.mark.parametrize("step", [2, 3, 5])
def test_pushes_of_several_bytes_add_up_to_the_whole_decode(step: int) -> None:
    tokenizer = ByteTokenizer()
    text = " ".join(TEXTS)

    out = pieces(tokenizer, text, step)

    assert "".join(out) == text
    assert not any("\ufffd" in piece for piece in out)


def test_a_character_comes_out_on_its_last_byte() -> None:
    tokenizer = ByteTokenizer()
    detokenizer = IncrementalDetokenizer(tokenizer)
    first, second, third, fourth = "🌍".encode()

    assert [detokenizer.push([b]) for b in (first, second, third)] == ["", "", ""]
    assert detokenizer.push([fourth]) == "🌍"
    assert detokenizer.push([ord("!")]) == "!"
    assert detokenizer.flush() == ""


def test_ascii_comes_out_at_once() -> None:
    detokenizer = IncrementalDetokenizer(ByteTokenizer())

    assert [detokenizer.push([ord(c)]) for c in "abc"] == ["a", "b", "c"]


def test_flush_releases_an_incomplete_character_as_a_replacement() -> None:
    detokenizer = IncrementalDetokenizer(ByteTokenizer())
    truncated = "🌍".encode()[:2]

    assert detokenizer.push([ord("a"), *truncated]) == ""
    assert detokenizer.flush() == "a\ufffd"


def test_special_tokens_are_skipped_by_default() -> None:
    tokenizer = ByteTokenizer()
    ids = tokenizer.encode("hi<|im_end|>")

    plain = IncrementalDetokenizer(tokenizer)
    kept = IncrementalDetokenizer(tokenizer, skip_special_tokens=False)

    assert "".join(plain.push([i]) for i in ids) + plain.flush() == "hi"
    assert "".join(kept.push([i]) for i in ids) + kept.flush() == "hi<|im_end|>"
