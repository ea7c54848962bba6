"""The C column reader: an OTLP protobuf trace body straight into the `spans` Arrow table.

Why: the Python path (:mod:`llmtrace_server.otlp_wire`, :func:`llmtrace.store.rows.span_values`,
:func:`llmtrace.store.arrow.span_table`) makes a Python object for every value of every span, maps
them, and pyarrow then reads and checks each one again. The extension ``llmtrace_server._cwire``
(``_cwire.c``) appends each column value to a raw buffer instead; this module turns the buffers
into Arrow arrays (``pa.Array.from_buffers``: no copy, no per-value work).

The C reader covers the common shape, and *declines* the whole body otherwise (it returns None and
the caller takes the Python path, whose results and rejection messages are the reference):

* every span attribute name is the first name of the field it feeds (llmtrace's and OTel GenAI
  v1.41's, e.g. ``gen_ai.usage.input_tokens``) with the kind rows.py reads (string; integer token
  counts within uint32; a finite non-negative double cost; a one-string finish-reasons array with
  a known value), or a name no field, dialect or kind hint reads, holding a string, integer,
  double, bool or nothing (kept in ``attributes``). llmtrace's SDK names are read too: an ASCII
  ``llmtrace.span.kind``; ``llmtrace.status`` / ``llmtrace.usage.source`` strings; a non-negative
  int or finite double ``llmtrace.ttft_ms`` / ``gen_ai.response.time_to_first_chunk``; an int,
  double or bool ``llmtrace.output.chars``; ``llmtrace.input`` / ``llmtrace.output`` when the
  GenAI messages name of the same field is absent. ``gen_ai.system_instructions``
  (a string) is joined to the input by :func:`llmtrace.store.dialects.with_system`, called back
  per span. ``llmtrace.tags``: a string, or an array of strings.
* the resource's ``service.name`` and ``deployment.environment.name`` are strings, and it has no
  ``deployment.environment`` or ``llmtrace.project``;
* events are read for what the mapping takes of them (an exception event's ``exception.type`` and
  ``exception.message`` as strings, OpenInference's first-token time); an error type that
  :func:`llmtrace.store.dialects.error_type_name` would rewrite (``openai.RateLimitError``) declines;
* ids and times pass rows.py's checks, a span id appears once, names are at most 1,024 bytes and
  error messages 8,192 (rows.py cuts longer ones by characters);
* the wire holds nothing :mod:`llmtrace_server.otlp_wire` refuses (invalid UTF-8 anywhere, a
  repeated singular message, unknown AnyValue fields, ...).

The span's service tier (:data:`llmtrace.store.rows.SERVICE_TIER_NAMES`) is kept in ``attributes``
like any other name and handed to pricing. Only pricing (:func:`llmtrace.store.rows.call_cost`,
per span priced) and the system instructions (above) call back into Python.
The extension is built with the wheel (``hatch_build.py``); without it (an editable install, no
compiler) :data:`READER` is None and every body takes the Python path, with the same results.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pyarrow as pa

from llmtrace._internal import semconv as sc
from llmtrace._internal.pricing import default_price_book
from llmtrace.store import dialects, rows
from llmtrace.store.arrow import SPAN_SCHEMA

_DECLINE = -1
# rows.py's fields the C reader fills, in the order of its F_* codes (_cwire.c).
_FIELDS = (
    rows._OPERATION,
    rows._PROVIDER,
    rows._REQUEST_MODEL,
    rows._RESPONSE_MODEL,
    rows._INPUT_TOKENS,
    rows._OUTPUT_TOKENS,
    rows._CACHED_TOKENS,
    rows._CACHE_WRITE_TOKENS,
    rows._REASONING_TOKENS,
    rows._ERROR_TYPE,
    rows._COST,
    rows._FINISH,
    rows._INPUT,
    rows._OUTPUT,
    rows._PROMPT_NAME,
    rows._PROMPT_VERSION,
    rows._USER_ID,
    rows._SESSION_ID,
    rows._ENVIRONMENT,
    rows._SPAN_KIND,
    rows._USAGE_SOURCE,
    rows._STATUS,
    rows._TTFT_MS,
    rows._TTFT_S,
    rows._OUTPUT_CHARS,
    rows._SYSTEM,
    rows._TAGS,
)
# Fields whose second name llmtrace's SDK sets (``llmtrace.input`` / ``llmtrace.output`` of an
# ``@trace`` span): read as the first; a span carrying both names declines (rows.py's precedence).
_SECOND_NAMES = (rows._INPUT, rows._OUTPUT)
# Names rows.py or dialects.py read outside the fields (a span holding one declines).
_SPECIAL_NAMES = (
    *rows._KIND_HINTS,
    sc.SERVICE_NAME,
    sc.GEN_AI_USAGE_RAW,
    sc.LOGFIRE_SPAN_TYPE,
    *sc.LLM_INVOCATION_PARAMETERS_NAMES,
)
# The constants _cwire.c writes or compares as literals: if one of them changes in Python, the C
# reader is not used (a wrong column is worse than a slower one).
_C_LITERALS = (
    (sc.KIND_LLM, "llm"),
    (sc.KIND_EMBEDDING, "embedding"),
    (sc.KIND_TOOL, "tool"),
    (sc.KIND_SPAN, "span"),
    (sc.OP_EXECUTE_TOOL, "execute_tool"),
    (sc.STATUS_OK, "ok"),
    (sc.STATUS_ERROR, "error"),
    (sc.STATUS_CANCELLED, "cancelled"),
    (sc.USAGE_ESTIMATED, "estimated"),
    (sc.EXCEPTION_TYPE, "exception.type"),
    (sc.EXCEPTION_MESSAGE, "exception.message"),
    (sc.OPENINFERENCE_FIRST_TOKEN_EVENT, "First Token Stream Event"),
    (sc.USAGE_REPORTED, "reported"),
    (sc.USAGE_NONE, "none"),
    (sc.SERVICE_NAME, "service.name"),
    (sc.LLMTRACE_PROJECT, "llmtrace.project"),
    (rows._ENVIRONMENT_NAMES, ("deployment.environment.name", "deployment.environment")),
    (rows._LLM_OPERATIONS, {"chat", "text_completion", "generate_content", "completion", "responses"}),
    (rows._EMBEDDING_OPERATIONS, {"embeddings", "embedding"}),
    (set(dialects.OPERATION_ALIASES), {"completion", "embedding"}),
    (rows.MAX_ATTRIBUTE_CHARS, 256 * 1024),
    (rows.MAX_COST_USD, 1e9),
    (
        sc.USAGE_TOTAL_TOKENS_NAMES,
        ("gen_ai.usage.total_tokens", "llm.usage.total_tokens", "llm.token_count.total"),
    ),
    (
        rows.SERVICE_TIER_NAMES,
        (
            "openai.response.service_tier",
            "gen_ai.openai.response.service_tier",
            "openai.request.service_tier",
            "gen_ai.openai.request.service_tier",
        ),
    ),
)


def _name_codes() -> dict[bytes, int]:
    codes: dict[bytes, int] = {name.encode(): _DECLINE for name in rows._SLOTS}
    for code, field in enumerate(_FIELDS):
        codes[rows._FIELD_NAMES[field][0].encode()] = code
        if field in _SECOND_NAMES:
            codes[rows._FIELD_NAMES[field][1].encode()] = code
    for name in _SPECIAL_NAMES:
        codes[name.encode()] = _DECLINE
    return codes


def _price(
    provider: str,
    response_model: str,
    request_model: str,
    i: int,
    o: int,
    c: int,
    w: int,
    r: int,
    start_ns: int,
    tier: str | None,
) -> float | None:
    return rows.call_cost(
        default_price_book, provider, response_model, request_model, (i, o, c, w, r), start_ns, tier
    )


def _with_system(system: str, input_text: str) -> str:
    """The input column of a span with ``gen_ai.system_instructions`` (JSON parsing and writing,
    so it stays in Python: called per span that carries one)."""
    return dialects.with_system(system, input_text)[: rows.MAX_TEXT_CHARS]


class ColumnReader:
    """The C reader of one loaded ``_cwire`` extension module (configured once, here)."""

    def __init__(self, extension: ModuleType) -> None:
        extension.configure(
            _name_codes(),
            tuple(prefix.encode() for prefix in rows._FLATTENED_PREFIXES),
            {key.encode(): value.encode() for key, value in dialects.FINISH_REASONS.items()},
            tuple(alias.encode() for alias in sc.PROVIDER_ALIASES),
        )
        self._decode: Callable[..., Any] = extension.decode

    def span_table(
        self,
        body: bytes,
        project: str,
        max_age_days: int = 0,
        max_future_skew_ns: int = rows.MAX_FUTURE_SKEW_NS,
        now_ns: int | None = None,
    ) -> pa.Table | None:
        """The table :func:`llmtrace_server.ingest.prepare` makes of ``body``'s spans, or None:
        the body holds something the C reader leaves to the Python path."""
        now = time.time_ns() if now_ns is None else now_ns
        result = self._decode(body, project, now, max_age_days, max_future_skew_ns, _price, _with_system)
        if result is None:
            return None
        count, columns = result
        if not count:
            return SPAN_SCHEMA.empty_table()
        arrays = [_array(field, count, parts) for field, parts in zip(SPAN_SCHEMA, columns, strict=True)]
        return pa.Table.from_arrays(arrays, schema=SPAN_SCHEMA)


def _array(field: pa.Field, count: int, parts: tuple[bytes, ...]) -> pa.Array:
    """One column from the C reader's buffers (see ``table_result`` in _cwire.c)."""
    kind = field.type
    buffers = [pa.py_buffer(part) for part in parts]
    if pa.types.is_string(kind):
        return pa.Array.from_buffers(kind, count, [None, *buffers])
    if pa.types.is_list(kind):  # tags: list offsets, then the strings' offsets and bytes
        items = len(parts[1]) // 4 - 1
        strings = pa.Array.from_buffers(kind.value_type, items, [None, buffers[1], buffers[2]])
        return pa.Array.from_buffers(kind, count, [None, buffers[0]], children=[strings])
    if pa.types.is_map(kind):
        offsets, key_offsets, keys, value_offsets, values = buffers
        entries = len(parts[1]) // 4 - 1
        key_array = pa.Array.from_buffers(pa.string(), entries, [None, key_offsets, keys])
        value_array = pa.Array.from_buffers(pa.string(), entries, [None, value_offsets, values])
        struct = pa.StructArray.from_arrays(
            [key_array, value_array], fields=[kind.key_field, kind.item_field]
        )
        return pa.Array.from_buffers(kind, count, [None, offsets], children=[struct])
    if len(buffers) == 2:  # a nullable double: validity bitmap, values
        return pa.Array.from_buffers(kind, count, buffers, null_count=-1)
    return pa.Array.from_buffers(kind, count, [None, buffers[0]])


def _load() -> ColumnReader | None:
    if any(python != c for python, c in _C_LITERALS):
        return None
    try:
        from llmtrace_server import _cwire  # type: ignore[attr-defined]  # built with the wheel only
    except ImportError:
        return None
    return ColumnReader(_cwire)


READER = _load()
