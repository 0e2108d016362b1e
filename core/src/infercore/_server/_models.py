"""The models a server answers to, by the name clients send as ``model``."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from infercore._server._errors import APIError

__all__ = ["ModelTable", "ServedModel"]


@dataclass(frozen=True)
class ServedModel:
    """One name on ``/v1/models``: the base model, or (later) a LoRA adapter on it."""

    id: str
    root: str
    max_model_len: int
    parent: str | None = None
    created: int = 0

    def card(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "model",
            "created": self.created,
            "owned_by": "infercore",
            "root": self.root,
            "parent": self.parent,
            "max_model_len": self.max_model_len,
        }


class ModelTable:
    """Lookup by served name (404 for any other), and the ``/v1/models`` listing."""

    def __init__(self, models: Iterable[ServedModel]) -> None:
        self._models = {model.id: model for model in models}
        # The listing never changes while the server runs: encode it once.
        self._listing = json.dumps(
            {"object": "list", "data": [model.card() for model in self._models.values()]}
        ).encode()

    @classmethod
    def for_base(cls, name: str, root: str, max_model_len: int) -> ModelTable:
        base = ServedModel(name, root, max_model_len, created=int(time.time()))
        # LoRA adapters join here, one ServedModel(name, path, ..., parent=base.id) each.
        return cls([base])

    @property
    def names(self) -> list[str]:
        return list(self._models)

    def get(self, name: str) -> ServedModel:
        model = self._models.get(name)
        if model is None:
            raise APIError.model_not_found(name, self.names)
        return model

    def listing(self) -> bytes:
        return self._listing

    def card(self, name: str) -> bytes:
        return json.dumps(self.get(name).card()).encode()
