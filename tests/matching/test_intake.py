"""Match-or-create against the sandbox portal over real HTTP, with real Redis (no mocks of our code).

bitrix24-rest.md §2.5 (batch), §4.1 (contacts, multifields), §4.3 (crm.duplicate.findbycomm); matching.md
§6.2–6.3 (Russian names, e-mail and phone normalisation, the shared-e-mail rule).
"""

import json
import multiprocessing

import pytest
from redis import Redis

from b24app.matching import Person
from b24app.matching.intake import FINDBYCOMM_MAX, match_or_create_contact
from b24app.portals import portal_key

ANNA = Person("Анна", "Смирнова", "Игоревна", ("Anna.Smirnova@gmail.com",), ("+7 916 123-45-67",))
SELECT = ["ID", "NAME", "LAST_NAME", "SECOND_NAME", "EMAIL", "PHONE", "TYPE_ID", "POST"]


def add_contact(registered, **fields) -> int:
    """A contact put into the portal by hand (through the admin webhook, not our code)."""
    for kind in ("EMAIL", "PHONE"):
        if kind in fields:
            fields[kind] = [{"VALUE": v, "VALUE_TYPE": "WORK"} for v in fields[kind]]
    return int(registered.portal.result("crm.contact.add", {"fields": fields}))


def contacts(registered) -> list[dict]:
    return registered.portal.result("crm.contact.list", {"select": SELECT})


def values(record: dict, kind: str) -> list[str]:
    return [m["VALUE"] for m in record.get(kind) or []]


def reset_counters(registered) -> None:
    registered.portal.control("DELETE", "/counters")


def http_requests(counters: dict) -> int:
    """HTTP requests our client sent: batches plus direct calls (inner batch commands are counted too)."""
    inner = counters.get("crm.duplicate.findbycomm", 0) + 1  # the surname query rides in the batch
    return sum(counters.values()) - inner if counters.get("batch") else sum(counters.values())


@pytest.fixture
def intake(registered, redis):
    client = registered.client()
    return lambda person, **kw: match_or_create_contact(
        client, redis, registered.member_id, person, **kw
    )


def test_new_person_is_created_with_type_and_extra_fields(registered, intake):
    """§4.1: crm.contact.add with names, EMAIL/PHONE multifields (phone in E.164) and TYPE_ID."""
    outcome = intake(ANNA, contact_type="B24_DONOR", extra_fields={"POST": "волонтёр"})
    assert (outcome.action, outcome.decision, outcome.candidates) == ("created", "", ())
    [record] = contacts(registered)
    assert int(record["ID"]) == outcome.contact_id
    assert (record["NAME"], record["LAST_NAME"], record["SECOND_NAME"]) == (
        "Анна",
        "Смирнова",
        "Игоревна",
    )
    assert values(record, "EMAIL") == ["Anna.Smirnova@gmail.com"]
    assert values(record, "PHONE") == ["+79161234567"]
    assert (record["TYPE_ID"], record["POST"]) == ("B24_DONOR", "волонтёр")


def test_links_by_email_despite_gmail_dots_tag_and_googlemail(registered, intake):
    """matching.md §6.3: Gmail ignores dots and +tag, googlemail = gmail; §4.3 findbycomm is exact, so a
    dotted address on file is reached by the surname query and the matcher decides."""
    on_file = add_contact(
        registered, NAME="Анна", LAST_NAME="Смирнова", EMAIL=["Anna.Smirnova@gmail.com"]
    )
    outcome = intake(Person("Анна", "Смирнова", "", ("annasmirnova+fund@googlemail.com",), ()))
    assert (outcome.action, outcome.contact_id) == ("linked", on_file)
    assert "email_same" in outcome.reasons
    undotted = add_contact(
        registered, NAME="Пётр", LAST_NAME="Орлов", EMAIL=["petrorlov@gmail.com"]
    )
    outcome = intake(Person("Петр", "Орлов", "", ("Petr.Orlov+donate@gmail.com",), ()))
    assert (outcome.action, outcome.contact_id) == ("linked", undotted)
    assert len(contacts(registered)) == 2
    record = next(r for r in contacts(registered) if int(r["ID"]) == on_file)
    assert values(record, "EMAIL") == [
        "Anna.Smirnova@gmail.com"
    ]  # the same mailbox is not re-added


