"""The queueing approximation: hand-computed values and its effect on simulated traces."""

from __future__ import annotations

import numpy as np
import pytest

from chaos_scenarios.simulator import SimBackend
from chaos_scenarios.simulator.engine import queue_waits


def test_single_worker_matches_mm1_waiting_time():
    # 100 calls of 5 ms in one second on one worker: rho = 0.5, M/M/1 Wq = S rho / (1 - rho) = 5 ms
    pods = np.zeros(100, dtype=np.int64)
    slices = np.zeros(100, dtype=np.int64)
    wait = queue_waits(pods, slices, np.full(100, 0.005), np.array([1]), n_slices=2)
    assert wait[0, 0] == pytest.approx(0.005)
    assert wait[0, 1] == 0.0


def test_sakasegawa_for_several_workers():
    # c = 3, rho = 0.6, E[S] = 10 ms: Wq = 0.01 * 0.6 ** (sqrt(8) - 1) / (3 * 0.4)
    n = 180
    wait = queue_waits(
        np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64), np.full(n, 0.01), np.array([3]), n_slices=1
    )
    assert wait[0, 0] == pytest.approx(0.01 * 0.6 ** (np.sqrt(8) - 1) / 1.2)


def test_overload_builds_a_backlog_that_drains():
    # slice 0: 3 s of work on 1 worker (2 s too much), slice 1: 0.5 s, slice 2: nothing
    work = np.array([1.0, 1.0, 1.0, 0.5])
    slices = np.array([0, 0, 0, 1])
    wait = queue_waits(np.zeros(4, dtype=np.int64), slices, work, np.array([1]), n_slices=4)
    backlog = wait[0] - np.array([1.0 * 0.95 / 0.05, 0.5 * 0.5 / 0.5, 0.0, 0.0])
    assert backlog == pytest.approx([0.0, 2.0, 1.5, 0.5])


def test_more_users_queue_on_the_single_worker_currency_service():
    def p90_ms(users: float) -> float:
        b = SimBackend(seed=9, users=users)
        s = b.collect_spans(b.now(), b.now() + 30)
        own = s[(s["service"] == "currencyservice") & (s["kind"] == "server")]
        return float(own["duration_us"].quantile(0.9)) / 1000

    assert p90_ms(800) > 2 * p90_ms(100)
