"""One mapping from every GenAI dialect to `spans` columns (llmtrace.store.rows)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from llmtrace._internal import semconv as sc
from llmtrace.store import rows
from llmtrace.store.rows import SPAN_COLUMNS, InvalidSpan, SpanRecord, span_to_row

NOW = time.time_ns()


def record(attributes: dict[str, Any], **kw: Any) -> SpanRecord:
    base: dict[str, Any] = {
        "trace_id": "0af7651916cd43dd8448eb211c80319c",
        "span_id": "b7ad6b7169203331",
        "name": "chat gpt-4o",
        "start_ns": NOW - 1_500_000_000,
        "end_ns": NOW,
        "attributes": attributes,
        "resource": {sc.SERVICE_NAME: "checkout", sc.DEPLOYMENT_ENVIRONMENT: "prod"},
    }
    base.update(kw)
    return SpanRecord(**base)


def test_llmtrace_sdk_span_maps_every_column() -> None:
    row = span_to_row(
        record(
            {
                sc.LLMTRACE_SPAN_KIND: "llm",
                sc.GEN_AI_OPERATION_NAME: "chat",
                sc.GEN_AI_PROVIDER_NAME: "openai",
                sc.GEN_AI_REQUEST_MODEL: "gpt-4o",
                sc.GEN_AI_RESPONSE_MODEL: "gpt-4o-2024-08-06",
                sc.GEN_AI_USAGE_INPUT_TOKENS: 1000,
                sc.GEN_AI_USAGE_OUTPUT_TOKENS: 200,
                sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: 800,
                sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: 50,
                sc.GEN_AI_RESPONSE_FINISH_REASONS: ("stop",),
                sc.LLMTRACE_TTFT_MS: 120.5,
                sc.LLMTRACE_PROMPT_NAME: "summarize",
                sc.LLMTRACE_PROMPT_VERSION: "7",
                sc.USER_ID: "u1",
                sc.SESSION_ID: "s1",
                sc.LLMTRACE_TAGS: ("beta", "eu"),
                sc.GEN_AI_INPUT_MESSAGES: '[{"role":"user","parts":[{"type":"text","content":"hi"}]}]',
                sc.GEN_AI_OUTPUT_MESSAGES: '[{"role":"assistant","parts":[{"type":"text","content":"hello"}]}]',
                sc.LLMTRACE_OUTPUT_CHARS: 5,
                "llmtrace.metadata.tenant": "acme",
            }
        )
    )
    assert set(row) == set(SPAN_COLUMNS)
    assert row["kind"] == "llm"
    assert row["service_name"] == "checkout" and row["environment"] == "prod"
    assert (
        row["input_tokens"],
        row["output_tokens"],
        row["cached_input_tokens"],
        row["reasoning_tokens"],
    ) == (
        1000,
        200,
        800,
        50,
    )
    assert row["usage_source"] == "reported"
    assert row["cost_usd"] == pytest.approx(0.0035)  # priced at ingest from the response model
    assert row["finish_reason"] == "stop"
    assert row["ttft_ms"] == 120.5
    assert row["duration_ms"] == pytest.approx(1500.0)
    assert row["start_time"].tzinfo is UTC
    assert (row["prompt_name"], row["prompt_version"], row["user_id"], row["session_id"]) == (
        "summarize",
        "7",
        "u1",
        "s1",
    )
    assert row["tags"] == ["beta", "eu"]
    assert row["output_chars"] == 5
    assert row["attributes"] == {"llmtrace.metadata.tenant": "acme"}
    assert row["status"] == "ok" and row["error_type"] == ""


def test_old_semconv_and_openllmetry_names() -> None:
    row = span_to_row(
        record(
            {
                sc.GEN_AI_SYSTEM: "Anthropic",
                "llm.request.type": "chat",
                sc.GEN_AI_REQUEST_MODEL: "claude-sonnet-4-5",
                "gen_ai.usage.prompt_tokens": 300,
                "gen_ai.usage.completion_tokens": 40,
                "gen_ai.usage.cache_read_input_tokens": 100,
                "gen_ai.prompt.0.role": "user",
                "gen_ai.prompt.0.content": "hello",
                "gen_ai.completion.0.content": "hi there",
                "traceloop.association.properties.user_id": "u9",
            }
        )
    )
    assert row["provider"] == "anthropic" and row["kind"] == "llm" and row["operation"] == "chat"
    assert (row["input_tokens"], row["output_tokens"], row["cached_input_tokens"]) == (300, 40, 100)
    assert '"content": "hello"' in row["input"] and "hi there" in row["output"]
    assert row["user_id"] == "u9"
    assert row["cost_usd"] is not None and row["cost_usd"] > 0


def test_openinference_names() -> None:
    row = span_to_row(
        record(
            {
                sc.OPENINFERENCE_SPAN_KIND: "LLM",
                "llm.model_name": "gpt-4o-mini",
                "llm.provider": "openai",
                "llm.token_count.prompt": 12,
                "llm.token_count.completion": 3,
                "input.value": "question",
                "output.value": "answer",
            }
        )
    )
    assert (row["kind"], row["request_model"], row["provider"]) == ("llm", "gpt-4o-mini", "openai")
    assert (row["input_tokens"], row["output_tokens"]) == (12, 3)
    assert (row["input"], row["output"], row["output_chars"]) == ("question", "answer", 6)


def test_names_are_read_in_order_and_unread_compat_names_stay_in_attributes() -> None:
    # The current name wins over a compat name wherever each appears; an empty value falls through
    # to the next name (and is consumed); a compat name after the value is kept in `attributes`.
    row = span_to_row(
        record(
            {
                "llm.usage.prompt_tokens": 7,  # compat, after the winner: kept
                sc.GEN_AI_USAGE_INPUT_TOKENS: 50,
                sc.GEN_AI_PROVIDER_NAME: "",  # empty: consumed, the next name is read
                sc.GEN_AI_SYSTEM: "openai",
                "llm.system": "other",  # after the value: kept
                sc.GEN_AI_REQUEST_MODEL: "gpt-4o",
                sc.SERVICE_NAME: "span-level",  # the resource names the service: kept
            }
        )
    )
    assert (row["input_tokens"], row["provider"], row["service_name"]) == (50, "openai", "checkout")
    assert row["attributes"] == {
        "llm.usage.prompt_tokens": "7",
        "llm.system": "other",
        sc.SERVICE_NAME: "span-level",
    }


def test_the_span_service_name_is_used_when_the_resource_has_none() -> None:
    row = span_to_row(record({sc.SERVICE_NAME: "from-span", "x": True}, resource={}))
    assert (row["service_name"], row["attributes"]) == ("from-span", {"x": "true"})


def test_each_attribute_name_feeds_one_column() -> None:
    names = [name for field in rows._FIELD_NAMES for name in field]
    assert len(names) == len(set(names)) and not set(names) & rows._KIND_HINTS


def test_plain_span_is_stored_as_kind_span_without_cost() -> None:
    row = span_to_row(record({"http.route": "/answer"}, name="GET /answer"))
    assert row["kind"] == "span" and row["cost_usd"] is None and row["usage_source"] == "none"
    assert row["attributes"] == {"http.route": "/answer"}


def test_unknown_model_has_null_cost_not_zero() -> None:
    row = span_to_row(
        record(
            {
                sc.GEN_AI_OPERATION_NAME: "chat",
                sc.GEN_AI_REQUEST_MODEL: "in-house-7b",
                sc.GEN_AI_USAGE_INPUT_TOKENS: 5,
            }
        )
    )
    assert row["cost_usd"] is None


def test_error_status_takes_the_exception_event() -> None:
    row = span_to_row(
        record(
            {sc.GEN_AI_OPERATION_NAME: "chat", sc.GEN_AI_REQUEST_MODEL: "gpt-4o"},
            status_code="error",
            status_message="boom",
            events=[("exception", {sc.EXCEPTION_TYPE: "RateLimitError", sc.EXCEPTION_MESSAGE: "slow down"})],
        )
    )
    assert (row["status"], row["error_type"], row["error_message"]) == (
        "error",
        "RateLimitError",
        "slow down",
    )


def test_cancelled_stream_status() -> None:
    row = span_to_row(record({sc.LLMTRACE_STATUS: "cancelled", sc.GEN_AI_REQUEST_MODEL: "gpt-4o"}))
    assert row["status"] == "cancelled"


def test_microseconds_survive_the_conversion() -> None:
    start = 1_764_000_000_123_456_789
    row = span_to_row(record({}, start_ns=start, end_ns=start + 1000), now_ns=start)
    assert row["start_time"] == datetime(2025, 11, 24, 16, 0, 0, 123456, tzinfo=UTC)


@pytest.mark.parametrize(
    ("kw", "attributes", "message"),
    [
        ({"trace_id": "xyz"}, {}, "trace_id"),
        ({"trace_id": "0" * 32}, {}, "trace_id"),
        ({"span_id": "B7AD6B7169203331"}, {}, "span_id"),
        ({"span_id": "b7ad6b7169203331\n"}, {}, "span_id"),  # `$` alone would accept the newline
        ({"trace_id": "0af7651916cd43dd8448eb211c80319c\n"}, {}, "trace_id"),
        ({"parent_span_id": "00f067aa0ba902b7\n"}, {}, "parent_span_id"),
        ({}, {"": "empty key"}, "attribute key"),
        ({}, {sc.GEN_AI_USAGE_INPUT_TOKENS: "12"}, "integer token count"),
        ({}, {sc.GEN_AI_USAGE_OUTPUT_TOKENS: -1}, "non-negative"),
        ({"start_ns": NOW + 3 * 86400 * 10**9, "end_ns": NOW + 3 * 86400 * 10**9}, {}, "future"),
        ({"end_ns": NOW - 10**10}, {}, "before start"),
        ({}, {"big": "x" * 300_000}, "over the"),
        ({}, {sc.LLMTRACE_COST_USD: "cheap"}, "non-negative number"),
    ],
)
def test_invalid_spans_are_rejected_with_a_reason(
    kw: dict[str, Any], attributes: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidSpan, match=message):
        span_to_row(record(attributes, **kw))


def test_inconsistent_cache_counts_store_the_span_with_unknown_cost() -> None:
    # genai-prices refuses more cache reads than input tokens; the span is still stored, cost NULL.
    row = span_to_row(
        record(
            {
                sc.GEN_AI_PROVIDER_NAME: "openai",
                sc.GEN_AI_REQUEST_MODEL: "gpt-4o",
                sc.GEN_AI_USAGE_INPUT_TOKENS: 10,
                sc.GEN_AI_USAGE_OUTPUT_TOKENS: 5,
                sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: 20,
            }
        )
    )
    assert (row["kind"], row["cached_input_tokens"], row["cost_usd"]) == ("llm", 20, None)


def test_span_values_is_the_row_in_column_order_with_microsecond_times() -> None:
    rec = record(
        {
            sc.GEN_AI_OPERATION_NAME: "chat",
            sc.GEN_AI_REQUEST_MODEL: "gpt-4o",
            sc.GEN_AI_USAGE_INPUT_TOKENS: 120,
            sc.GEN_AI_USAGE_OUTPUT_TOKENS: 30,
            "app.extra": True,
        },
        start_ns=NOW - 1_500_000_999,
    )
    values = dict(zip(SPAN_COLUMNS, rows.span_values(rec), strict=True))
    row = span_to_row(rec)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    assert values["start_time"] == (NOW - 1_500_000_999) // 1000 and values["end_time"] == NOW // 1000
    assert row["start_time"] == epoch + timedelta(microseconds=values["start_time"])
    assert row["end_time"] == epoch + timedelta(microseconds=values["end_time"])
    times = ("start_time", "end_time")
    assert {k: v for k, v in values.items() if k not in times} == {
        k: v for k, v in row.items() if k not in times
    }
    assert row["cost_usd"] is not None and row["attributes"] == {"app.extra": "true"}


def test_cost_at_ingest_uses_the_price_in_effect_when_the_span_started() -> None:
    # o3's price fell on 2025-06-10 ($10 -> $2 per million input tokens).
    def cost_at(moment: datetime) -> float | None:
        start = int(moment.timestamp()) * 10**9
        attributes = {
            sc.GEN_AI_OPERATION_NAME: "chat",
            sc.GEN_AI_PROVIDER_NAME: "openai",
            sc.GEN_AI_REQUEST_MODEL: "o3",
            sc.GEN_AI_USAGE_INPUT_TOKENS: 1_000_000,
            sc.GEN_AI_USAGE_OUTPUT_TOKENS: 0,
        }
        row = span_to_row(record(attributes, start_ns=start, end_ns=start + 10**9), now_ns=start)
        return row["cost_usd"]

    before, after = (
        cost_at(datetime(2025, 6, 9, 23, tzinfo=UTC)),
        cost_at(datetime(2025, 6, 10, 1, tzinfo=UTC)),
    )
    assert (before, after) == (pytest.approx(10.0), pytest.approx(2.0))


def test_a_foreign_span_is_priced_at_the_service_tier_that_served_it() -> None:
    """OpenAI's flex tier costs about half the standard price and priority about twice: a span
    from another instrumentation, which carries tokens and no cost, is priced at its tier (the
    response's, else the one requested), on the tier's price as of the span's start."""
    from genai_prices import Usage, calc_price

    call = {
        sc.GEN_AI_OPERATION_NAME: "chat",
        sc.GEN_AI_PROVIDER_NAME: "openai",
        sc.GEN_AI_REQUEST_MODEL: "gpt-5",
        sc.GEN_AI_USAGE_INPUT_TOKENS: 3000,
        sc.GEN_AI_USAGE_OUTPUT_TOKENS: 700,
    }

    def cost(tiers: dict[str, Any], start: datetime) -> float | None:
        start_ns = int(start.timestamp()) * 10**9
        row = span_to_row(
            record({**call, **tiers}, start_ns=start_ns, end_ns=start_ns + 10**9), now_ns=start_ns
        )
        assert {k: row["attributes"][k] for k in tiers} == {k: str(v) for k, v in tiers.items()}
        return row["cost_usd"]

    def price(tier: str, start: datetime) -> float:
        usage = Usage(input_tokens=3000, output_tokens=700)
        context = {"service_tier": tier}
        return float(
            calc_price(
                usage, "gpt-5", provider_id="openai", genai_request_timestamp=start, price_context=context
            ).total_price
        )

    now = datetime.now(UTC)
    assert cost({sc.OPENAI_RESPONSE_SERVICE_TIER: "flex"}, now) == pytest.approx(price("flex", now))
    assert cost({sc.OPENAI_REQUEST_SERVICE_TIER: "priority"}, now) == pytest.approx(price("priority", now))
    assert cost({"gen_ai.openai.response.service_tier": "flex"}, now) == pytest.approx(price("flex", now))
    served = {sc.OPENAI_REQUEST_SERVICE_TIER: "flex", sc.OPENAI_RESPONSE_SERVICE_TIER: "default"}
    assert cost(served, now) == pytest.approx(price("default", now)) == cost({}, now)
    assert price("flex", now) < price("default", now) < price("priority", now)
    # Before genai-prices' tier prices began (2026-10-15), flex was priced as standard; each call
    # gets its own moment's price, whether its minute's rates were found before (cached) or not.
    before = datetime(2026, 1, 1, tzinfo=UTC)
    for moment in (before, now, before + timedelta(seconds=30), now):
        assert cost({sc.OPENAI_RESPONSE_SERVICE_TIER: "flex"}, moment) == pytest.approx(price("flex", moment))
    assert price("flex", before) == price("default", before)
