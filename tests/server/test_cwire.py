"""The C column reader (``_cwire.c`` via :mod:`llmtrace_server.cwire`) against the Python path.

Differential: for every body, the C reader either declines (None) or returns exactly the table
:func:`llmtrace_server.ingest.prepare` makes of the Python decode, with nothing rejected. The
editable install has no compiled extension, so this builds ``_cwire.c`` itself (setuptools, into a
temporary directory); only a machine without a C compiler skips, and says so. Against the compiled
wheel (tests/test_packaging.py) it uses the wheel's own extension.
"""

from __future__ import annotations

import importlib.util
import random
import shutil
import subprocess
import sys
import sysconfig
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from llmtrace._internal.pricing import PriceBook
from llmtrace_server import cwire, ingest, otlp
from tests.server.otlp_build import key_values, request, span

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
import ingest as bench_ingest  # noqa: E402  (benchmarks/ingest.py: the light workload's batches)
from decode_sdk import sdk_body  # noqa: E402  (benchmarks/decode_sdk.py: bodies as llmtrace's SDK sends)
from genai_workload import GenAiBatches  # noqa: E402

NOW = time.time_ns()
PROJECT = "p1"

_SETUP = """\
from setuptools import Extension, setup
setup(name="cwire-test", ext_modules=[Extension("_cwire", [{source!r}], extra_compile_args=["-O1"])])
"""


@pytest.fixture(scope="module")
def reader(tmp_path_factory: pytest.TempPathFactory) -> cwire.ColumnReader:
    if cwire.READER is not None:  # the compiled wheel: test its own extension
        return cwire.READER
    compiler = sysconfig.get_config_var("CC") or "cc"
    if shutil.which(compiler.split()[0]) is None:
        pytest.skip(f"no C compiler ({compiler}): the C reader cannot be built here")
    work = tmp_path_factory.mktemp("cwire")
    source = ROOT / "server" / "llmtrace_server" / "_cwire.c"
    (work / "setup.py").write_text(_SETUP.format(source=str(source)))
    subprocess.run(
        [
            sys.executable,
            "setup.py",
            "build_ext",
            "--build-lib",
            str(work / "lib"),
            "--build-temp",
            str(work / "t"),
        ],
        cwd=work,
        check=True,
        capture_output=True,
        timeout=300,
    )
    (built,) = (work / "lib").glob("_cwire*.so")
    spec = importlib.util.spec_from_file_location("_cwire", built)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return cwire.ColumnReader(module)


def _python_path(body: bytes) -> ingest.PreparedBatch | None:
    try:
        return ingest.prepare(otlp.decode(body, otlp.PROTOBUF), PROJECT, None)
    except otlp.MalformedBody:
        return None


def _same_or_declined(reader: cwire.ColumnReader, body: bytes) -> bool:
    """Assert the C reader's answer is the Python path's; True when it did not decline."""
    table = reader.span_table(body, PROJECT, now_ns=NOW)
    if table is None:
        return False
    prepared = _python_path(body)
    assert prepared is not None, "the C reader read a body the Python path refuses"
    assert prepared.rejected == [] and prepared.duplicates == 0
    if not table.equals(prepared.spans):
        diff = [n for n in table.column_names if not table[n].equals(prepared.spans[n])]
        raise AssertionError(f"columns differ: {diff}: {[table[n][:2] for n in diff]}")
    return True


def _body(*spans: Span, resource: dict[str, Any] | None = None) -> bytes:
    return request(list(spans), resource).SerializeToString()


def test_genai_and_light_workloads_are_read_in_c_exactly(reader: cwire.ColumnReader) -> None:
    genai = GenAiBatches(3, NOW, templates=6)
    bodies = [genai.body(seq) for seq in range(6)]
    bodies += [bench_ingest._batch(random.Random(seq), seq, NOW, seq % 2 == 1) for seq in range(4)]
    for body in bodies:
        assert _same_or_declined(reader, body)


def test_sdk_workload_is_read_in_c_exactly(reader: cwire.ColumnReader) -> None:
    for seed in range(3):
        assert _same_or_declined(reader, sdk_body(seed, NOW))


