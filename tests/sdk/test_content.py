"""JSON text written directly for the common message shapes equals the encoder's."""

from __future__ import annotations

import json

from llmtrace._internal.content import constant_text_parts_json, text_parts_json


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
