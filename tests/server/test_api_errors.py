"""Bodies the JSON API refuses get a 422 that says why — never a 500 from echoing them back."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from llmtrace_server.api_errors import ECHO_CHARS

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
JSON = {"Content-Type": "application/json"}
POSTS = ["/api/v1/scores", "/api/v1/alerts/rules", "/api/v1/alerts/evaluate"]


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity"])
def test_a_score_json_cannot_carry_is_refused_by_name(client: TestClient, number: str) -> None:
    # Python's JSON parser accepts these words; the response encoder does not (it used to 500).
    body = f'{{"scores": [{{"trace_id": "{TRACE_ID}", "name": "quality", "value": {number}}}]}}'
    response = client.post("/api/v1/scores", content=body, headers=JSON)
    assert response.status_code == 422, response.text
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", "scores", 0, "value"]
    assert error["input"] in {"nan", "inf", "-inf"}
    assert client.get("/api/v1/scores").json()["data"] == []  # nothing written


@pytest.mark.parametrize("path", POSTS)
@pytest.mark.parametrize("content_type", ["text/plain", "application/x-protobuf", None])
def test_a_body_that_is_not_utf8_is_refused(client: TestClient, path: str, content_type: str | None) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    response = client.post(path, content=b"\xff\xfe\x00junk", headers=headers)
    assert response.status_code == 422, response.text
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body"]
    assert error["input"] == "\ufffd\ufffd\x00junk"  # echoed as text, bytes it could not read replaced


def test_a_long_refused_input_is_echoed_cut(client: TestClient) -> None:
    body = {"scores": [{"trace_id": "z" * (ECHO_CHARS * 5), "name": "q", "value": 1}]}
    response = client.post("/api/v1/scores", json=body)
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", "scores", 0, "trace_id"]
    assert error["input"] == "z" * ECHO_CHARS + "…"


def test_a_store_that_cannot_take_a_write_is_503_with_retry_after(client: TestClient) -> None:
    store = client.app.state.store  # type: ignore[attr-defined]
    store.client.command(f"DROP TABLE {store.database}.scores SYNC")  # the store refuses the INSERT
    body = {"scores": [{"trace_id": TRACE_ID, "name": "quality", "value": 1}]}
    response = client.post("/api/v1/scores", json=body)
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "1"
    assert response.json()["detail"].startswith("store unavailable: insert into ")


def test_a_read_the_store_cannot_answer_is_503_on_the_api_and_a_page_in_the_ui(client: TestClient) -> None:
    """A ClickHouse error on a read (the store unreachable, out of memory, a table gone) was a 500."""
    store = client.app.state.store  # type: ignore[attr-defined]
    store.client.command(f"DROP TABLE {store.database}.spans SYNC")
    response = client.get("/api/v1/spans")
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "1"
    assert response.json()["detail"] == "store unavailable: UNKNOWN_TABLE; see the server log"  # no SQL
    page = client.get(f"/traces/{TRACE_ID}", headers={"Accept": "text/html"})
    assert page.status_code == 503
    assert page.headers["content-type"].startswith("text/html") and "store unavailable" in page.text
