"""Configuration: argument > environment > default, the env registry and its documentation."""

from __future__ import annotations

import inspect
import logging
import re
from pathlib import Path

import pytest

import llmtrace
from llmtrace._internal.config import DEFAULT_ENDPOINT, ENV_VARS, env_table_markdown, resolve
from llmtrace._internal.pricing import PriceBook, default_price_book
from llmtrace.testing import InMemorySpanExporter

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def test_doc_contains_the_registry_table_verbatim() -> None:
    text = DOC.read_text()
    assert env_table_markdown() in text
    documented = set(re.findall(r"`(LLMTRACE_[A-Z_]+)`", text))
    assert documented == {v.name for v in ENV_VARS}


def test_every_instrument_argument_has_an_env_var() -> None:
    args = set(inspect.signature(llmtrace.instrument).parameters)
    names = {v.name for v in ENV_VARS}
    special = {"exporter": None, "service_name": "LLMTRACE_SERVICE"}
    for arg in args:
        expected = special.get(arg, f"LLMTRACE_{arg.upper()}")
        if expected is not None:
            assert expected in names, arg
    assert all(
        p.kind is inspect.Parameter.KEYWORD_ONLY
        for p in inspect.signature(llmtrace.instrument).parameters.values()
    )


def test_backend_precedence() -> None:
    env = {"LLMTRACE_STORE": "chdb:///tmp/x", "LLMTRACE_ENDPOINT": "http://env:1"}
    exporter = InMemorySpanExporter()
    assert (
        resolve(exporter=exporter, store="chdb:///a", endpoint="http://e:1", environ=env).backend
        == "exporter"
    )
    assert resolve(store="chdb:///a", endpoint="http://e:1", environ=env).store == "chdb:///a"
    s = resolve(endpoint="http://e:1/", environ=env)
    assert (s.backend, s.endpoint) == ("endpoint", "http://e:1")
    assert resolve(environ=env).store == "chdb:///tmp/x"
    s = resolve(environ={"LLMTRACE_ENDPOINT": "http://env:1"})
    assert (s.backend, s.endpoint) == ("endpoint", "http://env:1")
    s = resolve(environ={})
    assert (s.backend, s.endpoint) == ("endpoint", DEFAULT_ENDPOINT)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"sample_rate": 1.5},
        {"sample_rate": -0.1},
        {"sample_rate": True},
        {"endpoint": "localhost:7878"},
        {"endpoint": ""},
        {"store": ""},
        {"queue_size": 0},
        {"max_content_chars": -1},
        {"capture_content": "yes"},
        {"redact": 42},
        {"providers": "openai"},
        {"prices": {"m": {"input": 1}}},
        {"prices": ["m"]},
        {"service_name": ""},
        {"exporter": object()},
        {"retry_window_s": -1},
    ],
)
def test_bad_explicit_argument_raises(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        resolve(environ={}, **kwargs)  # type: ignore[arg-type]


def test_bad_env_values_warn_and_fall_back(caplog: pytest.LogCaptureFixture) -> None:
    env = {
        "LLMTRACE_SAMPLE_RATE": "lots",
        "LLMTRACE_QUEUE_SIZE": "-3",
        "LLMTRACE_CAPTURE_CONTENT": "maybe",
        "LLMTRACE_ENDPOINT": "ftp://x",
        "LLMTRACE_PRICES": "{not json",
        "LLMTRACE_REDACT": "unknown",
        "LLMTRACE_RETRY_WINDOW_S": "nan",
    }
    with caplog.at_level(logging.WARNING, logger="llmtrace"):
        s = resolve(environ=env)
    assert s.sample_rate == 1.0
    assert s.queue_size == 2048
    assert s.capture_content is True
    assert s.endpoint == DEFAULT_ENDPOINT
    assert s.price_book is default_price_book
    assert s.redact is None
    assert s.retry_window_s == 60.0
    warned = caplog.text
    for name in env:
        assert name in warned, name


@pytest.mark.parametrize("url", ["http://[::1", "http://llmtrace:port", "http://:7878", "https://host:99999"])
def test_an_endpoint_urllib_cannot_send_to_is_refused(url: str, caplog: pytest.LogCaptureFixture) -> None:
    """Every export to it failed (``ValueError: Invalid IPv6 URL``), span after span."""
    with pytest.raises(ValueError, match="endpoint= must be an http"):
        resolve(endpoint=url, environ={})
    assert resolve(environ={"LLMTRACE_ENDPOINT": url}).endpoint == DEFAULT_ENDPOINT
    assert f"LLMTRACE_ENDPOINT={url!r} is not an http(s) URL" in caplog.text


def test_env_values_apply() -> None:
    env = {
        "LLMTRACE_SAMPLE_RATE": "0.5",
        "LLMTRACE_QUEUE_SIZE": "10",
        "LLMTRACE_CAPTURE_CONTENT": "off",
        "LLMTRACE_PROJECT": "p",
        "LLMTRACE_ENVIRONMENT": "prod",
        "LLMTRACE_API_KEY": "k",
        "LLMTRACE_PROVIDERS": "openai, anthropic",
        "LLMTRACE_PRICES": '{"m": {"input": 1, "output": 2}}',
        "LLMTRACE_MAX_CONTENT_CHARS": "100",
        "LLMTRACE_OPENAI_STREAM_USAGE": "1",
    }
    s = resolve(environ=env)
    assert (s.sample_rate, s.queue_size, s.capture_content, s.project, s.environment, s.api_key) == (
        0.5,
        10,
        False,
        "p",
        "prod",
        "k",
    )
    assert s.providers == ("openai", "anthropic")
    assert isinstance(s.price_book, PriceBook)
    assert s.price_book.cost_usd(provider="x", model="m", input_tokens=10**6, output_tokens=0) == 1.0
    assert s.max_content_chars == 100 and s.openai_stream_usage is True
    # Explicit arguments beat the environment.
    assert resolve(sample_rate=0.1, capture_content=True, project="q", environ=env).project == "q"


def test_service_name_sources() -> None:
    assert resolve(service_name="x", environ={"OTEL_SERVICE_NAME": "o"}).service_name == "x"
    assert resolve(environ={"OTEL_SERVICE_NAME": "o", "LLMTRACE_SERVICE": "l"}).service_name == "o"
    assert resolve(environ={"LLMTRACE_SERVICE": "l"}).service_name == "l"
    assert resolve(environ={}).service_name  # the script name, never empty


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("SPAN_ONLY", True),
        ("span_and_event", True),
        ("NO_CONTENT", False),
        ("EVENT_ONLY", False),
        ("true", True),
        ("garbage", False),
    ],
)
def test_otel_capture_content_variable(value: str, expected: bool) -> None:
    env = {"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": value}
    assert resolve(environ=env).capture_content is expected
    # LLMTRACE_CAPTURE_CONTENT wins over it.
    assert resolve(environ={**env, "LLMTRACE_CAPTURE_CONTENT": "true"}).capture_content is True


