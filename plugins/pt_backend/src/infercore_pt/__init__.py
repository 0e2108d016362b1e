"""The transformers backend for infercore; it loads through the ``infercore`` entry point."""

from infercore_pt._options import PtOptions

__all__ = ["PtOptions"]
