"""The built-in PII redactor and its use on captured content."""

from __future__ import annotations

import pytest

import llmtrace
from llmtrace._internal import semconv as sc
from llmtrace.redact import pii


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("write to bob.smith+x@mail.example.co.uk today", "write to [REDACTED:email] today"),
        ("call +1 415-555-0132 or (020) 7946 0958", "call [REDACTED:phone] or [REDACTED:phone]"),
        ("us 415-555-0132 / 415.555.0132", "us [REDACTED:phone] / [REDACTED:phone]"),
        ("card 4111 1111 1111 1111 ok", "card [REDACTED:card] ok"),
        ("card 4111-1111-1111-1111", "card [REDACTED:card]"),
        ("key sk-proj-abcdefghijklmnop1234 end", "key [REDACTED:api_key] end"),
        ("anthropic sk-ant-api03-AbCdEfGhIjKlMnOpQrSt", "anthropic [REDACTED:api_key]"),
        ("aws AKIAIOSFODNN7EXAMPLE", "aws [REDACTED:api_key]"),
        ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.abc.def", "Authorization: Bearer [REDACTED:token]"),
    ],
)
def test_pii_redacts(text: str, expected: str) -> None:
    assert pii(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "order 4111 1111 1111 1112 fails the Luhn check",  # not a card
        "version 1.2.3 and year 2024",
        "on 2024-01-02 at 12:30, paid 1 000 000",
        "sk-short",
        "",
        "plain text about skiing",
    ],
)
def test_pii_leaves_ordinary_text(text: str) -> None:
    assert pii(text) == text


def test_redactor_runs_before_capture_and_truncation() -> None:
    with llmtrace.testing.capture(redact=llmtrace.redact.pii) as captured:

        @llmtrace.trace
        def send(to: str) -> str:
            return f"sent to {to}"

        send("alice@example.com")
        (span,) = captured.spans()
    assert span.attributes[sc.LLMTRACE_INPUT] == '{"to": "[REDACTED:email]"}'
    assert span.attributes[sc.LLMTRACE_OUTPUT] == '"sent to [REDACTED:email]"'


def test_redact_by_name_and_env(monkeypatch: pytest.MonkeyPatch) -> None:
    from llmtrace._internal.config import resolve

    assert resolve(redact="pii").redact is pii
    monkeypatch.setenv("LLMTRACE_REDACT", "pii")
    assert resolve().redact is pii
    with pytest.raises(ValueError, match="built-in"):
        resolve(redact="nope")
