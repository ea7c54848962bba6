"""Configuration: the ``LLMTRACE_*`` environment registry and the active :class:`Settings`.

Every ``instrument()`` argument has an environment variable, declared once in :data:`ENV_VARS`
(``docs/configuration.md`` is tested against this registry). Resolution order for each value:
explicit argument > environment > default. A bad explicit argument raises ``ValueError`` at
``instrument()`` time; a bad environment value logs a warning and falls back to the default, so
a typo in a deployment's environment never takes the service down.
"""

from __future__ import annotations

import json
import logging
import math
import os
import sys
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from llmtrace._internal import active
from llmtrace._internal.pricing import PriceBook, default_price_book

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.trace import Tracer

logger = logging.getLogger("llmtrace")

DEFAULT_ENDPOINT = "http://127.0.0.1:7878"
DEFAULT_MAX_CONTENT_CHARS = 64 * 1024

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


@dataclass(frozen=True, slots=True)
class EnvVar:
    """One ``LLMTRACE_*`` variable: its name, value type, default and what it does."""

    name: str
    type: str  # "str" | "bool" | "float" | "int" | "list" | "json"
    default: Any
    doc: str


ENV_VARS: tuple[EnvVar, ...] = (
    EnvVar(
        "LLMTRACE_SERVICE",
        "str",
        None,
        "Service name when `OTEL_SERVICE_NAME` is unset (default: the script name).",
    ),
    EnvVar(
        "LLMTRACE_ENDPOINT",
        "str",
        DEFAULT_ENDPOINT,
        "llmtrace server base URL; spans go to `{endpoint}/v1/traces`.",
    ),
    EnvVar(
        "LLMTRACE_STORE",
        "str",
        None,
        "ClickHouse DSN: write spans and scores directly (needs the `[clickhouse]` extra; an embedded "
        "`chdb:` store `[server]`).",
    ),
    EnvVar(
        "LLMTRACE_DATABASE",
        "str",
        None,
        "Database for `store=` (default: the DSN's database, else `llmtrace`).",
    ),
    EnvVar("LLMTRACE_API_KEY", "str", None, "Sent as `Authorization: Bearer <key>` to the server."),
    EnvVar(
        "LLMTRACE_PROJECT",
        "str",
        None,
        "Project recorded on every span (`llmtrace.project`); the server's key wins.",
    ),
    EnvVar("LLMTRACE_ENVIRONMENT", "str", None, "Deployment environment (`deployment.environment.name`)."),
    EnvVar("LLMTRACE_CAPTURE_CONTENT", "bool", True, "Record prompts, completions, arguments and results."),
    EnvVar("LLMTRACE_REDACT", "str", None, "Built-in redactor applied to captured text: `pii` or `none`."),
    EnvVar(
        "LLMTRACE_SAMPLE_RATE", "float", 1.0, "Fraction of traces kept (parent-based trace-id ratio), 0..1."
    ),
    EnvVar(
        "LLMTRACE_PROVIDERS",
        "list",
        None,
        "Comma-separated providers to instrument (default: every installed one).",
    ),
    EnvVar(
        "LLMTRACE_PRICES",
        "json",
        None,
        'Price overrides as JSON, e.g. `{"my-model": {"input": 1, "output": 2}}` (USD per 1M tokens).',
    ),
    EnvVar(
        "LLMTRACE_MAX_CONTENT_CHARS",
        "int",
        DEFAULT_MAX_CONTENT_CHARS,
        "Cap per captured text field; longer text ends with `…[truncated N chars]`.",
    ),
    EnvVar(
        "LLMTRACE_QUEUE_SIZE",
        "int",
        2048,
        "Export queue bound (spans and scores); when full, new items are dropped and counted.",
    ),
    EnvVar("LLMTRACE_BATCH_SIZE", "int", 512, "Most spans sent in one export request."),
    EnvVar(
        "LLMTRACE_EXPORT_INTERVAL_S",
        "float",
        1.0,
        "Longest time a span waits in the queue before export starts.",
    ),
    EnvVar(
        "LLMTRACE_RETRY_WINDOW_S",
        "float",
        60.0,
        "How long a failed batch is retried (backoff, honouring Retry-After) before it is dropped.",
    ),
    EnvVar("LLMTRACE_EXPORT_TIMEOUT_S", "float", 10.0, "Timeout of one export HTTP request."),
    EnvVar(
        "LLMTRACE_EXIT_TIMEOUT_S", "float", 5.0, "Deadline for delivering queued spans at interpreter exit."
    ),
    EnvVar(
        "LLMTRACE_OPENAI_STREAM_USAGE",
        "bool",
        False,
        "Ask OpenAI streams for usage (`stream_options.include_usage`) when the caller did not.",
    ),
    EnvVar(
        "LLMTRACE_RAISE_INTERNAL_ERRORS",
        "bool",
        False,
        "Re-raise llmtrace's own internal errors (debugging; always on under pytest).",
    ),
)

