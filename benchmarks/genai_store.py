"""Fill a store with realistic GenAI spans fast: ``INSERT ... SELECT FROM numbers()``.

The shape of issue 14's workload (and of ``benchmarks/genai_workload.py``, its OTLP twin): ``chat
{model}`` spans carrying ``gen_ai.input.messages`` (a system and a user message, ~1 KB of JSON)
and ``gen_ai.output.messages`` (~500 B), three extra attributes, 1% errors; one trace in 50 is an
agent trace (``invoke_agent`` over two chats and one ``execute_tool``). Spread over
:data:`DAYS` days across many services, models, prompts (name and version), users and sessions;
one trace in ten belongs to one of several smaller projects, as on a shared server.

The rows are what ingest makes of such spans: :func:`check_rows` rebuilds the OTel span of
sampled rows, maps it with the real :func:`~llmtrace.store.rows.span_to_row` and compares every
column. The materialized views (rollups, summaries) are fed by the INSERT itself, as with ingest.
Text is drawn from 65,536 sentences over a 4,000-word vocabulary, so content compresses like prose.
"""

from __future__ import annotations

import json
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from llmtrace.store import Store
from llmtrace.store.rows import SpanRecord, span_to_row

DAYS = 28
SENTENCES = 65_536
BLOCK = 53  # spans per block of 50 traces: 49 chats, then one agent trace of 4 spans
SERVICES = [
    f"svc-{name}"
    for name in (
        "checkout",
        "support",
        "search",
        "billing",
        "docs",
        "triage",
        "booking",
        "notify",
        "review",
        "ingest",
        "assist",
        "ranker",
    )
]
MODELS = [
    ("openai", "gpt-4o-mini"),
    ("openai", "gpt-4o"),
    ("openai", "gpt-4.1"),
    ("openai", "gpt-4.1-mini"),
    ("anthropic", "claude-3-5-haiku-20241022"),
    ("anthropic", "claude-sonnet-4-20250514"),
    ("acme", "acme-private-1"),  # not in the price table: cost NULL
]
PROMPTS = [f"prompt-{i:02d}" for i in range(20)]
USERS = 20_000
SESSIONS = 200_000
TENANTS = 6  # smaller projects sharing the store
PROJECT = "default"
TOOLS = ["get_weather", "search_flights", "lookup_order"]
AGENTS = ["triage", "researcher", "booking"]
ERRORS = ["RateLimitError", "APITimeoutError", "InternalServerError"]
RESOURCE = {"deployment.environment.name": "prod", "telemetry.sdk.language": "python"}


def sentences(seed: int = 3, count: int = SENTENCES) -> list[str]:
    """Pairs of sentences of 6-18 words from a 4,000-word vocabulary with English-like letter
    frequencies (JSON-safe: no quotes or escapes); a span's text is a few of them, picked by hash."""
    rng = random.Random(seed)
    letters = "etaoinshrdlcumwfgypbvkjxqz"
    weights = [12, 9, 8, 8, 7, 7, 6, 6, 6, 4, 4, 3, 3, 2, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1]
    words = ["".join(rng.choices(letters, weights, k=rng.randint(2, 10))) for _ in range(4000)]
    return [
        " ".join(" ".join(rng.choices(words, k=rng.randint(6, 18))).capitalize() + "." for _ in range(2))
        for _ in range(count)
    ]


def load_sentences(store: Store) -> str:
    """A Join table of :func:`sentences` (``joinGet`` reads it per row, vectorised); its name."""
    table = "bench_sentences"
    store.client.command(
        f"CREATE TABLE IF NOT EXISTS {store.database}.{table} (i UInt32, s String) ENGINE = Join(ANY, LEFT, i)"
    )
    store.client.command(f"TRUNCATE TABLE {store.database}.{table}")
    store.client.insert(
        table, [[i, s] for i, s in enumerate(sentences())], column_names=["i", "s"], database=store.database
    )
    return f"{store.database}.{table}"


