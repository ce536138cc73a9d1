"""Which text can be stored, and where in a request the first that cannot sits."""

from __future__ import annotations

import json

import pytest

from meeting_shared.errors import InvalidInput
from meeting_shared.text import refuse_unstorable_text, storable, unstorable_text_at

pytestmark = pytest.mark.unit


def test_nul_and_unpaired_surrogates_cannot_be_stored_other_text_can() -> None:
    assert storable("plain") and storable("émoji 🎉 汉字") and storable("")
    assert not storable("a\x00b")
    assert not storable(json.loads('"a\\ud800b"'))
    assert storable(json.loads('"\\ud83c\\udf89"'))  # a pair is one character


def test_the_path_names_where_in_bodies_keys_and_lists() -> None:
    assert unstorable_text_at({"title": "ok", "settings": {"chat": True}}) is None
    assert unstorable_text_at({"title": "ok", "settings": {"x": "a\x00"}}) == "settings.x"
    assert unstorable_text_at({"items": ["ok", {"b": "\x00"}]}, "body") == "body.items.1.b"
    assert unstorable_text_at({"bad\x00key": 1, "other": 2}, "query") == "query"
    assert unstorable_text_at(("ok", 5, None, b"\x00")) is None  # bytes are not text


def test_deep_nesting_does_not_exhaust_the_stack() -> None:
    value: object = "\x00"
    for _ in range(50_000):
        value = [value]
    with pytest.raises(InvalidInput) as raised:
        refuse_unstorable_text(value)
    assert raised.value.code == "invalid_character"
