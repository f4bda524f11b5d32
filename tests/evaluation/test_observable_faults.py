"""Which faults a monitor could observe at all (evaluation/end_to_end.py, a diagnostic beside recall)."""

import numpy as np
import pandas as pd

from evaluation.end_to_end import observable_faults
from evaluation.streams import Fault

T0 = 1_699_999_980  # a multiple of 30 s: 2023-11-14T22:13:00Z
WARMUP, BUCKET = pd.Timedelta("5min"), pd.Timedelta("30s")


def _fault(name: str, at_s: float) -> Fault:
    return Fault(name, ["svc"], "delay", pd.Timestamp(T0 + at_s, unit="s", tz="UTC"), None)


def test_warm_up_of_buckets_before_and_two_buckets_after():
    # data every second for 0-600 s, nothing 600-900 s, data again 900-915 s and 1000-1400 s
    seconds = np.concatenate([np.arange(0, 600), np.arange(900, 915), np.arange(1000, 1400)]) + T0
    faults = [
        _fault("too-early", 200),  # 6 buckets of history (0-180 s) < 10
        _fault("just-enough", 300),  # buckets 0..270 s: 10 before, and data after
        _fault("in-the-gap", 700),  # its window (bucket 690 s to 880 s) holds no data
        _fault("gap-then-data", 840),  # after it (840-1020 s): buckets 900 and 990 s (1000-1019 s)
    ]
    seen = observable_faults(faults, seconds, WARMUP, BUCKET, pd.Timedelta("180s"))
    assert [f.fault_id for f in seen] == ["just-enough", "gap-then-data"]


def test_the_injection_bucket_counts_after_and_a_single_bucket_is_not_enough():
    seconds = np.arange(0, 615) + T0  # data ends 15 s into the bucket at 600 s
    assert observable_faults([_fault("one-bucket", 605)], seconds, WARMUP, BUCKET) == []
    seconds = np.arange(0, 640) + T0  # and one more bucket (630 s)
    assert [f.fault_id for f in observable_faults([_fault("two", 605)], seconds, WARMUP, BUCKET)] == ["two"]
