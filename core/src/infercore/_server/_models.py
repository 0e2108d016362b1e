"""The models a server answers to, by the name clients send as ``model``."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from infercore._engine import Engine
from infercore._errors import InfercoreError
from infercore._openai import APIError

__all__ = ["ModelTable", "ServedModel"]


@dataclass(frozen=True)
class ServedModel:
    """One name on ``/v1/models``: the base model, or a LoRA adapter on it.

    ``adapter`` is the engine's name for the adapter (``InferRequest.adapter``);
    ``None`` for the base model.
    """

    id: str
    root: str
    max_model_len: int
    parent: str | None = None
    adapter: str | None = None
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
        self._models: dict[str, ServedModel] = {}
        for model in models:
            if model.id in self._models:
                raise InfercoreError(f"the name {model.id!r} would serve two models; rename one")
            self._models[model.id] = model
        # The listing never changes while the server runs: encode it once.
        self._listing = json.dumps(
            {"object": "list", "data": [model.card() for model in self._models.values()]}
        ).encode()

    @classmethod
    def for_engine(cls, name: str, engine: Engine) -> ModelTable:
        """The base model as ``name``, and each adapter the engine loaded under its own name."""
        created = int(time.time())
        length = engine.backend.max_model_len
        base = ServedModel(name, engine.model, length, created=created)
        adapters = [
            ServedModel(adapter, path, length, parent=name, adapter=adapter, created=created)
            for adapter, path in engine.adapters.items()
        ]
        return cls([base, *adapters])

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