GENAI_ATTRS: dict[str, Any] = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "OpenAI",
    "gen_ai.request.model": "gpt-4o-mini",
    "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
    "gen_ai.usage.input_tokens": 12,
    "gen_ai.usage.output_tokens": 7,
    "gen_ai.usage.cache_read.input_tokens": 3,
    "gen_ai.usage.cache_creation.input_tokens": 1,
    "gen_ai.usage.reasoning.output_tokens": 2,
    "gen_ai.response.finish_reasons": ["end_turn"],
    "gen_ai.input.messages": '[{"role": "user", "parts": [{"type": "text", "content": "héllo ✓ 𝄞"}]}]',
    "gen_ai.output.messages": "ünïcödé ✓ 𝄞 out",
    "llmtrace.prompt.name": "p",
    "llmtrace.prompt.version": "7",
    "user.id": "u",
    "session.id": "s",
    "deployment.environment.name": "staging",
}


@pytest.mark.parametrize(
    "attrs",
    [
        GENAI_ATTRS,
        {},
        {
            "gen_ai.operation.name": "embeddings",
            "gen_ai.request.model": "text-embedding-3-small",
            "gen_ai.usage.input_tokens": 5,
        },
        {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "t"},
        {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "a"},
        {"gen_ai.request.model": "gpt-4o", "gen_ai.usage.output_tokens": 0},  # a model, no operation
        {"gen_ai.request.model": "no-such-model", "gen_ai.usage.input_tokens": 10},  # unpriced
        {**GENAI_ATTRS, "llmtrace.cost.usd": 0.25},
        {**GENAI_ATTRS, "llmtrace.cost.usd": 1e9},  # rows.MAX_COST_USD, the most one span may cost
        {**GENAI_ATTRS, "llmtrace.cost.usd": -0.0},
        {**GENAI_ATTRS, "gen_ai.usage.input_tokens": 2**32 - 1},
        {"error.type": "RateLimitError"},
        # every scalar AnyValue kind in `attributes`
        {"s": "", "big": 2**63 - 1, "neg": -(2**63), "zero": 0, "t": True, "f": False},
        {"d1": 0.1, "d2": 1e22, "d3": -0.0, "d4": float("inf"), "d5": float("nan"), "d6": 5e-324, "d7": 2.0},
        {"x" * 1024: "key of 1024 bytes", "ключ": "значение"},
        {"gen_ai.input.messages": "x" * (256 * 1024)},  # at the size limit
    ],
)
@pytest.mark.parametrize("error", [False, True])
def test_shapes_read_in_c_match_python(
    reader: cwire.ColumnReader, attrs: dict[str, Any], error: bool
) -> None:
    body = _body(
        span(attrs, error=error), resource={"service.name": "svc", "deployment.environment.name": "prod"}
    )
    assert _same_or_declined(reader, body)


GPT5_CALL: dict[str, Any] = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "gpt-5",
    "gen_ai.usage.input_tokens": 3000,
    "gen_ai.usage.output_tokens": 700,
}


@pytest.mark.parametrize(
    ("tiers", "priced"),
    [
        ({"openai.response.service_tier": "flex"}, "flex"),
        ({"gen_ai.openai.response.service_tier": "priority"}, "priority"),  # the name before v1.37
        ({"openai.request.service_tier": "flex"}, "flex"),  # no response tier: the one requested
        ({"gen_ai.openai.request.service_tier": "priority"}, "priority"),
        ({"openai.request.service_tier": "flex", "openai.response.service_tier": "default"}, None),
        ({"openai.response.service_tier": "", "openai.request.service_tier": "priority"}, "priority"),
        ({"openai.response.service_tier": 2, "openai.request.service_tier": "flex"}, "flex"),  # not a string
        ({"openai.response.service_tier": "auto"}, None),
        ({}, None),
    ],
)
def test_the_service_tier_prices_the_call_in_c_as_in_python(
    reader: cwire.ColumnReader, tiers: dict[str, Any], priced: str | None
) -> None:
    """A foreign span's tier (OpenAI's flex at about half the standard price, priority at about
    twice) is priced by the C reader, without declining, as by the Python path; and stays in
    ``attributes``."""
    start = NOW - 60_000_000_000
    body = _body(span({**GPT5_CALL, **tiers}, start_ns=start))
    assert _same_or_declined(reader, body), "declined"
    table = reader.span_table(body, PROJECT, now_ns=NOW)
    assert table is not None
    expected = PriceBook().cost_usd(
        provider="openai",
        model="gpt-5",
        input_tokens=3000,
        output_tokens=700,
        when_ns=start,
        service_tier=priced,
    )
    standard = PriceBook().cost_usd(provider="openai", model="gpt-5", input_tokens=3000, output_tokens=700)
    assert expected is not None and (expected != standard) == (priced is not None)
    assert table["cost_usd"][0].as_py() == pytest.approx(expected, rel=1e-12)
    assert {k for k, _ in table["attributes"][0].as_py()} == set(tiers)