def test_links_by_phone_written_8_or_plus7_and_fills_blanks_only(registered, intake):
    """§4.3 (phones compared by digits; we send E.164, 8… and ten digits) and §4.1 (blank fields are
    filled, filled ones and existing multifield values are kept)."""
    on_file = add_contact(
        registered, NAME="Анна", LAST_NAME="Смирнова", PHONE=["8 (916) 123-45-67"]
    )
    person = Person("Аnna", "Смирнова", "Игоревна", (), ("+7 916 1234567",))  # Latin "A" in "Аnna"
    outcome = intake(person, extra_fields={"POST": "донор"}, contact_type="B24_DONOR")
    assert (outcome.action, outcome.contact_id) == ("linked", on_file)
    assert "phone_same" in outcome.reasons
    [record] = contacts(registered)
    assert values(record, "PHONE") == ["8 (916) 123-45-67"]  # the same number is not added again
    assert (record["NAME"], record["SECOND_NAME"], record["POST"]) == ("Анна", "Игоревна", "донор")
    assert record["TYPE_ID"] == "CLIENT"  # a linked contact keeps its type


def test_transliterated_name_with_the_same_email_links(registered, intake):
    """matching.md §6.2: Latin ↔ Cyrillic spellings meet on the skeleton; the e-mail is found by §4.3."""
    on_file = add_contact(
        registered, NAME="Yuliya", LAST_NAME="Shcheglova", EMAIL=["yulia.sh@yandex.ru"]
    )
    outcome = intake(Person("Юлия", "Щеглова", "", ("Yulia.Sh@ya.ru",), ()))
    assert (outcome.action, outcome.contact_id) == ("linked", on_file)
    assert "translit" in outcome.reasons and len(contacts(registered)) == 1


def test_surname_query_finds_a_latin_spelling_on_file(registered, intake):
    """matching.md §6.2: the surname query also asks for the Latin transliteration of the surname."""
    on_file = add_contact(registered, NAME="Anna", LAST_NAME="Smirnova", PHONE=["+79161234567"])
    outcome = intake(Person("Анна", "Смирнова", "", (), ()))
    assert on_file in outcome.candidates and outcome.action == "created_for_review"


def test_spouse_sharing_an_email_is_never_linked(registered, redis, intake):
    """matching.md §6.3 hard rule: the same e-mail with a different first name is never the same person."""
    wife = intake(ANNA)
    husband = intake(Person("Игорь", "Смирнов", "", ANNA.emails, ()))
    assert husband.contact_id != wife.contact_id and husband.action == "created"
    assert husband.decision == "different" and "email_same" in husband.reasons
    sister = intake(Person("Мария", "Смирнова", "", ("anna.smirnova@gmail.com",), ()))
    assert sister.contact_id not in (wife.contact_id, husband.contact_id)
    assert (
        len(contacts(registered)) == 3
        and redis.hlen(portal_key(registered.member_id, "review")) == 0
    )


def test_uncertain_match_is_created_and_queued_for_review(registered, redis, intake):
    """A REVIEW verdict (diminutive + same phone, 19 points) makes a new contact, a review entry in the
    scan's format and a timeline comment naming the twin (§4.8)."""
    first = intake(ANNA)
    outcome = intake(Person("Аня", "Смирнова", "", (), ("89161234567",)))
    assert outcome.action == "created_for_review" and outcome.twin_id == first.contact_id
    pair = f"{first.contact_id}:{outcome.contact_id}"
    entry = json.loads(redis.hget(portal_key(registered.member_id, "review"), pair))
    assert entry["ids"] == [first.contact_id, outcome.contact_id] and entry["source"] == "intake"
    assert "first_name_diminutive" in entry["reasons"]
    comments = registered.portal.result("crm.timeline.comment.list", {
        "filter": {"ENTITY_ID": outcome.contact_id, "ENTITY_TYPE": "contact"}})  # fmt: skip
    assert len(comments) == 1 and f"#{first.contact_id}" in comments[0]["COMMENT"]


