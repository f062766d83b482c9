"""Donor totals: the full recompute's HTTP requests against the fewest possible, and its wall time with the
portal's limits on (2 requests a second after a burst of 50, as Bitrix24's basic plans).

A sandbox portal with the template is seeded (limits off) with donors, companies and donation deals of every
kind: succeeded, refunded in whole or in part, failed, test, general donations, other currencies. Then
``recompute_portal`` runs with the limits on. The minimum: every list request carries at most 50 pages of
50 records (ID-fast pages chained in one batch), every write request 50 updates, so
ceil(gifts/2500) + ceil(contacts/2500) + ceil(companies/2500) + ceil(records to update/50). Target: within
10% of it; exit status 1 if missed. Baseline, in the same run on the same portal: the one-donor-at-a-time
glue (list the donor's deals, update the donor), per donor.

    .venv/bin/python bench/totals_bench.py [--donors 5000] [--deals 20000] [--baseline 60]
"""

import argparse
import math
import random
import statistics
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from donations_bench import World  # noqa: E402

TARGET = 1.10
MOSCOW = ZoneInfo("Europe/Moscow")


def add_many(world: World, entity: str, rows: list[dict]) -> list[int]:
    from urllib.parse import urlencode

    from b24app.sandbox.phpjson import flatten

    ids = []
    for start in range(0, len(rows), 50):
        chunk = rows[start : start + 50]
        cmd = {
            f"a{i}": f"crm.{entity}.add?" + urlencode(flatten({"fields": f}))
            for i, f in enumerate(chunk)
        }
        answer = requests.post(
            world.webhook + "batch", json={"halt": 1, "cmd": cmd}, timeout=120
        ).json()
        ids += [int(answer["result"]["result"][f"a{i}"]) for i in range(len(chunk))]
    return ids


def seed(world: World, donors: int, deals: int, rnd: random.Random) -> None:
    """Donors, companies and deals of every kind, written with the portal's limits off."""
    from b24app import context

    pipelines = context.registry().require(world.member_id).settings["template_ids"]["pipelines"]
    online, general = pipelines["B24_ONLINE"], pipelines["B24_GENERAL"]
    contacts = add_many(
        world, "contact", [{"NAME": f"Донор{i}", "LAST_NAME": "Тестовый"} for i in range(donors)]
    )
    companies = add_many(
        world, "company", [{"TITLE": f"ООО «Опора-{i}»"} for i in range(max(donors // 10, 1))]
    )
    today, rows = datetime.now(MOSCOW), []
    for _ in range(deals):
        at = today - timedelta(days=rnd.randint(0, 7 * 365), minutes=rnd.randint(0, 1440))
        stage = rnd.choices(["WON", "B24_REFUNDED", "LOSE"], [85, 10, 5])[0]
        row = {"TITLE": "Пожертвование", "CONTACT_ID": rnd.choice(contacts), "CATEGORY_ID": online,
               "STAGE_ID": f"C{online}:{stage}", "OPPORTUNITY": f"{rnd.randint(100, 500_000) / 100:.2f}",
               "CURRENCY_ID": "USD" if rnd.random() < 0.03 else "RUB", "BEGINDATE": at.isoformat(),
               "TYPE_ID": "B24_RECURRING" if rnd.random() < 0.3 else "B24_ONE_TIME"}  # fmt: skip
        if rnd.random() < 0.1:
            row["COMPANY_ID"] = rnd.choice(companies)
        if rnd.random() < 0.08:
            row |= {"CATEGORY_ID": general, "STAGE_ID": f"C{general}:WON"}
        rows.append(row)
    add_many(world, "deal", rows)


def limits(world: World, on: bool) -> None:
    settings = world.sandbox.world.portal(world.member_id).settings
    settings["rate_limit"] = settings["operating_limit"] = on


def minimum(world: World, updated: int) -> int:
    """The fewest requests any recompute could use for this portal (module docstring)."""
    table = world.sandbox.world.portal(world.member_id).table
    pipelines = {d["STAGE_ID"] for d in table("deal").values() if d["STAGE_ID"].endswith(":WON")}
    gifts = sum(1 for d in table("deal").values() if d["STAGE_ID"] in pipelines)
    return sum(
        math.ceil(n / 2500) for n in (gifts, len(table("contact")), len(table("company")))
    ) + math.ceil(updated / 50)


def ours(world: World) -> tuple[dict, float]:
    from b24app import context
    from b24app.donations.recompute import recompute_portal

    world.reset()
    started = time.monotonic()
    state = recompute_portal(context.client(world.member_id), context.redis(), world.member_id)
    return state, time.monotonic() - started


def baseline(world: World, donors: int) -> tuple[float, float]:
    """One donor at a time: list their won deals, sum them in Python, update the donor (requests and seconds
    per donor, waiting out the limit as such glue does)."""
    table = world.sandbox.world.portal(world.member_id).table
    ids = sorted(int(i) for i in table("contact"))[:donors]
    world.reset()
    started = time.monotonic()
    for cid in ids:
        deals = call(
            world,
            "crm.deal.list",
            {"filter": {"CONTACT_ID": cid}, "select": ["ID", "OPPORTUNITY", "STAGE_ID"]},
        )
        total = sum(float(d["OPPORTUNITY"]) for d in deals if d["STAGE_ID"].endswith(":WON"))
        call(
            world,
            "crm.contact.update",
            {"id": cid, "fields": {"UF_CRM_B24_GIFTS_SUM": f"{total:.2f}|RUB"}},
        )
    return world.requests_since() / len(ids), (time.monotonic() - started) / len(ids)


def call(world: World, method: str, params: dict):
    while True:
        answer = requests.post(world.webhook + method, json=params, timeout=60).json()
        if answer.get("error") != "QUERY_LIMIT_EXCEEDED":
            return answer.get("result")
        time.sleep(0.5)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--donors", type=int, default=5000)
    parser.add_argument("--deals", type=int, default=20000)
    parser.add_argument(
        "--baseline", type=int, default=60, help="donors for the one-at-a-time glue"
    )
    args = parser.parse_args()
    world = World("basic")
    try:
        limits(world, False)
        seed(world, args.donors, args.deals, random.Random(3))
        limits(world, True)
        time.sleep(30)  # the burst allowance refills (50 requests at 2 a second)
        first, first_secs = ours(world)
        floor = minimum(world, int(first["updated"]))
        time.sleep(30)
        second, second_secs = ours(world)
        time.sleep(30)
        base_per, base_secs = baseline(world, args.baseline)
    finally:
        world.stop()
    donors = args.donors
    ratio = int(first["requests"]) / floor
    print(f"totals bench: {args.deals} deals, {donors} donors, limits on (basic plan)")
    print(f"  full recompute: {first['requests']} requests (minimum {floor}: ratio {ratio:.3f}), "
          f"{first['updated']} records updated, {first_secs:.1f} s")  # fmt: skip
    print(
        f"  second run:     {second['requests']} requests, {second['updated']} records updated, {second_secs:.1f} s"
    )
    per, secs = int(first["requests"]) / donors, first_secs / donors
    print(f"  per donor:      ours {per:.3f} requests, {secs * 1000:.1f} ms; "
          f"baseline {base_per:.2f} requests, {base_secs * 1000:.1f} ms ({args.baseline} donors)")  # fmt: skip
    print(
        f"  ratio:          {per / base_per:.3f} of the baseline's requests, {secs / base_secs:.3f} of its time"
    )
    print(f"  median of runs: {statistics.median([first_secs, second_secs]):.1f} s")
    if ratio > TARGET:
        print(f"  MISSED: more than {TARGET:.2f} × the minimum", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