GEMINI_CALL: dict[str, Any] = {
    "gen_ai.operation.name": "generate_content",
    "gen_ai.provider.name": "gcp.gen_ai",
    "gen_ai.request.model": "gemini-2.5-flash",
    "gen_ai.usage.input_tokens": 1000,
    "gen_ai.usage.output_tokens": 200,
}


@pytest.mark.parametrize(
    ("call", "total", "read_in_c", "output"),
    [
        (GEMINI_CALL, {"gen_ai.usage.total_tokens": 2000}, False, 1000),  # 800 thoughts: Python adds them
        (GEMINI_CALL, {"llm.usage.total_tokens": 2000}, False, 1000),
        (GEMINI_CALL, {"llm.token_count.total": 2000}, False, 1000),
        (GEMINI_CALL, {"gen_ai.usage.total_tokens": 1200}, True, 200),  # no thoughts
        (GEMINI_CALL, {"gen_ai.usage.total_tokens": 900}, True, 200),
        (GEMINI_CALL, {"gen_ai.usage.total_tokens": 2000.0}, True, 200),  # not a count: as sent
        (GEMINI_CALL, {}, True, 200),
        (
            {k: v for k, v in GEMINI_CALL.items() if "input" not in k},
            {"gen_ai.usage.total_tokens": 2000},
            True,
            200,
        ),
        ({**GEMINI_CALL, "gen_ai.provider.name": "openai"}, {"gen_ai.usage.total_tokens": 2000}, False, 200),
    ],
)
def test_a_total_beyond_input_and_output_is_left_to_python(
    reader: cwire.ColumnReader, call: dict[str, Any], total: dict[str, Any], read_in_c: bool, output: int
) -> None:
    """A Gemini call's thoughts, which OpenLLMetry leaves out of its output tokens but counts in
    its total, are added by the Python path (rows._with_unreported_thoughts): the C reader
    declines a span whose total exceeds its input and output, and reads the others as Python does."""
    body = _body(span({**call, **total}))
    assert _same_or_declined(reader, body) is read_in_c
    prepared = _python_path(body)
    assert prepared is not None and prepared.spans["output_tokens"].to_pylist() == [output]


@pytest.mark.parametrize(
    ("sent", "read_in_c", "stored"),
    [
        ("google", False, "gcp.gen_ai"),
        ("Google", False, "gcp.gen_ai"),  # lowercased first, as rows.py does
        ("AWS", False, "aws.bedrock"),
        ("vertex_ai", False, "gcp.vertex_ai"),
        ("googlex", True, "googlex"),  # (an alias's prefix or extension is not one)
        ("goog", True, "goog"),
        ("OpenAI", True, "openai"),
        ("gcp.gemini", True, "gcp.gemini"),
    ],
)
def test_a_provider_alias_is_left_to_python(
    reader: cwire.ColumnReader, sent: str, read_in_c: bool, stored: str
) -> None:
    """Another name of a well-known provider (OpenInference's ``google``, ``aws``, ...) is written
    as the well-known one by the Python path: the C reader declines it, and reads the rest as
    Python does."""
    body = _body(span({**GEMINI_CALL, "gen_ai.provider.name": sent}))
    assert _same_or_declined(reader, body) is read_in_c
    prepared = _python_path(body)
    assert prepared is not None and prepared.spans["provider"].to_pylist() == [stored]


