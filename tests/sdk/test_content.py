"""JSON text written directly for the common message shapes equals the encoder's."""

from __future__ import annotations

import json

from llmtrace._internal.content import constant_text_parts_json, text_json, text_parts_json


def test_constant_text_parts_json_is_text_parts_json_per_object() -> None:
    text = "".join(["Be brief. ", 'Quote "exactly"\n', "é"])  # built at run time: its own object
    assert constant_text_parts_json(text) == text_parts_json(text)
    assert json.loads(constant_text_parts_json(text)) == [{"type": "text", "content": text}]
    assert constant_text_parts_json(text) is constant_text_parts_json(text)  # escaped once
    other = "".join(["Be brief. ", "Other"])
    assert json.loads(constant_text_parts_json(other))[0]["content"] == other
    for i in range(200):  # many distinct texts: the cache stays bounded and answers stay right
        value = f"instruction {i}"
        assert json.loads(constant_text_parts_json(value))[0]["content"] == value


def test_text_json_is_the_json_encoders_string_literal() -> None:
    # The quick path (nothing to escape) and the escaper's must give json.dumps' text for every
    # kind of character: escaped ones, ones JSON leaves as they are (DEL, U+2028, non-ASCII,
    # astral, a lone surrogate), and texts mixing both.
    texts = [
        "",
        "plain words",
        "x" * 3000,
        'a "quote"',
        "back\\slash",
        "line\nbreak",
        "tab\there",
        "nul\x00",
        "\x1f",
        "del\x7f",
        "sep\u2028",
        "café",
        'café "quoted"',
        "日本語\n",
        "emoji 😀",
        "lone \ud800 surrogate",
        'lone \udfff "surrogate"',
    ]
    for text in texts:
        assert text_json(text) == json.dumps(text, ensure_ascii=False), repr(text)
