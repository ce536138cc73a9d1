"""A password-reset request does the same work whether or not the address has an account, so
its timing cannot tell which addresses do: the account is looked up, and the link issued, by the
reset-mail consumer after the request."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event

from meeting_shared.db.engine import Database
from tests.api.accounts import unique_name
from tests.conftest import Api, LiveServer

pytestmark = pytest.mark.integration


async def test_a_reset_request_runs_the_same_statements_for_every_address(
    api: Api, live_server: LiveServer
) -> None:
    known = await api.register("resetwork")
    unknown = f"{unique_name('nobody')}@example.com"
    db = Database(live_server.settings.database_url, pool_size=1)
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", record)

    async def request(email: str) -> list[str]:
        statements.clear()
        async with db.session() as session:
            uow = live_server.container.unit_of_work(session)
            service = live_server.container.services(uow).accounts
            await service.request_password_reset(email, client_ip="203.0.113.7")
        return list(statements)

    try:
        for_unknown = await request(unknown)
        for_known = await request(known["email"])
    finally:
        await db.aclose()
    assert for_unknown == for_known
    assert not any("users" in s or "password_reset_tokens" in s for s in for_known), for_known
    # The consumer still mails the account, and nobody else.
    mail = await api.wait_for_mail(known["email"])
    assert "/reset-password?token=" in mail["text"]
    assert api.mails_to(unknown) == []