def test_resource_shapes(reader: cwire.ColumnReader) -> None:
    for resource in (
        {},
        {"service.name": ""},
        {"deployment.environment.name": "prod", "host": {"a": [1, 2.5, b"\x00"], "b": {}}, "raw": b"\xff"},
    ):
        assert _same_or_declined(reader, _body(span(GENAI_ATTRS), span({}), resource=resource))
    no_resource = ExportTraceServiceRequest()
    scopes = no_resource.resource_spans.add()
    for _ in range(2):
        scopes.scope_spans.add().spans.extend([span(GENAI_ATTRS), span({"a": 1})])
    assert _same_or_declined(reader, no_resource.SerializeToString())


def test_links_unknown_fields_and_empty_bodies(reader: cwire.ColumnReader) -> None:
    linked = span(GENAI_ATTRS, parent_span_id="1" * 16)
    link = linked.links.add(trace_id=b"\x01" * 16, span_id=b"\x02" * 8, trace_state="a=b")
    link.attributes.extend(key_values({"k": [1, {"n": "v"}]}))
    body = _body(linked)
    assert _same_or_declined(reader, body)
    unknown = b"\xa2\x06\x03abc" + b"\xa8\x06\x05"  # field 100 (bytes) and field 101 (varint)
    assert _same_or_declined(reader, body + unknown)
    assert reader.span_table(b"", PROJECT, now_ns=NOW) == pa.Table.from_pylist([], schema=cwire.SPAN_SCHEMA)


def _event_span(exception: dict[str, Any] | None = None, *, error: bool = False) -> Span:
    s = span(GENAI_ATTRS, error=error)
    s.events.add(name="exception", time_unix_nano=s.start_time_unix_nano).attributes.extend(
        key_values(exception or {})
    )
    return s


@pytest.mark.parametrize(
    "events",
    [
        [("exception", {"exception.type": "ValueError", "exception.message": "bad ✓"})],
        [("exception", {"exception.message": ""}), ("exception", {"exception.type": "KeyError", "x": [1]})],
        [
            ("exception", {"exception.type": "A"}),
            ("exception", {"exception.type": "B", "exception.message": "m"}),
        ],
        [("exception", {"exception.type": None})],
        [("log", {"exception.type": "NotRead"}), ("First Token Stream Event", {})],
        [("First Token Stream Event", {}, -5), ("First Token Stream Event", {}, 1_234_567)],
        [("First Token Stream Event", {}, -1)],  # before the start: not a first token
        [("other", {"k": {"nested": [b"x"]}})],
    ],
)
@pytest.mark.parametrize("error", [False, True])
@pytest.mark.parametrize("error_type", [None, "TimeoutError"])
def test_events_read_in_c_match_python(
    reader: cwire.ColumnReader, events: list[tuple[Any, ...]], error: bool, error_type: str | None
) -> None:
    attrs = dict(GENAI_ATTRS)
    if error_type:
        attrs["error.type"] = error_type
    s = span(attrs, error=error)
    s.status.message = "from the status"
    for name, event_attrs, *offset in events:
        at = s.start_time_unix_nano + (offset[0] if offset else 1000)
        s.events.add(name=name, time_unix_nano=at).attributes.extend(
            KeyValue(key=k) if v is None else key_values({k: v})[0] for k, v in event_attrs.items()
        )
    assert _same_or_declined(reader, _body(s))


def _dup_key_span() -> Span:
    s = span({"a": "1"})
    s.attributes.append(KeyValue(key="a", value=AnyValue(string_value="2")))
    return s


def _no_value_span() -> Span:
    s = span({})
    s.attributes.append(KeyValue(key="gen_ai.request.model"))
    return s


def _same_span_twice() -> list[Span]:
    first = span({"a": 1})
    return [first, span({"a": 2}, trace_id=first.trace_id.hex(), span_id=first.span_id.hex())]


# What llmtrace's own SDK puts on its spans (llmtrace/_internal/tracing.py, integrations/_common.py).
SDK_LLM_ATTRS: dict[str, Any] = {
    **GENAI_ATTRS,
    "llmtrace.span.kind": "llm",
    "llmtrace.usage.source": "reported",
    "llmtrace.output.chars": 17,
    "llmtrace.ttft_ms": 123.5,
    "gen_ai.response.time_to_first_chunk": 0.1235,
    "gen_ai.request.stream": True,
    "openai.api.type": "chat_completions",
    "llmtrace.tool_calls": '[{"name": "f", "arguments": "{}", "id": "c1"}]',
}
SDK_TRACE_ATTRS: dict[str, Any] = {
    "llmtrace.span.kind": "span",
    "code.function.name": "app.handle",
    "llmtrace.input": '{"q": "héllo"}',
    "llmtrace.output": '"ünïcödé ✓"',
    "llmtrace.metadata.team": "search",
}


