"""One browser's conversation: what the model is sent, and what the page shows."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Conversation", "Turn"]


@dataclass
class Turn:
    """A question (its text and uploaded files) and the answer so far."""

    text: str
    files: list[str]
    #: The files as content parts, made once when the question is asked.
    parts: list[dict[str, Any]]
    answer: str = ""


@dataclass
class Conversation:
    """The turns of one chat, oldest first; the page's state for its browser tab."""

    turns: list[Turn] = field(default_factory=list)

    def ask(self, text: str, files: list[str], parts: list[dict[str, Any]]) -> None:
        self.turns.append(Turn(text, files, parts))

    def forget_last_answer(self) -> bool:
        """Empty the last answer so that it is asked again; False when there is no turn."""
        if not self.turns:
            return False
        self.turns[-1].answer = ""
        return True

    def messages(self, system: str) -> list[dict[str, Any]]:
        """The request's messages: the system prompt, every turn, the last one unanswered."""
        head = [{"role": "system", "content": system}] if system.strip() else []
        messages: list[dict[str, Any]] = head
        for index, turn in enumerate(self.turns):
            content: str | list[dict[str, Any]] = (
                [*turn.parts, {"type": "text", "text": turn.text}] if turn.parts else turn.text
            )
            messages.append({"role": "user", "content": content})
            if index < len(self.turns) - 1:
                messages.append({"role": "assistant", "content": turn.answer})
        return messages

    def display(self) -> list[dict[str, Any]]:
        """The turns as the chatbot's messages: files first, then the text, then the answer."""
        shown: list[dict[str, Any]] = []
        for turn in self.turns:
            shown.extend({"role": "user", "content": {"path": path}} for path in turn.files)
            if turn.text:
                shown.append({"role": "user", "content": turn.text})
            if turn.answer:
                shown.append({"role": "assistant", "content": turn.answer})
        return shown
