"""The event sync against the sandbox portal and the sandbox's fake Timepad (product.md C6, issue 16's
stage table; external-services.md §1.2 paging, §1.3 shapes)."""

import threading
from datetime import timedelta

import pytest

from b24app import context
from b24app.timepad.sync import EventSync, begin_sync, hook_job, results, run_state, sync_event

from .world import TimepadFund, ticket


@pytest.fixture
def fund(sandbox, portal, app_server):
    return TimepadFund(sandbox, portal, app_server)


def sync(fund, event) -> dict:
    return sync_event(
        context.client(fund.portal.member_id), context.redis(), fund.portal.member_id, event["id"]
    )


def writes(fund) -> int:
    counters = fund.portal.control("GET", "/counters")
    return sum(
        n
        for method, n in counters.items()
        if method.rsplit(".", 1)[-1] in ("add", "update", "delete")
    )


def contact_of(fund, email: str) -> dict:
    (found,) = [
        c for c in fund.contacts() if c.get("EMAIL") and c["EMAIL"][0]["VALUE"].lower() == email
    ]
    return found


def test_a_finished_event_with_check_in(fund):
    """Checked in → «Посетил», the rest «Не пришёл», refunds «Отменён»; a rerun makes zero write calls."""
    event = fund.event()
    fund.orders(event, {"status": "paid", "tickets": [ticket("Анна", "Иванова", "anna@example.org", attended=True)]},
                {"status": "booked", "tickets": [ticket("Борис", "Петров", "boris@example.org")]},
                {"status": "returned", "tickets": [ticket("Вера", "Сидорова", "vera@example.org", attended=True)]})  # fmt: skip
    state = sync(fund, event)
    assert state["phase"] == "done" and state["created"] == "3", state
    stages = {c["NAME"]: stage for c in fund.contacts() for cid, stage in fund.by_contact().items()
              if int(c["ID"]) == cid}  # fmt: skip
    assert stages == {"Анна": "SUCCESS", "Борис": "FAIL", "Вера": "B24_CANCELLED"}
    anna = contact_of(fund, "anna@example.org")
    assert anna["UF_CRM_B24_EVENTS_COUNT"] in ("1", 1) and anna["UF_CRM_B24_EVENT_FIRST_DATE"]
    assert contact_of(fund, "boris@example.org")["UF_CRM_B24_EVENTS_COUNT"] in ("0", 0)
    fund.portal.control("DELETE", "/counters")
    again = sync(fund, event)
    assert again["skipped"] == "3" and writes(fund) == 0, fund.portal.control("GET", "/counters")


def test_an_event_without_check_in_keeps_paid_and_registered_and_counts_them(fund):
    """Nobody checked in: after the end tickets keep «Оплачено» / «Зарегистрирован», and both count as
    an event attended (segment «Новичок»)."""
    event = fund.event()
    fund.orders(event, {"status": "paid", "tickets": [ticket("Анна", "Иванова", "anna@example.org")]},
                {"status": "ok", "tickets": [ticket("Борис", "Петров", "boris@example.org")]})  # fmt: skip
    sync(fund, event)
    assert sorted(fund.by_contact().values()) == ["B24_PAID", "NEW"]
    newcomer = fund.portal.result(
        "crm.contact.userfield.list", {"filter": {"FIELD_NAME": "UF_CRM_B24_EVENT_SEGMENT"}}
    )
    ids = {item["XML_ID"]: str(item["ID"]) for item in newcomer[0]["LIST"]}
    for email in ("anna@example.org", "boris@example.org"):
        contact = contact_of(fund, email)
        assert str(contact["UF_CRM_B24_EVENTS_COUNT"]) == "1"
        assert str(contact["UF_CRM_B24_EVENT_SEGMENT"]) == ids["NEWCOMER"]


def test_before_the_end_paid_and_booked_and_several_tickets_make_one_best_item(fund):
    """Before the end: paid → «Оплачено», booked → «Зарегистрирован»; one person with a refunded and a paid
    ticket gets one item, «Оплачено»; nothing counts as attended yet."""
    event = fund.event(starts=timedelta(days=2), ends=timedelta(days=2, hours=2))
    fund.orders(event, {"status": "returned", "tickets": [ticket("Анна", "Иванова", "anna@example.org")]},
                {"status": "paid", "tickets": [ticket("Анна", "Иванова", "Anna@Example.org"),
                                               ticket("Борис", "Петров", "boris@example.org", status="booked")]})  # fmt: skip
    sync(fund, event)
    assert sorted(fund.by_contact().values()) == ["B24_PAID", "NEW"] and len(fund.contacts()) == 2
    anna = [
        i
        for i in fund.items()
        if int(i["contactId"]) == int(contact_of(fund, "anna@example.org")["ID"])
    ][0]
    assert anna[fund.f("TP_TICKET_STATUS")] == "paid, returned" and anna[fund.f("TP_ATTENDED")] in (
        "N",
        False,
    )


