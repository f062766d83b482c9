"""Match-or-create a contact in a portal: the one entry every intake (donations, Timepad, forms) uses.

Candidates come in two requests whatever the person looks like: one batch of
``crm.duplicate.findbycomm`` (≤ 20 values a command, bitrix24-rest.md §4.3) plus a surname query, then one
``crm.contact.list`` that loads the candidates. The decision is the pure matcher's. The whole step runs
under Redis locks on the person's normalised identities, so two intakes of one person never make twins.
"""

import hashlib
import json
from dataclasses import asdict, dataclass

from redis import Redis

from ..bitrix import BitrixClient
from ..portals import portal_key
from .contacts import normalise_email, normalise_phone
from .names import skeleton
from .score import Decision, Person, same_person

FINDBYCOMM_MAX = 20
SELECT = ["ID", "NAME", "LAST_NAME", "SECOND_NAME", "EMAIL", "PHONE"]
IDEMPOTENCY_TTL = 30 * 86400


@dataclass(frozen=True)
class MatchOutcome:
    """What happened: the contact used, how it was chosen, and why."""

    contact_id: int
    action: str  # linked | created | created_for_review
    reasons: str = ""
    candidates: tuple[int, ...] = ()


def identity_keys(person: Person) -> list[str]:
    """Normalised e-mails, phones and the name skeleton: what two intakes of one person share."""
    keys = {f"e:{e}" for e in (normalise_email(x) for x in person.emails) if e}
    keys |= {f"p:{p}" for p in (normalise_phone(x) for x in person.phones) if p}
    name = f"{skeleton(person.first)}|{skeleton(person.last)}"
    if name != "|":
        keys.add(f"n:{name}")
    return sorted(keys)


def match_or_create_contact(client: BitrixClient, redis: Redis, member_id: str, person: Person, *,
                            idempotency_key: str | None = None, contact_type: str | None = None) -> MatchOutcome:  # fmt: skip
    """Link the person to the contact the portal already has, or create one (flagged for review if unsure)."""
    if idempotency_key and (done := redis.get(portal_key(member_id, "intake", idempotency_key))):
        return MatchOutcome(
            **{**json.loads(done), "candidates": tuple(json.loads(done)["candidates"])}
        )
    locks = [redis.lock(portal_key(member_id, "lock", "identity", _digest(k)), timeout=60, blocking_timeout=60)
             for k in identity_keys(person)]  # fmt: skip
    acquired = []
    try:
        for lock in locks:  # sorted keys: no two intakes wait on each other in a cycle
            lock.acquire()
            acquired.append(lock)
        outcome = _decide(client, redis, member_id, person, contact_type)
    finally:
        for lock in reversed(acquired):
            lock.release()
    if idempotency_key:
        redis.set(
            portal_key(member_id, "intake", idempotency_key),
            json.dumps(asdict(outcome)),
            ex=IDEMPOTENCY_TTL,
        )
    return outcome


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:24]


def _decide(
    client: BitrixClient, redis: Redis, member_id: str, person: Person, contact_type: str | None
) -> MatchOutcome:
    candidates = load_candidates(client, find_candidate_ids(client, person))
    verdicts = sorted(
        ((same_person(person, c), c) for c in candidates), key=lambda vc: -vc[0].score
    )
    ids = tuple(int(c.id) for c in candidates)
    if verdicts and verdicts[0][0].decision == Decision.SAME:
        verdict, best = verdicts[0]
        return MatchOutcome(int(best.id), "linked", verdict.reasons, ids)
    new_id = create_contact(client, person, contact_type)
    review = [(v, c) for v, c in verdicts if v.decision == Decision.REVIEW]
    if not review:
        return MatchOutcome(new_id, "created", verdicts[0][0].reasons if verdicts else "", ids)
    verdict, twin = review[0]
    flag_for_review(client, redis, member_id, new_id, int(twin.id), verdict.reasons)
    return MatchOutcome(new_id, "created_for_review", verdict.reasons, ids)


def find_candidate_ids(client: BitrixClient, person: Person) -> set[int]:
    """Contact ids sharing an e-mail, a phone or the surname: one batch request."""
    emails = sorted({e for e in (normalise_email(x) for x in person.emails) if e} | {x.strip().lower()
                    for x in person.emails if x.strip()})  # fmt: skip
    phones = sorted({p for p in (normalise_phone(x) for x in person.phones) if p})
    cmds: dict[str, tuple[str, dict]] = {}
    for kind, values in (("EMAIL", emails), ("PHONE", phones)):
        for n in range(0, len(values), FINDBYCOMM_MAX):
            cmds[f"{kind}{n}"] = ("crm.duplicate.findbycomm", {"type": kind, "entity_type": "CONTACT",
                                                               "values": values[n : n + FINDBYCOMM_MAX]})  # fmt: skip
    if person.last.strip():
        cmds["surname"] = ("crm.contact.list", {"filter": {"LAST_NAME": person.last.strip()}, "select": ["ID"],
                                                "order": {"ID": "ASC"}})  # fmt: skip
    if not cmds:
        return set()
    out = client.batch(cmds).raise_errors().result
    ids: set[int] = set()
    for key, value in out.items():
        if key == "surname":
            ids |= {int(row["ID"]) for row in value or []}
        elif isinstance(value, dict):
            ids |= {int(i) for i in value.get("CONTACT", [])}
    return ids


def load_candidates(client: BitrixClient, ids: set[int]) -> list[Person]:
    """The candidates' names, e-mails and phones in one request (at most 50 candidates are scored)."""
    if not ids:
        return []
    rows = client.call("crm.contact.list", {"filter": {"@ID": sorted(ids)[:50]}, "select": SELECT,
                                            "order": {"ID": "ASC"}})  # fmt: skip
    return [Person(r.get("NAME", ""), r.get("LAST_NAME", ""), r.get("SECOND_NAME", ""),
                   tuple(m["VALUE"] for m in r.get("EMAIL") or []), tuple(m["VALUE"] for m in r.get("PHONE") or []),
                   id=str(r["ID"])) for r in rows]  # fmt: skip


def create_contact(client: BitrixClient, person: Person, contact_type: str | None) -> int:
    """A new contact with the person's names, e-mails and phones."""
    fields: dict = {"NAME": person.first, "LAST_NAME": person.last, "SECOND_NAME": person.middle,
                    "EMAIL": [{"VALUE": e, "VALUE_TYPE": "WORK"} for e in person.emails],
                    "PHONE": [{"VALUE": normalise_phone(p) or p, "VALUE_TYPE": "MOBILE"} for p in person.phones]}  # fmt: skip
    if contact_type:
        fields["TYPE_ID"] = contact_type
    return int(client.call("crm.contact.add", {"fields": fields}))


def flag_for_review(
    client: BitrixClient, redis: Redis, member_id: str, new_id: int, twin_id: int, reasons: str
) -> None:
    """Queue the pair for the review page and say so on the new contact's timeline."""
    entry = {"ids": [twin_id, new_id], "reasons": reasons, "source": "intake"}
    redis.hset(
        portal_key(member_id, "review"),
        f"{twin_id}:{new_id}",
        json.dumps(entry, ensure_ascii=False),
    )
    client.call("crm.timeline.comment.add", {"fields": {"ENTITY_ID": new_id, "ENTITY_TYPE": "contact",
                "COMMENT": f"Возможно, это тот же человек, что и контакт #{twin_id} (ждёт проверки). "
                           f"Possibly the same person as contact #{twin_id}: {reasons}"}})  # fmt: skip
