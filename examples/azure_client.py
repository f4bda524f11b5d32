"""A former Azure Anomaly Detector user's code, pointed at `rca serve` (docs/service.md).

Run `rca serve` (port 8765), then `python examples/azure_client.py [URL]`. The only change from
code written for the cloud is the endpoint: the official SDK (`pip install
azure-ai-anomalydetector==3.0.0b6`) is used as it is.
"""

from __future__ import annotations

import math
import sys

from azure.ai.anomalydetector import AnomalyDetectorClient
from azure.ai.anomalydetector.models import TimeSeriesPoint, UnivariateDetectionOptions
from azure.core.credentials import AzureKeyCredential


def main(endpoint: str = "http://127.0.0.1:8765", key: str = "any") -> list[int]:
    """The anomalous points of a daily cycle with one spike, by entire/detect."""
    values = [10 + math.sin(2 * math.pi * i / 24) + 0.05 * math.sin(7.3 * i) for i in range(240)]
    values[150] += 5
    series = [
        TimeSeriesPoint(timestamp=f"2026-01-{1 + i // 24:02d}T{i % 24:02d}:00:00Z", value=v)
        for i, v in enumerate(values)
    ]
    with AnomalyDetectorClient(endpoint, AzureKeyCredential(key)) as client:
        result = client.detect_univariate_entire_series(UnivariateDetectionOptions(series=series, granularity="hourly"))
    anomalies = [i for i, flag in enumerate(result.is_anomaly) if flag]
    print(f"period {result.period}; anomalies at {anomalies}")
    return anomalies


if __name__ == "__main__":
    main(*sys.argv[1:2])