def test_namesake_with_other_contacts_is_a_new_contact(registered, intake):
    """matching.md §6.1: name alone is not enough; other e-mail and phone push the score down."""
    first = intake(ANNA)
    namesake = intake(Person("Анна", "Смирнова", "", ("anna.s@mail.ru",), ("+7 903 000-00-00",)))
    assert namesake.action == "created" and namesake.decision == "different"
    assert first.contact_id in namesake.candidates and namesake.contact_id != first.contact_id


def test_case_study_floor_equal_email_surname_and_name_link(registered, intake):
    """matching.md / the case study: equal e-mail, surname and name are the same person when no hard
    rule says otherwise (here: no patronymic on one side, another phone)."""
    first = intake(ANNA)
    other = Person("анна", "СМИРНОВА", "", ("anna.smirnova@gmail.com",), ("+7 999 111-22-33",))
    outcome = intake(other)
    assert (outcome.action, outcome.contact_id) == ("linked", first.contact_id)
    [record] = contacts(registered)
    assert values(record, "PHONE") == ["+79161234567", "+79991112233"]  # appended, nothing replaced
    assert (record["NAME"], record["SECOND_NAME"]) == ("Анна", "Игоревна")


def test_a_daughter_with_her_mothers_name_and_email_is_not_her_mother(registered, redis, intake):
    """product.md C5 hard rule: patronymics present on both sides and different are never "same", and
    the case study's floor gives way to it: the daughter's gift makes her own contact, queued for review;
    the mother's record is left as it was."""
    mother = intake(ANNA)
    daughter = intake(
        Person("Анна", "Смирнова", "Петровна", ("anna.smirnova@gmail.com",), ("+7 999 111-22-33",))
    )
    assert daughter.contact_id != mother.contact_id
    assert (
        daughter.action == "created_for_review" and "hard_rule_other_patronymic" in daughter.reasons
    )
    records = {int(r["ID"]): r for r in contacts(registered)}
    assert records[mother.contact_id]["SECOND_NAME"] == "Игоревна"
    assert values(records[mother.contact_id], "PHONE") == ["+79161234567"]
    assert records[daughter.contact_id]["SECOND_NAME"] == "Петровна"
    assert redis.hexists(portal_key(registered.member_id, "review"),
                         f"{mother.contact_id}:{daughter.contact_id}")  # fmt: skip


def test_known_person_costs_one_http_request(registered, intake):
    """§2.5: one batch holds the findbycomm commands and the surname query (which selects names, e-mails
    and phones), so a person on file under the same surname needs no load request."""
    first = intake(ANNA)
    reset_counters(registered)
    assert intake(ANNA).contact_id == first.contact_id
    counters = registered.portal.control("GET", "/counters")
    assert counters == {"batch": 1, "crm.duplicate.findbycomm": 2, "crm.contact.list": 1}
    assert http_requests(counters) == 1


def test_found_by_email_only_costs_two_http_requests_and_fills_blanks(registered, intake):
    """§2.5 + §4.1: a contact found by e-mail but not by surname is loaded by @ID in a second request;
    then its blank surname is filled."""
    on_file = add_contact(
        registered, NAME="Анна", EMAIL=["anna.smirnova@gmail.com"], PHONE=["+79161234567"]
    )
    reset_counters(registered)
    outcome = intake(ANNA)
    counters = registered.portal.control("GET", "/counters")
    assert (outcome.action, outcome.contact_id) == ("linked", on_file)
    assert (
        counters.get("crm.contact.list") == 2 and http_requests(counters) - 1 == 2
    )  # − the update
    assert counters.get("crm.contact.update") == 1
    assert contacts(registered)[0]["LAST_NAME"] == "Смирнова"


def test_more_than_20_values_are_split_across_findbycomm_commands(registered, intake):
    """§4.3: findbycomm silently reads only 20 values; the contact on file has no surname and only the
    26th address, so it is a candidate only because the values were split (still one batch request)."""
    on_file = add_contact(registered, NAME="Анна", EMAIL=["anna@example.org"])
    many = tuple(f"anna{i}@example.ru" for i in range(25)) + ("anna@example.org",)
    reset_counters(registered)
    outcome = intake(Person("Анна", "Смирнова", "", many, ()))
    counters = registered.portal.control("GET", "/counters")
    assert outcome.candidates == (on_file,) and "email_same" in outcome.reasons
    assert counters["batch"] == 1 and counters["crm.duplicate.findbycomm"] == -(
        -26 // FINDBYCOMM_MAX
    )
    assert counters["crm.contact.list"] == 2  # the surname query in the batch + the @ID load


