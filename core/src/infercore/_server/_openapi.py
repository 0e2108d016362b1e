"""The OpenAPI document of the server's routes, from the models the routes validate with.

The generation routes are plain ASGI callables that FastAPI cannot describe, so
their part of the document is written here: the request bodies are the JSON
schemas of :class:`ChatCompletionRequest`, :class:`CompletionRequest`, :class:`EmbeddingRequest`
and the score routes' bodies themselves, and the answers those of the models they are
serialised from.
:class:`OpenAPIRoute` serves it, as a route like any other (behind the key).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema
from starlette.types import Receive, Scope, Send

from infercore._embedding_types import EmbeddingResponse
from infercore._openai import (
    ChatCompletionRequest,
    ClassifyRequest,
    Completion,
    CompletionRequest,
    EmbeddingRequest,
    RerankRequest,
    ScoreRequest,
    StepScoreRequest,
)
from infercore._score_types import (
    ClassificationResponse,
    RerankResponse,
    ScoreResponse,
    StepScoreResponse,
)
from infercore._server._http import send_bytes
from infercore._types import ChatCompletionChunk, ChatCompletionResponse

__all__ = ["OpenAPIRoute", "add_openai_routes"]

_SCHEMAS = "#/components/schemas/"

_ERROR = {
    "type": "object",
    "description": "Every error, in OpenAI's shape.",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "message": {"type": "string"},
                "type": {"type": "string"},
                "param": {"type": ["string", "null"]},
                "code": {"type": ["string", "null"]},
            },
            "required": ["message", "type", "param", "code"],
        }
    },
    "required": ["error"],
}
_MODEL = {
    "type": "object",
    "properties": {
        "id": {"type": "string", "description": "the name clients send as model"},
        "object": {"const": "model"},
        "created": {"type": "integer"},
        "owned_by": {"type": "string"},
        "root": {"type": "string", "description": "the model or adapter path"},
        "parent": {"type": ["string", "null"], "description": "an adapter's base model"},
        "max_model_len": {"type": "integer"},
    },
    "required": ["id", "object", "created", "owned_by", "root", "parent", "max_model_len"],
}
_MODEL_LIST = {
    "type": "object",
    "properties": {
        "object": {"const": "list"},
        "data": {"type": "array", "items": {"$ref": _SCHEMAS + "Model"}},
    },
    "required": ["object", "data"],
}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


_ERRORS = {"default": {"description": "an error", "content": _json({"$ref": _SCHEMAS + "Error"})}}


def _generation(
    summary: str, body: dict[str, Any], answer: dict[str, Any], chunk: dict[str, Any]
) -> dict[str, Any]:
    events = (
        'with "stream": true, server-sent events: "data: " and a chunk '
        f'({chunk["$ref"].removeprefix(_SCHEMAS)}) as JSON each, then "data: [DONE]"'
    )
    return {
        "post": {
            "summary": summary,
            "requestBody": {"required": True, "content": _json(body)},
            "responses": {
                "200": {
                    "description": "the answer, or its stream",
                    "content": {
                        **_json(answer),
                        "text/event-stream": {"schema": {"type": "string", "description": events}},
                    },
                },
                **_ERRORS,
            },
        }
    }


def _post(summary: str, body: dict[str, Any], answer: dict[str, Any]) -> dict[str, Any]:
    ok = {"description": "the answer", "content": _json(answer)}
    request = {"required": True, "content": _json(body)}
    return {
        "post": {"summary": summary, "requestBody": request, "responses": {"200": ok, **_ERRORS}}
    }


def _get(summary: str, content: dict[str, Any], **extra: Any) -> dict[str, Any]:
    ok = {"description": summary, "content": content}
    return {"get": {"summary": summary, **extra, "responses": {"200": ok, **_ERRORS}}}


def add_openai_routes(document: dict[str, Any], *, keyed: bool) -> None:
    """Add the server's routes and their schemas to ``document`` (FastAPI's own).

    ``keyed``: every route but ``/health`` needs ``Authorization: Bearer KEY``.
    """
    refs, schemas = models_json_schema(
        [
            (ChatCompletionRequest, "validation"),
            (CompletionRequest, "validation"),
            (ChatCompletionResponse, "serialization"),
            (ChatCompletionChunk, "serialization"),
            (Completion, "serialization"),
            (EmbeddingRequest, "validation"),
            (EmbeddingResponse, "serialization"),
            (ClassifyRequest, "validation"),
            (ClassificationResponse, "serialization"),
            (ScoreRequest, "validation"),
            (ScoreResponse, "serialization"),
            (RerankRequest, "validation"),
            (RerankResponse, "serialization"),
            (StepScoreRequest, "validation"),
            (StepScoreResponse, "serialization"),
        ],
        ref_template=_SCHEMAS + "{model}",
    )

    def ref(model: type[BaseModel], mode: JsonSchemaMode) -> dict[str, Any]:
        return dict(refs[model, mode])

    model_name = {
        "name": "model",
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
    }
    paths = {
        "/v1/chat/completions": _generation(
            "A chat completion",
            ref(ChatCompletionRequest, "validation"),
            ref(ChatCompletionResponse, "serialization"),
            ref(ChatCompletionChunk, "serialization"),
        ),
        "/v1/completions": _generation(
            "A completion of a raw prompt, without a chat template",
            ref(CompletionRequest, "validation"),
            ref(Completion, "serialization"),
            ref(Completion, "serialization"),
        ),
        "/v1/embeddings": _post(
            "Embeddings of texts or token ids (an engine loaded with task=embed)",
            ref(EmbeddingRequest, "validation"),
            ref(EmbeddingResponse, "serialization"),
        ),
        "/v1/classify": _post(
            "Each input's class (task=classify); also at /classify",
            ref(ClassifyRequest, "validation"),
            ref(ClassificationResponse, "serialization"),
        ),
        "/v1/score": _post(
            "The score of each (text_1, text_2) pair (task=score); also at /score",
            ref(ScoreRequest, "validation"),
            ref(ScoreResponse, "serialization"),
        ),
        "/v1/rerank": _post(
            "Documents ranked by relevance to a query (task=score); also at /rerank, /v2/rerank",
            ref(RerankRequest, "validation"),
            ref(RerankResponse, "serialization"),
        ),
        "/pooling": _post(
            "A process reward model's scores at each step tag (task=token_classify); "
            "also at /v1/pooling",
            ref(StepScoreRequest, "validation"),
            ref(StepScoreResponse, "serialization"),
        ),
        "/v1/models": _get("The served models", _json({"$ref": _SCHEMAS + "ModelList"})),
        "/v1/models/{model}": _get(
            "One served model", _json({"$ref": _SCHEMAS + "Model"}), parameters=[model_name]
        ),
        "/health": _get(
            "200 while serving, 503 once shutting down; needs no key",
            _json({"type": "object", "properties": {"status": {"const": "ok"}}}),
            security=[],
        ),
        "/metrics": _get("Prometheus metrics", {"text/plain": {"schema": {"type": "string"}}}),
        "/openapi.json": _get("This document", _json({"type": "object"})),
    }
    document.setdefault("paths", {}).update(paths)
    components = document.setdefault("components", {})
    components.setdefault("schemas", {}).update(
        {**schemas["$defs"], "Error": _ERROR, "Model": _MODEL, "ModelList": _MODEL_LIST}
    )
    if keyed:
        bearer = {"type": "http", "scheme": "bearer"}
        components.setdefault("securitySchemes", {})["bearer"] = bearer
        document["security"] = [{"bearer": []}]


class OpenAPIRoute:
    """``GET /openapi.json``: the app's document, built on the first request and kept."""

    def __init__(self, document: Callable[[], dict[str, Any]]) -> None:
        self._document = document
        self._body: bytes | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._body is None:
            self._body = json.dumps(self._document()).encode()
        await send_bytes(send, 200, self._body)
