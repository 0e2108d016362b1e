"""Tools for testing backends: the conformance suite and an in-memory fake backend.

Importing this package needs pytest (``pip install 'infercore[test]'``).
"""

from infercore.testing import _fake as fake_plugin
from infercore.testing._conformance import (
    BackendConformance,
    EmbeddingConformance,
    ScoreConformance,
)
from infercore.testing._fake import FakeBackend, FakeOptions
from infercore.testing._files import serving_folder
from infercore.testing._serving import INFERCORE_COMMAND, deployed, free_port, server_env

__all__ = [
    "INFERCORE_COMMAND",
    "BackendConformance",
    "EmbeddingConformance",
    "FakeBackend",
    "FakeOptions",
    "ScoreConformance",
    "deployed",
    "fake_plugin",
    "free_port",
    "server_env",
    "serving_folder",
]
