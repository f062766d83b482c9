"""«Отменить подписку» on the deal: the placement (CRM_DEAL_DETAIL_TOOLBAR, PLACEMENT_OPTIONS {"ID": deal},
bitrix24-rest.md §7) opened in the sandbox portal; an admin confirms, the job calls CloudPayments'
``subscriptions/cancel`` (external-services.md §3.4: POST, JSON ``{"Id"}``, Basic auth) — ``responses``
stands in for it — and the deal gets a timeline comment, the donor the status «Отменена».
"""

import base64
import json
import re

import pytest
import requests
import responses

from tests.donations.test_reconcile import API, PUBLIC_ID, SECRET
from tests.donations.test_reconcile import fund as fund  # noqa: F401  (the fixture)
from tests.handlers.test_cloudpayments import body

SUB = "sc_8cf8a9338fb8ebf7202b08d09c938"


@pytest.fixture
def cp():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add_passthru("http://127.0.0.1")
        mock.add(
            responses.POST,
            f"{API}/subscriptions/cancel",
            json={"Success": True, "Message": None, "Model": None},
        )
        yield mock


def api_calls(mock: responses.RequestsMock) -> list:
    return [c for c in mock.calls if c.request.url.startswith(API)]


def open_toolbar(fund, deal_id: int, user: str = "1") -> dict:
    return requests.post(f"{fund.portal.sandbox.url}/_sandbox/portals/{fund.portal.member_id}/placements/open",
                         json={"client_id": fund.app.client_id, "placement": "CRM_DEAL_DETAIL_TOOLBAR",
                               "options": {"ID": str(deal_id)}, "user_id": user}, timeout=10).json()  # fmt: skip


def rebill_deal(fund) -> dict:
    fund.deliver("pay", body("pay_rebill"))
    fund.app.run_jobs()
    [deal] = fund.deals()
    return deal


def test_an_admin_confirms_and_the_subscription_is_cancelled_with_a_comment(fund, cp):
    deal = rebill_deal(fund)
    page = open_toolbar(fund, int(deal["ID"]))
    assert page["status"] == 200 and SUB in page["html"]
    token = re.search(r'name="token" value="([^"]+)"', page["html"]).group(1)
    confirm = f"{fund.app.url}/app/cancel-subscription/confirm"
    unconfirmed = requests.post(confirm, data={"token": token}, timeout=10)
    assert unconfirmed.status_code == 400 and api_calls(cp) == []
    done = requests.post(confirm, data={"token": token, "confirm": "yes"}, timeout=10)
    assert done.status_code == 200 and 'id="done"' in done.text
    fund.app.run_jobs()
    [call] = api_calls(cp)
    assert json.loads(call.request.body) == {"Id": SUB}
    auth = base64.b64encode(f"{PUBLIC_ID}:{SECRET}".encode()).decode()
    assert (
        call.request.headers["Authorization"] == f"Basic {auth}"
        and call.request.headers["X-Request-ID"]
    )
    notes = fund.portal.result(
        "crm.timeline.comment.list", {"filter": {"ENTITY_TYPE": "deal", "ENTITY_ID": deal["ID"]}}
    )
    assert [n["COMMENT"] for n in notes if SUB in n["COMMENT"] and "отменена" in n["COMMENT"]]
    [uf] = fund.portal.result(
        "crm.contact.userfield.list", {"filter": {"FIELD_NAME": "UF_CRM_B24_SUBSCRIPTION"}}
    )
    [contact] = fund.portal.result("crm.contact.list", {"select": ["UF_*"]})
    assert {str(i["ID"]): i["XML_ID"] for i in uf["LIST"]}[
        str(contact["UF_CRM_B24_SUBSCRIPTION"])
    ] == "CANCELLED"


def test_a_non_admin_gets_no_form_and_a_forged_token_is_refused(fund, cp):
    deal = rebill_deal(fund)
    page = open_toolbar(fund, int(deal["ID"]), user="2")
    assert (
        page["status"] == 200
        and 'id="not-admin"' in page["html"]
        and 'name="token"' not in page["html"]
    )
    forged = requests.post(f"{fund.app.url}/app/cancel-subscription/confirm",
                           data={"token": "x.y.z", "confirm": "yes"}, timeout=10)  # fmt: skip
    assert forged.status_code == 401
    fund.app.run_jobs()
    assert api_calls(cp) == []


def test_a_deal_without_a_subscription_offers_nothing(fund, cp):
    fund.deliver("pay", body("pay"))
    fund.app.run_jobs()
    [deal] = fund.deals()
    page = open_toolbar(fund, int(deal["ID"]))
    assert 'id="no-subscription"' in page["html"] and 'name="token"' not in page["html"]


def test_a_comment_that_failed_is_written_when_the_job_runs_again(fund, cp):
    """The portal refuses the timeline comment once (500): the job fails, and run again it writes the
    comment then (the once-mark follows the comment, it does not precede it) — one comment in all."""
    from rq import Queue
    from rq.registry import ScheduledJobRegistry

    from b24app.queue import DEFAULT

    deal = rebill_deal(fund)
    token = re.search(
        r'name="token" value="([^"]+)"', open_toolbar(fund, int(deal["ID"]))["html"]
    ).group(1)
    requests.post(f"{fund.portal.sandbox.url}/_sandbox/portals/{fund.portal.member_id}/faults",
                  json={"method": "crm.timeline.comment.add", "count": 1, "status": 500,
                        "error": "INTERNAL_SERVER_ERROR"}, timeout=10).raise_for_status()  # fmt: skip
    requests.post(f"{fund.app.url}/app/cancel-subscription/confirm",
                  data={"token": token, "confirm": "yes"}, timeout=10).raise_for_status()  # fmt: skip
    fund.app.run_jobs()
    queue = Queue(DEFAULT, connection=fund.app.redis)
    [retry] = [
        j for j in ScheduledJobRegistry(queue=queue).get_job_ids() if "cancel-subscription" in j
    ]
    queue.enqueue_job(queue.fetch_job(retry))
    fund.app.run_jobs()
    notes = fund.portal.result(
        "crm.timeline.comment.list", {"filter": {"ENTITY_TYPE": "deal", "ENTITY_ID": deal["ID"]}}
    )
    assert len([n for n in notes if SUB in n["COMMENT"] and "отменена" in n["COMMENT"]]) == 1
