"""Built-in redactors for captured text: pass one as ``instrument(redact=llmtrace.redact.pii)``.

A redactor is any ``callable(str) -> str``; it runs on every captured prompt, completion,
argument and result before the text is capped and recorded. :func:`pii` replaces e-mail
addresses, phone numbers, payment-card numbers (Luhn-checked, so order ids survive), API keys
(``sk-...``, ``sk-ant-...``, ``AKIA...``, GitHub/Slack tokens) and bearer tokens with
``[REDACTED:<kind>]`` markers.

    >>> from llmtrace.redact import pii
    >>> pii("mail bob@example.com, key sk-abcdefghijklmnopqrstuv")
    'mail [REDACTED:email], key [REDACTED:api_key]'
"""

from __future__ import annotations

import re
from collections.abc import Callable

__all__ = ["builtin", "pii"]

_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_BEARER = re.compile(r"(?i)\bbearer\s+[A-Za-z0-9\-._~+/]{8,}=*")
_API_KEY = re.compile(
    r"\b(?:sk-(?:ant-|proj-)?[A-Za-z0-9_\-]{16,}"
    r"|AKIA[0-9A-Z]{16}"
    r"|gh[pousr]_[A-Za-z0-9]{30,}"
    r"|xox[abprs]-[A-Za-z0-9\-]{10,}"
    r"|AIza[0-9A-Za-z_\-]{35})"
)
# 13-19 digits, optionally grouped by single spaces or dashes.
_CARD = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])")
# International (+CC ...) or North-American style numbers with separators; 7-15 digits in total.
_PHONE = re.compile(
    r"(?<![\w+])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{1,4}\)[\s.-]?)?\d{2,4}(?:[\s.-]\d{2,4}){1,4}(?![\w])"
)


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _card(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group(0))
    return "[REDACTED:card]" if 13 <= len(digits) <= 19 and _luhn_ok(digits) else match.group(0)


def _phone(match: re.Match[str]) -> str:
    text = match.group(0)
    digits = re.sub(r"\D", "", text)
    # A +country prefix or an (area code) says "phone"; otherwise demand 10+ digits, so dates
    # (2024-01-02), amounts (1 000 000) and version numbers are left alone.
    marked = text.startswith("+") or "(" in text
    return "[REDACTED:phone]" if (7 if marked else 10) <= len(digits) <= 15 else text


def pii(text: str) -> str:
    """Replace e-mails, phone numbers, card numbers, API keys and bearer tokens in ``text``."""
    if not text:
        return text
    text = _BEARER.sub("Bearer [REDACTED:token]", text)
    text = _API_KEY.sub("[REDACTED:api_key]", text)
    text = _EMAIL.sub("[REDACTED:email]", text)
    text = _CARD.sub(_card, text)
    return _PHONE.sub(_phone, text)


_BUILTIN: dict[str, Callable[[str], str]] = {"pii": pii}


def builtin(name: str) -> Callable[[str], str] | None:
    """The built-in redactor called ``name`` (``"pii"``), or ``None``."""
    return _BUILTIN.get(name.strip().lower())