def model_rates() -> tuple[list[float], list[float], list[bool]]:
    """Per model: USD per input token, per output token, priced? (from the real pricing path)."""
    per_in, per_out, priced = [], [], []
    for provider, model in MODELS:
        costs = []
        for tokens_in, tokens_out in ((1_000_000, 0), (0, 1_000_000)):
            attrs = {
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": provider,
                "gen_ai.request.model": model,
                "gen_ai.usage.input_tokens": tokens_in,
                "gen_ai.usage.output_tokens": tokens_out,
            }
            record = SpanRecord("1" * 32, "1" * 16, "chat", 10**18, 10**18 + 1, attributes=attrs)
            costs.append(span_to_row(record, project=PROJECT, now_ns=10**18)["cost_usd"])
        priced.append(costs[0] is not None)
        per_in.append((costs[0] or 0.0) / 1_000_000)
        per_out.append((costs[1] or 0.0) / 1_000_000)
    return per_in, per_out, priced


# Every span number n: block b = n / 53, position p = n % 53. Chats (p < 49) are traces of their
# own; p = 49..52 are the agent trace (root, chat, tool, chat). Times run from {start} over the
# whole range, one block per step; hashes of (n, salt) pick everything else.
_SPANS = """
WITH
    intDiv(number, 53) AS b,
    number % 53 AS p,
    p >= 49 AS in_agent,
    if(in_agent, p - 49, 0) AS role,
    if(in_agent, 49, p) AS tpos,
    cityHash64(b, tpos, 1) AS th,
    {start:DateTime64(6)} + toIntervalMicrosecond(intDiv(b * {span_us:UInt64}, {blocks:UInt64}) + (th % 60000000)) AS t0,
    if(th % 10 = 0, concat('tenant-', toString(intDiv(th, 10) % {tenants:UInt32})), {project:String}) AS proj,
    {services:Array(String)}[1 + intDiv(th, 7) % length({services:Array(String)})] AS svc,
    1 + cityHash64(number, 2) % length({models:Array(String)}) AS mi,
    intDiv(th, 11) % {sessions:UInt32} AS sess,
    sess % {users:UInt32} AS usr,
    in_agent AND role IN (0, 2) AS plain,
    cityHash64(number, 3) % 100 = 0 AS failed,
    concat(joinGet({sentences:String}, 's', toUInt32(cityHash64(number, 101) % 65536)), ' ', joinGet({sentences:String}, 's', toUInt32(cityHash64(number, 102) % 65536))) AS sys_text,
    concat(joinGet({sentences:String}, 's', toUInt32(cityHash64(number, 111) % 65536)), ' ', joinGet({sentences:String}, 's', toUInt32(cityHash64(number, 112) % 65536)), ' ', joinGet({sentences:String}, 's', toUInt32(cityHash64(number, 113) % 65536)), ' ', joinGet({sentences:String}, 's', toUInt32(cityHash64(number, 114) % 65536)), if(cityHash64(number, 5) % 2 = 0, concat(' ', joinGet({sentences:String}, 's', toUInt32(cityHash64(number, 115) % 65536))), '')) AS user_text,
    concat(joinGet({sentences:String}, 's', toUInt32(cityHash64(number, 121) % 65536)), ' ', joinGet({sentences:String}, 's', toUInt32(cityHash64(number, 122) % 65536)), ' ', joinGet({sentences:String}, 's', toUInt32(cityHash64(number, 123) % 65536))) AS answer,
    multiIf(role = 0, 0, role = 1, 1000, role = 2, 4000000, role = 3, 5000000, 0) AS offset_us,
    multiIf(role = 0, 9000000, role = 2, 5000 + cityHash64(number, 7) % 495000, 200000 + cityHash64(number, 7) % 3800000) AS dur_us,
    toUInt32(50 + cityHash64(number, 8) % 3950) AS tin,
    toUInt32(1 + cityHash64(number, 9) % 799) AS tout,
    cityHash64(number, 10) % 5 != 0 AS prompted,
    concat('[{"role": "assistant", "parts": [{"type": "text", "content": "', answer, '"}], "finish_reason": "stop"}]') AS out_json
SELECT
    proj AS project,
    leftPad(lower(hex(th)), 16, '0') || leftPad(lower(hex(cityHash64(b, tpos, 2))), 16, '0') AS trace_id,
    leftPad(lower(hex(cityHash64(number, 11))), 16, '0') AS span_id,
    if(role IN (1, 2, 3), leftPad(lower(hex(cityHash64(number - role, 11))), 16, '0'), '') AS parent_span_id,
    multiIf(role = 0 AND in_agent, concat('invoke_agent ', {agents:Array(String)}[1 + th % 3]),
            role = 2, concat('execute_tool ', {tools:Array(String)}[1 + cityHash64(number, 12) % 3]),
            concat('chat ', {models:Array(String)}[mi])) AS name,
    multiIf(role = 0 AND in_agent, 'span', role = 2, 'tool', 'llm') AS kind,
    svc AS service_name,
    'prod' AS environment,
    t0 + toIntervalMicrosecond(offset_us) AS start_time,
    t0 + toIntervalMicrosecond(offset_us + dur_us) AS end_time,
    dur_us / 1000 AS duration_ms,
    if(failed, 'error', 'ok') AS status,
    if(failed, {errors:Array(String)}[1 + cityHash64(number, 13) % 3], '') AS error_type,
    if(failed, 'provider error', '') AS error_message,
    multiIf(role = 0 AND in_agent, 'openai', role = 2, '', {providers:Array(String)}[mi]) AS provider,
    multiIf(role = 0 AND in_agent, 'invoke_agent', role = 2, 'execute_tool', 'chat') AS operation,
    if(plain, '', {models:Array(String)}[mi]) AS request_model,
    if(plain, '', {models:Array(String)}[mi]) AS response_model,
    if(plain, 0, tin) AS input_tokens,
    if(plain, 0, tout) AS output_tokens,
    if(plain, 'none', 'reported') AS usage_source,
    if(plain OR NOT {priced:Array(UInt8)}[mi], NULL,
       tin * {per_in:Array(Float64)}[mi] + tout * {per_out:Array(Float64)}[mi]) AS cost_usd,
    if(plain, '', 'stop') AS finish_reason,
    if(plain OR NOT prompted, '', {prompts:Array(String)}[1 + cityHash64(number, 14) % length({prompts:Array(String)})]) AS prompt_name,
    if(plain OR NOT prompted, '', concat('v', toString(1 + cityHash64(number, 15) % 3))) AS prompt_version,
    if(role = 2, '', concat('user-', toString(usr))) AS user_id,
    if(role = 2, '', concat('session-', toString(sess))) AS session_id,
    if(plain, '', concat('[{"role": "system", "parts": [{"type": "text", "content": "', sys_text,
        '"}]}, {"role": "user", "parts": [{"type": "text", "content": "', user_text, '"}]}]')) AS input,
    if(plain, '', out_json) AS output,
    if(plain, 0, lengthUTF8(out_json)) AS output_chars,
    multiIf(role = 0 AND in_agent, map('gen_ai.agent.name', {agents:Array(String)}[1 + th % 3]),
            role = 2, map('gen_ai.tool.name', {tools:Array(String)}[1 + cityHash64(number, 12) % 3],
                          'gen_ai.tool.call.id', concat('call_', toString(cityHash64(number, 16) % 1000000000)),
                          'gen_ai.tool.type', 'function'),
            map('gen_ai.response.id', concat('chatcmpl-', lower(hex(cityHash64(number, 17) % 281474976710656))),
                'gen_ai.request.temperature', ['0.0', '0.2', '0.7'][1 + cityHash64(number, 18) % 3],
                'server.address', if({providers:Array(String)}[mi] = 'anthropic', 'api.anthropic.com', 'api.openai.com'))) AS attributes
FROM numbers({first:UInt64}, {count:UInt64})
"""
COLUMNS = (
    "project, trace_id, span_id, parent_span_id, name, kind, service_name, environment, start_time, end_time,"
    " duration_ms, status, error_type, error_message, provider, operation, request_model, response_model,"
    " input_tokens, output_tokens, usage_source, cost_usd, finish_reason, prompt_name, prompt_version,"
    " user_id, session_id, input, output, output_chars, attributes"
)


