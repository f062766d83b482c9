"""Match-or-create a contact in a portal: the one entry every intake (donations, Timepad, forms) uses.

The lookup is one batch — ``crm.duplicate.findbycomm`` for the e-mails and phones (≤ 20 values a
command, bitrix24-rest.md §4.3) plus a surname query that already selects names, e-mails and phones —
and, only when an e-mail or phone found a contact the surname query did not, one ``crm.contact.list``
by ``@ID`` that loads it. The pure matcher decides: SAME links (blank fields filled, new e-mails and
phones appended, nothing overwritten), REVIEW creates a contact and queues the pair for the review
page, anything else creates. The whole step runs under Redis locks on the person's normalised
identities, so concurrent intakes of one person never make twins.
"""

import hashlib
import json
import logging
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

from redis import Redis
from redis.exceptions import LockError

from ..bitrix import BitrixClient
from ..errors import Blago24Error
from ..i18n import gettext_in, language_of
from ..portals import portal_key
from .contacts import (
    _GMAIL_DOMAINS,
    _YANDEX_DOMAINS,
    DEFAULT_REGION,
    canonical_domain,
    normalise_email,
    normalise_phone,
    phones_in_region,
)
from .names import transliterate
from .scan import person_of
from .score import Decision, Person, Verdict, profile, same_person
from .words import in_words

log = logging.getLogger(__name__)

FINDBYCOMM_MAX = 20  # more values are not an error: the portal silently reads the first 20 (§4.3)
PAGE = 50  # a list request returns at most 50 rows (§2.4): the most candidates one load can score
SELECT = ["ID", "NAME", "LAST_NAME", "SECOND_NAME", "EMAIL", "PHONE"]
LOCK_TIMEOUT = (
    15  # seconds a lock outlives a worker that died holding it (renewed while its holder lives)
)
LOCK_WAIT = 60  # seconds an intake waits for a lock before giving up (the job is retried)
IDEMPOTENCY_TTL = 30 * 86400
_RANK = {Decision.SAME: 0, Decision.REVIEW: 1, Decision.DIFFERENT: 2}


class IdentityBusy(Blago24Error):
    """Another intake held one of this person's identity locks for longer than LOCK_WAIT."""


@dataclass(frozen=True)
class MatchOutcome:
    """What happened: the contact used, how it was chosen, and why."""

    contact_id: int
    action: str  # linked | created | created_for_review
    decision: str = ""  # the best candidate's verdict (same | review | different); "" if none
    reasons: str = ""  # that verdict's explanation (rules, points, score)
    twin_id: int | None = None  # the contact linked to, or the possible twin flagged for review
    candidates: tuple[int, ...] = ()


def match_or_create_contact(client: BitrixClient, redis: Redis, member_id: str, person: Person, *,
                            extra_fields: Mapping[str, Any] | None = None, contact_type: str | None = None,
                            idempotency_key: str | None = None, phone_region: str = DEFAULT_REGION) -> MatchOutcome:  # fmt: skip
    """Link the person to the contact the portal already has, or create one (flagged for review if unsure).

    ``idempotency_key`` (the sender's source and id, e.g. "cloudpayments:tx-1") makes a repeat free: the
    first outcome is returned without a REST call. ``extra_fields`` go into a new contact and fill blanks
    of a linked one; ``contact_type`` is the TYPE_ID of a new contact (a linked one keeps its type);
    ``phone_region`` the portal's country, for phones written without a country code.
    """
    person = phones_in_region(person, phone_region)
    if idempotency_key and (done := remembered(redis, member_id, idempotency_key)):
        return done
    with identity_locks(redis, member_id, identity_keys(person, idempotency_key)):
        if idempotency_key and (done := remembered(redis, member_id, idempotency_key)):
            return done
        outcome = decide(client, redis, member_id, person, dict(extra_fields or {}), contact_type)
        if idempotency_key:
            key = portal_key(member_id, "intake", idempotency_key)
            redis.set(key, json.dumps(asdict(outcome)), ex=IDEMPOTENCY_TTL)
    return outcome


def remembered(redis: Redis, member_id: str, idempotency_key: str) -> MatchOutcome | None:
    """The outcome recorded for this idempotency key, if any."""
    raw = redis.get(portal_key(member_id, "intake", idempotency_key))
    if raw is None:
        return None
    data = json.loads(raw)
    return MatchOutcome(**{**data, "candidates": tuple(data["candidates"])})


# --- serialising intakes of one person ---------------------------------------------------------


