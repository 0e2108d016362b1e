"""The LMDeploy backend for infercore. The backend loads through the ``infercore`` entry point."""

from infercore_lmdeploy._options import LmdeployOptions

__all__ = ["LmdeployOptions"]
