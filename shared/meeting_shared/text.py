"""What text the system stores: any Unicode except NUL (U+0000), which PostgreSQL cannot keep in
a text value, and unpaired surrogates (``"\\ud800"`` in JSON), which are no characters and cannot
be encoded. Both databases refuse them alike: requests are checked as they come in, and the
database adapter checks what reaches it by any other way."""

from __future__ import annotations

from typing import Any

from meeting_shared.errors import InvalidInput

INVALID_CHARACTER = "invalid_character"


def storable(text: str) -> bool:
    """Whether ``text`` can be stored (the common all-ASCII case costs one scan)."""
    if "\x00" in text:
        return False
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _all_storable(value: Any) -> bool:
    pending = [value]
    while pending:  # a loop, not recursion: a deeply nested body must not exhaust the stack
        item = pending.pop()
        if isinstance(item, str):
            if not storable(item):
                return False
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list | tuple):
            pending.extend(item)
    return True


def unstorable_text_at(value: Any, place: str = "") -> str | None:
    """Where a string that cannot be stored sits in ``value`` (strings in dicts and
    lists, keys included, nested to any depth), as a dotted path under ``place``; ``None`` if
    there is none."""
    if _all_storable(value):  # the common case, without building paths
        return None
    pending: list[tuple[Any, str]] = [(value, place)]
    while pending:
        item, path = pending.pop()
        if isinstance(item, str):
            if not storable(item):
                return path
        elif isinstance(item, dict):
            for key, child in item.items():
                child_path = f"{path}.{key}" if path else str(key)
                if isinstance(key, str) and not storable(key):
                    return path
                pending.append((child, child_path))
        elif isinstance(item, list | tuple):
            pending.extend(
                (child, f"{path}.{index}" if path else str(index))
                for index, child in enumerate(item)
            )
    return None


def refuse_unstorable_text(value: Any, place: str = "") -> None:
    """Raise ``InvalidInput`` (422, ``invalid_character``) naming where ``value`` holds a string
    that cannot be stored."""
    path = unstorable_text_at(value, place)
    if path is not None:
        raise InvalidInput(
            "Text may not contain the NUL character (U+0000) or unpaired surrogates",
            field=path or None,
            code=INVALID_CHARACTER,
        )
