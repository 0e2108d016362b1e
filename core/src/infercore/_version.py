from importlib import metadata

try:
    __version__ = metadata.version("infercore")
except metadata.PackageNotFoundError:  # running from a source tree
    __version__ = "0+unknown"
