"""Decode OTLP/HTTP log and metric bodies: GenAI events become `span_content` rows.

Logs: each record that is a GenAI event (:func:`llmtrace.store.rows.event_content`) and names the
span it belongs to by trace and span id becomes one row; any other record is counted as rejected,
so the exporter hears through ``partial_success`` that llmtrace keeps GenAI events only. Metrics:
llmtrace derives its metrics from spans, so a metrics body is only checked and its data points
counted (every one rejected, with the reason). Body-level failures raise the same
:class:`~llmtrace_server.otlp.MalformedBody` as trace ingest.
"""

from __future__ import annotations

import hashlib
import struct
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from llmtrace._internal import semconv as sc
from llmtrace._internal.clock import utc_from_ns
from llmtrace.store.dialects import event_content
from llmtrace.store.rows import CONTENT_COLUMNS
from llmtrace_server import otlp
from llmtrace_server.ingest import SpanLimits

_TRACE_ID_HEX = 32
_SPAN_ID_HEX = 16
_JSON_METRIC_KINDS = ("gauge", "sum", "histogram", "exponentialHistogram", "exponential_histogram", "summary")
MAX_REPORTED = 3
_DAY_NS = 86_400 * 10**9


@dataclass(slots=True)
class LogRecordView:
    """The parts of one OTLP log record that GenAI content needs."""

    trace_id: str
    span_id: str
    event_name: str
    time_ns: int
    attributes: Mapping[str, Any]
    body: Any


@dataclass(slots=True)
class PreparedLogs:
    rows: list[dict[str, Any]] = field(default_factory=list)  # span_content rows (CONTENT_COLUMNS)
    rejected: int = 0
    reasons: list[str] = field(default_factory=list)

    def reject(self, reason: str) -> None:
        self.rejected += 1
        if len(self.reasons) < MAX_REPORTED and reason not in self.reasons:
            self.reasons.append(reason)

    def error_message(self) -> str:
        if not self.rejected:
            return ""
        return f"{self.rejected} log record(s) not stored: " + "; ".join(self.reasons)

    def dedup_token(self) -> str:
        """Same rows, same token: a retried request is dropped by ClickHouse's block deduplication."""
        digest = hashlib.sha256()
        for row in self.rows:
            digest.update(f"{row['project']}\0{row['trace_id']}{row['span_id']}{row['record_key']}".encode())
        return "logs-" + digest.hexdigest()


def prepare_logs(body: bytes, media: str, project: str, limits: SpanLimits | None = None) -> PreparedLogs:
    """Map every GenAI event of an ExportLogsServiceRequest body to a `span_content` row.

    An event's time is held to the window spans are (``limits``): an event the retention would
    delete at once, or dated further ahead than the skew allowed (up to the uint64 a client may
    send, beyond what the column holds), is rejected alone, in partial success. A store refusing
    it failed the whole request with 503, which exporters retry without end. So is an event with
    no time at all (OTLP's 0, and no observed time), which was stored at 1970 and deleted by the
    TTL unseen; dating it on arrival would store a re-sent event twice (its key holds its time).
    """
    limits = limits or SpanLimits()
    now_ns = time.time_ns()
    oldest_ns = now_ns - limits.max_age_days * _DAY_NS if limits.max_age_days else 0
    latest_ns = now_ns + limits.max_future_skew_s * 10**9
    prepared = PreparedLogs()
    records = _pb_records(body) if media == otlp.PROTOBUF else _json_records(body)
    for record in records:
        if isinstance(record, str):
            prepared.reject(record)
            continue
        content = event_content(record.event_name, record.attributes, record.body)
        if content is None:
            prepared.reject(
                f"not a GenAI event ({record.event_name or 'no event name'}): llmtrace stores GenAI events only"
            )
            continue
        if len(record.trace_id) != _TRACE_ID_HEX or len(record.span_id) != _SPAN_ID_HEX:
            prepared.reject(f"{record.event_name} names no span (trace_id and span_id are required)")
            continue
        if record.trace_id == "0" * _TRACE_ID_HEX or record.span_id == "0" * _SPAN_ID_HEX:
            prepared.reject(f"{record.event_name} names no span (all-zero trace_id or span_id)")
            continue
        if not record.time_ns:
            prepared.reject(f"{record.event_name} has no time (time_unix_nano or observed_time_unix_nano)")
            continue
        if record.time_ns < oldest_ns:
            prepared.reject(
                f"{record.event_name} is older than the store's retention of "
                f"{limits.max_age_days} days (the TTL would delete it)"
            )
            continue
        if record.time_ns > latest_ns:
            prepared.reject(
                f"{record.event_name} is dated more than {limits.max_future_skew_s} s in the future"
            )
            continue
        input_text, output_text = content
        key = hashlib.blake2b(
            f"{record.time_ns}\0{input_text}\0{output_text}".encode(), digest_size=8
        ).digest()
        values = (
            project,
            record.trace_id,
            record.span_id,
            record.event_name[:256],
            utc_from_ns(record.time_ns),
            struct.unpack("<Q", key)[0],
            input_text,
            output_text,
        )
        prepared.rows.append(dict(zip(CONTENT_COLUMNS, values, strict=True)))
    return prepared