def test_two_tickets_of_one_known_contact_make_one_participation(fund):
    """One ticket with her e-mail, another (another order) with only her phone: both find the same contact,
    so one participation with the better outcome, the other reported as skipped."""
    fund.portal.result("crm.contact.add", {"fields": {"NAME": "Анна", "LAST_NAME": "Иванова",
                        "EMAIL": [{"VALUE": "anna@example.org"}], "PHONE": [{"VALUE": "+79991234567"}]}})  # fmt: skip
    event = fund.event()
    fund.orders(event, {"status": "paid", "tickets": [ticket("Анна", "Иванова", "anna@example.org")]},
                {"status": "paid", "tickets": [ticket("Анна", "Иванова", "", phone="+7 999 123-45-67", attended=True)]})  # fmt: skip
    state = sync(fund, event)
    assert state["linked"] == "1" and state["skipped"] == "1", state
    assert list(fund.by_contact().values()) == ["SUCCESS"] and len(fund.contacts()) == 1


def test_paging_past_250_orders(fund):
    """260 orders: read in two pages of limit 250 (skip 0, then 250), every participant in the CRM."""
    event = fund.event()
    fund.orders(event, *({"status": "paid", "tickets": [ticket(f"Гость{n}", "Тестов", f"g{n}@example.org")]}
                         for n in range(260)))  # fmt: skip
    fund.control("DELETE", "/requests")
    state = sync(fund, event)
    assert state["orders"] == "260" and state["people"] == "260" and state["created"] == "260"
    assert fund.control("GET", "/requests")["requests"] == 3  # the event and two pages of orders
    assert len(fund.items()) == 260 and len(fund.contacts()) == 260


def test_existing_contacts_are_linked_and_a_repeat_visitor_becomes_repeat(fund):
    """A contact already in the CRM (another spelling of the name, same e-mail) is linked, not duplicated;
    after her second attended event she is «Повторный» with both dates."""
    existing = fund.portal.result("crm.contact.add", {"fields": {"NAME": "Аня", "LAST_NAME": "Иванова",
                                                                  "EMAIL": [{"VALUE": "anna@example.org"}]}})  # fmt: skip
    first = fund.event("Первый семинар", timedelta(days=-10), timedelta(days=-10, hours=2))
    second = fund.event("Второй семинар")
    for event in (first, second):
        fund.orders(
            event,
            {
                "status": "paid",
                "tickets": [ticket("Анна", "Иванова", "anna@example.org", attended=True)],
            },
        )
        state = sync(fund, event)
        assert state["linked"] == "1", results(context.redis(), fund.portal.member_id, event["id"])
    (contact,) = fund.contacts()
    assert int(contact["ID"]) == int(existing)
    assert str(contact["UF_CRM_B24_EVENTS_COUNT"]) == "2"
    assert contact["UF_CRM_B24_EVENT_FIRST_DATE"][:10] < contact["UF_CRM_B24_EVENT_LAST_DATE"][:10]
    segments = fund.portal.result(
        "crm.contact.userfield.list", {"filter": {"FIELD_NAME": "UF_CRM_B24_EVENT_SEGMENT"}}
    )
    repeat = next(str(item["ID"]) for item in segments[0]["LIST"] if item["XML_ID"] == "REPEAT")
    assert str(contact["UF_CRM_B24_EVENT_SEGMENT"]) == repeat
    assert len(fund.items()) == 2


def test_a_refund_after_the_sync_moves_the_participation_to_cancelled(fund):
    """After the sync a paid order is refunded: its hook moves the item to «Отменён» and the contact's
    events attended back to 0."""
    event = fund.event()
    (order,) = fund.orders(
        event, {"status": "paid", "tickets": [ticket("Анна", "Иванова", "anna@example.org")]}
    )
    sync(fund, event)
    assert list(fund.by_contact().values()) == ["B24_PAID"]
    fund.control("PATCH", f"/orders/{order['id']}", json={"status": "return_org"})
    (sent,) = fund.hook(order, shape="ticket")
    assert sent["status"] == 200
    fund.app.run_jobs()
    assert list(fund.by_contact().values()) == ["B24_CANCELLED"]
    assert str(contact_of(fund, "anna@example.org")["UF_CRM_B24_EVENTS_COUNT"]) == "0"


