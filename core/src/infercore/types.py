"""Every request and response model, for code that needs more than the top-level names."""

from infercore._types import *  # noqa: F403
from infercore._types import __all__ as __all__
