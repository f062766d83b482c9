"""Participants of one Timepad event into the CRM, in bulk: one contact per person (matched or created)
and one item per (event, contact) in «Участие в мероприятиях», with the contact's event figures.

``apply_people`` serves the event sync and the webhook alike. Under the per-identity locks of everyone
it handles (matching/intake.py), it looks up candidates for all of them in shared batches
(``crm.duplicate.findbycomm`` with 20 values a command, surname queries for a few people each), loads
the participations of the contacts it links, and writes contacts, items and figures in batches of 50
with ``$result`` references. Only what differs is written: a repeat makes no write call.
"""

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from redis import Redis

from ..bitrix import BitrixClient
from ..donations.rollup import changes, day_of
from ..matching.contacts import normalise_email, normalise_phone, phones_in_region
from ..matching.intake import (
    FINDBYCOMM_MAX,
    PAGE,
    contact_select,
    email_lookup_values,
    finish_contact,
    identity_keys,
    identity_locks,
    load_contacts,
    phone_lookup_values,
    plan_contact,
    surname_variants,
)
from ..matching.score import Person
from ..template.resolved import Resolved, SmartProcessIds, field
from . import STAGE_NAMES, Event, best_stage

SPA = "B24_PARTICIPATION"
SURNAMES_PER_QUERY = (
    4  # people whose surnames share one crm.contact.list (each brings up to 6 spellings)
)
IDS_PER_QUERY = 50
VISITS_PER_QUERY = 10  # contacts whose counted visits one crm.item.list reads (a page holds 50)
FIGURES = {"EVENTS_COUNT": "integer", "EVENT_FIRST_DATE": "date", "EVENT_LAST_DATE": "date",
           "EVENT_SEGMENT": "enumeration"}  # fmt: skip
FIGURE_FIELDS = [field(f"B24_{code}") for code in FIGURES]


@dataclass(frozen=True)
class Participant:
    """One person of an event: who, the stage their tickets earn, whether it counts as a visit."""

    identity: str
    first: str
    last: str
    email: str
    phone: str
    stage: str
    statuses: str  # the tickets' Timepad statuses, e.g. "paid, returned"
    visit: bool

    def person(self, region: str) -> Person:
        return phones_in_region(
            Person(self.first, self.last, "", (self.email,), (self.phone,)), region
        )

    @property
    def name(self) -> str:
        return " ".join(filter(None, (self.first, self.last))) or self.email or self.phone or "—"

    @property
    def blank(self) -> bool:
        return not (
            self.first or self.last or normalise_email(self.email) or normalise_phone(self.phone)
        )


@dataclass(frozen=True)
class Outcome:
    """What happened to one participant: created | linked | updated | skipped, and why."""

    action: str
    name: str
    reason: str
    contact_id: int | None = None


class Ids:
    """The portal ids the writes need: the smart process, its fields and stages, the contact's figures."""

    def __init__(self, resolved: Resolved, zone: ZoneInfo):
        self.resolved, self.zone = resolved, zone
        self.spa: SmartProcessIds = resolved.smart_process(SPA)

    def item_field(self, code: str) -> str:
        return self.spa.item_field(f"B24_{code}")


def apply_people(client: BitrixClient, redis: Redis, member_id: str, ids: Ids, event: Event,
                 people: list[Participant], region: str) -> list[Outcome]:  # fmt: skip
    """Match or create every participant's contact and bring their participation and figures up to date."""
    skipped = [Outcome("skipped", p.name, "нет ни имени, ни e-mail, ни телефона / no name, e-mail or phone")
               for p in people if p.blank]  # fmt: skip
    people = [p for p in people if not p.blank]
    if not people:
        return skipped
    persons = [p.person(region) for p in people]
    keys = sorted({k for person in persons for k in identity_keys(person)})
    with identity_locks(redis, member_id, keys):
        return skipped + Batch(client, redis, member_id, ids, event, people, persons).run()


