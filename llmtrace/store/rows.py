"""Map one span — from llmtrace's SDK or any GenAI instrumentation — to a `spans` row.

Both writers use this: the SDK's direct-store exporter (from an OpenTelemetry ``ReadableSpan``)
and the server's OTLP ingest (from a decoded protobuf or JSON span). Each converts its input to a
:class:`SpanRecord` and calls :func:`span_to_row`, so a column means the same whichever way a span
arrived. Dialects are read in order: llmtrace's own names and the OTel GenAI v1.41 names, then
older semconv names, the genai-repo dev names, OpenLLMetry and OpenInference
(the ``*_COMPAT`` tuples in ``llmtrace._internal.semconv``).

An invalid span raises :class:`InvalidSpan` with a message naming the problem; callers reject
that span alone. The server's ingest calls :func:`span_values`, the same mapping as a tuple in
column order (what it turns into Arrow columns).

The compiled server also has a C reader of the common OTLP body (``llmtrace_server/_cwire.c``,
:mod:`llmtrace_server.cwire`) that writes the same columns itself and declines every shape it
does not map exactly as here. A change to this mapping must be made there too, or made to decline
(``tests/server/test_cwire.py`` compares the two).
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from llmtrace._internal import semconv as sc
from llmtrace._internal.clock import utc_from_ns
from llmtrace._internal.pricing import PriceBook, default_price_book
from llmtrace.store.dialects import (
    OPERATION_ALIASES,
    error_type_name,
    first_token_ms,
    flattened_messages,
    invocation_model,
    logfire_call,
    normalised_finish_reason,
    openinference_operation,
    raw_usage,
    with_system,
)

# Columns written on insert, in table order (`model` is MATERIALIZED, `ingested_at` defaulted).
SPAN_COLUMNS: tuple[str, ...] = (
    "project",
    "trace_id",
    "span_id",
    "parent_span_id",
    "name",
    "kind",
    "service_name",
    "environment",
    "start_time",
    "end_time",
    "duration_ms",
    "status",
    "error_type",
    "error_message",
    "provider",
    "operation",
    "request_model",
    "response_model",
    "input_tokens",
    "output_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "usage_source",
    "cost_usd",
    "ttft_ms",
    "finish_reason",
    "prompt_name",
    "prompt_version",
    "user_id",
    "session_id",
    "tags",
    "input",
    "output",
    "output_chars",
    "attributes",
)

SCORE_COLUMNS: tuple[str, ...] = (
    "project",
    "trace_id",
    "span_id",
    "name",
    "value",
    "label",
    "source",
    "comment",
    "timestamp",
)

# `span_content`: message content that arrived as GenAI events (OTLP logs) for a span.
CONTENT_COLUMNS: tuple[str, ...] = (
    "project",
    "trace_id",
    "span_id",
    "event_name",
    "time",
    "record_key",
    "input",
    "output",
)

DEFAULT_PROJECT = "default"
MAX_TEXT_CHARS = 1_000_000  # input/output columns; the SDK caps far lower (64 KiB by default)
MAX_ATTRIBUTE_CHARS = 256 * 1024  # one attribute value; larger values reject the span
# The most one span may cost, in USD; more rejects the span. The rollups sum costs as
# Decimal(76, 15) and their squares as Decimal(76, 30) (the regression report's variances): a cost
# of ~1e23 failed the INSERT of its whole block, every project's spans in it, at the views. No
# call costs a billion dollars: a span that says so carries a bad value, and is refused alone.
MAX_COST_USD = 1e9
MAX_FUTURE_SKEW_NS = 24 * 3600 * 1_000_000_000  # a start time more than a day ahead is a bug
_DAY_NS = 24 * 3600 * 1_000_000_000
_UINT32_MAX = 2**32 - 1

# Matched with fullmatch: `$` would also accept a trailing newline.
_TRACE_ID = re.compile(r"[0-9a-f]{32}")
_SPAN_ID = re.compile(r"[0-9a-f]{16}")
_HEX_DIGITS = "0123456789abcdef"  # an id that str.strip() of these leaves empty is lowercase hex
_ZERO_TRACE = "0" * 32
_ZERO_SPAN = "0" * 16

# isinstance() targets as tuples: `int | float` would build a new union object on every call.
_NUMBER = (int, float)
_TEXT = (str, bytes)
_SEQUENCE = (list, tuple)
_SEQUENCE_OR_BYTES = (list, tuple, bytes)
_CONTAINER = (list, tuple, dict)

_LLM_OPERATIONS = {sc.OP_CHAT, sc.OP_TEXT_COMPLETION, sc.OP_GENERATE_CONTENT, "completion", "responses"}
_EMBEDDING_OPERATIONS = {sc.OP_EMBEDDINGS, "embedding"}


class InvalidSpan(ValueError):
    """A span that cannot be stored; the message says why (it reaches OTLP partial-success)."""


@dataclass
class SpanRecord:
    """The parts of an OpenTelemetry span that the row mapping needs, in neutral form.

    ``__init__`` is written out, not generated: mypyc compiles a dataclass's own ``__init__`` into
    native code, whereas the generated one is interpreted Python (a record is made for every span
    ingested; ~0.2 µs each the generated way, ~0.05 compiled). The dataclass still gives the fields,
    equality and repr.
    """

    trace_id: str  # 32 lowercase hex chars
    span_id: str  # 16 lowercase hex chars
    name: str
    start_ns: int  # Unix epoch nanoseconds
    end_ns: int
    parent_span_id: str = ""
    status_code: str = "unset"  # "unset" | "ok" | "error"
    status_message: str = ""
    attributes: Mapping[str, Any] = field(default_factory=dict)
    resource: Mapping[str, Any] = field(default_factory=dict)
    # (event name, event attributes); exception events give error_type / error_message.
    events: Sequence[tuple[str, Mapping[str, Any]]] = ()
    # Each event's time (Unix ns), parallel to ``events`` when the sender knows it: OpenInference
    # marks the first streamed token with an event and no attribute.
    event_times: Sequence[int] = ()

    def __init__(
        self,
        trace_id: str,
        span_id: str,
        name: str,
        start_ns: int,
        end_ns: int,
        parent_span_id: str = "",
        status_code: str = "unset",
        status_message: str = "",
        attributes: Mapping[str, Any] | None = None,
        resource: Mapping[str, Any] | None = None,
        events: Sequence[tuple[str, Mapping[str, Any]]] = (),
        event_times: Sequence[int] = (),
    ) -> None:
        self.trace_id = trace_id
        self.span_id = span_id
        self.name = name
        self.start_ns = start_ns
        self.end_ns = end_ns
        self.parent_span_id = parent_span_id
        self.status_code = status_code
        self.status_message = status_message
        self.attributes = {} if attributes is None else attributes
        self.resource = {} if resource is None else resource
        self.events = events
        self.event_times = event_times


# Span attributes read into columns: each field from its names in order (llmtrace's and the
# current semconv name first, then the *_COMPAT names). The first present, non-empty value wins;
# every name tried up to it counts as used (left out of the `attributes` column).
_FIELD_NAMES: tuple[tuple[str, ...], ...] = (
    (sc.GEN_AI_OPERATION_NAME, sc.LLM_REQUEST_TYPE),
    (sc.GEN_AI_PROVIDER_NAME, *sc.GEN_AI_PROVIDER_NAME_COMPAT),
    (sc.GEN_AI_REQUEST_MODEL, *sc.GEN_AI_REQUEST_MODEL_COMPAT),
    (sc.GEN_AI_RESPONSE_MODEL, *sc.GEN_AI_RESPONSE_MODEL_COMPAT),
    (sc.GEN_AI_USAGE_INPUT_TOKENS, *sc.GEN_AI_USAGE_INPUT_TOKENS_COMPAT),
    (sc.GEN_AI_USAGE_OUTPUT_TOKENS, *sc.GEN_AI_USAGE_OUTPUT_TOKENS_COMPAT),
    (sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS, *sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS_COMPAT),
    (sc.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS, *sc.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS_COMPAT),
    (sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS, *sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS_COMPAT),
    (sc.LLMTRACE_SPAN_KIND,),
    (sc.LLMTRACE_USAGE_SOURCE,),
    (sc.LLMTRACE_STATUS,),
    (sc.ERROR_TYPE,),
    (sc.LLMTRACE_COST_USD, sc.LLM_COST_TOTAL, "gen_ai.usage.cost.amount", "gen_ai.usage.cost"),
    (sc.LLMTRACE_TTFT_MS,),
    (sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK,),
    (sc.GEN_AI_RESPONSE_FINISH_REASONS, *sc.GEN_AI_RESPONSE_FINISH_REASONS_COMPAT),
    (sc.GEN_AI_INPUT_MESSAGES, sc.LLMTRACE_INPUT, sc.INPUT_VALUE, sc.TRACELOOP_ENTITY_INPUT),
    (sc.GEN_AI_OUTPUT_MESSAGES, sc.LLMTRACE_OUTPUT, sc.OUTPUT_VALUE, sc.TRACELOOP_ENTITY_OUTPUT),
    (sc.LLMTRACE_OUTPUT_CHARS,),
    (sc.LLMTRACE_TAGS,),
    (sc.LLMTRACE_PROJECT,),
    (sc.LLMTRACE_PROMPT_NAME, "gen_ai.prompt.name", "traceloop.prompt.key"),
    (sc.LLMTRACE_PROMPT_VERSION, "gen_ai.prompt.version", "traceloop.prompt.version"),
    (sc.USER_ID, sc.TRACELOOP_ASSOCIATION_PROPERTIES_PREFIX + "user_id"),
    (
        sc.SESSION_ID,
        sc.GEN_AI_CONVERSATION_ID,
        sc.TRACELOOP_ASSOCIATION_PROPERTIES_PREFIX + "session_id",
    ),
    (sc.DEPLOYMENT_ENVIRONMENT, *sc.DEPLOYMENT_ENVIRONMENT_COMPAT),
    (sc.GEN_AI_SYSTEM_INSTRUCTIONS,),
)
(
    _OPERATION,
    _PROVIDER,
    _REQUEST_MODEL,
    _RESPONSE_MODEL,
    _INPUT_TOKENS,
    _OUTPUT_TOKENS,
    _CACHED_TOKENS,
    _CACHE_WRITE_TOKENS,
    _REASONING_TOKENS,
    _SPAN_KIND,
    _USAGE_SOURCE,
    _STATUS,
    _ERROR_TYPE,
    _COST,
    _TTFT_MS,
    _TTFT_S,
    _FINISH,
    _INPUT,
    _OUTPUT,
    _OUTPUT_CHARS,
    _TAGS,
    _PROJECT,
    _PROMPT_NAME,
    _PROMPT_VERSION,
    _USER_ID,
    _SESSION_ID,
    _ENVIRONMENT,
    _SYSTEM,
) = range(len(_FIELD_NAMES))
# attribute name -> (field, rank among that field's names): one dict probe per attribute.
_SLOTS: dict[str, tuple[int, int]] = {
    name: (field, rank) for field, names in enumerate(_FIELD_NAMES) for rank, name in enumerate(names)
}
# Every span attribute name a field reads: decoders that meet one can reuse a single str for it.
READ_ATTRIBUTE_NAMES: frozenset[str] = frozenset(_SLOTS)
_UNRANKED = len(max(_FIELD_NAMES, key=len))  # above every rank: the field has no value
_INPUT_VALUE_RANK = _FIELD_NAMES[_INPUT].index(sc.INPUT_VALUE)  # input.value / output.value and after
# Messages flattened into one attribute per part (OpenLLMetry < 0.46, OpenInference): read into
# `input` / `output` and never copied into `attributes`.
_FLATTENED_PREFIXES = (
    sc.GEN_AI_PROMPT_PREFIX,
    sc.GEN_AI_COMPLETION_PREFIX,
    sc.OPENINFERENCE_INPUT_MESSAGES_PREFIX,
    sc.OPENINFERENCE_OUTPUT_MESSAGES_PREFIX,
    sc.OPENINFERENCE_PROMPTS_PREFIX,
    sc.OPENINFERENCE_EMBEDDINGS_PREFIX,
)
# The tier that served an OpenAI call, which sets its price (flex about half the standard, priority
# about twice): the response's, else the one requested (a string; kept in `attributes` too).
SERVICE_TIER_NAMES = (
    sc.OPENAI_RESPONSE_SERVICE_TIER,
    *sc.OPENAI_RESPONSE_SERVICE_TIER_COMPAT,
    sc.OPENAI_REQUEST_SERVICE_TIER,
    *sc.OPENAI_REQUEST_SERVICE_TIER_COMPAT,
)
# Google's providers: Gemini's total tokens count the thoughts (thinking, billed as output), which
# OpenLLMetry leaves out of its output tokens (see `_with_unreported_thoughts`).
_GOOGLE_PROVIDERS = frozenset(("gcp.gen_ai", "gcp.gemini", "gcp.vertex_ai"))
_KIND_HINTS = frozenset((sc.OPENINFERENCE_SPAN_KIND, sc.TRACELOOP_SPAN_KIND))
_ENVIRONMENT_NAMES = (sc.DEPLOYMENT_ENVIRONMENT, *sc.DEPLOYMENT_ENVIRONMENT_COMPAT)  # on the resource


def span_to_row(
    record: SpanRecord,
    *,
    project: str | None = None,
    prices: PriceBook | None = None,
    now_ns: int | None = None,
) -> dict[str, Any]:
    """Validate ``record`` and return the `spans` row (a dict keyed by :data:`SPAN_COLUMNS`).

    ``project`` overrides the span's ``llmtrace.project`` attribute (the server passes the project
    of the API key). Cost is computed from the token counts when the span does not carry one.
    """
    row = dict(
        zip(SPAN_COLUMNS, span_values(record, project=project, prices=prices, now_ns=now_ns), strict=True)
    )
    row["start_time"] = utc_from_ns(row["start_time"] * 1000)
    row["end_time"] = utc_from_ns(record.end_ns)
    return row


def span_values(
    record: SpanRecord,
    *,
    project: str | None = None,
    prices: PriceBook | None = None,
    now_ns: int | None = None,
    max_age_days: int = 0,
    max_future_skew_ns: int = MAX_FUTURE_SKEW_NS,
) -> tuple[Any, ...]:
    """:func:`span_to_row` as a tuple in :data:`SPAN_COLUMNS` order, except that ``start_time`` and
    ``end_time`` are integer microseconds since the epoch: what columnar ingest transposes
    (``zip(*values)``) into Arrow arrays without a dict or two datetimes per span.

    This runs for every ingested span, so the attributes are read in one pass: each one is
    validated and, through :data:`_SLOTS`, lands in the field it feeds.

    A span must start within [now - ``max_age_days``, now + ``max_future_skew_ns``]
    (``max_age_days`` 0: no lower bound): the server passes the store's retention, so a span the
    TTL would delete at once is rejected, not acknowledged and silently lost.
    """
    _check_ids(record)
    _check_times(record, time.time_ns() if now_ns is None else now_ns, max_age_days, max_future_skew_ns)
    attrs = record.attributes
    resource = record.resource
    values: list[Any] = [None] * len(_FIELD_NAMES)
    ranks = [_UNRANKED] * len(_FIELD_NAMES)
    slots = _SLOTS
    others: list[str] = []  # attributes no field reads: kept in `attributes` unless flattened messages
    flat_messages = False  # OpenLLMetry's gen_ai.prompt.N.* / gen_ai.completion.N.* keys are present
    shadowed = False  # a read name was skipped for another of its field (the rare slow path below)
    for key, value in attrs.items():
        if type(value) is str:
            if len(value) > MAX_ATTRIBUTE_CHARS:
                _check_attribute(key, value)
        elif isinstance(value, _SEQUENCE_OR_BYTES):
            _check_attribute(key, value)
        slot = slots.get(key)
        if slot is None:  # (a name in _SLOTS is a valid key: only the others need checking)
            if type(key) is not str or not 0 < len(key) <= 1024:
                raise InvalidSpan(f"attribute key {key!r} is empty or too long")
            others.append(key)
            flat_messages = flat_messages or key.startswith(_FLATTENED_PREFIXES)
            continue
        field, rank = slot
        if value is None or value == "" or rank > ranks[field]:
            shadowed = True
            continue
        if ranks[field] != _UNRANKED:
            shadowed = True
        ranks[field] = rank
        values[field] = value
    input_tokens = _tokens(values[_INPUT_TOKENS], sc.GEN_AI_USAGE_INPUT_TOKENS)
    output_tokens = _tokens(values[_OUTPUT_TOKENS], sc.GEN_AI_USAGE_OUTPUT_TOKENS)
    cached = _tokens(values[_CACHED_TOKENS], sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS)
    cache_write = _tokens(values[_CACHE_WRITE_TOKENS], sc.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS)
    reasoning = _tokens(values[_REASONING_TOKENS], sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS)
    operation = _text(values[_OPERATION])
    operation = OPERATION_ALIASES.get(operation, operation)
    provider = _text(values[_PROVIDER]).lower()
    provider = sc.PROVIDER_ALIASES.get(provider, provider)
    response_model = _text(values[_RESPONSE_MODEL])
    request_model = _text(values[_REQUEST_MODEL]) or invocation_model(attrs) or response_model
    if provider in _GOOGLE_PROVIDERS and input_tokens is not None and output_tokens is not None:
        output_tokens, reasoning = _with_unreported_thoughts(attrs, input_tokens, output_tokens, reasoning)
    kind = _kind(values[_SPAN_KIND], operation, attrs, request_model)
    if not operation and kind in (sc.KIND_LLM, sc.KIND_EMBEDDING) and sc.OPENINFERENCE_SPAN_KIND in attrs:
        operation = openinference_operation(kind, others)
    cache_write_1h = web_searches = 0
    if sc.GEN_AI_USAGE_RAW in attrs:  # Logfire: what only the provider's raw usage says
        raw_reasoning, cache_write_1h, web_searches = raw_usage(attrs[sc.GEN_AI_USAGE_RAW])
        if reasoning is None:
            reasoning = raw_reasoning

    usage_source = _text(values[_USAGE_SOURCE])
    if usage_source not in (sc.USAGE_REPORTED, sc.USAGE_ESTIMATED, sc.USAGE_NONE):
        usage_source = (
            sc.USAGE_REPORTED if input_tokens is not None or output_tokens is not None else sc.USAGE_NONE
        )

    if record.events or record.status_code == "error" or values[_STATUS] is not None:
        status, error_type, error_message = _status(
            record, _text(values[_STATUS]), _text(values[_ERROR_TYPE])
        )
        error_type = error_type_name(error_type)
    else:  # the usual span: nothing can make it anything but ok
        status, error_type, error_message = sc.STATUS_OK, "", ""
    cost = values[_COST]
    if cost is not None:
        cost = _non_negative(cost, f"attribute {sc.LLMTRACE_COST_USD!r}")
        if cost > MAX_COST_USD:
            raise InvalidSpan(
                f"attribute {sc.LLMTRACE_COST_USD!r} is out of range: {cost!r} (at most {MAX_COST_USD:g})"
            )
    elif kind in (sc.KIND_LLM, sc.KIND_EMBEDDING) and (input_tokens or output_tokens):
        cost = call_cost(
            prices or default_price_book,
            provider,
            response_model,
            request_model,
            (input_tokens or 0, output_tokens or 0, cached or 0, cache_write or 0, reasoning or 0),
            record.start_ns,
            service_tier(attrs),
            cache_write_1h,
            web_searches,
        )

    ttft_ms = values[_TTFT_MS]
    ttft_s = values[_TTFT_S]
    if ttft_ms is not None:
        ttft_ms = _non_negative(ttft_ms, "time to first token")
    elif isinstance(ttft_s, _NUMBER) and not isinstance(ttft_s, bool):
        ttft_ms = _non_negative(ttft_s, "time to first token") * 1000.0
        if not math.isfinite(ttft_ms):
            raise InvalidSpan(f"time to first token is out of range: {ttft_s!r} s")
    elif record.event_times:
        ttft_ms = first_token_ms(record.events, record.event_times, record.start_ns)
        if ttft_ms is not None:
            ttft_ms = _non_negative(ttft_ms, "time to first token")

    flattened: set[str] = set()  # flattened message keys read into input / output
    input_text = _text(values[_INPUT])
    output_text = _text(values[_OUTPUT])
    finish = values[_FINISH]
    if flat_messages and (
        not input_text
        or not output_text
        or ranks[_INPUT] >= _INPUT_VALUE_RANK
        or ranks[_OUTPUT] >= _INPUT_VALUE_RANK
    ):
        # Messages beat OpenInference's raw request / response JSON (input.value / output.value).
        prompt, completion, completion_finish = flattened_messages(attrs, others, flattened, finish)
        if prompt and (not input_text or ranks[_INPUT] >= _INPUT_VALUE_RANK):
            input_text = prompt
        if completion and (not output_text or ranks[_OUTPUT] >= _INPUT_VALUE_RANK):
            output_text = completion
        if finish is None and completion_finish:
            finish = completion_finish
    finish_reason = normalised_finish_reason(finish) if finish is not None else ""
    system = values[_SYSTEM]
    if system is not None:
        input_text = with_system(system, input_text)
    output_chars = values[_OUTPUT_CHARS]
    if not isinstance(output_chars, int) or isinstance(output_chars, bool) or output_chars < 0:
        output_chars = len(output_text)

    tags = values[_TAGS]
    tags = [str(t) for t in tags] if isinstance(tags, _SEQUENCE) else ([str(tags)] if tags else [])

    environment = _text(values[_ENVIRONMENT]) or _text(_first(resource, _ENVIRONMENT_NAMES))
    service_name = _text(resource.get(sc.SERVICE_NAME))
    start_ns = record.start_ns
    if kind in (sc.KIND_LLM, sc.KIND_EMBEDDING) and sc.LOGFIRE_SPAN_TYPE in attrs:
        start_ns, kind = logfire_call(
            record.start_ns, record.end_ns, attrs, kind, status, input_tokens, output_tokens, output_text
        )
    if not service_name and sc.SERVICE_NAME in attrs:  # only then is the span's own copy consumed
        flattened.add(sc.SERVICE_NAME)
        service_name = _text(attrs[sc.SERVICE_NAME])

    if shadowed:  # keep what no field used: unread names and compat names after a field's value
        kept = [k for k in attrs if (slot := slots.get(k)) is None or slot[1] > ranks[slot[0]]]
    else:
        kept = others
    rest: dict[str, str] = {}
    for key in kept:  # a loop, not a comprehension: cheaper for the usual two or three keys
        if key not in _KIND_HINTS and key not in flattened:
            value = attrs[key]
            rest[key] = value if type(value) is str else _attribute_text(value)
    return (
        project or _text(values[_PROJECT]) or _text(resource.get(sc.LLMTRACE_PROJECT)) or DEFAULT_PROJECT,
        record.trace_id,  # trace_id
        record.span_id,  # span_id
        record.parent_span_id or "",  # parent_span_id
        record.name[:1024],  # name
        kind,
        service_name or "unknown_service",  # service_name
        environment,
        start_ns // 1000,  # start_time (µs)
        record.end_ns // 1000,  # end_time (µs)
        (record.end_ns - start_ns) / 1e6,  # duration_ms
        status,
        error_type,
        error_message[:8192],  # error_message
        provider,
        operation,
        request_model,
        response_model,
        input_tokens or 0,  # input_tokens
        output_tokens or 0,  # output_tokens
        cached or 0,  # cached_input_tokens
        cache_write or 0,  # cache_write_tokens
        reasoning or 0,  # reasoning_tokens
        usage_source,
        cost,  # cost_usd
        ttft_ms,
        finish_reason,
        _text(values[_PROMPT_NAME]),  # prompt_name
        _text(values[_PROMPT_VERSION]),  # prompt_version
        _text(values[_USER_ID]),  # user_id
        _text(values[_SESSION_ID]),  # session_id
        tags,
        input_text[:MAX_TEXT_CHARS],  # input
        output_text[:MAX_TEXT_CHARS],  # output
        min(output_chars, _UINT32_MAX),  # output_chars
        rest,  # attributes
    )


def span_rows(
    records: list[tuple[int, SpanRecord]],
    project: str | None,
    prices: PriceBook | None,
    now_ns: int,
    max_age_days: int,
    max_future_skew_ns: int,
) -> tuple[list[tuple[Any, ...]], list[int], list[tuple[int, Exception]]]:
    """:func:`span_values` of every ``(index, record)``: (rows, each row's index, (index, error) of
    each span that could not be mapped).

    The server's ingest loop, here rather than in its caller so that mypyc compiles it: the loop
    and a native call per span instead of an interpreted loop and a keyword call (~0.5 µs a span).
    Any exception rejects its span alone (a mapping bug must never cost the batch); the caller
    tells :class:`InvalidSpan` from the others, which it logs.
    """
    rows: list[tuple[Any, ...]] = []
    positions: list[int] = []
    failed: list[tuple[int, Exception]] = []
    for index, record in records:
        try:
            row = span_values(
                record,
                project=project,
                prices=prices,
                now_ns=now_ns,
                max_age_days=max_age_days,
                max_future_skew_ns=max_future_skew_ns,
            )
        except Exception as exc:
            failed.append((index, exc))
            continue
        rows.append(row)
        positions.append(index)
    return rows, positions, failed


def call_cost(
    book: PriceBook,
    provider: str,
    response_model: str,
    request_model: str,
    tokens: tuple[int, int, int, int, int],
    start_ns: int,
    tier: str | None = None,
    cache_write_1h: int = 0,
    web_searches: int = 0,
) -> float | None:
    """The price of a call whose span carries no cost: of the response's model, else of the
    requested one (e.g. an unpriced dated snapshot), at the service tier that served it (see
    :func:`service_tier`), with the part of the cache writes kept an hour and the web searches
    where the span says (Logfire's raw usage). Shared with the C column reader
    (:mod:`llmtrace_server.cwire`), which calls it for every span it prices."""
    model = response_model or request_model
    cost = _cost(book, provider, model, tokens, start_ns, tier, cache_write_1h, web_searches)
    if cost is None and request_model and request_model != model:
        cost = _cost(book, provider, request_model, tokens, start_ns, tier, cache_write_1h, web_searches)
    return cost


def _with_unreported_thoughts(
    attributes: Mapping[str, Any], input_tokens: int, output_tokens: int, reasoning: int | None
) -> tuple[int, int | None]:
    """(output, reasoning tokens) of a Gemini call, with the thoughts its output tokens leave out.

    Gemini reports the thoughts of a thinking call (2.5's default) apart from the answer's
    tokens, and its total counts both. OpenLLMetry sends the answer's alone as output tokens and
    the total as well: what the total holds beyond input and output is the thoughts, output as
    the OTel conventions count it and billed at the output rate (without them such a call is
    priced at a fraction of its cost). Tool-use prompt tokens (Gemini's built-in tools) are in
    that total too and cannot be told apart from thoughts: counted as thoughts.
    """
    total = None
    for name in sc.USAGE_TOTAL_TOKENS_NAMES:
        total = attributes.get(name)
        if total is not None:
            break
    if type(total) is not int:
        return output_tokens, reasoning
    thoughts = total - input_tokens - output_tokens
    if thoughts <= 0 or output_tokens + thoughts > _UINT32_MAX:
        return output_tokens, reasoning
    return output_tokens + thoughts, max(reasoning or 0, thoughts)


def service_tier(attributes: Mapping[str, Any]) -> str | None:
    """The first non-empty string among a span's :data:`SERVICE_TIER_NAMES`, or None."""
    for name in SERVICE_TIER_NAMES:
        value = attributes.get(name)
        if type(value) is str and value:
            return value
    return None


def _cost(
    book: PriceBook,
    provider: str,
    model: str,
    tokens: tuple[int, int, int, int, int],
    start_ns: int,
    tier: str | None,
    cache_write_1h: int,
    web_searches: int,
) -> float | None:
    """Price ``tokens`` (input, output, cache read, cache write, reasoning) of one call of ``model``."""
    return book.cost_usd(
        provider=provider,
        model=model,
        input_tokens=tokens[0],
        output_tokens=tokens[1],
        cached_input_tokens=tokens[2],
        cache_write_tokens=tokens[3],
        reasoning_tokens=tokens[4],
        when_ns=start_ns,
        service_tier=tier,
        cache_write_1h_tokens=cache_write_1h,
        web_searches=web_searches,
    )


def _tokens(value: Any, name: str) -> int | None:
    """A token count attribute: a non-negative integer (an integral float is accepted) or absent."""
    if value is None:
        return None
    if type(value) is int and 0 <= value <= _UINT32_MAX:
        return value
    if isinstance(value, bool) or not isinstance(value, _NUMBER):
        raise InvalidSpan(f"attribute {name!r} must be an integer token count, got {type(value).__name__}")
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidSpan(f"attribute {name!r} must be a finite integer token count, got {value!r}")
    if value < 0 or value != int(value):
        raise InvalidSpan(f"attribute {name!r} must be a non-negative integer, got {value!r}")
    if value > _UINT32_MAX:
        raise InvalidSpan(f"attribute {name!r} is out of range: {value!r}")
    return int(value)


def _non_negative(value: Any, what: str) -> float:
    """A non-negative, finite number as a float: Infinity or NaN would fail the rollups' INSERT
    (their histograms convert the value to an integer bucket), so they reject the span here."""
    if isinstance(value, bool) or not isinstance(value, _NUMBER):
        raise InvalidSpan(f"{what} must be a non-negative number, got {value!r}"[:300])
    try:
        number = float(value)
    except OverflowError:
        raise InvalidSpan(f"{what} is out of range: {value!r}"[:300]) from None
    if not math.isfinite(number):
        raise InvalidSpan(f"{what} must be a finite number, got {value!r}")
    if number < 0:
        raise InvalidSpan(f"{what} must be a non-negative number, got {value!r}")
    return number


def _check_ids(record: SpanRecord) -> None:
    trace_id, span_id = record.trace_id, record.span_id
    if (  # the usual case: two well-formed, non-zero ids (strip: no regex call, no concatenation)
        type(trace_id) is str
        and type(span_id) is str
        and len(trace_id) == 32
        and len(span_id) == 16
        and not trace_id.strip(_HEX_DIGITS)
        and not span_id.strip(_HEX_DIGITS)
        and trace_id != _ZERO_TRACE
        and span_id != _ZERO_SPAN
    ):
        pass
    elif not isinstance(trace_id, str) or not _TRACE_ID.fullmatch(trace_id) or trace_id == _ZERO_TRACE:
        raise InvalidSpan(f"trace_id must be 32 lowercase hex characters and not all zero, got {trace_id!r}")
    elif not isinstance(span_id, str) or not _SPAN_ID.fullmatch(span_id) or span_id == _ZERO_SPAN:
        raise InvalidSpan(f"span_id must be 16 lowercase hex characters and not all zero, got {span_id!r}")
    if record.parent_span_id and not _SPAN_ID.fullmatch(record.parent_span_id):
        raise InvalidSpan(
            f"parent_span_id must be 16 lowercase hex characters, got {record.parent_span_id!r}"
        )


def _check_times(record: SpanRecord, now_ns: int, max_age_days: int, max_future_skew_ns: int) -> None:
    if not isinstance(record.start_ns, int) or not isinstance(record.end_ns, int) or record.start_ns <= 0:
        raise InvalidSpan("start and end times must be positive Unix nanoseconds")
    if record.end_ns < record.start_ns:
        raise InvalidSpan("end time is before start time")
    if record.start_ns > now_ns + max_future_skew_ns:
        raise InvalidSpan(f"start time is more than {max_future_skew_ns // 10**9} s in the future")
    if max_age_days and record.start_ns < now_ns - max_age_days * _DAY_NS:
        raise InvalidSpan(
            f"start time is older than the store's retention of {max_age_days} days (the TTL would delete it)"
        )
    if (
        record.end_ns >= 2**63 or record.start_ns < 10**18 // 1000
    ):  # before 1970-01-12: almost surely seconds or ms
        raise InvalidSpan("timestamps must be Unix epoch nanoseconds")


def _check_attribute(key: str, value: Any) -> None:
    if not isinstance(key, str) or not key or len(key) > 1024:
        raise InvalidSpan(f"attribute key {key!r} is empty or too long")
    size = len(value) if isinstance(value, _TEXT) else 0
    if isinstance(value, _SEQUENCE):
        for item in value:
            size += len(item) if isinstance(item, _TEXT) else 8
    if size > MAX_ATTRIBUTE_CHARS:
        raise InvalidSpan(f"attribute {key!r} is {size} characters, over the {MAX_ATTRIBUTE_CHARS} limit")


def _kind(explicit: Any, operation: str, attrs: Mapping[str, Any], model: str) -> str:
    if explicit:
        return str(explicit).lower()
    oi = attrs.get(sc.OPENINFERENCE_SPAN_KIND)
    oi = "" if oi is None else str(oi).upper()
    if oi == "LLM":
        return sc.KIND_LLM
    if oi == "EMBEDDING":
        return sc.KIND_EMBEDDING
    if oi == "TOOL":
        return sc.KIND_TOOL
    if operation in _EMBEDDING_OPERATIONS:
        return sc.KIND_EMBEDDING
    if operation in _LLM_OPERATIONS:
        return sc.KIND_LLM
    if operation == sc.OP_EXECUTE_TOOL or str(attrs.get(sc.TRACELOOP_SPAN_KIND, "")).lower() == "tool":
        return sc.KIND_TOOL
    if model and not oi:  # a span that names a model but no operation is still an LLM call
        return sc.KIND_LLM
    return sc.KIND_SPAN


def _status(record: SpanRecord, explicit: str, error_type: str) -> tuple[str, str, str]:
    """(status, error_type, error_message) from the OTel status, ``llmtrace.status`` and exception events."""
    message = ""
    for name, event_attrs in record.events:
        if name == "exception":
            error_type = error_type or _text(event_attrs.get(sc.EXCEPTION_TYPE))
            message = message or _text(event_attrs.get(sc.EXCEPTION_MESSAGE))
    if explicit == sc.STATUS_CANCELLED:
        return sc.STATUS_CANCELLED, error_type, message or record.status_message
    if record.status_code == "error" or explicit == sc.STATUS_ERROR:
        return sc.STATUS_ERROR, error_type or "_OTHER", message or record.status_message
    return sc.STATUS_OK, "", ""


def _first(mapping: Mapping[str, Any], keys: Sequence[str]) -> Any:
    for key in keys:
        if mapping.get(key):
            return mapping[key]
    return None


def _text(value: Any) -> str:
    if type(value) is str:  # first: almost every call
        return value
    if value is None:
        return ""
    if isinstance(value, _CONTAINER):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def _attribute_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return _text(value)
