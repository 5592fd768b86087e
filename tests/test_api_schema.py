"""The API against its own OpenAPI schema: requests generated from the schema (schemathesis, on hypothesis).

For every operation, generated parameters, valid ones and malformed ones, never give a 500, and
every response has a documented status and content type and a body that matches the schema.
schemathesis's pytest plugin does not run under pytest 9, so its strategies are driven by
hypothesis's `@given` here; a few dozen examples per operation and mode keep it to seconds.
"""

import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from resistance_atlas.wsgi import application

pytestmark = pytest.mark.django_db

CHECKS = [status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture
def api_schema(published_atlas, settings):
    settings.API_THROTTLE_RATE = "1000000/minute"
    # As Django's test client does: a request's end must not close the test's database connection.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


def _operations(schema):
    return [result.ok() for result in schema.get_all_operations()]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_api_answers_every_generated_request_as_its_schema_says(api_schema, mode):
    operations = _operations(api_schema)
    assert len(operations) == 13  # a list and a detail view per resource, and search
    seen = set()
    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True,
                  database=None)  # fmt: skip
        def answers_as_documented(case):
            # The WSGI transport does not decompress; gzip has its own test (test_api.py).
            response = case.call_and_validate(checks=CHECKS, headers={"Accept-Encoding": "identity"})
            assert response.status_code < 500
            seen.add(response.status_code)

        if mode == GenerationMode.NEGATIVE and operation.path.endswith(("{slug}/", "{symbol}/")):
            # A free-text path id is the only parameter: no request breaks the schema (hypothesis
            # would search at length before saying so). Their positive cases include odd strings.
            continue
        try:
            answers_as_documented()
        except Unsatisfiable:
            # Only strings and open-ended parameters: nothing in the schema can be broken.
            assert mode == GenerationMode.NEGATIVE, operation.label
    assert 200 in seen if mode == GenerationMode.POSITIVE else {400, 404} & seen
