"""fairban: evidence-based, explained and appealable measures against fraud accounts."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("fairban")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"
