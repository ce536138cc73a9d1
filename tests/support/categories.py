"""Test categories: every test module says what kind of test it is with ``pytestmark``, so
``pytest -m unit`` (or ``-m "not integration"``) picks a fast subset that means something.
tests/conftest.py refuses a run that collects a module declaring none, or more than one."""

from __future__ import annotations

CATEGORIES = frozenset({"unit", "domain", "contract", "integration"})


def module_categories(module: object) -> set[str]:
    """The categories a module's ``pytestmark`` declares (a mark or a list of marks)."""
    declared = getattr(module, "pytestmark", [])
    marks = declared if isinstance(declared, list) else [declared]
    return {mark.name for mark in marks if getattr(mark, "name", None) in CATEGORIES}