def test_settings_expose_price_book_from_prices() -> None:
    with llmtrace.testing.capture(prices={"house-model": {"input": 2.0, "output": 4.0}}):
        from llmtrace._internal.config import settings

        cost = settings().price_book.cost_usd(
            provider="openai", model="house-model", input_tokens=500_000, output_tokens=250_000
        )
    assert cost == pytest.approx(2.0)


@pytest.mark.parametrize(
    "price",
    [
        '{"m": {"input": NaN, "output": 1}}',
        '{"m": {"input": 1, "output": -2}}',
        '{"m": {"input": 1, "output": Infinity}}',
    ],
)
def test_a_price_no_cost_could_use_is_ignored_with_a_warning(
    price: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A NaN or negative rate made every call's cost one the server rejects, and the call's span with it."""
    s = resolve(environ={"LLMTRACE_PRICES": price})
    assert s.price_book is default_price_book
    assert "ignoring LLMTRACE_PRICES (a price is a finite, non-negative USD per million tokens" in caplog.text
    with pytest.raises(ValueError, match="finite, non-negative"):
        resolve(prices={"m": {"input": float("nan"), "output": 1}})


def test_an_unknown_provider_leaves_nothing_switched_on() -> None:
    with pytest.raises(ValueError, match="unknown provider 'nosuch'"):
        llmtrace.instrument(providers=["nosuch"], exporter=InMemorySpanExporter())
    assert llmtrace._internal.runtime.active() is None


def test_an_unknown_provider_in_the_environment_is_skipped_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """As every bad environment value: a typo in a deployment never stops the service (it raised)."""
    monkeypatch.setenv("LLMTRACE_PROVIDERS", "opneai, openai")
    try:
        llmtrace.instrument(exporter=InMemorySpanExporter())
        runtime = llmtrace._internal.runtime.active()
        assert runtime is not None and runtime.integrations == ["openai"]
    finally:
        llmtrace.uninstrument()
    assert "LLMTRACE_PROVIDERS: unknown provider 'opneai'" in caplog.text


@pytest.mark.parametrize(
    ("missing", "store", "message"),
    [
        ("clickhouse_connect", "http://localhost:8123", r"llmtrace\[clickhouse\]"),
        # ``llmtrace[clickhouse]`` has the driver but not chDB: refused at ``instrument()`` too,
        # where the first export retried it batch after batch.
        ("chdb", "chdb:///tmp/llmtrace-no-chdb", r"needs chDB: pip install 'llmtrace\[server\]'"),
    ],
    ids=["no_driver", "no_chdb"],
)
def test_a_store_whose_package_is_missing_raises_a_clear_import_error(
    monkeypatch: pytest.MonkeyPatch, missing: str, store: str, message: str
) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == missing else real(name, *a)
    )
    with pytest.raises(ImportError, match=message):
        llmtrace.instrument(store=store)
    assert llmtrace._internal.runtime.active() is None
