"""Schemathesis-generated requests against every endpoint in the OpenAPI schema: never a 5xx.

Bounded (a fixed number of examples per operation) so the whole module runs in about a minute;
it runs twice, on a store with five spans and on one with a week of scored traffic.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import otlp_build as ob
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmtrace_server.app import create_app
from llmtrace_server.settings import Settings
from tests.analytics.synth import NOW, Traffic, load
from tests.analytics.synth import spans as synth_spans

EXAMPLES = 40
# Built once at import: the operation list is the parametrisation.
SCHEMA = schemathesis.openapi.from_dict(create_app(Settings()).openapi())
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]


@pytest.fixture(scope="module", params=["five_spans", "a_week_of_traffic"])
def fuzz_client(chdb_dsn: str, request: pytest.FixtureRequest) -> Iterator[TestClient]:
    """Five spans just ingested, or a week of scored traffic in two prompt versions, drifting
    today (the analytics endpoints take other paths on data: the drift report's 500 of issue 18
    needed a few bins of real histograms)."""
    database = f"fuzz_{request.param}"
    app = create_app(Settings(store=chdb_dsn, database=database))
    with TestClient(app, raise_server_exceptions=False) as client:
        spans = [
            ob.span({"gen_ai.request.model": "gpt-4o-mini", "gen_ai.usage.input_tokens": 5}) for _ in range(5)
        ]
        body = ob.request(spans).SerializeToString()
        client.post("/v1/traces", content=body, headers={"Content-Type": "application/x-protobuf"})
        if request.param == "a_week_of_traffic":
            store = client.app.state.store
            load(store, synth_spans(700, NOW - timedelta(days=7), NOW - timedelta(days=1), Traffic(), seed=1))
            changed = Traffic(prompt_version="v2", input_tokens_mean=3000.0)
            load(store, synth_spans(300, NOW - timedelta(days=1), NOW, changed, seed=2))
            load(store, synth_spans(12, NOW - timedelta(hours=3), NOW, Traffic(service="tiny"), seed=3))
        yield client
        client.app.state.store.client.command(f"DROP DATABASE IF EXISTS {database} SYNC")


def send(client: TestClient, case: Any) -> Any:
    kwargs = case.as_transport_kwargs(base_url="http://testserver")
    body = kwargs.pop("data", None)
    if isinstance(body, str | bytes):
        kwargs["content"] = body
    elif body is not None:
        kwargs["data"] = body
    kwargs.pop("cookies", None)
    return client.request(**kwargs)


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: f"{op.method.upper()} {op.path}")
def test_no_5xx(fuzz_client: TestClient, operation: Any) -> None:
    failures: list[str] = []

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
    )
    @given(data=st.data())
    def check(data: st.DataObject) -> None:
        case = data.draw(operation.as_strategy())
        response = send(fuzz_client, case)
        if response.status_code >= 500:
            failures.append(f"{response.status_code} for {case.as_curl_command()}: {response.text[:300]}")

    check()
    assert failures == []
