"""Robots are part of the template (bitrix24-rest.md §5.1): added once, updated once when their spec
changes (its fingerprint kept with the template ids), and nothing written when nothing changed."""

from b24app.template import NONPROFIT
from b24app.template.reconcile import Reconciler
from robots import lesson_reminder
from tests.conftest import register_portal

URL = "http://127.0.0.1:5000"


def test_a_changed_robot_spec_is_updated_once(sandbox, portal, recorder, redis):
    registered = register_portal(sandbox, portal, recorder, redis,
                                 scopes=("crm", "user", "placement", "bizproc", "userfieldconfig"))  # fmt: skip
    client = registered.client()
    spec = lesson_reminder.ROBOT.registration(URL)
    plan = Reconciler(client, NONPROFIT, None, URL, robots=[spec]).apply()
    changed = {**spec, "NAME": {"ru": "Напомнить о занятии", "en": "Remind of a lesson"}}
    portal.control("DELETE", "/counters")
    update = Reconciler(client, NONPROFIT, plan.ids, URL, robots=[changed])
    plan = update.apply()
    assert update.writes == 1 and plan.missing == []
    sent = sandbox.world.portal(portal.member_id).install(registered.app["client_id"])["robots"]
    name = {
        k.lower(): v for k, v in sent[lesson_reminder.CODE]["NAME"].items()
    }  # the portal upper-cases keys
    assert name["ru"] == "Напомнить о занятии"
    again = Reconciler(client, NONPROFIT, plan.ids, URL, robots=[changed])
    again.apply()
    assert again.writes == 0
