"""Every request and response model, for code that needs more than the top-level names."""

from infercore._embedding_types import *  # noqa: F403
from infercore._embedding_types import __all__ as _embedding_names
from infercore._score_types import *  # noqa: F403
from infercore._score_types import __all__ as _score_names
from infercore._types import *  # noqa: F403
from infercore._types import __all__ as _chat_names

__all__ = [*_chat_names, *_embedding_names, *_score_names]
