"""The public API: exactly these names, each importable; and no torch on import."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys

import pytest

import infercore
import infercore.export
import infercore.testing

EXPECTED_INFERCORE = {
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
    "ReasoningParser",
    "ReasoningParserSpec",
    "ReasoningTags",
    "ToolParser",
    "ToolParserSpec",
    "ServerUnreachableError",
    "StepScoreResponse",
    "StructuredOutput",
    "PluginFailure",
    "PluginManager",
    "PoolingRequest",
    "PreparedRequest",
    "RequestConfig",
    "RerankResponse",
    "SamplingParams",
    "ScoreConfig",
    "ScoreResponse",
    "Task",
    "TokenLogprobs",
    "Tokenizer",
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
}
EXPECTED_TESTING = {
    "BackendConformance",
    "EmbeddingConformance",
    "FakeBackend",
    "FakeOptions",
    "ScoreConformance",
    "fake_plugin",
    "INFERCORE_COMMAND",
    "deployed",
    "free_port",
    "server_env",
    "serving_folder",
}

EXPECTED_EXPORT = {"DTYPES", "QUANT_METHODS", "QuantMethod", "export", "merge_lora", "quantize"}


def test_infercore_exports_exactly_the_public_names() -> None:
    assert set(infercore.__all__) == EXPECTED_INFERCORE
    assert len(infercore.__all__) == len(EXPECTED_INFERCORE), "a name is listed twice"


def test_infercore_testing_exports_exactly_the_public_names() -> None:
    assert set(infercore.testing.__all__) == EXPECTED_TESTING
    assert len(infercore.testing.__all__) == len(EXPECTED_TESTING), "a name is listed twice"


def test_infercore_export_exports_exactly_the_public_names() -> None:
    assert sorted(infercore.export.__all__) == sorted(EXPECTED_EXPORT)


@pytest.mark.parametrize(
    ("module", "expected"),
    [
        ("infercore", EXPECTED_INFERCORE),
        ("infercore.testing", EXPECTED_TESTING),
        ("infercore.export", EXPECTED_EXPORT),
    ],
)
def test_every_public_name_is_importable(module: str, expected: set[str]) -> None:
    namespace: dict[str, object] = {}
    exec(f"from {module} import {', '.join(sorted(expected))}", namespace)

    assert all(namespace[name] is not None for name in expected)


def test_every_public_error_is_an_infercore_error() -> None:
    errors = [getattr(infercore, name) for name in EXPECTED_INFERCORE if name.endswith("Error")]
    assert len(errors) == 11
    assert all(issubclass(error, infercore.InfercoreError) for error in errors)


def test_types_module_exports_every_model_it_lists() -> None:
    types = importlib.import_module("infercore.types")
    assert {"InferRequest", "RequestConfig", "ChatCompletionChunk"} <= set(types.__all__)
    assert all(hasattr(types, name) for name in types.__all__)


def _python(code: str, *, autoload: bool) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.pop("INFERCORE_DISABLE_PLUGINS", None)
    if autoload:
        env.pop("INFERCORE_PLUGINS", None)
    else:
        env["INFERCORE_PLUGINS"] = ""
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )


def test_importing_the_core_and_its_testing_and_export_packages_imports_no_torch() -> None:
    result = _python(
        "import sys, infercore, infercore.export, infercore.testing\n"
        "print(sorted(m for m in ('torch', 'transformers', 'vllm') if m in sys.modules))",
        autoload=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_loading_every_installed_plugin_and_probing_imports_no_torch() -> None:
    # Registration and availability probes must stay cheap: `infercore backends` runs
    # them on machines without any accelerator stack.
    result = _python(
        "import sys, infercore\n"
        "registry = infercore.get_plugin_manager().registry\n"
        "[entry.available for entry in registry.backends.values()]\n"
        "print(sorted(m for m in ('torch', 'transformers', 'vllm') if m in sys.modules))",
        autoload=True,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
