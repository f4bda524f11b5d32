"""schemathesis against the service's own ``/openapi.json`` (in process, no network): over every
operation, bounded and derandomized, no server error (5xx), no undocumented status code and no
response that violates the documented schema, for valid (positive) and invalid (negative) requests.

schemathesis' pytest plugin does not run under this pytest (``Function._nodeid`` is gone), so each
operation's strategy is driven by hypothesis directly."""

from __future__ import annotations

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis.errors import Unsatisfiable  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.checks import (  # noqa: E402
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from service import create_app  # noqa: E402

CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance]
EXAMPLES = {GenerationMode.POSITIVE: 10, GenerationMode.NEGATIVE: 5}


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory):
    app = create_app(tmp_path_factory.mktemp("data"), mv_detector="pca")
    yield schemathesis.openapi.from_asgi("/openapi.json", app)
    app.state.service.close()


@pytest.mark.parametrize("mode", list(GenerationMode), ids=lambda m: m.value)
def test_openapi_contract(api_schema, mode):
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 21  # every Azure and Metis route is in the document
    failures = []
    for operation in operations:

        @settings(
            max_examples=EXAMPLES[mode],
            deadline=None,
            derandomize=True,
            database=None,
            phases=[Phase.explicit, Phase.generate],  # no shrinking: bounded time
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(generation_mode=mode))
        def run(case):
            case.call_and_validate(checks=CHECKS)

        try:
            run()
        except Unsatisfiable:  # nothing to make invalid (a route without parameters)
            assert mode is GenerationMode.NEGATIVE
        except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - a FailureGroup, or a server exception
            failures.append(f"{operation.label}: {str(exc)[:2000]}")
    assert not failures, "\n\n".join(failures)
