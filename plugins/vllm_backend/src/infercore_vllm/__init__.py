"""The vLLM backend for infercore. The backend loads through the ``infercore`` entry point."""

from infercore_vllm._options import VllmOptions

__all__ = ["VllmOptions"]
