"""Which LLM call a score counts for (docs/analytics.md, "Which call a score counts for").

Traces of several calls: a function span (what ``llmtrace.score()`` inside ``@llmtrace.trace``
scores), a ``classify`` v3 call, a ``summarize`` v7 call, then a call without a prompt. Scores on
the function span or on the whole trace (as ``POST /api/v1/scores`` sends them) count for
``summarize`` v7; a score on the ``classify`` call counts for it. Trends, regressions and drift all
read through the same rule.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from llmtrace.store.queries.drift import Windows, score_histogram
from llmtrace.store.queries.regressions import Cohorts, score_summaries
from llmtrace.store.queries.trends import score_trends
from tests.analytics.synth import NOW, Traffic, spans

_TEMPLATE = spans(1, NOW - timedelta(hours=3), NOW, Traffic(), seed=1)[0][0]


def _span(trace: int, span: int, kind: str, minute: int, **columns: Any) -> dict[str, Any]:
    row = dict(_TEMPLATE)
    start = NOW - timedelta(hours=2) + timedelta(minutes=minute)
    row.update(
        project="default",
        trace_id=f"{trace:032x}",
        span_id=f"{span:016x}",
        name=kind,
        kind=kind,
        service_name="bot",
        start_time=start,
        end_time=start + timedelta(seconds=1),
        duration_ms=1000.0,
        status="ok",
        prompt_name="",
        prompt_version="",
        request_model="",
        response_model="",
    )
    row.update(columns)
    return row


def _trace_spans(trace: int) -> list[dict[str, Any]]:
    base = trace * 16
    return [
        _span(trace, base + 1, "span", 0),
        _span(
            trace,
            base + 2,
            "llm",
            1,
            prompt_name="classify",
            prompt_version="3",
            request_model="gpt-4o-mini",
            response_model="gpt-4o-mini",
        ),
        _span(
            trace,
            base + 3,
            "llm",
            2,
            prompt_name="summarize",
            prompt_version="7",
            request_model="gpt-4o",
            response_model="gpt-4o",
        ),
        _span(
            trace, base + 4, "llm", 3, request_model="omni-moderation", response_model="omni-moderation"
        ),  # no prompt: not the scored call
    ]


def _score(trace: int, span: int | None, name: str, value: float) -> dict[str, Any]:
    return {
        "project": "default",
        "trace_id": f"{trace:032x}",
        "span_id": "" if span is None else f"{span:016x}",
        "name": name,
        "value": value,
        "label": "",
        "source": "sdk" if span is not None else "api",
        "comment": "",
        "timestamp": NOW - timedelta(hours=1),
    }


def _trends(store: Any, name: str, **filters: str | None) -> dict[tuple[str, str], tuple[int, float]]:
    rows = score_trends(
        store,
        "default",
        name=name,
        interval="1d",
        since=NOW - timedelta(days=2),
        until=NOW + timedelta(hours=1),
        group_by=["prompt_version", "model"],
        filters=filters,
        pass_threshold=0.5,
    )
    return {(r["g_prompt_version"], r["g_model"]): (r["n"], r["mean"]) for r in rows}


def test_scores_count_for_the_scored_call_or_the_traces_last_prompted_call(store) -> None:
    store.insert_spans([row for trace in (1, 2, 3) for row in _trace_spans(trace)])
    store.insert_scores(
        [
            _score(1, 1 * 16 + 1, "helpfulness", 0.8),  # the function span, as the SDK scores it
            _score(2, None, "helpfulness", 0.4),  # the whole trace, as the API scores it later
            _score(3, 3 * 16 + 2, "helpfulness", 0.1),  # the classify call itself
        ]
    )
    trends = _trends(store, "helpfulness")
    assert set(trends) == {("7", "gpt-4o"), ("3", "gpt-4o-mini")}
    n, mean = trends[("7", "gpt-4o")]
    assert n == 2 and abs(mean - 0.6) < 1e-12
    assert trends[("3", "gpt-4o-mini")] == (1, 0.1)
    # A filter selects among the attributed calls; it never moves a score to another call.
    assert _trends(store, "helpfulness", prompt_version="3") == {("3", "gpt-4o-mini"): (1, 0.1)}
    assert _trends(store, "helpfulness", model="omni-moderation") == {}


def test_a_score_sent_before_its_spans_counts_once_they_arrive(store) -> None:
    store.insert_scores([_score(5, None, "quality", 0.9), _score(5, 5 * 16 + 1, "quality", 0.7)])
    assert _trends(store, "quality") == {}
    store.insert_spans(_trace_spans(5))
    n, mean = _trends(store, "quality")[("7", "gpt-4o")]
    assert n == 2 and abs(mean - 0.8) < 1e-12


def test_regressions_and_drift_read_scores_through_the_same_rule(store) -> None:
    store.insert_spans([row for trace in (1, 2) for row in _trace_spans(trace)])
    store.insert_scores([_score(1, 1 * 16 + 1, "helpfulness", 0.8), _score(2, None, "helpfulness", 0.6)])
    cohorts = Cohorts(dimension="prompt_version", a="3", b="7", since=NOW - timedelta(days=1), until=NOW)
    summaries = score_summaries(store, "default", cohorts, {}, stratify=False, pass_threshold=0.5)
    (row,) = summaries["helpfulness"]
    assert (row["is_b"], row["n"], round(row["mean"], 12)) == (1, 2, 0.7)

    windows = Windows(NOW - timedelta(days=8), NOW - timedelta(days=1), NOW - timedelta(days=1), NOW)
    _, current, _ = score_histogram(store, "default", windows, {"prompt_version": "7"}, "helpfulness")
    assert sum(current.values()) == 2
    _, current, _ = score_histogram(store, "default", windows, {"prompt_version": "3"}, "helpfulness")
    assert current == {}
