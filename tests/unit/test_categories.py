"""The test-category rule: one category per module, read from its ``pytestmark``."""

from __future__ import annotations

import types

import pytest

from tests.support.categories import module_categories

pytestmark = pytest.mark.unit


def test_a_single_mark_is_the_category() -> None:
    module = types.SimpleNamespace(pytestmark=pytest.mark.contract)
    assert module_categories(module) == {"contract"}


def test_marks_that_are_not_categories_do_not_count() -> None:
    module = types.SimpleNamespace(
        pytestmark=[pytest.mark.integration, pytest.mark.timeout(300), pytest.mark.usefixtures("x")]
    )
    assert module_categories(module) == {"integration"}


def test_a_module_without_pytestmark_has_none() -> None:
    assert module_categories(types.SimpleNamespace()) == set()


def test_two_categories_are_both_seen_so_the_run_refuses_them() -> None:
    module = types.SimpleNamespace(pytestmark=[pytest.mark.unit, pytest.mark.integration])
    assert module_categories(module) == {"unit", "integration"}
