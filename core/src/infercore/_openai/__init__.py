"""The OpenAI wire format, both ways: what the server reads and writes, and what the
client sends and reads back. No HTTP library is imported here.

=================  ================================================================
module             holds
=================  ================================================================
``_requests``      the server's request bodies (``ChatCompletionRequest``,
                   ``CompletionRequest``): RequestConfig plus the OpenAI fields, what
                   cannot be honoured refused by name; the engine's request and config
``_embeddings``    the ``/v1/embeddings`` body (``EmbeddingRequest``) and the
                   client's body and answer for it
``_scores``        the ``/v1/classify``, ``/v1/score``, ``/v1/rerank`` and ``/pooling`` bodies
                   (vLLM's shapes) and the client's bodies for them
``_completions``   the ``text_completion`` shape from the engine's chat responses
``_calls``         the client's calls: requests as bodies, answers (chat and
                   ``text_completion``) as the engine's types; the API root of a URL
``_errors``        the error shape: engine and validation errors as ``APIError`` on
                   the server, error answers as typed errors on the client
``_sse``           server-sent events: the server's framing, the client's decoder
=================  ================================================================
"""

from infercore._openai._calls import (
    WireCall,
    api_root,
    first_model,
    model_ids,
    parse_chunk,
    parse_response,
    wire_call,
)
from infercore._openai._completions import Completion, CompletionStream, completion_from_chat
from infercore._openai._embeddings import (
    EmbeddingRequest,
    embedding_body,
)
from infercore._openai._errors import (
    APIError,
    error_for_status,
    error_from_event,
    from_engine_error,
    from_validation_error,
)
from infercore._openai._requests import ChatCompletionRequest, CompletionRequest, GenerationBody
from infercore._openai._scores import (
    ClassifyRequest,
    RerankRequest,
    ScoreRequest,
    StepScoreRequest,
    classify_body,
    rerank_body,
    score_body,
    step_score_body,
)
from infercore._openai._sse import SSE_DONE, SSEDecoder, sse_event

__all__ = [
    "SSE_DONE",
    "APIError",
    "ChatCompletionRequest",
    "ClassifyRequest",
    "Completion",
    "CompletionRequest",
    "CompletionStream",
    "EmbeddingRequest",
    "GenerationBody",
    "RerankRequest",
    "SSEDecoder",
    "ScoreRequest",
    "StepScoreRequest",
    "WireCall",
    "api_root",
    "classify_body",
    "completion_from_chat",
    "embedding_body",
    "error_for_status",
    "error_from_event",
    "first_model",
    "from_engine_error",
    "from_validation_error",
    "model_ids",
    "parse_chunk",
    "parse_response",
    "rerank_body",
    "score_body",
    "sse_event",
    "step_score_body",
    "wire_call",
]