@pytest.mark.parametrize(
    "attrs",
    [
        SDK_LLM_ATTRS,
        SDK_TRACE_ATTRS,
        {**SDK_TRACE_ATTRS, "llmtrace.span.kind": "Tool"},  # lowercased
        {**SDK_TRACE_ATTRS, "llmtrace.span.kind": "agent"},
        {**SDK_TRACE_ATTRS, "llmtrace.span.kind": "not-a-kind"},  # any text: rows.py keeps it
        {**SDK_LLM_ATTRS, "llmtrace.span.kind": "EMBEDDING"},  # priced as an embedding
        {**SDK_LLM_ATTRS, "llmtrace.span.kind": "span"},  # a kind beats the operation: not priced
        {"llmtrace.span.kind": "llm", "gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": 9},
        {**SDK_LLM_ATTRS, "llmtrace.usage.source": "estimated"},
        {**SDK_LLM_ATTRS, "llmtrace.usage.source": "none"},
        {**SDK_LLM_ATTRS, "llmtrace.usage.source": "guessed"},  # unknown: from the token counts
        {"llmtrace.usage.source": "guessed"},
        {**SDK_LLM_ATTRS, "llmtrace.status": "cancelled"},
        {**SDK_LLM_ATTRS, "llmtrace.status": "error"},
        {**SDK_LLM_ATTRS, "llmtrace.status": "ok"},
        {**SDK_LLM_ATTRS, "llmtrace.status": "cancelled", "error.type": "TimeoutError"},
        {**SDK_LLM_ATTRS, "llmtrace.ttft_ms": 0},
        {**SDK_LLM_ATTRS, "llmtrace.ttft_ms": 2**63 - 1},
        {**SDK_LLM_ATTRS, "llmtrace.ttft_ms": -0.0},
        {**SDK_LLM_ATTRS, "llmtrace.ttft_ms": 5e-324},
        {"gen_ai.response.time_to_first_chunk": 0.25},
        {"gen_ai.response.time_to_first_chunk": 3},
        {"gen_ai.response.time_to_first_chunk": 1e300},
        {**SDK_LLM_ATTRS, "llmtrace.output.chars": 2**40},  # capped at 2**32 - 1
        {**SDK_LLM_ATTRS, "llmtrace.output.chars": -3},  # the output's length
        {**SDK_LLM_ATTRS, "llmtrace.output.chars": True},
        {**SDK_LLM_ATTRS, "llmtrace.output.chars": 4.0},
        {"llmtrace.output.chars": 0},
        {"llmtrace.input": "in", "gen_ai.output.messages": "out"},
        {"gen_ai.input.messages": "in", "llmtrace.output": "out"},
        {**SDK_TRACE_ATTRS, "llmtrace.tags": ["prod", "ü ✓", "𝄞"]},
        {**SDK_LLM_ATTRS, "llmtrace.tags": ["solo"]},
        {"llmtrace.tags": "one string"},
        {"llmtrace.tags": ["", "x", ""]},
        {"llmtrace.tags": ["x" * (128 * 1024), "y" * (128 * 1024)]},  # at the size limit
        # gen_ai.system_instructions joins the input (dialects.with_system, called back)
        {**SDK_LLM_ATTRS, "gen_ai.system_instructions": '[{"type": "text", "content": "Be brief ✓"}]'},
        {"gen_ai.system_instructions": "plain text, not JSON"},
        {"gen_ai.system_instructions": '{"type": "text", "content": "a dict"}'},
        {"gen_ai.system_instructions": "3.5", "gen_ai.input.messages": "not JSON"},
        {
            "gen_ai.system_instructions": "[]",
            "gen_ai.input.messages": '[{"role": "system", "parts": []}, {"role": "user", "parts": []}]',
        },
        {"gen_ai.system_instructions": '["x"]', "llmtrace.input": '{"q": 1.50, "e": "\\u00e9"}'},
    ],
)
@pytest.mark.parametrize("error", [False, True])
def test_sdk_shapes_read_in_c_match_python(
    reader: cwire.ColumnReader, attrs: dict[str, Any], error: bool
) -> None:
    body = _body(
        span(attrs, error=error),
        _event_span({"exception.type": "ValueError", "exception.message": "bad ✓"}, error=error),
        resource={"service.name": "svc"},
    )
    assert _same_or_declined(reader, body)