class Batch:
    """One apply_people call's lookups, plans and writes."""

    def __init__(self, client, redis, member_id, ids: Ids, event: Event, people, persons):
        self.client, self.redis, self.member_id, self.ids, self.event = (
            client,
            redis,
            member_id,
            ids,
            event,
        )
        self.people, self.persons = list(people), list(persons)
        self.select = contact_select(FIGURE_FIELDS)

    def run(self) -> list[Outcome]:
        rows = self.candidates()
        plans = [plan_contact(person, {}, None, rows_for(person, rows)) for person in self.persons]
        twins = self.merge_twins(plans)
        linked = sorted({plan.contact_id for plan in plans if plan.contact_id})
        items, visits = self.participations(linked)
        commands: dict[str, tuple[str, dict]] = {}
        notes = []
        for n, (p, plan) in enumerate(zip(self.people, plans, strict=True)):
            notes.append(self.commands(n, p, plan, rows, items, visits, commands))
        out = self.client.batch(commands).raise_errors().result if commands else {}
        return twins + [self.outcome(n, p, plan, note, out) for n, (p, plan, note) in
                        enumerate(zip(self.people, plans, notes, strict=True))]  # fmt: skip

    def merge_twins(self, plans: list) -> list[Outcome]:
        """Two participants (one by e-mail, one by phone, say) linked to one contact: one participation, with
        their best stage; the second is reported as skipped. Leaves ``self.people`` and ``plans`` aligned."""
        first: dict[int, int] = {}
        keep, out = [], []
        for n, (p, plan) in enumerate(zip(self.people, plans, strict=True)):
            if plan.contact_id and plan.contact_id in first:
                k = first[plan.contact_id]
                a = self.people[k]
                self.people[k] = replace(a, stage=best_stage((a.stage, p.stage)), visit=a.visit or p.visit,
                                         statuses=", ".join(sorted(set(f"{a.statuses}, {p.statuses}".split(", ")))))  # fmt: skip
                out.append(Outcome("skipped", p.name, f"тот же контакт #{plan.contact_id}, что у участника "
                                                      f"{a.name}: одно участие", plan.contact_id))  # fmt: skip
                continue
            if plan.contact_id:
                first[plan.contact_id] = n
            keep.append(n)
        self.people = [self.people[n] for n in keep]
        self.persons = [self.persons[n] for n in keep]
        plans[:] = [plans[n] for n in keep]
        return out

    # --- reads ----------------------------------------------------------------------------------

    def candidates(self) -> dict[int, dict]:
        """Contacts sharing an e-mail, phone or surname with anyone here: one batch, plus one request
        loading the ones only an e-mail or phone found."""
        commands: dict[str, tuple[str, dict]] = {}
        for kind, values_of in (("EMAIL", email_lookup_values), ("PHONE", phone_lookup_values)):
            values = list(dict.fromkeys(v for person in self.persons for v in values_of(person)))
            for n in range(0, len(values), FINDBYCOMM_MAX):
                commands[f"{kind.lower()}{n}"] = ("crm.duplicate.findbycomm", {
                    "type": kind, "entity_type": "CONTACT", "values": values[n : n + FINDBYCOMM_MAX]})  # fmt: skip
        for n in range(0, len(self.persons), SURNAMES_PER_QUERY):
            names = list(dict.fromkeys(v for person in self.persons[n : n + SURNAMES_PER_QUERY]
                                       for v in surname_variants(person)))  # fmt: skip
            if names:
                commands[f"surname{n}"] = ("crm.contact.list", {"filter": {"@LAST_NAME": names},
                                                                "select": self.select, "order": {"ID": "ASC"}})  # fmt: skip
        if not commands:
            return {}
        answer = self.client.batch(commands).raise_errors()
        answer = complete_pages(self.client, commands, answer.result, answer.total)
        rows = {
            int(r["ID"]): r
            for key, found in answer.items()
            if key.startswith("surname")
            for r in found or []
        }
        by_comm = {int(i) for key, found in answer.items() if not key.startswith("surname")
                   and isinstance(found, dict) for i in found.get("CONTACT", [])}  # fmt: skip
        missing = sorted(by_comm - set(rows))
        loads = {f"load{n}": ("crm.contact.list", {"filter": {"@ID": missing[n : n + PAGE]}, "select": self.select,
                                                   "order": {"ID": "ASC"}}) for n in range(0, len(missing), PAGE)}  # fmt: skip
        if len(loads) == 1:
            rows |= {int(r["ID"]): r for r in load_contacts(self.client, missing, self.select)}
        elif loads:
            for found in self.client.batch(loads).raise_errors().result.values():
                rows |= {int(r["ID"]): r for r in found or []}
        return rows

    def participations(self, contacts: list[int]) -> tuple[dict[int, dict], dict[int, list[dict]]]:
        """This event's item of each linked contact, and each one's counted visits (items of any event)."""
        if not contacts:
            return {}, {}
        spa, f = self.ids.spa, self.ids.item_field
        select = ["id", "contactId", "stageId", "title", f("TP_EVENT_ID"), f("TP_EVENT_NAME"), f("TP_STARTS_AT"),
                  f("TP_TICKET_STATUS"), f("TP_ATTENDED")]  # fmt: skip
        commands = {}
        for n in range(0, len(contacts), IDS_PER_QUERY):
            commands[f"item{n}"] = ("crm.item.list", {"entityTypeId": spa.entity_type_id,
                                    "filter": {f("TP_EVENT_ID"): str(self.event.id), "@contactId": contacts[n : n + IDS_PER_QUERY]},
                                    "select": select, "order": {"id": "ASC"}})  # fmt: skip
        for n in range(0, len(contacts), VISITS_PER_QUERY):
            commands[f"visit{n}"] = ("crm.item.list", {"entityTypeId": spa.entity_type_id,
                                     "filter": {f("TP_ATTENDED"): 1, "@contactId": contacts[n : n + VISITS_PER_QUERY]},
                                     "select": ["id", "contactId", f("TP_EVENT_ID"), f("TP_STARTS_AT")],
                                     "order": {"id": "ASC"}})  # fmt: skip
        answer = self.client.batch(commands).raise_errors()
        out = complete_pages(self.client, commands, answer.result, answer.total)
        items: dict[int, dict] = {}
        visits: dict[int, list[dict]] = defaultdict(list)
        for key, value in out.items():
            for row in items_of(value):
                if key.startswith("item"):
                    items.setdefault(int(row["contactId"]), row)  # the oldest, should there be two
                else:
                    visits[int(row["contactId"])].append(row)
        return items, visits

    # --- writes ---------------------------------------------------------------------------------

    def commands(self, n: int, p: Participant, plan, rows: dict, items: dict, visits: dict,
                 commands: dict) -> dict:  # fmt: skip
        """Add this participant's commands (contact, then item) and say what they change."""
        figures = self.figures(p, visits.get(plan.contact_id or 0, []))
        if plan.contact_id is None:
            method, params = plan.commands["contact"]
            commands[f"c{n}"] = (method, {"fields": {**params["fields"], **figures}})
            contact_ref: Any = f"$result[c{n}]"
            fill = {}
        else:
            contact_ref = plan.contact_id
            fill = dict(plan.commands["update"][1]["fields"]) if "update" in plan.commands else {}
            wanted = changes("contact", FIGURES, rows[plan.contact_id], self.figure_values(p, visits.get(
                plan.contact_id, [])), "RUB", self.ids.resolved)  # fmt: skip
            fill |= wanted
            if fill:
                commands[f"u{n}"] = ("crm.contact.update", {"id": plan.contact_id, "fields": fill})
        item = items.get(plan.contact_id or 0)
        fields = self.item_fields(p)
        spa = self.ids.spa
        if item is None:
            commands[f"i{n}"] = ("crm.item.add", {"entityTypeId": spa.entity_type_id,
                                 "fields": {**fields, "title": f"{self.event.name} — {p.name}"[:250],
                                            "contactId": contact_ref, "contactIds": [contact_ref]}})  # fmt: skip
            return {"item": "new", "contact": bool(fill)}
        diff = {k: v for k, v in fields.items() if not same_value(item.get(k), v)}
        if diff:
            commands[f"i{n}"] = ("crm.item.update", {"entityTypeId": spa.entity_type_id, "id": int(item["id"]),
                                 "fields": diff})  # fmt: skip
        return {"item": "changed" if diff else "same", "contact": bool(fill),
                "from": str(item.get("stageId") or "").rpartition(":")[2]}  # fmt: skip

    def item_fields(self, p: Participant) -> dict[str, Any]:
        f, e = self.ids.item_field, self.event
        return {"stageId": self.ids.spa.stage(p.stage), f("TP_EVENT_ID"): str(e.id), f("TP_EVENT_NAME"): e.name[:250],
                f("TP_STARTS_AT"): e.starts_at.isoformat() if e.starts_at else "",
                f("TP_TICKET_STATUS"): p.statuses[:250], f("TP_ATTENDED"): "Y" if p.visit else "N"}  # fmt: skip

    def figure_values(self, p: Participant, visits: list[dict]) -> dict[str, Any]:
        """Events counted, first and last date, segment: the contact's counted visits of other events plus
        this one when it counts."""
        f = self.ids.item_field
        days: dict[str, date] = {}
        for row in visits:
            other = str(row.get(f("TP_EVENT_ID"))) != str(self.event.id)
            if other and (day := day_of(row.get(f("TP_STARTS_AT")), self.ids.zone)):
                days[str(row.get(f("TP_EVENT_ID")))] = day
        if p.visit and self.event.starts_at:
            days[str(self.event.id)] = self.event.starts_at.astimezone(self.ids.zone).date()
        count = len(days)
        return {"EVENTS_COUNT": count, "EVENT_FIRST_DATE": min(days.values()) if days else None,
                "EVENT_LAST_DATE": max(days.values()) if days else None,
                "EVENT_SEGMENT": None if not count else "NEWCOMER" if count == 1 else "REPEAT"}  # fmt: skip

    def figures(self, p: Participant, visits: list[dict]) -> dict[str, str]:
        """A new contact's figure fields (those with a value, a count of 0 included)."""
        return changes(
            "contact", FIGURES, {}, self.figure_values(p, visits), "RUB", self.ids.resolved
        )

    def outcome(self, n: int, p: Participant, plan, note: dict, out: dict) -> Outcome:
        created = out.get(f"c{n}")
        match = finish_contact(self.client, self.redis, self.member_id, plan, created) if plan.contact_id is None \
            else None  # fmt: skip
        stage = STAGE_NAMES[p.stage]
        if match is not None:
            why = (
                "возможный дубль, пара на проверке"
                if match.action == "created_for_review"
                else "нового человека нет в CRM"
            )
            return Outcome("created", p.name, f"{why}; «{stage}»", match.contact_id)
        contact = plan.contact_id
        if note["item"] == "new":
            return Outcome("linked", p.name, f"найден контакт #{contact}: {plan.verdict.reasons}; «{stage}»"[:300],
                           contact)  # fmt: skip
        if note["item"] == "changed" or note["contact"]:
            before = STAGE_NAMES.get(note.get("from", ""), note.get("from", ""))
            what = (
                f"стадия «{before}» → «{stage}»" if before != stage else "поля участия или контакта"
            )
            return Outcome("updated", p.name, what, contact)
        return Outcome("skipped", p.name, f"без изменений («{stage}»)", contact)


