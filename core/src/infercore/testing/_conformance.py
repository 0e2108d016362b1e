"""The conformance suite every backend passes.

A backend's test module subclasses :class:`BackendConformance` and names the
backend, a model and options; pytest collects the inherited tests. Tests for
a feature the backend does not declare in its :class:`~infercore.Capabilities`
are skipped, not failed.
"""

from __future__ import annotations

from infercore.testing._contract_suite import ContractTests
from infercore.testing._embedding_suite import EmbeddingTests
from infercore.testing._generation_suite import GenerationTests
from infercore.testing._score_suite import ScoreTests
from infercore.testing._structured_suite import StructuredTests

__all__ = ["BackendConformance", "EmbeddingConformance", "ScoreConformance"]


class BackendConformance(
    GenerationTests, StructuredTests, ContractTests, EmbeddingTests, ScoreTests
):
    """Inherit from this class in a test module to run the suite on a backend.

    ``backend``, ``model`` and ``options`` say how to build the engine; one
    engine is shared by the whole class. ``max_tokens`` bounds every test's
    generation so the suite stays quick on a CPU. Override the ``adapters``
    fixture (two LoRA adapters for the model) and the ``media_engine`` fixture
    (an engine of the backend on a model that takes images) where the backend
    declares LoRA and images; the tests that need them skip otherwise. Structured
    output is checked where the backend declares ``structured_output``, and must
    be refused where it does not. A backend that declares the ``embed`` task names
    an embedding model in ``embed_model`` (and its options in ``embed_options``)
    for the embedding tests. A backend that declares ``classify`` or ``score``
    overrides the ``classify_model`` and ``score_model`` fixtures (a sequence
    classifier, and a cross-encoder of one label) for the score tests.
    """


class EmbeddingConformance(EmbeddingTests):
    """The embedding tests alone, on one engine loaded with ``task="embed"``: for a
    test module that starts no generation engine (an expensive engine's, say)."""


class ScoreConformance(ScoreTests):
    """The classification and score tests alone: for a test module that starts no
    generation engine (an expensive engine's, say)."""
