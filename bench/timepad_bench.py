"""Timepad: one event's sync — HTTP requests and wall time — against one-request-per-operation glue.

A finished event of 1,000 participants (30% checked in, 2% refunded) in the sandbox's fake Timepad; half
of them are already contacts in the sandbox portal, 5% of those written differently there (a diminutive
first name, the surname in capitals). ``sync_event`` runs with the portal's limits on (basic plan: 2
requests a second after a burst of 50), then once more (it must write nothing). Baseline, measured in the
same run on the same portal for a sample of another such event's participants: the usual integration,
one request per operation (find the contact by e-mail, by name, create or update it, find the
participation, create it, update the contact's figures), extrapolated per participant.

The minimum: the Timepad pages to read (the event, then 250 orders a page) plus the writes in batches of
50 (each contact created or changed and each participation created), reads on the portal counted as free.

    .venv/bin/python bench/timepad_bench.py [--participants 1000] [--baseline 40]
"""

import argparse
import math
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from donations_bench import World  # noqa: E402
from totals_bench import add_many, call, limits  # noqa: E402

TOKEN = "bench-timepad-token"
SECRET = "bench-timepad-secret"
FIRST = {"Анна": "Аня", "Александр": "Саша", "Екатерина": "Катя", "Дмитрий": "Дима", "Мария": "Маша",
         "Ольга": "Оля", "Сергей": "Серёжа", "Елена": "Лена", "Михаил": "Миша", "Наталья": "Наташа"}  # fmt: skip
ROOTS = ["Иван", "Смирн", "Кузнец", "Поп", "Соколь", "Лебед", "Козл", "Новик", "Мороз", "Волк", "Зайц",
         "Павл", "Семён", "Голуб", "Виноград", "Богдан", "Воробь", "Фёдор", "Михайл", "Беляк"]  # fmt: skip
ENDINGS = ["ов", "ин", "ев", "енко", "ский", "ович", "ук", "ец", "ников", "ашвили"]