def test_a_denied_token_is_reported_in_words(fund):
    """A token without view_visitors: the sync fails, and says why."""
    org = fund.control("POST", "/organizations", json={"name": "Без прав", "permissions": []})
    with context.registry().change(fund.portal.member_id) as record:
        record.settings |= {
            "timepad_token": org["token"],
            "timepad_organization_id": str(org["id"]),
        }
    event = fund.control("POST", "/events", json={"organization_id": org["id"], "name": "Закрытое",
                                                  "starts_at": "2026-01-10T19:00:00+03:00"})  # fmt: skip
    with pytest.raises(Exception, match="view_visitors"):
        sync(fund, event)
    state = run_state(context.redis(), fund.portal.member_id, event["id"])
    assert state["phase"] == "failed" and "view_visitors" in state["error"]


def test_a_hook_during_the_sync_makes_no_second_contact_or_item(fund):
    """A participant's hook arrives while the event's sync applies the same people: both work under the
    person's identity locks, so each person ends with one contact and one item."""
    event = fund.event()
    orders = fund.orders(event, *({"status": "paid", "tickets": [ticket(f"Гость{n}", "Параллельный",
                                                                        f"p{n}@example.org")]} for n in range(40)))  # fmt: skip
    redis, member_id = context.redis(), fund.portal.member_id
    run = begin_sync(redis, member_id, event["id"])
    sync = EventSync(context.client(member_id), redis, member_id, event["id"], run)
    while run_state(redis, member_id, event["id"])["phase"] != "people":
        sync.step()
    for order in orders[:5]:
        fund.control("PATCH", f"/orders/{order['id']}", json={"checkin": True})
    barrier = threading.Barrier(6)
    errors = []

    def hook(order):
        barrier.wait()
        try:
            hook_job(
                member_id, {"event_id": event["id"], "order_id": order["id"], "status": "paid"}
            )
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=hook, args=(o,)) for o in orders[:5]]
    for t in threads:
        t.start()
    barrier.wait()
    while not sync.step():
        pass
    for t in threads:
        t.join(60)
    assert not errors
    assert len(fund.contacts()) == 40 and len(fund.items()) == 40
    assert len({int(i["contactId"]) for i in fund.items()}) == 40


def test_the_cli_syncs_with_a_progress_bar_and_fails_non_zero(fund, capsys):
    """`b24app timepad sync EVENT_ID --portal M`: a progress bar and the summary; exit 1 when it failed."""
    from b24app.__main__ import main

    event = fund.event()
    fund.orders(
        event, {"status": "paid", "tickets": [ticket("Анна", "Иванова", "anna@example.org")]}
    )
    assert main(["timepad", "sync", str(event["id"]), "--portal", fund.portal.member_id]) == 0
    out = capsys.readouterr()
    assert "1/1" in out.err and '"created": 1' in out.out
    assert main(["timepad", "sync", "999999", "--portal", fund.portal.member_id]) == 1
    assert "не найдено" in capsys.readouterr().err  # the fake Timepad's 404 for an unknown event


def test_an_event_of_another_organisation_is_not_taken(fund):
    """The token can see an event, but it belongs to an organisation other than the fund's
    ``timepad_organization_id``: neither the sync nor a hook takes its people, and the reason is said."""
    from b24app.jobs import failures

    event = fund.event()
    [order] = fund.orders(
        event, {"status": "paid", "tickets": [ticket("Анна", "Иванова", "anna@example.org")]}
    )
    with context.registry().change(fund.portal.member_id) as record:
        record.settings["timepad_organization_id"] = str(event["organization"]["id"] + 1)
    with pytest.raises(Exception, match="belongs to organisation"):
        sync(fund, event)
    assert (
        "belongs to organisation"
        in run_state(context.redis(), fund.portal.member_id, event["id"])["error"]
    )
    (sent,) = fund.hook(order)
    assert sent["status"] == 200
    fund.app.run_jobs()
    assert fund.contacts() == []
    assert any("belongs to organisation" in f["reason"] for f in failures(fund.portal.member_id))
