"""A schemathesis run over the server's own OpenAPI schema: whatever a client sends,
the server answers with a documented status and shape, and never with a 5xx.

The schemathesis pytest plugin does not run under this pytest, so the test drives
its Python API: each operation's positive and negative strategies, a few dozen
examples each, against a real server that requires a token, with every default
check (auth included) except ``positive_data_acceptance``: a schema-valid body may
still hold an invalid scenario, a stale cursor or a step already passed, and those
are rightly 4xx. The event streams (endless) are left out.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import BaseSchema, Case, CheckFunction, GenerationMode
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

from apart.runs.liveness import this_process_owner
from tests.helpers import execute
from tests.integration.test_api_support import api_server, submit

pytest_plugins = ["tests.integration.test_api_support"]

EXAMPLES = 50
TOKEN = "schemathesis-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
#: checks that ask more than the API promises: schema-valid data may still be refused
#: (an invalid scenario, a stale cursor, a step already passed), and unknown query
#: parameters are ignored, as HTTP APIs customarily do
LENIENT: list[CheckFunction] = [positive_data_acceptance, negative_data_rejection]


@pytest.fixture
def api_schema(tmp_path: Path, redis_db: redis.Redis) -> Iterator[BaseSchema]:
    """The schema of a server that holds runs in several states."""
    with api_server(tmp_path, token=TOKEN) as api:
        http = api.client(token=TOKEN)
        for run_id in ("pending-run", "paused-run", "running-run", "completed-run"):
            submit(http, run_id)
        http.post("/api/v1/runs/paused-run/pause")
        api.store.claim("running-run", this_process_owner())
        execute(api.store, "completed-run")
        yield schemathesis.openapi.from_url(f"{api.url}/openapi.json")


def test_no_request_makes_the_server_fail(api_schema: BaseSchema) -> None:
    operations = [result.ok() for result in api_schema.get_all_operations()]  # type: ignore[union-attr]
    tested = [op for op in operations if not op.path.endswith("/events")]
    assert len(tested) == 11
    started = time.monotonic()
    for operation in tested:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                      phases=[Phase.explicit, Phase.generate],
                      suppress_health_check=list(HealthCheck))
            def check(case: Case) -> None:
                case.call_and_validate(headers=AUTH, excluded_checks=LENIENT)

            try:
                check()
            except Unsatisfiable:  # nothing to break in a request without parameters
                assert mode == GenerationMode.NEGATIVE, operation.label
    print(f"schemathesis: {len(tested)} operations in {time.monotonic() - started:.1f} s")