def person(i: int) -> dict:
    first = list(FIRST)[i % len(FIRST)]
    last = (
        ROOTS[(i // 10) % len(ROOTS)]
        + ENDINGS[(i // 200) % len(ENDINGS)]
        + ("" if i < 400 else f"-{i % 7}")
    )
    return {"name": first, "surname": last, "mail": f"guest{i}@example.org"}


def seed_event(world: World, org: dict, name: str, n: int, offset: int, rnd: random.Random) -> dict:
    now = datetime.now(UTC)
    event = timepad(world, "POST", "/events", json={"organization_id": org["id"], "name": name,
                    "starts_at": (now - timedelta(hours=5)).isoformat(), "ends_at": (now - timedelta(hours=2)).isoformat()})  # fmt: skip
    orders = []
    for i in range(offset, offset + n):
        status = "returned" if rnd.random() < 0.02 else rnd.choice(["paid", "paid", "booked"])
        orders.append(
            {"status": status, "tickets": [{**person(i), "attended": rnd.random() < 0.3}]}
        )
    for start in range(0, len(orders), 500):
        timepad(
            world,
            "POST",
            f"/events/{event['id']}/orders",
            json={"orders": orders[start : start + 500]},
        )
    return event


def seed_contacts(world: World, ids: list[int], rnd: random.Random) -> int:
    """Half the participants as contacts already; 5% of those written differently. Returns how many differ."""
    rows, differ = [], set(rnd.sample(ids, len(ids) // 20))
    for i in ids:
        p = person(i)
        first, last = p["name"], p["surname"]
        if i in differ:
            first, last = FIRST[first], last.upper()
        rows.append(
            {
                "NAME": first,
                "LAST_NAME": last,
                "EMAIL": [{"VALUE": p["mail"], "VALUE_TYPE": "WORK"}],
            }
        )
    add_many(world, "contact", rows)
    return len(differ)


def timepad(world: World, verb: str, path: str, **kw):
    resp = requests.request(verb, f"{world.sandbox.url}/_sandbox/timepad{path}", timeout=120, **kw)
    resp.raise_for_status()
    return resp.json()


def writes(world: World) -> int:
    counters = world.control("GET", "/counters")
    return sum(
        n for method, n in counters.items() if method.rsplit(".", 1)[-1] in ("add", "update")
    )


def ours(world: World, event: dict) -> tuple[dict, int, int, int, float]:
    """(final state, portal requests, Timepad requests, writes, seconds) of one sync."""
    from b24app import context
    from b24app.timepad.sync import sync_event

    world.reset()
    timepad(world, "DELETE", "/requests")
    started = time.monotonic()
    state = sync_event(
        context.client(world.member_id), context.redis(), world.member_id, event["id"]
    )
    seconds = time.monotonic() - started
    return (
        state,
        world.requests_since(),
        timepad(world, "GET", "/requests")["requests"],
        writes(world),
        seconds,
    )


def baseline(world: World, event: dict, etid: int, fields: dict) -> tuple[float, float, int, float]:
    """One request per operation for each participant of ``event`` (Timepad read page by page as well), a
    request refused by the limit sent again after half a second, as such glue does; (portal HTTP requests,
    seconds, operations: each per participant; Timepad requests)."""
    world.reset()
    timepad(world, "DELETE", "/requests")
    headers = {"Authorization": f"Bearer {TOKEN}"}
    base = f"{world.sandbox.url}/timepad/v1/events/{event['id']}"
    started = time.monotonic()
    requests.get(base, headers=headers, timeout=60)
    orders, skip = [], 0
    while True:
        page = requests.get(
            f"{base}/orders", params={"limit": 250, "skip": skip}, headers=headers, timeout=60
        ).json()
        orders += page["values"]
        skip += 250
        if len(page["values"]) < 250:
            break
    people = [t["answers"] | {"attended": bool(t.get("attendance")), "status": o["status"]["name"]}
              for o in orders for t in o["tickets"]]  # fmt: skip
    for p in people:
        found = call(
            world,
            "crm.duplicate.findbycomm",
            {"type": "EMAIL", "entity_type": "CONTACT", "values": [p["mail"]]},
        )
        by_name = call(
            world, "crm.contact.list", {"filter": {"LAST_NAME": p["surname"], "NAME": p["name"]}}
        )
        ids = (found or {}).get("CONTACT") or [int(c["ID"]) for c in by_name or []]
        if ids:
            contact = ids[0]
            call(world, "crm.contact.update", {"id": contact, "fields": {"NAME": p["name"]}})
        else:
            contact = call(world, "crm.contact.add", {"fields": {"NAME": p["name"], "LAST_NAME": p["surname"],
                                                                 "EMAIL": [{"VALUE": p["mail"]}]}})  # fmt: skip
        call(world, "crm.item.list", {"entityTypeId": etid, "filter": {fields["event"]: str(event["id"]),
                                                                       "contactId": contact}})  # fmt: skip
        call(world, "crm.item.add", {"entityTypeId": etid, "fields": {"contactId": contact, fields["event"]: str(event["id"]),
                                                                      "title": p["surname"]}})  # fmt: skip
        call(world, "crm.contact.update", {"id": contact, "fields": {"UF_CRM_B24_EVENTS_COUNT": 1}})
    seconds = time.monotonic() - started
    counters = world.control(
        "GET", "/counters"
    )  # a request refused by the limit counts under both names
    operations = sum(n for m, n in counters.items() if not m.startswith("!")) - sum(
        n for m, n in counters.items() if m.startswith("!")
    )
    return (world.requests_since() / len(people), seconds / len(people), timepad(world, "GET", "/requests")["requests"],
            operations / len(people))  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--participants", type=int, default=1000)
    parser.add_argument(
        "--baseline",
        type=int,
        default=40,
        help="participants for the one-request-per-operation glue",
    )
    args = parser.parse_args()
    from b24app import context
    from b24app.template.resolved import SmartProcessIds

    rnd = random.Random(16)
    world = World("basic")
    try:
        context.settings().timepad_api_url = f"{world.sandbox.url}/timepad"
        org = timepad(world, "POST", "/organizations", json={"name": "Центр", "token": TOKEN})
        with context.registry().change(world.member_id) as record:
            record.settings |= {
                "timepad_token": TOKEN,
                "timepad_secret": SECRET,
                "timepad_organization_id": str(org["id"]),
            }
            spa = record.settings["template_ids"]["smart_processes"]["B24_PARTICIPATION"]
        limits(world, False)
        n = args.participants
        event = seed_event(world, org, "Большая конференция", n, 0, rnd)
        known = rnd.sample(range(n), n // 2)
        differ = seed_contacts(world, known, rnd)
        sample = seed_event(
            world, org, "Конференция (образец для базовой линии)", args.baseline, 10_000, rnd
        )
        limits(world, True)
        time.sleep(30)  # the burst allowance refills (50 requests at 2 a second)
        first, reqs, tp_reqs, wrote, secs = ours(world, event)
        time.sleep(30)
        second, reqs2, tp_reqs2, wrote2, secs2 = ours(world, event)
        time.sleep(30)
        field = SmartProcessIds(int(spa["entityTypeId"]), int(spa["id"]), 0).item_field(
            "B24_TP_EVENT_ID"
        )
        base_per, base_secs, base_tp, base_ops = baseline(
            world, sample, int(spa["entityTypeId"]), {"event": field}
        )
    finally:
        world.stop()
    pages = 1 + math.ceil(int(first["orders"]) / 250)
    minimum = pages + math.ceil(wrote / 50)
    total = reqs + tp_reqs
    base_total = base_per * n + pages
    print(
        f"timepad bench: {n} participants ({n // 2} already contacts, {differ} of them written differently), "
        f"limits on (basic plan: 2 requests/s after a burst of 50)"
    )
    print(f"  our sync:  {reqs} portal + {tp_reqs} Timepad = {total} HTTP requests, {secs:.1f} s; "
          f"created {first['created']}, linked {first['linked']}, updated {first['updated']}, skipped {first['skipped']}; "
          f"{wrote} writes")  # fmt: skip
    print(f"  rerun:     {reqs2} portal + {tp_reqs2} Timepad requests, {wrote2} writes, {secs2:.1f} s; "
          f"skipped {second['skipped']} of {second['people']}")  # fmt: skip
    print(
        f"  minimum:   {minimum} requests ({pages} Timepad pages + {math.ceil(wrote / 50)} batches of 50 writes)"
    )
    print(f"  baseline:  {base_ops:.2f} operations = {base_per:.2f} HTTP requests (refusals by the limit resent) and "
          f"{base_secs:.2f} s per participant ({args.baseline} measured, {base_tp} Timepad requests), "
          f"so for {n}: {base_total:.0f} requests, {base_secs * n:.0f} s ({base_secs * n / 60:.1f} min)")  # fmt: skip
    print(f"  ratios:    ours / minimum = {total / minimum:.2f}; ours / baseline = {total / base_total:.3f} of the "
          f"requests, {secs / (base_secs * n):.3f} of the time (baseline {base_total / total:.1f}× the requests, "
          f"{base_secs * n / secs:.1f}× the time)")  # fmt: skip
    return 0 if wrote2 == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
