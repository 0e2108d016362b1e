"""infercore: one API for chat and multimodal inference over interchangeable backends."""

from infercore._backend import (
    SAMPLING_FIELDS,
    Backend,
    BackendOptions,
    Capabilities,
    Delta,
    PoolingRequest,
    PreparedRequest,
    SamplingParams,
    Task,
    Tokenizer,
    TokenLogprobs,
)
from infercore._byte_tokenizer import ByteTokenizer
from infercore._classifier_head import ClassifierHead
from infercore._client import InferClient
from infercore._command import Command
from infercore._detokenize import IncrementalDetokenizer
from infercore._embedding_types import EmbedConfig, EmbeddingResponse
from infercore._engine import Engine, infer
from infercore._errors import (
    AuthenticationError,
    BackendNotInstalledError,
    BackendUnavailableError,
    EngineError,
    InfercoreError,
    InvalidRequestError,
    ModelNotFoundError,
    OverCapacityError,
    ServerUnreachableError,
    UnknownBackendError,
)
from infercore._hookspec import hookimpl
from infercore._jobs._batch import run_batch
from infercore._jobs._dataset import infer_dataset
from infercore._jobs._summary import JobSummary
from infercore._media import (
    MediaError,
    MediaFetcher,
    MediaLimits,
    VideoClip,
    load_audio,
    load_image,
    load_video,
)
from infercore._parsers import (
    ParsedCall,
    ReasoningParser,
    ReasoningParserSpec,
    ToolParser,
    ToolParserSpec,
)
from infercore._plugins import PluginFailure, PluginManager, get_plugin_manager
from infercore._registry import BackendSpec, ModelAlias
from infercore._score_types import (
    ClassificationResponse,
    RerankResponse,
    ScoreConfig,
    ScoreResponse,
    StepScoreResponse,
)
from infercore._stats import InferStats
from infercore._structured import ReasoningTags, StructuredOutput
from infercore._types import (
    ChatCompletionChunk,
    ChatCompletionResponse,
    ChatMessage,
    InferRequest,
    RequestConfig,
    Usage,
)
from infercore._version import __version__

__all__ = [
    "SAMPLING_FIELDS",
    "AuthenticationError",
    "Backend",
    "BackendNotInstalledError",
    "BackendOptions",
    "BackendSpec",
    "BackendUnavailableError",
    "ByteTokenizer",
    "Capabilities",
    "ChatCompletionChunk",
    "ChatCompletionResponse",
    "ChatMessage",
    "ClassificationResponse",
    "ClassifierHead",
    "Command",
    "Delta",
    "EmbedConfig",
    "EmbeddingResponse",
    "Engine",
    "EngineError",
    "IncrementalDetokenizer",
    "InferClient",
    "InferRequest",
    "InferStats",
    "InfercoreError",
    "InvalidRequestError",
    "JobSummary",
    "MediaError",
    "MediaFetcher",
    "MediaLimits",
    "ModelAlias",
    "ModelNotFoundError",
    "OverCapacityError",
    "ParsedCall",
    "PluginFailure",
    "PluginManager",
    "PoolingRequest",
    "PreparedRequest",
    "ReasoningParser",
    "ReasoningParserSpec",
    "ReasoningTags",
    "RequestConfig",
    "RerankResponse",
    "SamplingParams",
    "ScoreConfig",
    "ScoreResponse",
    "ServerUnreachableError",
    "StepScoreResponse",
    "StructuredOutput",
    "Task",
    "TokenLogprobs",
    "Tokenizer",
    "ToolParser",
    "ToolParserSpec",
    "UnknownBackendError",
    "Usage",
    "VideoClip",
    "__version__",
    "get_plugin_manager",
    "hookimpl",
    "infer",
    "infer_dataset",
    "load_audio",
    "load_image",
    "load_video",
    "run_batch",
]