def parameters(store: Store, n: int, now: datetime) -> dict[str, Any]:
    per_in, per_out, priced = model_rates()
    blocks = max(1, n // BLOCK)
    return {
        "db": store.database,
        "start": (now - timedelta(days=DAYS)).replace(tzinfo=None),
        "span_us": DAYS * 86400 * 1_000_000,
        "blocks": blocks,
        "tenants": TENANTS,
        "project": PROJECT,
        "services": SERVICES,
        "models": [m for _, m in MODELS],
        "providers": [p for p, _ in MODELS],
        "per_in": per_in,
        "per_out": per_out,
        "priced": [int(p) for p in priced],
        "prompts": PROMPTS,
        "sessions": SESSIONS,
        "users": USERS,
        "sentences": load_sentences(store),
        "agents": AGENTS,
        "tools": TOOLS,
        "errors": ERRORS,
    }


def generate(store: Store, n: int, now: datetime, *, chunk: int = 500_000) -> float:
    """Insert ``n`` spans ending near ``now`` (in chunks, so memory stays bounded); seconds taken."""
    params = parameters(store, n, now)
    t0 = time.perf_counter()
    for first in range(0, n, chunk):
        store.client.command(
            f"INSERT INTO {{db:Identifier}}.spans ({COLUMNS}) {_SPANS}",
            parameters={**params, "first": first, "count": min(chunk, n - first)},
        )
    return time.perf_counter() - t0


def check_rows(store: Store, sample: int = 200) -> int:
    """Rebuild the OTel span of ``sample`` generated rows and check the real mapping gives the same
    row (every column); raises AssertionError on the first difference. Returns rows checked."""
    result = store.client.query(
        "SELECT * EXCEPT (ingested_at, model) FROM {db:Identifier}.spans ORDER BY cityHash64(span_id) LIMIT {n:UInt32}",
        parameters={"db": store.database, "n": sample},
    )
    checked = 0
    for values in result.result_rows:
        row = dict(zip(result.column_names, values, strict=True))
        expected = span_to_row(_record(row), project=row["project"], now_ns=time.time_ns())
        for column, value in expected.items():
            actual = row[column]
            if isinstance(value, datetime):
                value = value.replace(tzinfo=None)
                actual = actual.replace(tzinfo=None)
            if isinstance(value, float) and actual is not None:
                assert abs(actual - value) <= 1e-9 * max(1.0, abs(value)), (column, actual, value)
            else:
                assert actual == value, (column, actual, value)
        checked += 1
    return checked


def _record(row: dict[str, Any]) -> SpanRecord:
    """The OTel span the generator stands for (attributes as a GenAI instrumentation sets them)."""
    attrs: dict[str, Any] = dict(row["attributes"])
    if "gen_ai.request.temperature" in attrs:
        attrs["gen_ai.request.temperature"] = float(attrs["gen_ai.request.temperature"])
    attrs["gen_ai.operation.name"] = row["operation"]
    if row["provider"]:
        attrs["gen_ai.provider.name"] = row["provider"]
    if row["kind"] == "llm":
        attrs.update(
            {
                "gen_ai.request.model": row["request_model"],
                "gen_ai.response.model": row["response_model"],
                "gen_ai.usage.input_tokens": row["input_tokens"],
                "gen_ai.usage.output_tokens": row["output_tokens"],
                "gen_ai.response.finish_reasons": [row["finish_reason"]],
                "gen_ai.input.messages": row["input"],
                "gen_ai.output.messages": row["output"],
            }
        )
        json.loads(row["input"]), json.loads(row["output"])  # valid JSON, as an SDK sends
    if row["prompt_name"]:
        attrs["llmtrace.prompt.name"] = row["prompt_name"]
        attrs["llmtrace.prompt.version"] = row["prompt_version"]
    if row["user_id"]:
        attrs["user.id"] = row["user_id"]
        attrs["session.id"] = row["session_id"]
    if row["error_type"]:
        attrs["error.type"] = row["error_type"]

    def ns(value: datetime) -> int:
        return int(value.replace(tzinfo=UTC).timestamp()) * 10**9 + value.microsecond * 1000

    return SpanRecord(
        trace_id=row["trace_id"],
        span_id=row["span_id"],
        parent_span_id=row["parent_span_id"],
        name=row["name"],
        start_ns=ns(row["start_time"]),
        end_ns=ns(row["end_time"]),
        status_code="error" if row["status"] == "error" else "unset",
        status_message=row["error_message"],
        attributes=attrs,
        resource={"service.name": row["service_name"], **RESOURCE},
    )
