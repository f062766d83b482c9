"""The template reconciler on its own (bitrix24-rest.md §4.5–4.7, §5.1): placement of stages, robots, plans."""

import pytest

from b24app.template import NONPROFIT
from b24app.template.reconcile import Reconciler, place_sorts

ROBOT = {"CODE": "b24_test_robot", "HANDLER": "http://127.0.0.1:5000/robots/b24_test_robot", "AUTH_USER_ID": 1,
         "NAME": {"ru": "Тестовый робот", "en": "Test robot"}, "USE_SUBSCRIPTION": "Y",
         "PROPERTIES": {"offset": {"Name": {"ru": "Смещение", "en": "Offset"}, "Type": "int", "Default": 120}}}  # fmt: skip


@pytest.fixture
def registered(sandbox, portal, recorder, redis):
    """An installed app with every scope the template needs (userfieldconfig for smart-process fields)."""
    from tests.conftest import register_portal

    return register_portal(sandbox, portal, recorder, redis, scopes=("crm", "user", "placement", "bizproc",
                                                                      "userfieldconfig"))  # fmt: skip


def test_missing_stages_land_between_their_neighbours():
    """§4.6: in-progress stages go before the success stage, failures after it, in template order."""
    have = {"C1:NEW": 10, "C1:PREPARATION": 20, "C1:WON": 60, "C1:LOSE": 70}
    sorts = place_sorts(["C1:NEW", "C1:A", "C1:B", "C1:WON", "C1:LOSE", "C1:F"], have)
    assert 10 < sorts["C1:A"] < sorts["C1:B"] < 60 and sorts["C1:F"] > 70


def test_robots_from_the_registry_are_added_once(registered):
    """§5.1: robot specs given to the reconciler are registered with bizproc.robot.add, once."""
    client = registered.client()
    first = Reconciler(client, NONPROFIT, None, "http://127.0.0.1:5000", robots=[ROBOT])
    plan = first.apply()
    assert first.writes > 100 and plan.missing == []
    assert "b24_test_robot" in client.call("bizproc.robot.list")
    again = Reconciler(client, NONPROFIT, plan.ids, "http://127.0.0.1:5000", robots=[ROBOT])
    again.apply()
    assert again.writes == 0


def test_plan_reads_only(registered):
    """plan() makes no write calls and lists every template item as missing on an empty portal."""
    registered.portal.control("DELETE", "/counters")
    plan = Reconciler(registered.client(), NONPROFIT, None, "http://127.0.0.1:5000").plan()
    counters = registered.portal.control("GET", "/counters")
    assert all(
        m.endswith((".list", ".get")) or m in ("batch", "crm.type.list") for m in counters
    ), counters
    assert plan.items and all(i.status == "missing" for i in plan.items)
