"""Random bodies (hypothesis) against the univariate and Metis routes: never a server error, and
every answer has the route's documented shape (its response model or Azure's/Metis' error body)."""

from __future__ import annotations

import math

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.app import (
    AzureErrorBody,
    MetisEnvelope,
    UnivariateChangePointDetectionResult,
    UnivariateEntireDetectionResult,
    UnivariateLastDetectionResult,
)

AZURE = "/anomalydetector/v1.1/timeseries"
numbers = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.floats(-1e6, 1e6),
    st.integers(-(10**6), 10**6),
)
anything = st.one_of(st.none(), st.booleans(), numbers, st.text(max_size=8))
points = st.lists(
    st.fixed_dictionaries(
        {"value": st.one_of(numbers, anything)},
        optional={"timestamp": st.one_of(st.sampled_from(["2026-01-01T00:00:00Z", "bad"]), anything)},
    ),
    min_size=0,
    max_size=60,
)
azure_body = st.fixed_dictionaries(
    {},
    optional={
        "series": st.one_of(points, anything),
        "granularity": st.one_of(st.sampled_from(["none", "hourly", "minutely", "monthly"]), anything),
        "customInterval": anything,
        "period": st.one_of(st.integers(-2, 30), anything),
        "maxAnomalyRatio": st.one_of(st.floats(-1, 1), anything),
        "sensitivity": st.one_of(st.integers(-5, 105), anything),
        "imputeMode": st.one_of(st.sampled_from(["auto", "fixed", "notFill"]), anything),
        "imputeFixedValue": anything,
        "stableTrendWindow": st.one_of(st.integers(-1, 40), anything),
        "threshold": st.one_of(st.floats(-1, 2), anything),
    },
)
regular = st.lists(st.floats(-1e3, 1e3), min_size=12, max_size=80).map(
    lambda xs: {"series": [{"value": x} for x in xs]}
)
MODELS = {
    "/entire/detect": UnivariateEntireDetectionResult,
    "/last/detect": UnivariateLastDetectionResult,
    "/changepoint/detect": UnivariateChangePointDetectionResult,
}
FUZZ = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def check(r, model):
    assert r.status_code < 500, r.text
    if r.status_code == 200:
        body = model.model_validate(r.json())
        for value in body.model_dump().values():
            if isinstance(value, float):
                assert math.isfinite(value)
    else:
        assert r.status_code == 400
        AzureErrorBody.model_validate(r.json())


@pytest.mark.parametrize("route", sorted(MODELS))
@FUZZ
@given(body=st.one_of(azure_body, regular))
def test_azure_routes_never_fail(server, route, body):
    check(requests.post(server.url + AZURE + route, json=body), MODELS[route])


metis_body = st.fixed_dictionaries(
    {},
    optional=dict.fromkeys(
        ("viewId", "viewName", "attrId", "attrName", "time", "taskId", "window", "dataA", "dataB", "dataC"), anything
    ),
)


@FUZZ
@given(body=st.one_of(metis_body, st.lists(anything, max_size=3), anything))
def test_metis_routes_never_fail(server, body):
    for route in ("/PredictValue", "/PredictRate"):
        r = requests.post(server.url + route, json=body)
        assert r.status_code == 200, r.text
        envelope = MetisEnvelope.model_validate(r.json())
        assert envelope.code in (0, 1002)
