"""The web chat of ``infercore app``: a gradio page over an Engine or an InferClient.

Importing this package imports gradio (the ``app`` extra).
"""

from infercore._app._page import build_page
from infercore._app._target import ChatTarget

__all__ = ["ChatTarget", "build_page"]
