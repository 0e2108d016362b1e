"""The web chat's own logic, without a browser: the settings offered, uploads under the
media limits, and the conversation as request messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from infercore import InvalidRequestError, MediaLimits
from infercore._app._conversation import Conversation
from infercore._app._settings import OPENAI_SAMPLING, offered_settings
from infercore._app._uploads import upload_part


def test_only_honoured_settings_are_offered_starting_where_they_change_nothing() -> None:
    offered = offered_settings(frozenset({"temperature", "seed"}), {"temperature": 0.0})
    assert [(setting.name, value) for setting, value in offered] == [
        ("temperature", 0.0),
        ("seed", -1),
    ]


def test_a_flag_for_a_setting_not_honoured_is_refused_by_name() -> None:
    with pytest.raises(InvalidRequestError) as caught:
        offered_settings(OPENAI_SAMPLING, {"top_k": 5})
    assert caught.value.param == "top_k"
    assert "--top-k" in str(caught.value)


def test_an_image_upload_travels_inline(tmp_path: Path) -> None:
    image = tmp_path / "dot.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n")
    part = upload_part(str(image), frozenset({"image"}), MediaLimits())
    assert part["type"] == "image_url"
    assert part["image_url"]["url"].startswith("data:image/png;base64,")


@pytest.mark.parametrize(
    ("name", "allowed", "limits", "says"),
    [
        ("big.png", frozenset({"image"}), MediaLimits(image_max_bytes=4), "over the image limit"),
        ("clip.mp4", frozenset({"image"}), MediaLimits(), "takes image"),
        ("notes.txt", frozenset({"image", "audio"}), MediaLimits(), "none of them"),
    ],
)
def test_an_upload_the_model_cannot_take_is_refused(
    tmp_path: Path, name: str, allowed: frozenset[str], limits: MediaLimits, says: str
) -> None:
    path = tmp_path / name
    path.write_bytes(b"0123456789")
    with pytest.raises(InvalidRequestError) as caught:
        upload_part(str(path), allowed, limits)  # type: ignore[arg-type]
    assert caught.value.param == "files"
    assert says in str(caught.value)


def test_the_conversation_sends_its_history_and_asks_the_last_turn_again() -> None:
    chat = Conversation()
    chat.ask("Hi", [], [])
    chat.turns[-1].answer = "Hello!"
    part = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA=="}}
    chat.ask("What is this?", ["/tmp/a.png"], [part])
    chat.turns[-1].answer = "A dot."
    assert chat.forget_last_answer()
    assert chat.messages("Be brief.") == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": [part, {"type": "text", "text": "What is this?"}]},
    ]
    assert chat.display()[-1] == {"role": "user", "content": "What is this?"}
    assert Conversation().messages("") == []
    assert not Conversation().forget_last_answer()
