"""Donor totals kept in a sandbox portal: the full recompute against a pure-Python reference, a second run that
writes nothing, the update at once after a donation, and the command line."""

import random
import subprocess
import sys
from collections import defaultdict
from datetime import date, datetime, timedelta
from decimal import Decimal
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import pytest

from b24app import context
from b24app.donations.recompute import recompute_portal, run_state
from b24app.donations.rollup import recompute_changed
from b24app.sandbox.phpjson import flatten
from tests.handlers.test_cloudpayments import Fund, body

MOSCOW = ZoneInfo("Europe/Moscow")
MONEY = ["GIFTS_SUM", "GIFTS_AVG", "GIFTS_MAX", "GIFTS_MIN", "GIFT_FIRST_SUM", "GIFT_LAST_SUM", "GIFTS_THIS_YEAR",
         "GIFTS_LAST_YEAR", "GIFTS_2Y_AGO", "GIFTS_365D", "BEST_YEAR_SUM"]  # fmt: skip


def months_back(day: date, n: int) -> date:
    """Independent of the product's months_before: step back month by month, clamping the day."""
    year, month = day.year, day.month
    for _ in range(n):
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    for d in range(day.day, 0, -1):
        try:
            return date(year, month, d)
        except ValueError:
            continue
    raise AssertionError


def reference(gifts: list[tuple[date, Decimal, bool]], today: date, subscription: str) -> dict:
    """The C4 fields computed the plain way, for one donor's counted RUB gifts (day, kept, recurring)."""
    out: dict = {}
    rub = sorted((g for g in gifts if g[1] > 0), key=lambda g: g[0])
    recurring_days = [g[0] for g in rub if g[2]]
    seg = {"ACTIVE": "ACTIVE", "PAST_DUE": "PAUSED"}.get(
        subscription, "FORMER" if subscription else None
    )
    if seg is None and recurring_days:
        quiet = (today - max(recurring_days)).days
        seg = "ACTIVE" if quiet <= 40 else ("PAUSED" if quiet <= 90 else "FORMER")
    out["RECURRING_SEGMENT"] = seg
    if not rub:
        return out
    total = Decimal(0)
    years: dict[int, Decimal] = defaultdict(Decimal)
    for day, amount, _ in rub:
        total += amount
        years[day.year] += amount
    out["GIFTS_SUM"], out["GIFTS_COUNT"] = total, len(rub)
    out["GIFTS_AVG"] = (total / len(rub)).quantize(Decimal("0.01"), rounding="ROUND_HALF_UP")
    out["GIFTS_MAX"], out["GIFTS_MIN"] = max(g[1] for g in rub), min(g[1] for g in rub)
    out["GIFT_FIRST_DATE"], out["GIFT_FIRST_SUM"] = rub[0][0], rub[0][1]
    out["GIFT_LAST_DATE"], out["GIFT_LAST_SUM"] = rub[-1][0], rub[-1][1]
    out["GIFTS_THIS_YEAR"] = years.get(today.year, Decimal(0))
    out["GIFTS_LAST_YEAR"] = years.get(today.year - 1, Decimal(0))
    out["GIFTS_2Y_AGO"] = years.get(today.year - 2, Decimal(0))
    out["GIFTS_365D"] = sum(
        (a for d, a, _ in rub if (today - d).days < 365 and d <= today), Decimal(0)
    )
    best = sorted(years.items(), key=lambda kv: (kv[1], kv[0]))[-1]
    out["BEST_YEAR"], out["BEST_YEAR_SUM"] = best
    last = rub[-1][0]
    if last >= months_back(today, 12):
        window = [d for d, _, _ in rub if d >= months_back(today, 12)]
        earlier = [d for d, _, _ in rub if d < window[0]]
        out["SEGMENT"] = ("NEW" if not earlier else
                          "LOYAL" if earlier[-1] >= months_back(window[0], 15) else "RETURNED")  # fmt: skip
    else:
        out["SEGMENT"] = ("AT_RISK" if last >= months_back(today, 15) else "LAPSING" if last >= months_back(today, 24)
                          else "LAPSED" if last >= months_back(today, 60) else "LOST")  # fmt: skip
    return out


