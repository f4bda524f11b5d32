"""The application: the ``rca`` command line, the demo and plugin loading. No package imports it."""

from core import __version__

__all__ = ["__version__"]
