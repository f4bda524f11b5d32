"""Every example of issue 15, each pinned: a clear error naming what it must, or a correct,
counted result (the catalog and its oracles are benchmarks/malformed_inputs.py, which also runs
all of its inputs and tallies them)."""

from __future__ import annotations

import pytest
from malformed_inputs import CASES, classify

ISSUE_EXAMPLES = [
    # tracebacks of the issue
    "read jaeger start_nan",
    "read jaeger dur_inf",
    "read otlp start_inf",
    "read rcaeval start_nan",
    "read rcaeval dur_inf",
    "read jaeger dur_1e30",
    "read otlp start_int64_overflow",
    "read jaeger deep nesting",
    "rca graph --start nan",
    "rca graph --start inf",
    "rca graph --dot into missing folder",
    "rca detect --train-until word",
    "rca detect times in ms",
    "rca evaluate injected_at word",
    "rca evaluate injected_at ms",
    "localize bucket garbage",
    "localize misspelt method param",
    "rank misspelt kwarg",
    "localize spans service NaN",
    "read_spans(123)",
    "FluxEV(smoothin=1)",
    "rca suite check repetitions 10**9",
    "rca suite check warmup 1000h",
    "rca suite run sim warmup 1000h",
    # silent wrong answers of the issue
    "read jaeger start_in_ms",
    "read jaeger start_in_seconds",
    "read jaeger start_in_ns",
    "read otlp start_in_seconds",
    "read nezha start_in_us",
    "read jaeger dur_400_days",
    "read otlp span_id_zero",
    "read rcaeval dur_text",
    "read rcaeval status_unknown",
    "rca graph empty trace list",
    "rca graph --start after --end",
    "rca evaluate broken label.json, no run.json",
    "rca evaluate injected_at NaN",
    "read jaeger parent_cycle",
    "localize inject 1h late (time zone)",
    "localize inject 2h early",
    "localize inject a year late",
    "localize train_window negative",
    "localize q=-5",
    "fluxev constant training",
    "fluxev values 1e308",
    # vague errors of the issue
    "read csv missing one column",
    "rca evaluate injected_at list",
]
BY_NAME = {c.name: c for c in CASES}


def test_the_examples_are_in_the_catalog():
    assert [name for name in ISSUE_EXAMPLES if name not in BY_NAME] == []


@pytest.mark.parametrize("name", ISSUE_EXAMPLES)
def test_issue_example(name):
    outcome, detail = classify(BY_NAME[name], timeout=30)
    assert outcome in ("error", "correct"), f"{outcome}: {detail}"
