"""Delivery backends of the export pipeline: llmtrace server, direct ClickHouse store, any OTel exporter.

The endpoint backend speaks OTLP/HTTP protobuf (encoded by opentelemetry-exporter-otlp-proto-common)
over ``urllib`` so the base install needs no HTTP client library; scores go as JSON to
``/api/v1/scores``. The store backend maps spans with the same ``span_to_row`` the server's ingest
uses, and creates the schema on first use.
"""

from __future__ import annotations

import email.utils
import hashlib
import importlib.util
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import StatusCode

from llmtrace._internal.clock import utc_from_ns
from llmtrace._internal.export import PermanentError, RetryableError, Score
from llmtrace._internal.pricing import PriceBook

_RETRYABLE_STATUS = {408, 425, 429, 500, 502, 503, 504}
# A request body is kept under this size, well below the server's default limit (16 MiB, 413
# above it): a batch of 512 spans whose prompts and completions reach max_content_chars (64k
# characters each) can be 60 MB, so a large batch goes in halves.
MAX_REQUEST_BYTES = 4 * 1024 * 1024
_USER_AGENT = "llmtrace-python"


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date), capped at 5 minutes."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - time.time()
    return min(max(seconds, 0.0), 300.0)


class EndpointBackend:
    """POSTs to an llmtrace server: OTLP protobuf to ``/v1/traces``, JSON scores to ``/api/v1/scores``."""

    def __init__(self, endpoint: str, api_key: str | None) -> None:
        self.traces_url = f"{endpoint}/v1/traces"
        self.scores_url = f"{endpoint}/api/v1/scores"
        self.headers = {"User-Agent": _USER_AGENT}
        if api_key:
            self.headers["Authorization"] = f"Bearer {api_key}"
        # Never route 127.0.0.1 through an environment proxy by accident, but honour proxies otherwise.
        self._opener = urllib.request.build_opener()

    def export_spans(self, spans: Sequence[ReadableSpan], timeout_s: float) -> None:
        self._send(spans, _spans_body, self.traces_url, "application/x-protobuf", timeout_s)

    def export_scores(self, scores: Sequence[Score], timeout_s: float) -> None:
        self._send(scores, _scores_body, self.scores_url, "application/json", timeout_s)

    def _send(
        self,
        items: Sequence[Any],
        encode: Callable[[Sequence[Any]], bytes],
        url: str,
        content_type: str,
        timeout_s: float,
    ) -> None:
        """POST ``items`` in as few requests as the body limits allow.

        A batch's body is halved until it is under :data:`MAX_REQUEST_BYTES`, and again when the
        server answers 413 (its limit may be set lower). One item the server refuses alone is not
        delivered; the others are, and only it counts as failed.
        """

        def send_halving(part: Sequence[Any]) -> int:
            """POST ``part``, split in halves while too large; the count the server refused alone."""
            body = encode(part)
            if len(body) <= MAX_REQUEST_BYTES or len(part) == 1:
                try:
                    self._post(url, body, content_type, timeout_s)
                    return 0
                except _TooLarge:
                    if len(part) == 1:
                        return 1
            half = len(part) // 2
            return send_halving(part[:half]) + send_halving(part[half:])

        refused = send_halving(items)
        if refused:
            raise PermanentError(
                f"{url} refused {refused} of {len(items)} items as too large even alone (HTTP 413)",
                undelivered=refused,
            )

    def _post(self, url: str, body: bytes, content_type: str, timeout_s: float) -> None:
        request = urllib.request.Request(
            url, data=body, method="POST", headers={**self.headers, "Content-Type": content_type}
        )
        try:
            with self._opener.open(request, timeout=timeout_s) as response:
                response.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read(500).decode("utf-8", "replace") if exc.fp else ""
            if exc.code in _RETRYABLE_STATUS:
                raise RetryableError(
                    f"{url} answered {exc.code}", _retry_after(exc.headers.get("Retry-After"))
                ) from None
            if exc.code == 413:
                raise _TooLarge(f"{url} answered 413: {detail}") from None
            raise PermanentError(f"{url} answered {exc.code}: {detail}") from None
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            raise RetryableError(f"{url} unreachable: {exc}") from None

    def shutdown(self) -> None:
        return None


class _TooLarge(PermanentError):
    """The server answered 413: the body is over its limit."""


def _spans_body(spans: Sequence[ReadableSpan]) -> bytes:
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    return encode_spans(spans).SerializeToString()  # type: ignore[no-any-return]


def _scores_body(scores: Sequence[Score]) -> bytes:
    return json.dumps({"scores": [_score_json(s) for s in scores]}).encode()


def _score_json(score: Score) -> dict[str, Any]:
    item: dict[str, Any] = {
        "trace_id": score.trace_id,
        "name": score.name,
        "value": score.value,
        "source": score.source,
        # When score() was called, not when the batch arrives: scores sent together keep their order.
        "timestamp": utc_from_ns(score.timestamp_ns).isoformat(),
    }
    if score.span_id:
        item["span_id"] = score.span_id
    if score.label:
        item["label"] = score.label
    if score.comment:
        item["comment"] = score.comment
    return item