def _event_name(explicit: str, attributes: Mapping[str, Any]) -> str:
    name = explicit or attributes.get(sc.EVENT_NAME)
    return name if isinstance(name, str) else ""


def _pb_records(body: bytes) -> Iterator[LogRecordView | str]:
    request = ExportLogsServiceRequest()
    try:
        request.ParseFromString(body)
    except DecodeError as exc:
        raise otlp.MalformedBody(
            f"body is not a valid OTLP ExportLogsServiceRequest protobuf: {exc}"
        ) from None
    for resource_logs in request.resource_logs:
        for scope_logs in resource_logs.scope_logs:
            for log in scope_logs.log_records:
                try:
                    attributes = otlp.pb_attributes(log.attributes)
                    body_kind = log.body.WhichOneof("value")
                    yield LogRecordView(
                        log.trace_id.hex(),
                        log.span_id.hex(),
                        _event_name(log.event_name, attributes),
                        log.time_unix_nano or log.observed_time_unix_nano,
                        attributes,
                        otlp.pb_value(log.body, body_kind, 0),
                    )
                except (ValueError, RecursionError) as exc:
                    yield str(exc)


def _json_records(body: bytes) -> Iterator[LogRecordView | str]:
    document = otlp.json_document(body, "resourceLogs")
    for resource_logs in otlp.json_list(document, "resourceLogs", "resource_logs", "the body"):
        for scope_logs in otlp.json_list(resource_logs, "scopeLogs", "scope_logs", "resourceLogs[]"):
            for log in otlp.json_list(scope_logs, "logRecords", "log_records", "scopeLogs[]"):
                try:
                    yield _json_record(log)
                except (ValueError, TypeError, RecursionError) as exc:
                    yield str(exc)


def _json_record(log: Any) -> LogRecordView:
    if not isinstance(log, dict):
        raise ValueError("a log record must be an object")
    attributes = otlp.json_attributes(log.get("attributes"))
    time_ns = otlp.json_get(log, "timeUnixNano", "time_unix_nano") or otlp.json_get(
        log, "observedTimeUnixNano", "observed_time_unix_nano"
    )
    return LogRecordView(
        otlp.json_id(otlp.json_get(log, "traceId", "trace_id"), 16, "traceId"),
        otlp.json_id(otlp.json_get(log, "spanId", "span_id"), 8, "spanId"),
        _event_name(otlp.json_str(otlp.json_get(log, "eventName", "event_name"), "eventName"), attributes),
        otlp.json_uint64(time_ns or 0, "timeUnixNano"),
        attributes,
        otlp.json_value(log.get("body"), 0),
    )


def metric_data_points(body: bytes, media: str) -> int:
    """How many data points an ExportMetricsServiceRequest body carries (it is parsed, not stored)."""
    if media == otlp.PROTOBUF:
        request = ExportMetricsServiceRequest()
        try:
            request.ParseFromString(body)
        except DecodeError as exc:
            raise otlp.MalformedBody(
                f"body is not a valid OTLP ExportMetricsServiceRequest protobuf: {exc}"
            ) from None
        return sum(
            len(getattr(metric, kind).data_points)
            for resource in request.resource_metrics
            for scope in resource.scope_metrics
            for metric in scope.metrics
            if (kind := metric.WhichOneof("data")) is not None
        )
    document = otlp.json_document(body, "resourceMetrics")
    return sum(_json_points(metric) for metric in _json_metrics(document))


def _json_metrics(document: Any) -> Iterable[Any]:
    for resource in otlp.json_list(document, "resourceMetrics", "resource_metrics", "the body"):
        for scope in otlp.json_list(resource, "scopeMetrics", "scope_metrics", "resourceMetrics[]"):
            yield from otlp.json_list(scope, "metrics", "metrics", "scopeMetrics[]")


def _json_points(metric: Any) -> int:
    if not isinstance(metric, dict):
        raise otlp.MalformedBody("a metric must be an object")
    for kind in _JSON_METRIC_KINDS:
        data = metric.get(kind)
        if isinstance(data, dict):
            points = otlp.json_get(data, "dataPoints", "data_points")
            return len(points) if isinstance(points, list) else 0
    return 0


def metrics_response_text(points: int) -> str:
    return (
        f"{points} data point(s) not stored: llmtrace computes its metrics from spans and does not "
        "store OTLP metrics; send spans to /v1/traces (see docs/integrations.md)"
    )
