"""The generation settings the chat offers: one control per setting the backend honours."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from infercore._errors import InvalidRequestError

__all__ = ["OPENAI_SAMPLING", "Setting", "offered_settings"]

#: What an OpenAI-compatible server takes by the API's own definition; a server
#: declares no capabilities, so a ``--base-url`` chat offers these.
OPENAI_SAMPLING = frozenset(
    {"temperature", "top_p", "presence_penalty", "frequency_penalty", "seed"}
)


@dataclass(frozen=True)
class Setting:
    """One control: a ``RequestConfig`` field, its range, and the value that changes nothing.

    ``neutral`` is where the control starts unless a flag says otherwise: at it the
    setting leaves sampling as it is, so showing a control never changes an answer.
    ``unset`` is a value the control may hold that sends nothing (the seed's -1).
    """

    name: str
    label: str
    minimum: float
    maximum: float
    step: float
    neutral: float
    info: str
    unset: float | None = None


# In the order the page shows them. The bounds are RequestConfig's.
_SETTINGS = (
    Setting("temperature", "Temperature", 0.0, 2.0, 0.05, 1.0, "0 answers greedily"),
    Setting("top_p", "Top p", 0.01, 1.0, 0.01, 1.0, "sample within this probability mass"),
    Setting("top_k", "Top k", -1, 200, 1, -1, "sample among the k likeliest; -1: all"),
    Setting("min_p", "Min p", 0.0, 1.0, 0.01, 0.0, "drop tokens below this share of the best"),
    Setting("repetition_penalty", "Repetition penalty", 0.5, 2.0, 0.05, 1.0, "1: no penalty"),
    Setting("presence_penalty", "Presence penalty", -2.0, 2.0, 0.1, 0.0, "0: no penalty"),
    Setting("frequency_penalty", "Frequency penalty", -2.0, 2.0, 0.1, 0.0, "0: no penalty"),
    Setting("seed", "Seed", -1, 2**31 - 1, 1, -1, "-1: a new draw each answer", unset=-1),
)


def offered_settings(
    honoured: frozenset[str], initial: Mapping[str, Any]
) -> list[tuple[Setting, Any]]:
    """The controls for the settings in ``honoured``, each with its starting value.

    ``initial`` holds the values given on the command line; one for a setting that is
    not honoured is refused, naming it, rather than dropped.
    """
    names = {setting.name for setting in _SETTINGS}
    for name in initial:
        if name not in names or name not in honoured:
            raise InvalidRequestError(
                f"--{name.replace('_', '-')} is not a setting this backend honours; "
                f"it honours: {', '.join(sorted(honoured & names)) or 'none'}",
                param=name,
            )
    return [
        (setting, initial.get(setting.name, setting.neutral))
        for setting in _SETTINGS
        if setting.name in honoured
    ]