ENV: dict[str, EnvVar] = {v.name: v for v in ENV_VARS}


@dataclass(frozen=True)
class Settings:
    """The resolved configuration of one ``instrument()`` call (or the defaults)."""

    service_name: str = "unknown_service"
    endpoint: str = DEFAULT_ENDPOINT
    store: str | None = None
    database: str | None = None
    exporter: SpanExporter | None = None
    api_key: str | None = None
    project: str | None = None
    environment: str | None = None
    capture_content: bool = True
    redact: Callable[[str], str] | None = None
    sample_rate: float = 1.0
    providers: tuple[str, ...] | None = None
    # True when `providers` came from LLMTRACE_PROVIDERS: a name there that is unknown or not
    # installed is warned about and skipped, as any bad environment value is (never raised).
    providers_from_env: bool = False
    price_book: PriceBook = field(default=default_price_book)
    max_content_chars: int = DEFAULT_MAX_CONTENT_CHARS
    queue_size: int = 2048
    batch_size: int = 512
    export_interval_s: float = 1.0
    retry_window_s: float = 60.0
    export_timeout_s: float = 10.0
    exit_timeout_s: float = 5.0
    openai_stream_usage: bool = False

    @property
    def backend(self) -> str:
        """Where data goes: ``"exporter"``, ``"store"`` or ``"endpoint"`` (the precedence order)."""
        if self.exporter is not None:
            return "exporter"
        if self.store is not None:
            return "store"
        return "endpoint"

    def tracer(self) -> Tracer:
        """The llmtrace OpenTelemetry tracer (a no-op tracer when not instrumented)."""
        return active.tracer()


_defaults: Settings | None = None


def settings() -> Settings:
    """The active settings, or the environment-derived defaults when not instrumented."""
    running = active.active_settings()
    if running is not None:
        return running
    global _defaults
    if _defaults is None:
        _defaults = resolve()
    return _defaults


def _is_http_url(value: str) -> bool:
    """An http(s) URL with a host that urllib can send to (``http://[::1`` or a port of ``x`` is
    not: every export would fail on it)."""
    if not value.startswith(("http://", "https://")):
        return False
    try:
        parts = urllib.parse.urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number in range
    except ValueError:
        return False
    return bool(parts.hostname)


def env_value(name: str, environ: Mapping[str, str] | None = None) -> Any:
    """The typed value of a registry variable, or its default (with a warning) when unparsable."""
    var = ENV[name]
    raw = (os.environ if environ is None else environ).get(name)
    if raw is None or raw.strip() == "":
        return var.default
    try:
        return _parse(var.type, raw.strip())
    except (ValueError, TypeError) as exc:
        logger.warning("llmtrace: ignoring %s=%r (%s); using the default %r", name, raw, exc, var.default)
        return var.default


def _parse(kind: str, raw: str) -> Any:
    if kind == "str":
        return raw
    if kind == "bool":
        if raw.lower() in _TRUE:
            return True
        if raw.lower() in _FALSE:
            return False
        raise ValueError("expected true/false")
    if kind == "float":
        value = float(raw)
        if not math.isfinite(value):
            raise ValueError("not a finite number")
        return value
    if kind == "int":
        return int(raw)
    if kind == "list":
        return tuple(p.strip() for p in raw.split(",") if p.strip())
    if kind == "json":
        return json.loads(raw)
    raise AssertionError(kind)