def identity_keys(person: Person, idempotency_key: str | None = None) -> list[str]:
    """Normalised e-mails, phones and name skeletons, sorted: what two intakes of one person share."""
    p = profile(person)
    keys = {f"e:{e}" for e in p.emails} | {f"p:{n}" for n in p.phones}
    for given in p.first.keys or {""}:
        for family in p.last.keys or {""}:
            if given or family:  # order-free, so swapped first/last names meet on one key
                keys.add("n:" + "|".join(sorted((given, family))))
    if idempotency_key:
        keys.add(f"i:{idempotency_key}")
    return sorted(keys)


@contextmanager
def identity_locks(redis: Redis, member_id: str, keys: list[str]) -> Iterator[None]:
    """Hold one Redis lock per identity key, taken in sorted order so no two intakes wait in a cycle."""
    held = []
    try:
        for key in sorted(keys):
            digest = _digest(key)
            lock = redis.lock(portal_key(member_id, "lock", "identity", digest), timeout=LOCK_TIMEOUT,
                              blocking_timeout=LOCK_WAIT)  # fmt: skip
            if not lock.acquire():
                raise IdentityBusy(f"identity lock {digest} busy for {LOCK_WAIT} s")
            held.append(lock)
        with renewed(held):
            yield
    finally:
        for lock in reversed(held):
            try:
                lock.release()
            except LockError:
                log.warning("an identity lock expired before its intake finished")


@contextmanager
def renewed(locks: list) -> Iterator[None]:
    """Keep ``locks`` alive while the block runs (a third of LOCK_TIMEOUT apart), so a long intake keeps
    them and a dead worker's expire within LOCK_TIMEOUT."""
    stop = threading.Event()

    def renew() -> None:
        while not stop.wait(LOCK_TIMEOUT / 3):
            for lock in locks:
                try:
                    lock.reacquire()
                except (
                    Exception
                ) as exc:  # Redis away for a moment, or already lost: nothing to hold
                    log.warning("identity lock not renewed: %s", exc)

    renewer = threading.Thread(target=renew, name="identity-locks", daemon=True)
    renewer.start()
    try:
        yield
    finally:
        stop.set()
        renewer.join(5)


def _digest(key: str) -> str:
    """A short hash of an identity key: lock names in Redis carry no e-mail or phone."""
    return hashlib.sha256(key.encode()).hexdigest()[:24]


# --- the decision ------------------------------------------------------------------------------


def decide(client: BitrixClient, redis: Redis, member_id: str, person: Person, extra_fields: dict,
           contact_type: str | None) -> MatchOutcome:  # fmt: skip
    """Look up, score, then link, create, or create and flag for review."""
    rows = find_candidates(client, person, list(extra_fields))
    plan = plan_contact(person, extra_fields, contact_type, rows)
    out = {key: client.call(method, params) for key, (method, params) in plan.commands.items()}
    return finish_contact(client, redis, member_id, plan, out.get("contact"))


@dataclass(frozen=True)
class ContactPlan:
    """The matcher's decision as batch commands: ``contact`` is the crm.contact.add of a new contact (its id
    is ``$result[contact]`` for later commands of the same batch), or the update filling a linked one."""

    commands: dict[str, tuple[str, dict]]
    contact_id: int | None  # the linked contact; None when one is created
    action: str
    verdict: Verdict | None = None
    twin: dict | None = None
    candidates: tuple[int, ...] = ()

    @property
    def reference(self) -> int | str:
        """The contact as a later command of the same batch names it."""
        return self.contact_id or "$result[contact]"


def plan_contact(
    person: Person, extra_fields: dict, contact_type: str | None, rows: list[dict]
) -> ContactPlan:
    """Score the candidates: link to a SAME one (filling its blanks), else create (flagged if REVIEW)."""
    ids = tuple(int(r["ID"]) for r in rows)
    scored = sorted(((same_person(person, person_of(r)), r) for r in rows), key=_best_first)
    verdict, best = scored[0] if scored else (None, None)
    if verdict is not None and verdict.decision == Decision.SAME:
        fields = blanks_to_fill(best, person, extra_fields)
        update = (
            {"update": ("crm.contact.update", {"id": int(best["ID"]), "fields": fields})}
            if fields
            else {}
        )
        return ContactPlan(update, int(best["ID"]), "linked", verdict, best, ids)
    add = {
        "contact": (
            "crm.contact.add",
            {"fields": new_contact_fields(person, extra_fields, contact_type)},
        )
    }
    review = verdict is not None and verdict.decision == Decision.REVIEW
    return ContactPlan(add, None, "created_for_review" if review else "created", verdict, best, ids)