def test_sdk_cancelled_and_error_status_with_events(reader: cwire.ColumnReader) -> None:
    for status in ("cancelled", "error", "ok"):
        for error in (False, True):
            s = _event_span({"exception.type": "CancelledError", "exception.message": "gone"}, error=error)
            s.attributes.extend(key_values({"llmtrace.status": status, "llmtrace.span.kind": "llm"}))
            s.status.message = "status ✓"
            assert _same_or_declined(reader, _body(s))
            bare = span({"llmtrace.status": status}, error=error)
            bare.status.message = "only the status"
            assert _same_or_declined(reader, _body(bare))


@pytest.mark.parametrize(
    "attrs",
    [
        {"llmtrace.span.kind": "Ⅼlm"},  # str.lower() beyond ASCII
        {"llmtrace.span.kind": 3},
        {"llmtrace.span.kind": ""},
        {"llmtrace.status": 1},
        {"llmtrace.usage.source": True},
        {"llmtrace.ttft_ms": -1},  # rejected by rows.py
        {"llmtrace.ttft_ms": float("inf")},
        {"llmtrace.ttft_ms": float("nan")},
        {"llmtrace.ttft_ms": "12"},
        {"llmtrace.ttft_ms": True},
        {"gen_ai.response.time_to_first_chunk": 1e308},  # x 1000 is infinite: rejected
        {"gen_ai.response.time_to_first_chunk": -0.5},
        {"llmtrace.output.chars": "12"},
        {"llmtrace.input": "a", "gen_ai.input.messages": "b"},  # two names of one field
        {"llmtrace.output": "a", "gen_ai.output.messages": "b"},
        {"llmtrace.tags": []},
        {"llmtrace.tags": [1, 2]},
        {"llmtrace.tags": ["a", 1]},
        {"llmtrace.tags": ["x" * (128 * 1024), "y" * (128 * 1024 + 1)]},  # over the size limit
        {"gen_ai.system_instructions": 5},
        {"llmtrace.status": "cancelled", "error.type": "asyncio.CancelledError"},  # error_type_name
    ],
)
def test_sdk_shapes_left_to_python_decline(reader: cwire.ColumnReader, attrs: dict[str, Any]) -> None:
    assert reader.span_table(_body(span(attrs)), PROJECT, now_ns=NOW) is None


@pytest.mark.parametrize(
    ("spans", "resource"),
    [
        ([_event_span({"exception.type": 5}, error=True)], None),  # rows._text of an int
        ([_event_span({"exception.type": "openai.APIError"}, error=True)], None),  # error_type_name
        ([span({"gen_ai.system": "openai"})], None),  # a compat name
        ([span({"llmtrace.project": "t"})], None),  # a field read in a way not reproduced
        ([span({"openinference.span.kind": "LLM"})], None),  # a kind hint
        ([span({"gen_ai.prompt.0.content": "hi"})], None),  # flattened messages
        ([span({"service.name": "x"})], {}),  # the span's own service name
        ([span({"gen_ai.operation.name": "completion"})], None),  # an aliased operation
        ([span({"gen_ai.provider.name": "ÖpenAI"})], None),  # str.lower() beyond ASCII
        ([span({"gen_ai.usage.input_tokens": -1})], None),  # rejected by rows.py
        ([span({"gen_ai.usage.input_tokens": 2**32})], None),
        ([span({"llmtrace.cost.usd": 2e9})], None),  # over rows.MAX_COST_USD: rejected by rows.py
        ([span({"gen_ai.usage.input_tokens": 5.0})], None),  # a float token count
        ([span({"gen_ai.request.model": ""})], None),  # an empty value: the next name would be read
        ([span({"gen_ai.request.model": 4})], None),
        ([span({"gen_ai.response.finish_reasons": ["stop", "length"]})], None),
        ([span({"gen_ai.response.finish_reasons": ["whatever"]})], None),
        ([span({"tags": ["a"]})], None),  # an array in `attributes` (JSON text)
        ([span({"m": {"k": "v"}})], None),
        ([span({"b": b"\x01"})], None),
        ([span({"": "empty key"})], None),
        ([span({"x" * 1025: "v"})], None),
        ([span({"gen_ai.input.messages": "x" * (256 * 1024 + 1)})], None),  # rejected by rows.py
        ([span({"error.type": "openai.RateLimitError"}, error=True)], None),  # error_type_name rewrites
        ([span({}, name="n" * 1025)], None),
        ([span({}, start_ns=10**14)], None),  # seconds, not ns: rejected
        ([span({}, start_ns=NOW + 2 * 86400 * 10**9)], None),  # in the future
        ([span({}, raw_trace_id=b"\x00" * 16)], None),
        ([span({}, raw_span_id=b"\x01" * 7)], None),
        ([_dup_key_span()], None),
        ([_no_value_span()], None),
        (_same_span_twice(), None),
        ([span({})], {"deployment.environment": "prod"}),
        ([span({})], {"service.name": 5}),
        ([span({})], {"llmtrace.project": "other"}),
    ],
)
def test_shapes_left_to_python_decline(
    reader: cwire.ColumnReader, spans: list[Span], resource: dict[str, Any] | None
) -> None:
    assert reader.span_table(_body(*spans, resource=resource), PROJECT, now_ns=NOW) is None


