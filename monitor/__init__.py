"""Always-on monitoring: spans in as a stream, incidents out, each explained by the ranking.

Layers: the monitor sits above ``rca`` and below ``evaluation`` and the application; it drives the
stages below it incrementally and adds no detection or ranking logic of its own.
"""

from monitor.errors import MonitorError
from monitor.protocols import Sink, Source

__all__ = ["MonitorError", "Sink", "Source"]