class Seeded:
    """A portal with the template, donors, companies and donation deals of every kind, seeded by REST
    batches through the admin webhook (as an old integration or an import would have left them)."""

    def __init__(self, portal, app_server, donors: int, deals: int, seed: int = 5):
        self.portal, self.rnd = portal, random.Random(seed)
        portal.control(
            "POST",
            "/install",
            json={"client_id": app_server.client_id, "flow": "ui", "finish": True},
        )
        app_server.run_jobs()
        record = context.registry().require(portal.member_id)
        self.pipelines = record.settings["template_ids"]["pipelines"]
        self.enums = self.enum_ids()
        self.today = datetime.now(MOSCOW).date()
        self.contacts = self.add_many("contact", [self.contact_fields(i) for i in range(donors)])
        self.companies = self.add_many(
            "company", [{"TITLE": f"ООО «Опора-{i}»"} for i in range(max(donors // 10, 1))]
        )
        self.deals = [self.deal_fields() for _ in range(deals)]
        self.add_many("deal", self.deals)

    def enum_ids(self) -> dict[str, dict[str, str]]:
        rows = self.portal.result(
            "crm.contact.userfield.list", {"filter": {"USER_TYPE_ID": "enumeration"}}
        )
        return {r["FIELD_NAME"]: {i["XML_ID"]: str(i["ID"]) for i in r["LIST"]} for r in rows}

    def contact_fields(self, i: int) -> dict:
        fields = {"NAME": f"Донор{i}", "LAST_NAME": "Тестовый"}
        roll = self.rnd.random()
        if roll < 0.1:  # an old integration's stale totals
            fields |= {"UF_CRM_B24_GIFTS_SUM": "999.00|RUB", "UF_CRM_B24_GIFTS_COUNT": "7",
                       "UF_CRM_B24_SEGMENT": self.enums["UF_CRM_B24_SEGMENT"]["LOST"]}  # fmt: skip
        elif roll < 0.2:
            states = ["ACTIVE", "PAST_DUE", "CANCELLED", "REJECTED", "EXPIRED"]
            fields["UF_CRM_B24_SUBSCRIPTION"] = self.enums["UF_CRM_B24_SUBSCRIPTION"][
                self.rnd.choice(states)
            ]
        return fields

    def deal_fields(self) -> dict:
        r = self.rnd
        online, general = self.pipelines["B24_ONLINE"], self.pipelines["B24_GENERAL"]
        day = self.today - timedelta(days=r.randint(0, 7 * 365))
        at = datetime(
            day.year, day.month, day.day, r.randint(0, 23), r.randint(0, 59), tzinfo=MOSCOW
        )
        amount = Decimal(r.randint(100, 500_000)) / 100
        kind = r.random()
        fields = {"TITLE": "Пожертвование", "CONTACT_ID": r.choice(self.contacts), "OPPORTUNITY": f"{amount:.2f}",
                  "CURRENCY_ID": "USD" if r.random() < 0.03 else "RUB", "BEGINDATE": at.isoformat(),
                  "CATEGORY_ID": online, "STAGE_ID": f"C{online}:WON",
                  "TYPE_ID": "B24_RECURRING" if r.random() < 0.3 else "B24_ONE_TIME"}  # fmt: skip
        if r.random() < 0.1:
            fields["COMPANY_ID"] = r.choice(self.companies)
        if kind < 0.1:
            fields["STAGE_ID"] = f"C{online}:B24_REFUNDED"
        elif kind < 0.15:
            fields["UF_CRM_B24_REFUNDED_SUM"] = f"{amount / 2:.2f}"
        elif kind < 0.2:
            fields["STAGE_ID"] = f"C{online}:LOSE"
        elif kind < 0.22:
            fields["UF_CRM_B24_TEST"] = "1"
        elif kind < 0.3:
            received = day + timedelta(days=r.randint(0, 30))
            fields |= {
                "CATEGORY_ID": general,
                "STAGE_ID": f"C{general}:WON",
                "UF_CRM_B24_D_RECEIVED": received.isoformat(),
            }
        elif kind < 0.32:
            fields |= {"CATEGORY_ID": general, "STAGE_ID": f"C{general}:B24_SIGNED"}
        return fields

    def add_many(self, entity: str, rows: list[dict]) -> list[int]:
        ids: list[int] = []
        for start in range(0, len(rows), 50):
            chunk = rows[start : start + 50]
            cmd = {
                f"a{i}": f"crm.{entity}.add?" + urlencode(flatten({"fields": f}))
                for i, f in enumerate(chunk)
            }
            answer = self.portal.result("batch", {"halt": 1, "cmd": cmd})
            assert not answer["result_error"], answer["result_error"]
            ids += [int(answer["result"][f"a{i}"]) for i in range(len(chunk))]
        return ids

    def expected(self) -> dict[int, dict]:
        """The reference totals per contact, from the seeded deals alone."""
        gifts: dict[int, list] = defaultdict(list)
        online, general = str(self.pipelines["B24_ONLINE"]), str(self.pipelines["B24_GENERAL"])
        for f in self.deals:
            counts = (
                f["STAGE_ID"] in (f"C{online}:WON", f"C{general}:WON")
                and f.get("UF_CRM_B24_TEST") != "1"
            )
            if not counts or f["CURRENCY_ID"] != "RUB":
                continue
            kept = Decimal(f["OPPORTUNITY"]) - Decimal(f.get("UF_CRM_B24_REFUNDED_SUM") or 0)
            day = (date.fromisoformat(f["UF_CRM_B24_D_RECEIVED"]) if "UF_CRM_B24_D_RECEIVED" in f
                   else datetime.fromisoformat(f["BEGINDATE"]).date())  # fmt: skip
            gifts[f["CONTACT_ID"]].append((day, kept, f["TYPE_ID"] == "B24_RECURRING"))
        return gifts

    def all(self, entity: str) -> list[dict]:
        """Every record with its fields, read page by page through the webhook."""
        rows, start = [], 0
        while start is not None:
            answer = self.portal.call(f"crm.{entity}.list", {"select": ["ID", "UF_*"], "start": start,
                                                             "order": {"ID": "ASC"}}).body  # fmt: skip
            rows += answer["result"]
            start = answer.get("next")
        return rows


def decoded(enums: dict[str, dict[str, str]], contact: dict) -> dict:
    """A contact's C4 fields as the reference states them (Decimal, date, int, codes; None when empty)."""
    out = {}
    codes = {name: {v: k for k, v in ids.items()} for name, ids in enums.items()}
    for code in [
        *MONEY,
        "GIFTS_COUNT",
        "BEST_YEAR",
        "GIFT_FIRST_DATE",
        "GIFT_LAST_DATE",
        "SEGMENT",
        "RECURRING_SEGMENT",
    ]:
        raw = contact.get(f"UF_CRM_B24_{code}")
        if raw in (None, "", False):
            out[code] = None
        elif code in MONEY:
            amount, _, currency = str(raw).partition("|")
            assert currency == "RUB", raw
            out[code] = Decimal(amount)
        elif code in ("GIFTS_COUNT", "BEST_YEAR"):
            out[code] = int(raw)
        elif code.endswith("_DATE"):
            out[code] = date.fromisoformat(str(raw)[:10])
        else:
            out[code] = codes[f"UF_CRM_B24_{code}"][str(raw)]
    return out


@pytest.fixture
def big(portal, app_server):
    return Seeded(portal, app_server, donors=5000, deals=20000)


def test_a_full_recompute_equals_the_reference_and_a_second_writes_nothing(big, portal):
    """20,000 donations over 5,000 donors: every contact's C4 fields equal the plain-Python reference,
    field by field; a second recompute sends no write."""
    client, redis = context.client(portal.member_id), context.redis()
    portal.control("DELETE", "/counters")
    state = recompute_portal(client, redis, portal.member_id)
    assert state["phase"] == "done", state
    assert (
        int(state["requests"]) == portal.control("GET", "/requests")["requests"]
    )  # the run counts right
    writes = portal.control("GET", "/counters")
    expected, enums = big.expected(), big.enum_ids()
    subscription_codes = {v: k for k, v in enums["UF_CRM_B24_SUBSCRIPTION"].items()}
    mismatches = []
    for contact in big.all("contact"):
        cid = int(contact["ID"])
        want = reference(expected.get(cid, []), big.today,
                         subscription_codes.get(str(contact.get("UF_CRM_B24_SUBSCRIPTION") or ""), ""))  # fmt: skip
        got = decoded(enums, contact)
        for code, value in got.items():
            if want.get(code) != value:
                mismatches.append((cid, code, want.get(code), value))
    assert mismatches == [], mismatches[:10]
    flagged = {c for c, f in ((d["CONTACT_ID"], d) for d in big.deals) if f["CURRENCY_ID"] == "USD"
               and f["STAGE_ID"].endswith(":WON") and f.get("UF_CRM_B24_TEST") != "1"}  # fmt: skip
    assert {
        int(c["ID"])
        for c in big.all("contact")
        if str(c.get("UF_CRM_B24_OTHER_CURRENCY")) in ("1", "Y")
    } == flagged
    companies = [c for c in big.all("company") if c.get("UF_CRM_B24_GIFTS_SUM")]
    assert companies, "no company got its totals"
    assert writes.get("crm.contact.update", 0) > 4000
    portal.control("DELETE", "/counters")
    again = recompute_portal(client, redis, portal.member_id)
    counters = portal.control("GET", "/counters")
    assert (
        again["updated"] == "0"
        and "crm.contact.update" not in counters
        and "crm.company.update" not in counters
    )
    chains = sum(-(-max(n - 50, 0) // 2500) for n in (int(again["total"]), 5000, 500))
    assert int(again["requests"]) == portal.control("GET", "/requests")["requests"] == 1 + chains


def test_a_donation_updates_its_donor_at_once(portal, app_server):
    """A CloudPayments Pay: the deal at «Успешно», then the donor's totals within the settle time (the job
    that collects changed donors), in one read and one write request."""
    fund = Fund(portal, app_server)
    fund.deliver("pay", body("pay"))
    fund.app.run_jobs()
    [deal] = fund.deals()
    portal.control("DELETE", "/counters")
    assert recompute_changed(portal.member_id) == "1 donor(s) recomputed"
    assert portal.control("GET", "/counters") == {"batch": 2, "crm.deal.list": 1, "crm.contact.list": 1,
                                                  "crm.contact.update": 1, "crm.currency.base.get": 1}  # fmt: skip
    contact = portal.result("crm.contact.get", {"id": deal["CONTACT_ID"]})
    assert contact["UF_CRM_B24_GIFTS_SUM"] == "500.00|RUB" and contact[
        "UF_CRM_B24_GIFTS_COUNT"
    ] in ("1", 1)
    rows = portal.result(
        "crm.contact.userfield.list", {"filter": {"FIELD_NAME": "UF_CRM_B24_SEGMENT"}}
    )
    segments = {str(i["ID"]): i["XML_ID"] for i in rows[0]["LIST"]}
    assert (
        segments[str(contact["UF_CRM_B24_SEGMENT"])] == "LAPSED"
    )  # the fixture's payment: 2024-03-14
    fund.deliver("refund", body("refund"))
    fund.app.run_jobs()
    assert recompute_changed(portal.member_id) == "1 donor(s) recomputed"
    contact = portal.result("crm.contact.get", {"id": deal["CONTACT_ID"]})
    assert contact["UF_CRM_B24_GIFTS_SUM"] in ("", None) and contact["UF_CRM_B24_SEGMENT"] in (
        "",
        None,
        0,
    )


def test_the_command_line_recomputes_a_portal_and_a_donor(portal, app_server):
    seeded = Seeded(portal, app_server, donors=20, deals=60)
    s = context.settings()
    env = {"B24APP_REDIS_URL": s.redis_url, "B24APP_PUBLIC_URL": s.public_url, "B24APP_OAUTH_SERVERS": s.oauth_servers,
           "B24APP_CLIENT_ID": s.client_id, "B24APP_CLIENT_SECRET": s.client_secret.get_secret_value(),
           "B24APP_SECRET_KEY": s.secret_key.get_secret_value(), "PATH": "/usr/bin:/bin"}  # fmt: skip
    run = subprocess.run([sys.executable, "-m", "b24app", "totals", "recompute", "--portal", portal.member_id],
                         env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "] " in run.stderr and '"updated"' in run.stdout
    assert any(c.get("UF_CRM_B24_GIFTS_COUNT") for c in seeded.all("contact"))
    one = subprocess.run([sys.executable, "-m", "b24app", "totals", "recompute", "--portal", portal.member_id,
                          "--contact", str(seeded.contacts[0])], env=env, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert one.returncode == 0 and '"updated": 0' in one.stdout, (one.stdout, one.stderr)
    gone = subprocess.run([sys.executable, "-m", "b24app", "totals", "recompute", "--portal", "nosuch"],
                          env=env, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert gone.returncode == 2 and gone.stderr.count("\n") == 1 and "nosuch" in gone.stderr
    assert run_state(context.redis(), portal.member_id)["phase"] == "done"


@pytest.mark.browser
def test_the_app_page_starts_a_recompute_and_shows_its_outcome(sandbox, portal, app_server, page):
    """Real Chromium in the sandbox's app frame: «Пересчитать итоги доноров» queues the run on the bulk
    queue; once the worker ran it, the page says how many records it updated."""
    from tests.test_app_page_browser import open_app

    seeded = Seeded(portal, app_server, donors=10, deals=30)
    frame = open_app(page, sandbox, portal.member_id, app_server.client_id)
    assert "обновляются после каждого пожертвования" in frame.inner_text("#totals-status")
    frame.click("#recompute-totals")
    frame.wait_for_selector("#totals-status:has-text('Пересчёт идёт')")
    app_server.run_jobs()
    frame = open_app(page, sandbox, portal.member_id, app_server.client_id)
    updated = run_state(context.redis(), portal.member_id)["updated"]
    assert (
        f"обновлено записей: {updated}" in frame.inner_text("#totals-status") and int(updated) > 0
    )
    assert any(c.get("UF_CRM_B24_GIFTS_COUNT") for c in seeded.all("contact"))


def test_a_step_replayed_after_a_crash_changes_nothing_twice(portal, app_server):
    """A worker that died after its request but before its commit is replayed with the state it read: the
    commit is refused (nothing loaded twice); a new job resumes the run to the same result, and a fresh
    recompute afterwards finds nothing to write."""
    from b24app.donations.recompute import TotalsRun, begin_run, totals_job

    Seeded(portal, app_server, donors=300, deals=3500)  # more gifts than one read request carries
    redis, member_id = context.redis(), portal.member_id
    run = begin_run(redis, member_id)
    first = TotalsRun(context.client(member_id), redis, member_id, run)
    first.step()  # the base batch
    stale = run_state(redis, member_id)
    assert stale["phase"] == "deals"
    first.step()  # the next chain, committed
    loaded = len(first.loaded("deals"))
    first.read(stale, "deals")  # the dead worker's replay
    assert len(first.loaded("deals")) == loaded and run_state(redis, member_id)["step"] == "2"
    assert totals_job(member_id, run) in ("over", "continues")
    while run_state(redis, member_id)["phase"] != "done":
        totals_job(member_id, run)
    assert int(run_state(redis, member_id)["loaded"]) == int(run_state(redis, member_id)["total"])
    again = recompute_portal(context.client(member_id), redis, member_id)
    assert again["updated"] == "0"


def test_a_full_run_never_writes_back_older_totals_over_a_donors_fresh_ones(portal, app_server):
    """A gift arrives while a full recompute is between its reads and its writes: the changed-donors job
    writes the donor's fresh totals, and the run's writes (planned from older reads) leave that donor alone."""
    from b24app.donations.recompute import TotalsRun, begin_run
    from b24app.donations.rollup import refresh_donors

    seeded = Seeded(portal, app_server, donors=20, deals=80)
    redis, member_id = context.redis(), portal.member_id
    run = begin_run(redis, member_id)
    totals = TotalsRun(context.client(member_id), redis, member_id, run)
    while run_state(redis, member_id)["phase"] != "writes":
        totals.step()
    donor = seeded.contacts[0]
    online = seeded.pipelines["B24_ONLINE"]
    seeded.add_many("deal", [{"TITLE": "Новый дар", "CONTACT_ID": donor, "CATEGORY_ID": online,
                              "STAGE_ID": f"C{online}:WON", "OPPORTUNITY": "777.00", "CURRENCY_ID": "RUB",
                              "BEGINDATE": datetime.now(MOSCOW).isoformat()}])  # fmt: skip
    refresh_donors(context.client(member_id), redis, member_id, [donor])
    fresh = portal.result("crm.contact.get", {"id": donor})
    while not totals.step():
        pass
    after = portal.result("crm.contact.get", {"id": donor})
    assert after["UF_CRM_B24_GIFT_LAST_SUM"] == "777.00|RUB"
    assert after["UF_CRM_B24_GIFTS_COUNT"] == fresh["UF_CRM_B24_GIFTS_COUNT"]
    assert not redis.keys(f"*totals:{run}:*")  # the run's working lists are gone once it is done