def test_invalid_utf8_anywhere_declines(reader: cwire.ColumnReader) -> None:
    body = _body(span({"k": "MARK"}, name="NAMEMARK"), resource={"service.name": "svcMARK", "o": ["MARK"]})
    for at in range(body.count(b"MARK")):
        position = -1
        for _ in range(at + 1):
            position = body.index(b"MARK", position + 1)
        for bad in (b"\xff", b"\xc0", b"\xed", b"\xf5"):  # invalid, overlong, surrogate, > U+10FFFF
            broken = body[:position] + bad + body[position + 1 :]
            assert reader.span_table(broken, PROJECT, now_ns=NOW) is None
            assert _same_or_declined(reader, broken) is False


def test_status_messages_and_codes(reader: cwire.ColumnReader) -> None:
    s = span(GENAI_ATTRS, error=True)
    s.status.message = "boom ✓"
    assert _same_or_declined(reader, _body(s))
    s.status.code = Status.STATUS_CODE_UNSET
    assert _same_or_declined(reader, _body(s))
    s.status.code = 7  # unknown: unset
    assert _same_or_declined(reader, _body(s))


def _first_spans(body: bytes, count: int) -> bytes:
    """``body`` cut down to its first ``count`` spans (a mutation then costs milliseconds to check)."""
    req = ExportTraceServiceRequest.FromString(body)
    spans = req.resource_spans[0].scope_spans[0].spans
    del spans[count:]
    return req.SerializeToString()


def test_mutated_bodies_are_read_exactly_or_declined(reader: cwire.ColumnReader) -> None:
    """Flipped, dropped and inserted bytes in real batches: never a crash, never a different table."""
    rng = random.Random(11)
    genai = GenAiBatches(5, NOW, templates=2)
    seeds = [
        _first_spans(genai.body(0), 6),
        _first_spans(bench_ingest._batch(random.Random(1), 1, NOW, False), 6),
        _first_spans(sdk_body(1, NOW), 8),
        _body(span(GENAI_ATTRS), _event_span(), span({"a": [1, {"b": 2}]})),
        _body(
            span(SDK_LLM_ATTRS),
            span({**SDK_TRACE_ATTRS, "llmtrace.tags": ["a", "bc"]}),
            span({**SDK_LLM_ATTRS, "llmtrace.status": "cancelled", "gen_ai.system_instructions": '["s"]'}),
        ),
    ]
    read = 0
    for _ in range(600):
        body = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 3)):
            at = rng.randrange(len(body))
            op = rng.random()
            if op < 0.6:
                body[at] = rng.randrange(256)
            elif op < 0.8:
                del body[at]
            else:
                body.insert(at, rng.randrange(256))
        read += _same_or_declined(reader, bytes(body))
    assert read > 0  # some mutations leave a readable body (e.g. a changed character)
