"""Always-on monitoring: spans in as a stream, incidents out, each explained by the ranking.

Layers: the monitor sits above ``rca`` and below ``evaluation`` and the application; it drives the
stages below it incrementally and adds no detection or ranking logic of its own.
"""

from monitor.buckets import ClosedBucket, StreamingBuckets
from monitor.errors import MonitorError
from monitor.incidents import Incident, IncidentTracker
from monitor.monitor import MONITOR_FLUXEV, Monitor, MonitorConfig
from monitor.protocols import Sink, Source
from monitor.series import Alarm, SeriesModel

__all__ = [
    "MONITOR_FLUXEV",
    "Alarm",
    "ClosedBucket",
    "Incident",
    "IncidentTracker",
    "Monitor",
    "MonitorConfig",
    "MonitorError",
    "SeriesModel",
    "Sink",
    "Source",
    "StreamingBuckets",
]
