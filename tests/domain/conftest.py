"""Each test gets an embedded deployment of its own (a copy of one migrated SQLite file, the
in-process state store and bus) and drives its domain services directly, as a request would."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.embedded import Deployment, embedded_deployment, migrate_sqlite


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("domain") / "template.db"
    migrate_sqlite(path)
    return path


@pytest.fixture
async def deployment(migrated_sqlite: Path, tmp_path: Path) -> AsyncIterator[Deployment]:
    async with embedded_deployment(migrated_sqlite, tmp_path) as deployed:
        yield deployed