def test_idempotency_key_answers_without_requests(registered, intake):
    """The sender's (source, id) makes a repeat free: the first outcome, no REST call at all."""
    first = intake(ANNA, idempotency_key="cloudpayments:tx-1")
    reset_counters(registered)
    again = intake(ANNA, idempotency_key="cloudpayments:tx-1")
    assert again == first and registered.portal.control("GET", "/counters") == {}
    assert intake(ANNA, idempotency_key="cloudpayments:tx-2").action == "linked"


def _intakes(args, barrier, results):
    redis_url, member_id, client_id, secret, template, people = args
    from b24app.bitrix import for_portal
    from b24app.portals import PortalRegistry
    from b24app.trust import servers

    redis = Redis.from_url(redis_url)
    client = for_portal(
        PortalRegistry(redis, "test-secret"),
        member_id,
        client_id,
        secret,
        oauth_servers=servers(template),
    )
    barrier.wait()
    try:
        results.put(
            [match_or_create_contact(client, redis, member_id, p).contact_id for p in people]
        )
    except Exception as exc:  # noqa: BLE001 — reported to the parent instead of a silent hang
        results.put(repr(exc))


SPELLINGS = [
    ANNA,
    Person("анна", "СМИРНОВА", "", ("ANNA.SMIRNOVA@GMAIL.COM",), ("89161234567",)),
    Person("Anna", "Smirnova", "", ("annasmirnova+event@googlemail.com",), ("8 (916) 123 45 67",)),
    Person("Анна", "Смирнова", "Игоревна", ("anna.smirnova@gmail.com",), ()),
]


@pytest.mark.parametrize("people", [[ANNA], SPELLINGS], ids=["identical", "spellings"])
def test_twenty_concurrent_intakes_of_one_new_person_make_one_contact(
    sandbox, registered, redis_url, people
):
    """Issue 4 "Done means": 20 intakes at once (4 worker processes × 5, released by one Barrier, real
    Redis locks) → exactly one contact, whatever the e-mail case or phone format."""
    ctx = multiprocessing.get_context("fork")
    barrier, results = ctx.Barrier(4), ctx.Queue()
    args = [(redis_url, registered.member_id, registered.app["client_id"], registered.app["client_secret"],
             f"{sandbox.url}/oauth-server", [people[(w + i) % len(people)] for i in range(5)])
            for w in range(4)]  # fmt: skip
    procs = [ctx.Process(target=_intakes, args=(a, barrier, results)) for a in args]
    for p in procs:
        p.start()
    answers = [results.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(30)
    ids = [i for answer in answers for i in answer]
    assert all(isinstance(a, list) for a in answers), answers
    assert len(ids) == 20 and len(set(ids)) == 1
    assert len(contacts(registered)) == 1
    assert registered.portal.control("GET", "/counters")["crm.contact.add"] == 1


def test_a_lost_answer_to_the_add_is_not_sent_again_and_the_retry_links(
    registered, intake, monkeypatch
):
    """crm.contact.add reached the portal but its answer was lost (a timeout): the client does not send
    it again (that would make a twin); the intake fails, and its retry finds and links the new contact."""
    from b24app.bitrix import BitrixClient, BitrixUnavailable

    real, lost = BitrixClient._post, []

    async def answer_lost(self, method, params, token):
        answer = await real(self, method, params, token)
        if method == "crm.contact.add" and not lost:
            lost.append(method)
            raise BitrixUnavailable("NETWORK", "read timeout", 0, method)
        return answer

    monkeypatch.setattr(BitrixClient, "_post", answer_lost)
    with pytest.raises(BitrixUnavailable):
        intake(ANNA)
    outcome = intake(ANNA)
    assert outcome.action == "linked" and len(contacts(registered)) == 1