def finish_contact(client: BitrixClient, redis: Redis, member_id: str, plan: ContactPlan,
                   created: Any) -> MatchOutcome:  # fmt: skip
    """The outcome once the plan's commands ran (``created``: the new contact's id); flags a REVIEW pair."""
    verdict = plan.verdict
    decision, reasons = (verdict.decision, verdict.reasons) if verdict else ("", "")
    if plan.contact_id is not None:
        return MatchOutcome(
            plan.contact_id, "linked", decision, reasons, plan.contact_id, plan.candidates
        )
    new_id = int(created)
    if plan.action == "created_for_review":
        flag_for_review(client, redis, member_id, new_id, plan.twin, verdict)
        return MatchOutcome(
            new_id, plan.action, decision, reasons, int(plan.twin["ID"]), plan.candidates
        )
    return MatchOutcome(new_id, "created", decision, reasons, None, plan.candidates)


def _best_first(scored: tuple[Verdict, dict]) -> tuple:
    verdict, row = scored
    return _RANK[verdict.decision], -verdict.score, int(row["ID"])  # ties: the oldest contact


# --- the lookup --------------------------------------------------------------------------------


def find_candidates(
    client: BitrixClient, person: Person, extra_select: Iterable[str] = ()
) -> list[dict]:
    """Contacts sharing an e-mail, a phone or the surname, with names and communications: ≤ 2 requests."""
    select = contact_select(extra_select)
    commands = lookup_commands(person, select)
    if not commands:
        return []
    return candidates_from(client, client.batch(commands).raise_errors().result, select)


def contact_select(extra_select: Iterable[str] = ()) -> list[str]:
    return SELECT + [f for f in extra_select if f not in SELECT]


def candidates_from(client: BitrixClient, out: Mapping[str, Any], select: list[str]) -> list[dict]:
    """The candidates from the answers to ``lookup_commands``, loading (one request) only contacts that an
    e-mail or phone found and the surname query did not. Those found by e-mail or phone come first (the
    surname query alone may return 50 namesakes)."""
    by_surname = {int(r["ID"]): r for r in out.get("surname") or []}
    by_comm = sorted({int(i) for key, found in out.items() if key != "surname" and isinstance(found, dict)
                      for i in found.get("CONTACT", [])})[:PAGE]  # fmt: skip
    missing = [i for i in by_comm if i not in by_surname]
    loaded = {int(r["ID"]): r for r in load_contacts(client, missing, select)}
    rows = [loaded.get(i) or by_surname.get(i) for i in by_comm]
    rows += [r for i, r in by_surname.items() if i not in by_comm]
    return [r for r in rows if r][:PAGE]


def lookup_commands(person: Person, select: list[str]) -> dict[str, tuple[str, dict]]:
    """findbycomm commands of ≤ 20 values each for e-mails and phones, plus the surname query."""
    commands: dict[str, tuple[str, dict]] = {}
    for kind, values in (
        ("EMAIL", email_lookup_values(person)),
        ("PHONE", phone_lookup_values(person)),
    ):
        for n in range(0, len(values), FINDBYCOMM_MAX):
            chunk = values[n : n + FINDBYCOMM_MAX]
            params = {"type": kind, "entity_type": "CONTACT", "values": chunk}
            commands[f"{kind.lower()}{n // FINDBYCOMM_MAX}"] = ("crm.duplicate.findbycomm", params)
    if surnames := surname_variants(person):
        commands["surname"] = ("crm.contact.list", {"filter": {"@LAST_NAME": surnames}, "select": select,
                                                    "order": {"ID": "ASC"}})  # fmt: skip
    return commands


def email_lookup_values(person: Person) -> list[str]:
    """Each address as written (lower-cased), its mailbox, and the mailbox on every sibling domain.

    findbycomm compares addresses whole, so "Anna.S@gmail.com" on file is found only by that spelling;
    a contact on file with other dots or a +tag is left to the surname query.
    """
    values: dict[str, None] = {}
    for text in person.emails:
        if not (mailbox := normalise_email(text)):
            continue
        values[text.strip().lower()] = None
        local, domain = mailbox.rsplit("@", 1)
        siblings = {
            "gmail.com": _GMAIL_DOMAINS,
            "yandex.ru": _YANDEX_DOMAINS,
        }.get(canonical_domain(domain), (domain,))
        values |= dict.fromkeys(f"{local}@{d}" for d in sorted(siblings))
    return list(values)


