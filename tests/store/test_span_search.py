"""`q=` on the span list: whole words, every one, case-insensitive, in input or output; exact
results, with the token bloom-filter index of migration 0060 skipping granules."""

from __future__ import annotations

import re

import pytest
from spans_factory import make_rows

from llmtrace.store import Store
from llmtrace.store.queries.spans import SpanQuery, list_spans, search_words, text_condition, where_clause

TEXTS = {
    "tusk-in-input": ("The Walrus's tusk is long.", '{"ok": true}'),
    "plural": ("walruses everywhere", "one tusk"),
    "in-output": ("nothing here", "A WALRUS, and a TUSK."),
    "accented": ("café crème", ""),
}


@pytest.fixture
def searchable(store: Store) -> dict[str, str]:
    """``{label: span_id}`` of spans with known text, after ~6,000 spans of other text (many granules)."""
    store.client.command(
        "INSERT INTO {db:Identifier}.spans (project, trace_id, span_id, start_time, end_time, input, output)"
        " SELECT 'p1', lower(hex(cityHash64(number, 1))), lower(hex(cityHash64(number, 2))),"
        " now64(6) - toIntervalSecond(number), now64(6) - toIntervalSecond(number),"
        " repeat(concat('lorem ipsum dolor ', toString(number % 97), ' '), 60), 'sit amet' FROM numbers(6000)",
        parameters={"db": store.database},
    )
    rows = make_rows(len(TEXTS), seed=11)
    labels = {}
    for row, (label, (text_in, text_out)) in zip(rows, TEXTS.items(), strict=True):
        row.update(input=text_in, output=text_out)
        labels[label] = row["span_id"]
    store.insert_spans(rows)
    return labels


def _found(store: Store, text: str) -> set[str]:
    return {r["span_id"] for r in list_spans(store, "p1", SpanQuery(text=text), limit=1000)}


def test_every_word_must_be_in_input_or_output_as_a_whole_word(
    store: Store, searchable: dict[str, str]
) -> None:
    ids = searchable
    assert _found(store, "walrus") == {ids["tusk-in-input"], ids["in-output"]}
    assert _found(store, "Walrus   TUSK!") == {ids["tusk-in-input"], ids["in-output"]}
    assert _found(store, "tusk") == {ids["tusk-in-input"], ids["plural"], ids["in-output"]}
    # One word in the input, the other in the output.
    assert _found(store, "walruses tusk") == {ids["plural"]}
    assert _found(store, "walr") == set()  # a part of a word is not a word
    assert _found(store, "walrus ipsum") == set()  # all words, not any
    assert _found(store, "café") == {ids["accented"]}
    assert len(_found(store, "ipsum 42")) == 6000 // 97 + 1  # numbers 42, 139, ... below 6,000


def test_search_words_follow_clickhouse_tokens() -> None:
    assert search_words("The walrus's TUSK, the walrus") == ["the", "walrus", "s", "tusk"]
    assert search_words("crème brûlée") == ["crème", "brûlée"]
    with pytest.raises(ValueError, match="q must contain a word"):
        search_words(" -- !? ")
    with pytest.raises(ValueError, match="at most 16 words"):
        search_words(" ".join(f"w{i}" for i in range(17)))


def test_token_index_skips_granules_without_the_words(store: Store, searchable: dict[str, str]) -> None:
    params: dict[str, object] = {"db": store.database}
    where = where_clause("p1", SpanQuery(text="walrus tusk"), params)
    assert text_condition("walrus tusk", {}) in where
    plan = "\n".join(
        r[0]
        for r in store.client.query(
            f"EXPLAIN indexes = 1 SELECT span_id FROM {{db:Identifier}}.spans WHERE {where}",
            parameters=params,
        ).result_rows
    )
    index = plan[plan.index("idx_content_tokens") :]
    kept, total = map(int, re.search(r"Granules: (\d+)/(\d+)", index).groups())
    assert total >= 8 and kept <= 2
