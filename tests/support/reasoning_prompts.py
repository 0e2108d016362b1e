"""Conversations that make SmolLM2 think before it answers, for the tests of structured
output after a reasoning model's thinking (pt and vLLM)."""

from __future__ import annotations

import json

__all__ = ["PLACE_SCHEMA", "thinking_examples"]


def thinking_examples(subject: str) -> list[dict[str, str]]:
    """A conversation whose earlier answers think, then answer in JSON: SmolLM2 follows
    them, so its answer to the last question thinks before its JSON."""
    messages = []
    for city, country in [("Paris", "France"), ("Rome", "Italy"), ("Tokyo", "Japan")]:
        answer = json.dumps({"name": city, "country": country})
        messages += [
            {"role": "user", "content": f"Describe {city} as JSON."},
            {"role": "assistant", "content": f"<think>{city} is in {country}.</think>\n{answer}"},
        ]
    return [*messages, {"role": "user", "content": f"Describe {subject} as JSON."}]


PLACE_SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 20},
        "country": {"type": "string", "maxLength": 20},
    },
    "required": ["name", "country"],
}
