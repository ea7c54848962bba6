"""Render migration templates and split them into statements (no database access here)."""

from __future__ import annotations

import re
from collections.abc import Mapping

from llmtrace.store.errors import StoreError

_PLACEHOLDER = re.compile(r"\{\{\s*([a-z_]+)\s*\}\}")
TTL_PLACEHOLDERS = ("span_ttl_days", "rollup_ttl_days")


def render(template: str, values: Mapping[str, object], where: str = "template") -> str:
    """Fill ``{{name}}`` placeholders; a TTL line whose placeholder is 0 is dropped (0 = keep forever).

    Single braces are left alone: ``{shard}`` / ``{replica}`` are ClickHouse server macros.
    """
    lines = []
    for line in template.splitlines():
        names = _PLACEHOLDER.findall(line)
        if line.lstrip().upper().startswith("TTL ") and any(
            n in TTL_PLACEHOLDERS and values.get(n) == 0 for n in names
        ):
            continue
        lines.append(line)

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            known = ", ".join("{{" + k + "}}" for k in sorted(values))
            raise StoreError(f"{where}: unknown placeholder {{{{{name}}}}} (known: {known})")
        return str(values[name])

    return _PLACEHOLDER.sub(fill, "\n".join(lines))


def split_statements(sql: str) -> list[str]:
    """Split on ``;`` outside quotes and comments; comments are dropped, empty statements skipped."""
    statements: list[str] = []
    current: list[str] = []
    i, n = 0, len(sql)
    while i < n:
        ch = sql[i]
        if ch == "-" and sql.startswith("--", i):
            end = sql.find("\n", i)
            i = n if end == -1 else end
            continue
        if ch == "/" and sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            i = n if end == -1 else end + 2
            continue
        if ch in "'\"`":
            j = i + 1
            while j < n and sql[j] != ch:
                j += 2 if sql[j] == "\\" else 1
            current.append(sql[i : j + 1])
            i = j + 1
            continue
        if ch == ";":
            _flush(current, statements)
            current = []
        else:
            current.append(ch)
        i += 1
    _flush(current, statements)
    return statements


def _flush(parts: list[str], statements: list[str]) -> None:
    text = "\n".join(line.rstrip() for line in "".join(parts).strip().splitlines() if line.strip())
    if text:
        statements.append(text)