def span_record(span: ReadableSpan) -> Any:
    """An OTel ``ReadableSpan`` as the neutral ``SpanRecord`` the row mapping reads."""
    from llmtrace.store.rows import SpanRecord

    ctx = span.get_span_context()
    assert ctx is not None
    status = {StatusCode.OK: "ok", StatusCode.ERROR: "error"}.get(span.status.status_code, "unset")
    return SpanRecord(
        trace_id=format(ctx.trace_id, "032x"),
        span_id=format(ctx.span_id, "016x"),
        parent_span_id=format(span.parent.span_id, "016x") if span.parent is not None else "",
        name=span.name,
        start_ns=span.start_time or 0,
        end_ns=span.end_time or 0,
        status_code=status,
        status_message=span.status.description or "",
        attributes=dict(span.attributes or {}),
        resource=dict(span.resource.attributes),
        events=[(e.name, dict(e.attributes or {})) for e in span.events],
        event_times=[e.timestamp for e in span.events],
    )


class StoreBackend:
    """Inserts rows straight into ClickHouse (needs the ``[clickhouse]`` extra); migrates on first use."""

    def __init__(self, dsn: str, database: str | None, project: str | None, prices: PriceBook) -> None:
        if importlib.util.find_spec("clickhouse_connect") is None:
            raise ImportError(
                "llmtrace.instrument(store=...) writes to ClickHouse directly and needs clickhouse-connect: "
                "pip install 'llmtrace[clickhouse]' (or send spans to a server with endpoint=...)"
            )
        if dsn.strip()[:5].lower() == "chdb:" and importlib.util.find_spec("chdb") is None:
            # Said now, as for the driver: at the first export it was retried batch after batch.
            # (parse_dsn's scheme test, without importing llmtrace.store before the first export.)
            raise ImportError(
                "llmtrace.instrument(store='chdb://...') is an embedded store and needs chDB: "
                "pip install 'llmtrace[server]' (or point store= at a ClickHouse server)"
            )
        self.dsn = dsn
        self.database = database
        self.project = project
        self.prices = prices
        self._store: Any = None
        self._lock = threading.Lock()

    def _open(self) -> Any:
        with self._lock:
            if self._store is None:
                from llmtrace.store import open_store

                try:
                    store = open_store(self.dsn, database=self.database)
                    store.migrate()
                except ImportError as exc:
                    raise PermanentError(f"cannot open the store: {exc}") from None
                except Exception as exc:
                    raise RetryableError(f"cannot open the store: {exc}") from None
                self._store = store
            return self._store

    def export_spans(self, spans: Sequence[ReadableSpan], timeout_s: float) -> None:
        from llmtrace.store.rows import InvalidSpan, span_to_row

        rows = []
        for span in spans:
            try:
                rows.append(span_to_row(span_record(span), prices=self.prices))
            except InvalidSpan:
                continue  # invalid spans are skipped; the server would reject them the same way
        if rows:
            self._insert("insert_spans", rows, _dedup_token(f"{r['trace_id']}{r['span_id']}" for r in rows))

    def export_scores(self, scores: Sequence[Score], timeout_s: float) -> None:
        from llmtrace.store.rows import DEFAULT_PROJECT

        rows = [
            {
                "project": s.project or DEFAULT_PROJECT,
                "trace_id": s.trace_id,
                "span_id": s.span_id,
                "name": s.name,
                "value": s.value,
                "label": s.label,
                "source": s.source,
                "comment": s.comment,
                "timestamp": utc_from_ns(s.timestamp_ns),
            }
            for s in scores
        ]
        self._insert(
            "insert_scores",
            rows,
            _dedup_token(f"{s.trace_id}{s.span_id}{s.name}{s.timestamp_ns}" for s in scores),
        )

    def _insert(self, method: str, rows: list[dict[str, Any]], dedup_token: str) -> None:
        store = self._open()
        try:
            getattr(store, method)(rows, dedup_token=dedup_token)
        except Exception as exc:  # the driver's errors: connection, server busy, ...
            raise RetryableError(f"{method} failed: {exc}") from None

    def after_fork(self) -> None:
        """In a forked child: drop the parent's connection (and a lock it may have held), reopen lazily.

        An embedded chDB store stays the parent's (one process per data path); children of a
        process writing to embedded chDB should send spans to a server instead.
        """
        self._lock = threading.Lock()
        self._store = None

    def shutdown(self) -> None:
        with self._lock:
            if self._store is not None:
                self._store.close()
                self._store = None


def _dedup_token(keys: Any) -> str:
    """The same batch retried gets the same token, so ClickHouse keeps one copy of it."""
    digest = hashlib.sha256()
    for key in keys:
        digest.update(key.encode())
    return "llmtrace-sdk-" + digest.hexdigest()[:32]


class ExporterBackend:
    """Any OpenTelemetry ``SpanExporter``; scores are kept in memory (``llmtrace.testing`` reads them)."""

    def __init__(self, exporter: SpanExporter) -> None:
        self.exporter = exporter
        self.scores: list[Score] = []

    def export_spans(self, spans: Sequence[ReadableSpan], timeout_s: float) -> None:
        result = self.exporter.export(spans)
        if result is not SpanExportResult.SUCCESS:
            # OTel exporters retry internally; a reported failure is final.
            raise PermanentError(f"{type(self.exporter).__name__} reported {result}")

    def export_scores(self, scores: Sequence[Score], timeout_s: float) -> None:
        self.scores.extend(scores)

    def shutdown(self) -> None:
        # The exporter is the caller's: flush it, but leave shutting it down to them (it may be reused).
        self.exporter.force_flush()