def phone_lookup_values(person: Person) -> list[str]:
    """E.164 numbers, and for Russian ones the 8… and ten-digit spellings people store."""
    values: dict[str, None] = {}
    for text in person.phones:
        if not (e164 := normalise_phone(text)):
            continue
        values[e164] = None
        if e164.startswith("+7") and len(e164) == 12:
            values |= {"8" + e164[2:]: None, e164[2:]: None}
    return list(values)


def surname_variants(person: Person) -> list[str]:
    """The surname as written, capitalised, and transliterated to Latin; the first name too (swaps)."""
    p = profile(person)
    variants: dict[str, None] = {}
    for raw, norm in ((person.last.strip(), p.last.text), (person.first.strip(), p.first.text)):
        if len(norm) > 1:
            variants |= dict.fromkeys((raw, norm.title(), transliterate(norm).title()))
    return [v for v in variants if v]


def load_contacts(client: BitrixClient, ids: list[int], select: list[str]) -> list[dict]:
    """Up to 50 contacts by id with the selected fields, in one request."""
    if not ids:
        return []
    params = {"filter": {"@ID": ids[:PAGE]}, "select": select, "order": {"ID": "ASC"}}
    return client.call("crm.contact.list", params) or []


# --- the writes --------------------------------------------------------------------------------


def new_contact_fields(
    person: Person, extra_fields: dict, contact_type: str | None
) -> dict[str, Any]:
    """A new contact's fields: the person's names, e-mails, phones (E.164), extra fields and type."""
    fields: dict[str, Any] = {**extra_fields, "NAME": person.first.strip(), "LAST_NAME": person.last.strip(),
                              "SECOND_NAME": person.middle.strip(),
                              "EMAIL": [{"VALUE": e.strip(), "VALUE_TYPE": "WORK"} for e in person.emails
                                        if normalise_email(e)],
                              "PHONE": [{"VALUE": p, "VALUE_TYPE": "MOBILE"} for p in
                                        dict.fromkeys(filter(None, map(normalise_phone, person.phones)))]}  # fmt: skip
    if contact_type:
        fields["TYPE_ID"] = contact_type
    return fields


def blanks_to_fill(row: dict, person: Person, extra_fields: dict) -> dict[str, Any]:
    """Fields the person brings that the contact lacks; multifield items without ID are appended (§4.1)."""
    given = {"NAME": person.first.strip(), "LAST_NAME": person.last.strip(),
             "SECOND_NAME": person.middle.strip(), **extra_fields}  # fmt: skip
    fields = {
        k: v for k, v in given.items() if v not in (None, "") and row.get(k) in (None, "", [])
    }
    have = {normalise_email(m.get("VALUE", "")) for m in row.get("EMAIL") or []}
    emails = {normalise_email(e): e.strip() for e in person.emails}
    if emails := [e for mailbox, e in emails.items() if mailbox and mailbox not in have]:
        fields["EMAIL"] = [{"VALUE": e, "VALUE_TYPE": "WORK"} for e in emails]
    have = {normalise_phone(m.get("VALUE", "")) for m in row.get("PHONE") or []}
    phones = dict.fromkeys(p for p in map(normalise_phone, person.phones) if p and p not in have)
    if phones:
        fields["PHONE"] = [{"VALUE": p, "VALUE_TYPE": "MOBILE"} for p in phones]
    return fields


def flag_for_review(client: BitrixClient, redis: Redis, member_id: str, new_id: int, twin: dict,
                    verdict: Verdict) -> None:  # fmt: skip
    """Queue the pair for the review page (the scan's format) and say so on the new contact's timeline."""
    twin_id = int(twin["ID"])
    a, b = sorted((twin_id, new_id))
    entry = {"ids": [a, b], "score": verdict.score, "reasons": verdict.reasons, "source": "intake",
             "entity": "contact"}  # fmt: skip
    redis.hset(portal_key(member_id, "review"), f"{a}:{b}", json.dumps(entry, ensure_ascii=False))
    lang = language_of(member_id)
    name = " ".join(filter(None, (twin.get("NAME"), twin.get("LAST_NAME")))) or gettext_in(
        lang, "no name"
    )
    comment = gettext_in(lang, "Possibly the same person as contact #%(id)s (%(name)s); the pair waits for "
                         "review on the duplicates page. Why: %(why)s", id=twin_id, name=name,
                         why=in_words(verdict.reasons, lang))  # fmt: skip
    client.call("crm.timeline.comment.add",
                {"fields": {"ENTITY_ID": new_id, "ENTITY_TYPE": "contact", "COMMENT": comment}})  # fmt: skip
