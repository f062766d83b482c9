"""Lesson reminders: a burst of reminders due within a few minutes, sent by 2 `b24app worker` processes.

A sandbox portal with courses, contacts and deals in «Обучение» at «Записан» (each deal's course in its
product rows, the lesson times on the course). The reminders are planned by ``lessons.plan`` (the
robot's own path, its schedule read skipped: the bench measures our scheduler and sender, not the
robot's intake), due evenly over ``--window`` seconds starting a minute after the workers start. Figures:
lateness (letter sent − due: median, p99, max), duplicates (letters per reminder id beyond one, read from
the sandbox outbox) and missing reminders; REST requests per reminder. Then the same burst, smaller,
with the portal's limits on (basic plan: 2 requests a second after 50): its rate and how long the whole
burst would take at it. Targets (limits off): median < 1 s, p99 < 5 s, 0 duplicates, 0 missing — exit
status 1 when missed.

    .venv/bin/python bench/reminders_bench.py [--reminders 10000] [--window 180] [--limited 2000]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from donations_bench import World  # noqa: E402
from totals_bench import add_many, limits  # noqa: E402

PER_COURSE = 50  # participants of one course: their reminders fall due together
START_AFTER = (
    90.0  # seconds between the end of seeding and the first reminder (events, planning, workers)
)


def seed(world: World, n: int, window: float, tag: str) -> tuple[list[int], float]:
    """``n`` deals in «Обучение» at «Записан», PER_COURSE to a course whose one lesson starts 2 h after
    its reminder is due, the first START_AFTER seconds after seeding; returns the deals and that time."""
    from b24app import context

    ids = context.registry().require(world.member_id).settings["template_ids"]
    category = int(ids["pipelines"]["B24_LEARNING"])
    prop = next(
        p for p in call(world, "crm.product.property.list") if p["CODE"] == "B24_LESSON_DATES"
    )
    courses = -(-n // PER_COURSE)
    products = add_many_products(world, prop["ID"], [time.time() + 86400] * courses, tag)
    contacts = add_many(world, "contact", [{"NAME": f"Участник {tag}{i}", "EMAIL": [{"VALUE": f"p{tag}{i}@example.org",
                                            "VALUE_TYPE": "WORK"}]} for i in range(n)])  # fmt: skip
    deals = add_many(world, "deal", [{"TITLE": f"Курс {tag}{i}", "CATEGORY_ID": category, "CONTACT_ID": c,
                                      "STAGE_ID": f"C{category}:B24_ENROLLED"} for i, c in enumerate(contacts)])  # fmt: skip
    rows = {d: products[i // PER_COURSE] for i, d in enumerate(deals)}
    batch(world, {f"r{d}": ("crm.deal.productrows.set", {"id": d, "rows": [{"PRODUCT_ID": p, "PRICE": 0, "QUANTITY": 1}]})
                  for d, p in rows.items()})  # fmt: skip
    first_due = (
        time.time() + START_AFTER + n / 1000
    )  # planning takes about a millisecond a reminder
    lessons = [
        float(int(first_due + window * i / max(courses - 1, 1) + 7200)) for i in range(courses)
    ]
    batch(world, {f"u{i}": ("crm.product.update", {"id": p, "fields": {f"PROPERTY_{prop['ID']}": [
        {"value": datetime.fromtimestamp(t, UTC).isoformat()}]}}) for i, (p, t) in enumerate(zip(products, lessons, strict=True))})  # fmt: skip
    world.control(
        "GET", "/robots/runs?wait=1"
    )  # the seeding's events reach the app before any plan
    plan_all(world, deals, rows, lessons, products)
    return deals, first_due


def add_many_products(world: World, prop_id: str, lessons: list[float], tag: str) -> list[int]:
    out = batch(world, {f"p{i}": ("crm.product.add", {"fields": {"NAME": f"Курс {tag}{i}", "PRICE": 0,
                        f"PROPERTY_{prop_id}": [{"value": datetime.fromtimestamp(t, UTC).isoformat()}]}})
                        for i, t in enumerate(lessons)})  # fmt: skip
    return [int(out[f"p{i}"]) for i in range(len(lessons))]


def plan_all(
    world: World, deals: list[int], rows: dict, lessons: list[float], products: list[int]
) -> None:
    from b24app import context
    from b24app.lessons import Enrolment, plan

    portal = context.registry().require(world.member_id)
    for i, deal in enumerate(deals):
        course = i // PER_COURSE
        lesson = datetime.fromtimestamp(lessons[course], UTC).replace(microsecond=0)
        enrolment = Enrolment(deal, True, {}, f"Курс {course}", products[course], (lesson,))
        plan(
            world.redis,
            portal,
            deal,
            enrolment,
            {"offset": 2, "template": "lesson_reminder"},
            "bench",
        )


def batch(world: World, commands: dict) -> dict:
    from urllib.parse import urlencode

    from b24app.sandbox.phpjson import flatten

    out, keys = {}, list(commands)
    for start in range(0, len(keys), 50):
        cmd = {
            k: f"{commands[k][0]}?{urlencode(flatten(commands[k][1]))}"
            for k in keys[start : start + 50]
        }
        answer = post(world, "batch", {"halt": 0, "cmd": cmd})
        out |= answer["result"] if isinstance(answer["result"], dict) else {}
    return out


def call(world: World, method: str, params: dict | None = None):
    return post(world, method, params or {})


def post(world: World, method: str, params: dict):
    import requests

    while True:
        answer = requests.post(world.webhook + method, json=params, timeout=120).json()
        if answer.get("error") != "QUERY_LIMIT_EXCEEDED":
            return answer.get("result")
        time.sleep(0.5)


def workers(world: World, count: int, log) -> list[subprocess.Popen]:
    from b24app import context

    s = context.settings()
    env = dict(os.environ, B24APP_REDIS_URL=s.redis_url, B24APP_PUBLIC_URL=s.public_url,
               B24APP_OAUTH_SERVERS=s.oauth_servers, B24APP_CLIENT_ID=s.client_id,
               B24APP_CLIENT_SECRET=s.client_secret.get_secret_value(),
               B24APP_SECRET_KEY=s.secret_key.get_secret_value(), B24APP_JSON_LOGS="false")  # fmt: skip
    procs = [subprocess.Popen([sys.executable, "-m", "b24app", "worker", "--queues", "urgent"], env=env,
                              stdout=log, stderr=log) for _ in range(count)]  # fmt: skip
    time.sleep(3)
    if any(
        p.poll() is not None for p in procs
    ):  # a refused setting: say so now, not after the burst
        raise RuntimeError(
            f"a worker exited at start (code {[p.poll() for p in procs]}); see its log"
        )
    return procs


def outcome(world: World, deals: list[int]) -> tuple[list[float], int, int, Counter]:
    """(lateness of each sent reminder, duplicates, missing, states)."""
    from b24app.lessons import reminders

    late, states = [], Counter()
    for deal in deals:
        for entry in reminders(world.redis, world.member_id, deal).values():
            states[entry["state"]] += 1
            if entry["state"] == "sent":
                late.append(entry["at"] - entry["due"])
    portal = world.sandbox.world.portal(world.member_id)
    origins = Counter(a.get("ORIGIN_ID") for a in portal.table("activity").values()
                      if str(a.get("ORIGIN_ID", "")).count("-lesson-"))  # fmt: skip
    duplicates = sum(c - 1 for c in origins.values() if c > 1)
    return late, duplicates, len(deals) - states["sent"], states


def settled(world: World) -> bool:
    """Nothing due or held any more (cheap: the sandbox shares this process, so no heavy polling)."""
    from b24app.lessons import key

    redis, member = world.redis, world.member_id
    return redis.zcard(key(member, "due")) + redis.zcard(key(member, "claimed")) == 0


def burst(world: World, n: int, window: float, tag: str, timeout: float, limited: bool) -> dict:
    """Seed and plan ``n`` reminders (limits off), switch the portal's limits on or off, start 2 workers,
    wait for them all; the figures."""
    limits(world, False)
    plan(world, "unlimited")
    deals, first_due = seed(world, n, window, tag)
    if limited:
        limits(world, True)
        plan(world, "basic")
    world.reset()
    with open(Path(os.environ.get("TMPDIR", "/tmp")) / f"reminders_bench_{tag}.log", "w") as log:
        procs = workers(world, 2, log)
        try:
            deadline = first_due + window + timeout
            while time.time() < deadline and not settled(world):
                time.sleep(2)
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                try:
                    p.wait(60)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(10)
    late, dup, missing, states = outcome(world, deals)
    late.sort()
    requests_made = world.requests_since()
    return {"n": n, "sent": len(late), "median": statistics.median(late) if late else float("nan"),
            "p99": late[min(len(late) - 1, int(len(late) * 0.99))] if late else float("nan"),
            "max": late[-1] if late else float("nan"), "duplicates": dup, "missing": missing,
            "states": dict(states), "requests": requests_made,
            "span": (max(late) if late else 0) + window}  # fmt: skip


def plan(world: World, name: str) -> None:
    from b24app import context

    with context.registry().change(world.member_id) as record:
        record.plan = name


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reminders", type=int, default=10_000)
    parser.add_argument(
        "--window", type=float, default=180.0, help="seconds over which they fall due"
    )
    parser.add_argument(
        "--limited", type=int, default=2000, help="reminders of the limits-on burst"
    )
    args = parser.parse_args()
    world = World("basic")
    try:
        with world.sandbox.world.lock:
            world.sandbox.world.portal(world.member_id).settings["mailboxes"] = [
                "hello@dobro.example"
            ]
        from b24app import context

        with context.registry().change(world.member_id) as record:
            record.settings.update(
                letter_sender="Фонд <hello@dobro.example>", letter_channel="bitrix24"
            )
        off = burst(
            world, args.reminders, args.window, "a", timeout=600, limited=False
        )  # our limiter too
        print(json.dumps({"limits_off": off}, default=str), flush=True)
        window_on = args.window * args.limited / args.reminders
        on = burst(world, args.limited, window_on, "b", timeout=3600, limited=True)
    finally:
        world.stop()
    print(json.dumps({"limits_on": on}, default=str))
    rate_on = on["sent"] / max(on["span"], 1e-9)
    print(
        f"limits off: {off['sent']}/{off['n']} sent over a {args.window:.0f} s window; lateness median "
        f"{off['median']:.2f} s, p99 {off['p99']:.2f} s, max {off['max']:.2f} s; {off['duplicates']} duplicates, "
        f"{off['missing']} missing; {off['requests'] / max(off['n'], 1):.2f} requests per reminder"
    )
    print(
        f"limits on (basic plan): {on['sent']}/{on['n']} sent, lateness median {on['median']:.1f} s, max "
        f"{on['max']:.1f} s, {on['requests'] / max(on['n'], 1):.2f} requests per reminder; at "
        f"{rate_on:.2f} reminders/s the same burst of {args.reminders} would take about "
        f"{args.reminders / max(rate_on, 1e-9) / 60:.0f} minutes (ratio to limits off: "
        f"{(args.reminders / max(rate_on, 1e-9)) / off['span']:.1f}×)"
    )
    ok = off["median"] < 1 and off["p99"] < 5 and off["duplicates"] == 0 and off["missing"] == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