def rows_for(person: Person, rows: dict[int, dict]) -> list[dict]:
    """The candidates of one person among everyone's: sharing a normalised e-mail or phone, or a surname
    spelling (the matcher decides among them)."""
    emails = {normalise_email(e) for e in person.emails} - {None, ""}
    phones = {normalise_phone(x) for x in person.phones} - {None, ""}
    names = {v.lower() for v in surname_variants(person)}
    found = []
    for row in rows.values():
        if (emails & {normalise_email(m.get("VALUE", "")) for m in row.get("EMAIL") or []}
                or phones & {normalise_phone(m.get("VALUE", "")) for m in row.get("PHONE") or []}
                or str(row.get("LAST_NAME") or "").strip().lower() in names):  # fmt: skip
            found.append(row)
    return found[:PAGE]


def complete_pages(client: BitrixClient, commands: dict, result: dict, total: dict) -> dict:
    """Every row of each list command whose first page did not hold all (``total`` > 50): the rest read
    in one more batch (pages by ``start``)."""
    more = {}
    for key in result:
        count = int(total.get(key) or 0)
        method, params = commands[key]
        if method.endswith(".list") and count > PAGE:
            for start in range(PAGE, count, PAGE):
                more[f"{key}@{start}"] = (method, {**params, "start": start})
    if not more:
        return dict(result)
    out = {
        k: (list(items_of(v)) if commands[k][0] == "crm.item.list" else v)
        for k, v in result.items()
    }
    for key, value in client.batch(more).raise_errors().result.items():
        base = key.partition("@")[0]
        out[base] = list(items_of(out[base])) + list(items_of(value)) if commands[base][0] == "crm.item.list" \
            else list(out[base] or []) + list(value or [])  # fmt: skip
    return out


