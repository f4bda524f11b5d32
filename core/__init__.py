"""The framework's base: one exception root, one time parser, the detector protocol.

Every other package of the framework may import this one; it imports none of them.
"""

from core.detector import DetectionResult, Detector, DetectorError, PointResult, UnmodelledSeries
from core.errors import FrameworkError, InputError
from core.times import (
    bucket_floor,
    format_duration,
    format_time,
    optional_timestamp,
    to_datetime_index,
    to_seconds,
    to_timedelta,
    to_timestamp,
    to_us,
)

__version__ = "0.2.0"

__all__ = [
    "DetectionResult",
    "Detector",
    "DetectorError",
    "FrameworkError",
    "InputError",
    "PointResult",
    "UnmodelledSeries",
    "__version__",
    "bucket_floor",
    "format_duration",
    "format_time",
    "optional_timestamp",
    "to_datetime_index",
    "to_seconds",
    "to_timedelta",
    "to_timestamp",
    "to_us",
]