def resolve(
    *,
    service_name: str | None = None,
    endpoint: str | None = None,
    store: str | None = None,
    database: str | None = None,
    exporter: SpanExporter | None = None,
    api_key: str | None = None,
    project: str | None = None,
    environment: str | None = None,
    capture_content: bool | None = None,
    redact: Callable[[str], str] | str | None = None,
    sample_rate: float | None = None,
    providers: Sequence[str] | None = None,
    prices: Mapping[str, Any] | None = None,
    max_content_chars: int | None = None,
    queue_size: int | None = None,
    retry_window_s: float | None = None,
    openai_stream_usage: bool | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Build :class:`Settings` from explicit arguments, then the environment, then defaults."""
    env = os.environ if environ is None else environ

    def pick(explicit: Any, name: str) -> Any:
        return explicit if explicit is not None else env_value(name, env)

    if exporter is not None and not (hasattr(exporter, "export") and callable(exporter.export)):
        raise ValueError("exporter= must be an OpenTelemetry SpanExporter (an object with export(spans))")
    for label, value in (("endpoint", endpoint), ("store", store)):
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise ValueError(f"{label}= must be a non-empty string, got {value!r}")
    if endpoint is not None and not _is_http_url(endpoint):
        raise ValueError(f"endpoint= must be an http(s) URL, got {endpoint!r}")

    # Precedence: exporter > store > endpoint > environment (store, then endpoint) > default endpoint.
    if exporter is not None:
        resolved_store = None
    elif store is not None or endpoint is not None:
        resolved_store = store
    else:
        resolved_store = env_value("LLMTRACE_STORE", env)
    resolved_endpoint = (endpoint or env_value("LLMTRACE_ENDPOINT", env) or DEFAULT_ENDPOINT).rstrip("/")
    if not _is_http_url(resolved_endpoint):
        logger.warning(
            "llmtrace: LLMTRACE_ENDPOINT=%r is not an http(s) URL; using %s",
            resolved_endpoint,
            DEFAULT_ENDPOINT,
        )
        resolved_endpoint = DEFAULT_ENDPOINT

    rate = _checked_rate(sample_rate) if sample_rate is not None else env_value("LLMTRACE_SAMPLE_RATE", env)
    if not 0.0 <= rate <= 1.0:
        logger.warning("llmtrace: LLMTRACE_SAMPLE_RATE=%r is outside 0..1; using 1.0", rate)
        rate = 1.0

    cap = _positive_int("max_content_chars", max_content_chars, "LLMTRACE_MAX_CONTENT_CHARS", env)
    qsize = _positive_int("queue_size", queue_size, "LLMTRACE_QUEUE_SIZE", env)
    if retry_window_s is not None and (
        not isinstance(retry_window_s, int | float) or not retry_window_s >= 0
    ):
        raise ValueError(f"retry_window_s= must be a non-negative number of seconds, got {retry_window_s!r}")

    if providers is not None and (
        isinstance(providers, str) or not all(isinstance(p, str) for p in providers)
    ):
        raise ValueError(f"providers= must be a list of provider names, got {providers!r}")

    return Settings(
        service_name=_service_name(service_name, env),
        endpoint=resolved_endpoint,
        store=resolved_store,
        database=pick(database, "LLMTRACE_DATABASE"),
        exporter=exporter,
        api_key=pick(api_key, "LLMTRACE_API_KEY"),
        project=pick(project, "LLMTRACE_PROJECT"),
        environment=pick(environment, "LLMTRACE_ENVIRONMENT"),
        capture_content=_capture_content(capture_content, env),
        redact=_redactor(redact, env),
        sample_rate=float(rate),
        providers=tuple(providers) if providers is not None else env_value("LLMTRACE_PROVIDERS", env),
        providers_from_env=providers is None,
        price_book=_price_book(prices, env),
        max_content_chars=cap,
        queue_size=qsize,
        batch_size=max(1, _env_number("LLMTRACE_BATCH_SIZE", env)),
        export_interval_s=max(0.01, _env_number("LLMTRACE_EXPORT_INTERVAL_S", env)),
        retry_window_s=float(pick(retry_window_s, "LLMTRACE_RETRY_WINDOW_S")),
        export_timeout_s=max(0.1, _env_number("LLMTRACE_EXPORT_TIMEOUT_S", env)),
        exit_timeout_s=max(0.0, _env_number("LLMTRACE_EXIT_TIMEOUT_S", env)),
        openai_stream_usage=bool(pick(openai_stream_usage, "LLMTRACE_OPENAI_STREAM_USAGE")),
    )


def _checked_rate(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
        raise ValueError(f"sample_rate= must be a number between 0 and 1, got {value!r}")
    return float(value)


def _positive_int(label: str, explicit: Any, name: str, env: Mapping[str, str]) -> int:
    if explicit is not None:
        if isinstance(explicit, bool) or not isinstance(explicit, int) or explicit < 1:
            raise ValueError(f"{label}= must be a positive integer, got {explicit!r}")
        return explicit
    value = env_value(name, env)
    if value < 1:
        logger.warning("llmtrace: %s=%r must be positive; using %r", name, value, ENV[name].default)
        return int(ENV[name].default)
    return int(value)


def _env_number(name: str, env: Mapping[str, str]) -> Any:
    value = env_value(name, env)
    if value < 0:
        logger.warning("llmtrace: %s=%r must not be negative; using %r", name, value, ENV[name].default)
        return ENV[name].default
    return value


def _service_name(explicit: str | None, env: Mapping[str, str]) -> str:
    if explicit is not None:
        if not isinstance(explicit, str) or not explicit.strip():
            raise ValueError(f"service_name= must be a non-empty string, got {explicit!r}")
        return explicit
    name = env.get("OTEL_SERVICE_NAME", "").strip() or env_value("LLMTRACE_SERVICE", env)
    if name:
        return str(name)
    script = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    script = script.removesuffix(".py")
    return script if script and script not in ("-c", "-m") else "unknown_service:python"


def _capture_content(explicit: bool | None, env: Mapping[str, str]) -> bool:
    """``LLMTRACE_CAPTURE_CONTENT`` first, then the OTel GenAI variable, then on (the issue's default)."""
    if explicit is not None:
        if not isinstance(explicit, bool):
            raise ValueError(f"capture_content= must be True or False, got {explicit!r}")
        return explicit
    if env.get("LLMTRACE_CAPTURE_CONTENT", "").strip():
        return bool(env_value("LLMTRACE_CAPTURE_CONTENT", env))
    otel = env.get("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "").strip().upper()
    if not otel:
        return bool(ENV["LLMTRACE_CAPTURE_CONTENT"].default)
    # Values of opentelemetry-util-genai; `true` is the legacy openai-v2 spelling (accepted, logged).
    if otel in ("SPAN_ONLY", "SPAN_AND_EVENT"):
        return True
    if otel in ("NO_CONTENT", "FALSE"):
        return False
    if otel == "EVENT_ONLY":
        logger.info("llmtrace: content is recorded on spans only; EVENT_ONLY means no content here")
        return False
    if otel == "TRUE":
        logger.info("llmtrace: OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true is read as SPAN_ONLY")
        return True
    logger.warning(
        "llmtrace: unknown OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=%r; recording no content", otel
    )
    return False


def _redactor(
    explicit: Callable[[str], str] | str | None, env: Mapping[str, str]
) -> Callable[[str], str] | None:
    from llmtrace import redact as redact_module

    if explicit is not None:
        if isinstance(explicit, str):
            found = redact_module.builtin(explicit)
            if found is None and explicit.lower() != "none":
                raise ValueError(f"redact= names no built-in redactor: {explicit!r} (try 'pii')")
            return found
        if not callable(explicit):
            raise ValueError(f"redact= must be a callable(str) -> str, got {explicit!r}")
        return explicit
    name = env_value("LLMTRACE_REDACT", env)
    if not name or name.lower() == "none":
        return None
    found = redact_module.builtin(name)
    if found is None:
        logger.warning("llmtrace: LLMTRACE_REDACT=%r names no built-in redactor; not redacting", name)
    return found


def _price_book(prices: Mapping[str, Any] | None, env: Mapping[str, str]) -> PriceBook:
    if prices is not None:
        if not isinstance(prices, Mapping):
            raise ValueError(
                "prices= must map model names to {'input': ..., 'output': ...} (USD per 1M tokens)"
            )
        return PriceBook(prices)
    raw = env_value("LLMTRACE_PRICES", env)
    if raw is None:
        return default_price_book
    try:
        return PriceBook(raw)
    except (ValueError, TypeError, AttributeError) as exc:
        logger.warning("llmtrace: ignoring LLMTRACE_PRICES (%s)", exc)
        return default_price_book


def env_table_markdown() -> str:
    """The Markdown table of :data:`ENV_VARS` that ``docs/configuration.md`` contains verbatim (tested)."""
    lines = ["| Variable | Type | Default | Meaning |", "|---|---|---|---|"]
    for var in ENV_VARS:
        default = (
            "—"
            if var.default is None
            else f"`{str(var.default).lower() if isinstance(var.default, bool) else var.default}`"
        )
        lines.append(f"| `{var.name}` | {var.type} | {default} | {var.doc} |")
    return "\n".join(lines)
