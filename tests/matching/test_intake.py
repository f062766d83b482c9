"""Match-or-create against the sandbox portal (bitrix24-rest.md §4.1, §4.3; matching.md) with real Redis."""

import multiprocessing

from redis import Redis

from b24app.matching import Person
from b24app.matching.intake import match_or_create_contact

ANNA = Person("Анна", "Смирнова", "Игоревна", ("Anna.Smirnova@gmail.com",), ("+7 916 123-45-67",))


def contacts(registered) -> list[dict]:
    return registered.portal.result(
        "crm.contact.list", {"select": ["ID", "NAME", "EMAIL", "PHONE"]}
    )


def test_new_person_is_created_then_linked_by_email_and_phone_variants(registered, redis):
    """§4.3: the second intake (e-mail case, phone written 8 (916) …) finds the first contact."""
    client = registered.client()
    first = match_or_create_contact(client, redis, registered.member_id, ANNA)
    assert first.action == "created"
    again = Person("Анна", "Смирнова", "", ("anna.smirnova@GMAIL.com",), ("8 (916) 123-45-67",))
    second = match_or_create_contact(client, redis, registered.member_id, again)
    assert (second.action, second.contact_id) == ("linked", first.contact_id)
    assert len(contacts(registered)) == 1


def test_equal_email_surname_and_name_always_link(registered, redis):
    """The case-study floor: equal e-mail, surname and name never make a new contact."""
    client = registered.client()
    first = match_or_create_contact(client, redis, registered.member_id, ANNA)
    bare = Person("Анна", "Смирнова", "", ("anna.smirnova@gmail.com",), ())
    assert (
        match_or_create_contact(client, redis, registered.member_id, bare).contact_id
        == first.contact_id
    )


def test_spouse_sharing_an_email_is_never_linked(registered, redis):
    """matching.md hard rule: the same e-mail with a different first name is a different person."""
    client = registered.client()
    first = match_or_create_contact(client, redis, registered.member_id, ANNA)
    husband = Person("Игорь", "Смирнов", "", ANNA.emails, ())
    outcome = match_or_create_contact(client, redis, registered.member_id, husband)
    assert outcome.contact_id != first.contact_id and outcome.action in (
        "created",
        "created_for_review",
    )
    assert len(contacts(registered)) == 2


def test_lookup_costs_two_http_requests_and_caps_findbycomm_at_20(registered, redis):
    """§4.3: ≤ 20 values a findbycomm command; the lookup is one batch plus one load."""
    client = registered.client()
    match_or_create_contact(client, redis, registered.member_id, ANNA)
    many = Person(
        "Анна", "Смирнова", "", tuple(f"anna{i}@example.ru" for i in range(25)) + ANNA.emails, ()
    )
    registered.portal.control("DELETE", "/counters")
    outcome = match_or_create_contact(client, redis, registered.member_id, many)
    counters = registered.portal.control("GET", "/counters")
    assert outcome.action == "linked"
    assert (
        counters["batch"] == 1 and counters["crm.duplicate.findbycomm"] == 2
    )  # 26 values → 20 + 6
    assert (
        counters["crm.contact.list"] == 2
    )  # the surname query inside the batch + the one load request


def test_idempotency_key_answers_without_requests(registered, redis):
    """The sender's id makes a repeated intake free: same contact, no REST call."""
    client = registered.client()
    first = match_or_create_contact(
        client, redis, registered.member_id, ANNA, idempotency_key="cp:tx-1"
    )
    registered.portal.control("DELETE", "/counters")
    again = match_or_create_contact(
        client, redis, registered.member_id, ANNA, idempotency_key="cp:tx-1"
    )
    assert again == first and registered.portal.control("GET", "/counters") == {}


def _intakes(args, barrier, results):
    redis_url, member_id, client_id, secret, template, people = args
    from b24app.bitrix import for_portal
    from b24app.portals import PortalRegistry

    redis = Redis.from_url(redis_url)
    client = for_portal(
        PortalRegistry(redis, "test-secret"), member_id, client_id, secret, url_template=template
    )
    barrier.wait()
    results.put([match_or_create_contact(client, redis, member_id, p).contact_id for p in people])


def test_twenty_concurrent_intakes_of_one_new_person_make_one_contact(
    sandbox, registered, redis_url
):
    """20 intakes at once from 4 worker processes (with spelling variants) → exactly one contact."""
    variants = [
        ANNA,
        Person("анна", "смирнова", "", ("ANNA.SMIRNOVA@gmail.com",), ("89161234567",)),
    ]
    ctx = multiprocessing.get_context("fork")
    barrier, results = ctx.Barrier(4), ctx.Queue()
    args = [(redis_url, registered.member_id, registered.app["client_id"], registered.app["client_secret"],
             f"{sandbox.url}/p/{{domain}}/rest/", [variants[(w + i) % 2] for i in range(5)]) for w in range(4)]  # fmt: skip
    procs = [ctx.Process(target=_intakes, args=(a, barrier, results)) for a in args]
    for p in procs:
        p.start()
    ids = [i for _ in procs for i in results.get(timeout=120)]
    for p in procs:
        p.join(30)
    assert len(ids) == 20 and len(set(ids)) == 1
    assert len(contacts(registered)) == 1