def items_of(value: Any) -> list[dict]:
    """crm.item.list's rows: ``{"items": [...]}`` (or already a list)."""
    if isinstance(value, dict):
        return list(value.get("items") or [])
    return list(value or [])


def same_value(stored: Any, wanted: Any) -> bool:
    """Whether an item's stored value already says ``wanted`` (booleans as Y/N, times by instant)."""
    have = "" if stored is None else str(stored)
    if have == str(wanted):
        return True
    if wanted in ("Y", "N"):
        return {"1": "Y", "true": "Y", "0": "N", "false": "N", "": "N"}.get(
            have.lower(), have
        ) == wanted
    try:
        return datetime.fromisoformat(have) == datetime.fromisoformat(str(wanted))
    except ValueError:
        return False


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def people_of(tickets: Iterable[dict], ended: bool, checkin: bool) -> list[Participant]:
    """One participant per identity from stored tickets: the best outcome of their tickets."""
    from . import Ticket, best_stage, counts_as_visit, stage_of

    groups: dict[str, list[Ticket]] = defaultdict(list)
    for raw in tickets:
        ticket = Ticket(**{k: raw[k] for k in Ticket.__dataclass_fields__})
        groups[ticket.identity].append(ticket)
    people = []
    for identity, group in sorted(groups.items()):
        stage = best_stage(stage_of(t, ended, checkin) for t in group)
        named = next((t for t in group if t.first or t.last), group[0])
        people.append(Participant(identity, named.first, named.last, next((t.email for t in group if t.email), ""),
                                  next((t.phone for t in group if t.phone), ""), stage,
                                  ", ".join(sorted({t.status for t in group})), counts_as_visit(stage, ended, checkin)))  # fmt: skip
    return people
