"""The transformers backend for infercore. The backend loads through the ``infercore`` entry point."""

from infercore_pt._options import PtOptions

__all__ = ["PtOptions"]
