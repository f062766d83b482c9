"""The event sync against the sandbox portal and the sandbox's fake Timepad (product.md C6, issue 16)."""

import pytest

from b24app import context
from b24app.timepad.sync import sync_event

from .world import TimepadFund, ticket


@pytest.fixture
def fund(sandbox, portal, app_server):
    return TimepadFund(sandbox, portal, app_server)


def sync(fund, event) -> dict:
    return sync_event(
        context.client(fund.portal.member_id), context.redis(), fund.portal.member_id, event["id"]
    )


def test_a_finished_event_with_check_in(fund):
    """Checked in → «Посетил», the rest «Не пришёл», refunds «Отменён»; a rerun writes nothing."""
    event = fund.event()
    fund.orders(event, {"status": "paid", "tickets": [ticket("Анна", "Иванова", "anna@example.org", attended=True)]},
                {"status": "paid", "tickets": [ticket("Борис", "Петров", "boris@example.org")]},
                {"status": "returned", "tickets": [ticket("Вера", "Сидорова", "vera@example.org")]})  # fmt: skip
    state = sync(fund, event)
    assert state["phase"] == "done", state
    stages = {fund.stage(i) for i in fund.items()}
    assert stages == {"SUCCESS", "FAIL", "B24_CANCELLED"}
    assert state["created"] == "3"
    fund.portal.control("DELETE", "/counters")
    again = sync(fund, event)
    assert again["skipped"] == "3", again
