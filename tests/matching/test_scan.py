"""Portal-wide scan and merge on a seeded sandbox portal (product.md C5; matching.md §6.1–6.3;
bitrix24-rest.md §2.4 ID fast pattern, §2.5 batch, §4.1 multifields, §4.4 crm.entity.mergeBatch)."""

import csv
import json
import random
from dataclasses import dataclass, field

import pytest

from b24app import context
from b24app.matching import normalise_email, normalise_phone
from b24app.matching.proposal import groups
from b24app.matching.scan import mark_not_duplicate, not_duplicates, review_entries
from b24app.matching.scanrun import scan_portal
from tests.matching.synthetic import DIMINUTIVE_OF, FEMALE, MALE, SURNAMES, translit_word

WRITES = (".add", ".update", ".delete", "mergebatch", "mergeBatch")


@dataclass
class Truth:
    """What the seed knows: clusters that are one person, pairs for a human, pairs that are two people."""

    ids: list[int] = field(default_factory=list)
    same: list[list[int]] = field(default_factory=list)
    review: list[list[int]] = field(default_factory=list)
    different: list[list[int]] = field(default_factory=list)
    conflicts: dict[int, str] = field(
        default_factory=dict
    )  # loser id → its POST the survivor must keep in a comment
    companies: list[list[int]] = field(default_factory=list)


def contact(first, last, emails, phones, middle="", post=""):
    return {"NAME": first, "LAST_NAME": last, "SECOND_NAME": middle, "POST": post,
            "EMAIL": [{"VALUE": e, "VALUE_TYPE": "WORK"} for e in emails],
            "PHONE": [{"VALUE": p, "VALUE_TYPE": "MOBILE"} for p in phones]}  # fmt: skip


def female(last: str) -> str:
    return last + "а" if last.endswith(("ов", "ев", "ёв", "ин")) else last


def variant(
    rng: random.Random, kind: str, first: str, last: str, n: int, j: int
) -> tuple[str, str, str, str]:
    """One duplicate of a person (first, last, e-mail, phone): the same person written another way (§6.2, §6.3)."""
    login, phone = f"donor{n}x", f"925{n:07d}"
    email, tel = f"{login}@gmail.com", f"+7{phone}"
    formats = [
        f"8 ({phone[:3]}) {phone[3:6]}-{phone[6:8]}-{phone[8:]}",
        f"8{phone}",
        f"+7 {phone[:3]} {phone[3:]}",
    ]
    tel = formats[(n + j) % 3]
    if kind == "email":
        email = rng.choice(
            [f"{login[:3]}.{login[3:]}@gmail.com", f"{login}+fond@googlemail.com", email.upper()]
        )
    elif kind == "yo":
        first, last = first.replace("ё", "е"), last.replace("ё", "е")
    elif kind == "diminutive" and first in DIMINUTIVE_OF:
        first = DIMINUTIVE_OF[first][0]
    elif kind == "translit":
        last = translit_word(rng, last)
    return first, last, email, tel


def seed(client, total=2000, n_pairs=120, n_triples=40, n_review=40, n_spouses=30, n_fathers=20,
         n_namesakes=30, seed_=7, companies=True) -> Truth:  # fmt: skip
    """``total`` contacts by batch (50 adds a request): duplicate clusters, review pairs, hard negatives, the rest unique."""
    rng, rows, groups = random.Random(seed_), [], {"same": [], "review": [], "different": []}
    conflicts: dict[int, str] = {}

    def add(kind: str, people: list[dict]) -> None:
        groups[kind].append(list(range(len(rows), len(rows) + len(people))))
        rows.extend(people)

    kinds = ["email", "yo", "diminutive", "translit", "phone"]
    for n, size in enumerate([2] * n_pairs + [3] * n_triples):
        gender = rng.choice("mf")
        first = rng.choice(MALE if gender == "m" else FEMALE)
        last = rng.choice(SURNAMES) if gender == "m" else female(rng.choice(SURNAMES))
        people = []
        for j in range(size):
            f, la, e, p = variant(rng, kinds[(n + j) % len(kinds)] if j else "", first, last, n, j)
            emails = [e] + ([f"second{n}@mail.ru"] if j == 1 and n % 4 == 0 else [])
            post = {(0, 0): "Директор", (0, 1): "Бухгалтер", (1, 1): "Учитель"}.get((n % 3, j), "")
            if (n % 3, j) == (0, 1):
                conflicts[len(rows) + j] = "Бухгалтер"
            people.append(contact(f, la, emails, [p], post=post))
        add("same", people)
    for n in range(n_review):  # one phone, two different e-mails: a human decides
        first, last = rng.choice(MALE), rng.choice(SURNAMES)
        add("review", [contact(first, last, [f"rev{n}@example.ru"], [f"+7926{n:07d}"]),
                       contact(first, last, [f"rev{n}.work@example.org"], [f"8926{n:07d}"])])  # fmt: skip
    for n in range(n_spouses):  # a family e-mail and a home phone (matching.md §6.3)
        last = rng.choice(SURNAMES)
        add("different", [contact(rng.choice(FEMALE), female(last), [f"family{n}@mail.ru"], [f"+7495{n:07d}"]),
                          contact(rng.choice(MALE), last, [f"family{n}@mail.ru"], [f"+7495{n:07d}"])])  # fmt: skip
    for n in range(n_fathers):
        last, (father, son) = rng.choice(SURNAMES), rng.sample(MALE, 2)
        add("different", [contact(father, last, [f"home{n}@yandex.ru"], [f"+7499{n:07d}"]),
                          contact(son, last, [f"home{n}@yandex.ru"], [f"+7499{n:07d}"])])  # fmt: skip
    for n in range(n_namesakes):
        first, last = rng.choice(MALE), rng.choice(SURNAMES)
        add("different", [contact(first, last, [f"a{n}@namesake.ru"], [f"+7903{n:07d}"]),
                          contact(first, last, [f"b{n}@namesake.ru"], [f"+7904{n:07d}"])])  # fmt: skip
    for i in range(total - len(rows)):
        gender = rng.choice("mf")
        first = rng.choice(MALE if gender == "m" else FEMALE)
        last = rng.choice(SURNAMES) if gender == "m" else female(rng.choice(SURNAMES))
        rows.append(contact(first, last, [f"u{i}@example.ru"], [f"+7916{i:07d}"]))
    out = client.batch(
        {f"c{i:04d}": ("crm.contact.add", {"fields": r}) for i, r in enumerate(rows)}
    )
    ids = [out.raise_errors().result[f"c{i:04d}"] for i in range(len(rows))]
    truth = Truth(
        ids, *([[ids[i] for i in g] for g in groups[k]] for k in ("same", "review", "different"))
    )
    truth.conflicts = {ids[i]: post for i, post in conflicts.items()}
    truth.companies = seed_companies(client) if companies else []
    return truth


def seed_companies(client) -> list[list[int]]:
    """«ООО "Ромашка"» twice with one e-mail (merged), «Фонд Добро» twice without (review), and a company
    renamed by another integration with the same phone (review, never merged)."""
    titles = [('ООО "Ромашка"', "info@romashka.ru", ""), ("Ромашка", "INFO@romashka.ru", ""),
              ("Фонд Добро", "hello@dobro.ru", ""), ("фонд «Добро»", "", ""),
              ("АНО «Свет»", "", "+7 495 111-22-33"), ("Центр помощи Свет", "", "8 (495) 111 22 33")]  # fmt: skip
    out = client.batch({f"k{i}": ("crm.company.add", {"fields": {
        "TITLE": t, "EMAIL": [{"VALUE": e}] if e else [], "PHONE": [{"VALUE": p}] if p else []}})
        for i, (t, e, p) in enumerate(titles)})  # fmt: skip
    ids = [out.raise_errors().result[f"k{i}"] for i in range(len(titles))]
    return [ids[:2], ids[2:4], ids[4:]]


def alive(client, entity="contact") -> dict[int, dict]:
    rows = client.list_all(f"crm.{entity}.list", {"select": ["*", "EMAIL", "PHONE"]})
    return {int(r["ID"]): r for r in rows}


def normalised(records, name, norm) -> set[str]:
    return {norm(m["VALUE"]) for r in records for m in r.get(name) or []}


def writes(counters: dict) -> dict:
    return {m: n for m, n in counters.items() if m.endswith(WRITES)}


def comments(portal, contact_id: int) -> str:
    flt = {"ENTITY_ID": contact_id, "ENTITY_TYPE": "contact"}
    return "\n".join(
        c["COMMENT"] for c in portal.result("crm.timeline.comment.list", {"filter": flt})
    )


def test_scan_merges_every_confident_cluster_and_nothing_else(registered, redis):
    """2,000 contacts: every true cluster merged into its oldest contact with the union of e-mails and phones
    (§4.1) and the losers' differing values in a timeline comment (§4.4: no conflict reaches mergeBatch);
    no contact of a "different" pair deleted (matching.md §6.3 shared e-mails); review pairs queued; a rerun
    writes nothing."""
    client = registered.client()
    truth = seed(client)
    before = alive(client)
    registered.portal.control("DELETE", "/counters")
    report = scan_portal(client, redis, registered.member_id, apply=True)
    counters = registered.portal.control("GET", "/counters")
    print(f"\nscan: {report.contacts} contacts, {report.clusters} clusters, {report.merged_clusters} merged "
          f"({report.merged_records} records merged away), {report.review} to review, {report.requests} HTTP "
          f"requests (sandbox batch counter {counters.get('batch', 0)}), {report.seconds:.1f} s")  # fmt: skip
    assert report.contacts == 2000 and report.companies == 6
    now = alive(client)
    for group in truth.same:
        assert group[0] in now and not set(group[1:]) & set(now), group
        olds = [before[i] for i in group]
        for name, norm in (("EMAIL", normalise_email), ("PHONE", normalise_phone)):
            assert normalised([now[group[0]]], name, norm) == normalised(olds, name, norm), (
                group,
                name,
            )
            assert len(now[group[0]][name]) == len(
                normalised(olds, name, norm)
            )  # no repeated value
    for loser, post in truth.conflicts.items():
        group = next(g for g in truth.same if loser in g)
        assert now[group[0]]["POST"] == "Директор"
        note = comments(registered.portal, group[0])
        assert f"Объединено с контактом #{loser}" in note and f"«{post}»" in note
    assert all(
        now[g[0]]["POST"] == "Учитель" for n, g in enumerate(truth.same) if n % 3 == 1
    )  # blank filled
    for pair in truth.different + truth.review:
        assert set(pair) <= set(now), pair
    queued = {tuple(sorted(e["ids"])) for e in review_entries(redis, registered.member_id).values()}
    assert all(tuple(sorted(pair)) in queued for pair in truth.review)
    companies = alive(client, "company")
    assert truth.companies[0][1] not in companies and set(truth.companies[1]) <= set(companies)
    assert set(truth.companies[2]) <= set(companies)
    company_queue = {tuple(e["ids"]): e["reasons"] for e in review_entries(redis, registered.member_id).values()
                     if e["entity"] == "company"}  # fmt: skip
    assert set(company_queue) == {
        tuple(sorted(truth.companies[1])),
        tuple(sorted(truth.companies[2])),
    }
    assert "titles differ" in company_queue[tuple(sorted(truth.companies[2]))]
    assert report.merged_records == sum(len(g) - 1 for g in truth.same) + 1

    registered.portal.control("DELETE", "/counters")
    again = scan_portal(client, redis, registered.member_id, apply=True)
    assert again.merged_clusters == 0 and not writes(registered.portal.control("GET", "/counters"))
    assert again.review == report.review


def test_a_scan_proposes_writes_nothing_and_not_a_duplicate_is_remembered(registered, redis):
    """Without apply a scan makes no write call (sandbox counters): it queues the review pairs and
    proposes every true cluster (survivor = the oldest, the comment to be written); a pair marked
    «не дубликат» is never proposed, merged or queued again (matching.md §6.1: "do not merge" exceptions)."""
    client = registered.client()
    truth = seed(client, total=120, n_pairs=4, n_triples=1, n_review=3, n_spouses=2, n_fathers=0,
                 n_namesakes=2)  # fmt: skip
    registered.portal.control("DELETE", "/counters")
    report = scan_portal(client, redis, registered.member_id)
    assert not writes(registered.portal.control("GET", "/counters"))
    assert report.merged_clusters == 0 and report.proposed == len(truth.same) + 1  # + «Ромашка»
    assert {r["action"] for r in report.rows} >= {"proposed", "review"}
    offered = {
        tuple(g["ids"]): g for g in groups(redis, registered.member_id) if g["entity"] == "contact"
    }
    assert set(offered) == {tuple(g) for g in truth.same}
    for ids, group in offered.items():
        assert (
            group["survivor"] == ids[0]
            and group["records"][0]["path"] == f"/crm/contact/details/{ids[0]}/"
        )
        assert f"Blago24: объединено с дубликатами (#{ids[1]}" in group["comment"]
    queued = {tuple(sorted(e["ids"])) for e in review_entries(redis, registered.member_id).values()}
    assert all(tuple(sorted(pair)) in queued for pair in truth.review)
    mark_not_duplicate(redis, registered.member_id, truth.same[0])
    mark_not_duplicate(redis, registered.member_id, truth.review[0])
    report = scan_portal(client, redis, registered.member_id, apply=True)
    now = alive(client)
    assert set(truth.same[0]) <= set(now) and not set(truth.same[1][1:]) & set(now)
    queued = {tuple(sorted(e["ids"])) for e in review_entries(redis, registered.member_id).values()}
    assert tuple(sorted(truth.review[0])) not in queued and tuple(sorted(truth.review[1])) in queued
    assert tuple(sorted(truth.same[0])) not in queued
    assert {r["action"] for r in report.rows} >= {"merged", "review", "skipped"}
    assert not groups(redis, registered.member_id)  # what was applied is no longer proposed


def install(portal, app_server):
    portal.control(
        "POST", "/install", json={"client_id": app_server.client_id, "flow": "ui", "finish": True}
    )
    app_server.run_jobs()


def report_rows(text: str) -> list[dict]:
    """The CSV report's rows by their Russian headers (checked: BOM, ";", the header line)."""
    assert text.startswith("\ufeffГруппа;Записи;Остаётся;Действие;Причины;Оценка;Сущность\n")
    return list(csv.DictReader(text.lstrip("\ufeff").splitlines(), delimiter=";"))


def test_cli_dedup_scan_proposes_then_applies(portal, app_server, tmp_path, capsys, monkeypatch):
    """`b24app dedup scan --portal X --report FILE`: a progress bar on stderr, one CSV row per cluster,
    nothing written to the portal (§4.4 never called); with --apply the confident clusters are merged."""
    from b24app.__main__ import main

    install(portal, app_server)
    truth = seed(context.client(portal.member_id), total=300, n_pairs=5, n_triples=2, n_review=2,
                 n_spouses=1, n_fathers=1, n_namesakes=1)  # fmt: skip
    portal.control("DELETE", "/counters")
    monkeypatch.delenv("LANG", raising=False)
    path = tmp_path / "dedup.csv"
    assert main(["dedup", "scan", "--portal", portal.member_id, "--report", str(path)]) == 0
    out, err = capsys.readouterr()
    assert "] 300/300 contacts" in err and "[##############################]" in err
    rows = report_rows(path.read_text(encoding="utf-8"))
    merges = [
        r for r in rows if r["Действие"] == "предложено объединить" and r["Сущность"] == "контакт"
    ]
    assert sorted(r["Записи"] for r in merges) == sorted(" ".join(map(str, g)) for g in truth.same)
    assert all(r["Остаётся"] == r["Записи"].split()[0] for r in merges)
    assert not writes(portal.control("GET", "/counters"))

    assert main(["dedup", "scan", "--portal", portal.member_id, "--apply"]) == 0
    now = alive(context.client(portal.member_id))
    assert all(g[0] in now and not set(g[1:]) & set(now) for g in truth.same)


def test_mother_and_daughter_are_never_proposed_and_apply_keeps_both(portal, app_server, tmp_path, capsys,
                                                                     monkeypatch):  # fmt: skip
    """product.md C5 hard rule, end to end in the sandbox portal: a mother and a daughter with one name
    and one family e-mail (other patronymics) beside two true duplicate pairs. The proposal holds exactly
    the two pairs; `--apply` merges them and keeps both women, each with her own patronymic."""
    from b24app.__main__ import main

    install(portal, app_server)
    client = context.client(portal.member_id)
    people = [contact("Анна", "Петрова", ["petrovy@mail.ru"], ["+7 916 100-00-01"], middle="Сергеевна"),
              contact("Анна", "Петрова", ["Petrovy@mail.ru"], ["+7 916 100-00-02"], middle="Ивановна"),
              contact("Ольга", "Смирнова", ["olga.smirnova@gmail.com"], ["8 903 200-00-01"], middle="Петровна"),
              contact("Оля", "Смирнова", ["olgasmirnova+fond@googlemail.com"], [], middle="П."),
              contact("Дмитрий", "Козлов", [], ["+7 (925) 300-00-01"]),
              contact("Dmitriy", "Kozlov", ["kozlov@yandex.ru"], ["89253000001"])]  # fmt: skip
    out = client.batch({f"c{i}": ("crm.contact.add", {"fields": f}) for i, f in enumerate(people)})
    mother, daughter, *pairs = [out.raise_errors().result[f"c{i}"] for i in range(len(people))]
    monkeypatch.setenv("LANG", "en_US.UTF-8")
    path = tmp_path / "proposal.csv"
    portal.control("DELETE", "/counters")
    assert main(["dedup", "scan", "--portal", portal.member_id, "--report", str(path)]) == 0
    assert not writes(portal.control("GET", "/counters"))
    text = path.read_text(encoding="utf-8")
    assert text.startswith("\ufeffGroup;Records;Survivor;Action;Reasons;Score;Entity")
    proposed = [r["Records"] for r in csv.DictReader(text.lstrip("\ufeff").splitlines(), delimiter=";")
                if r["Action"] == "proposed"]  # fmt: skip
    assert sorted(proposed) == [f"{pairs[0]} {pairs[1]}", f"{pairs[2]} {pairs[3]}"]
    assert {tuple(g["ids"]) for g in groups(context.redis(), portal.member_id)} == {
        (pairs[0], pairs[1]),
        (pairs[2], pairs[3]),
    }
    queued = review_entries(context.redis(), portal.member_id)
    assert "hard_rule_other_patronymic" in queued[f"{mother}:{daughter}"]["reasons"]
    capsys.readouterr()

    assert main(["dedup", "scan", "--portal", portal.member_id, "--apply"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["merged_clusters"] == 2
    now = alive(client)
    assert now[mother]["SECOND_NAME"] == "Сергеевна" and now[daughter]["SECOND_NAME"] == "Ивановна"
    assert pairs[0] in now and pairs[2] in now and pairs[1] not in now and pairs[3] not in now
    assert now[pairs[0]]["SECOND_NAME"] == "Петровна"


def run_page_job(frame, app_server) -> None:
    """The page started a job and shows its progress; a worker runs it; the page reloads itself."""
    frame.wait_for_selector("#scan-running")
    app_server.run_jobs()
    frame.wait_for_selector("#start-scan", timeout=15000)


@pytest.mark.browser
def test_review_page_merges_one_entry_and_remembers_the_other(portal, app_server, page):
    """The review page opened from the app page (signed token, bitrix24-rest.md §1.2, §7): «Не дубликат»
    is remembered and the pair is not queued again; «Объединить» starts a merge job that merges the pair
    (§4.4) into the older contact, writes the timeline comment and updates the figures above the queue."""
    from tests.test_app_page_browser import open_app

    install(portal, app_server)
    client, redis = context.client(portal.member_id), context.redis()
    truth = seed(client, total=20, n_pairs=0, n_triples=0, n_review=2, n_spouses=0, n_fathers=0,
                 n_namesakes=0, companies=False)  # fmt: skip
    keep, merge = truth.review
    client.call("crm.contact.update", {"id": merge[1], "fields": {"POST": "Волонтёр"}})
    frame = open_app(page, portal.sandbox, portal.member_id, app_server.client_id)
    frame.click("#open-review")
    frame.click("#start-scan")  # the scan is a job: queued by the page, run by a worker
    run_page_job(frame, app_server)
    assert "на проверку 2" in frame.inner_text("#last-scan")
    assert "на проверку: 2" in frame.inner_text("#figures")
    frame.wait_for_selector(f".entry[data-key='{keep[0]}:{keep[1]}']")
    frame.click(f".entry[data-key='{keep[0]}:{keep[1]}'] button.not-duplicate")
    frame.wait_for_selector("#message:has-text('не дубликат')")
    assert "не дубликат" in frame.inner_text("#message")
    assert "на проверку: 1" in frame.inner_text("#figures")
    frame.click(f".entry[data-key='{merge[0]}:{merge[1]}'] button.merge")
    frame.wait_for_selector("#message:has-text('Объединение запущено')")
    assert merge[1] in alive(client)  # the page only queued the job
    run_page_job(frame, app_server)
    frame.wait_for_selector("#empty")
    assert "объединено групп 1" in frame.inner_text("#merge-result")
    figures = frame.inner_text("#figures")
    assert "на проверку: 0" in figures and "объединено групп: 1 (записей 1)" in figures
    now = alive(client)
    assert keep[0] in now and keep[1] in now and merge[0] in now and merge[1] not in now
    assert now[merge[0]]["POST"] == "Волонтёр" and len(now[merge[0]]["EMAIL"]) == 2
    note = comments(portal, merge[0])
    assert f"Blago24: объединено с дубликатами (#{merge[1]})" in note and "«Волонтёр»" in note
    assert f"{keep[0]}:{keep[1]}" in not_duplicates(redis, portal.member_id)
    scan_portal(client, redis, portal.member_id)
    assert not review_entries(redis, portal.member_id)


@pytest.mark.browser
def test_review_page_proposes_and_merges_only_the_chosen_group(portal, app_server, page):
    """«Найти дубликаты» merges nothing: it proposes each confident group with its survivor, what will be
    filled, the comment and links that open each card; «Объединить выбранные» merges the one group chosen
    and leaves the other proposed; «Объединить все уверенные» then merges the rest."""
    from tests.test_app_page_browser import open_app

    install(portal, app_server)
    client = context.client(portal.member_id)
    truth = seed(client, total=30, n_pairs=2, n_triples=0, n_review=0, n_spouses=1, n_fathers=0,
                 n_namesakes=0, companies=False)  # fmt: skip
    chosen, other = truth.same
    before = set(alive(client))
    frame = open_app(page, portal.sandbox, portal.member_id, app_server.client_id)
    frame.click("#open-review")
    portal.control("DELETE", "/counters")
    frame.click("#start-scan")
    run_page_job(frame, app_server)
    assert not writes(portal.control("GET", "/counters"))
    assert set(alive(client)) == before
    assert "Предложено объединить групп: 2" in frame.inner_text("#figures")
    group = f".group[data-key='{chosen[0]}:{chosen[1]}']"
    assert (
        frame.get_attribute(f"{group} a.open-record >> nth=0", "data-path")
        == f"/crm/contact/details/{chosen[0]}/"
    )
    assert (
        frame.get_attribute(f"{group} a.open-record >> nth=1", "data-path")
        == f"/crm/contact/details/{chosen[1]}/"
    )
    assert "останется" in frame.inner_text(f"{group} .record >> nth=0")
    assert f"Blago24: объединено с дубликатами (#{chosen[1]})" in frame.inner_text(
        f"{group} .comment"
    )
    frame.click(f"{group} a.open-record >> nth=0")  # BX24.openPath: the page stays where it is
    frame.check(f"{group} input[name=keys]")
    frame.click("#merge-selected")
    run_page_job(frame, app_server)
    now = alive(client)
    assert chosen[0] in now and chosen[1] not in now and set(other) <= set(now)
    assert f"Blago24: объединено с дубликатами (#{chosen[1]})" in comments(portal, chosen[0])
    assert "Предложено объединить групп: 1" in frame.inner_text("#figures")
    assert frame.locator(".group").count() == 1
    frame.click("#merge-all")
    run_page_job(frame, app_server)
    now = alive(client)
    assert other[0] in now and other[1] not in now
    assert all(set(pair) <= set(now) for pair in truth.different)
    assert "объединено групп: 2 (записей 2)" in frame.inner_text("#figures")


def test_review_page_refuses_a_missing_or_forged_token(app_server):
    """CSRF and auth: the review page answers 401 without the signed token of the app page or of itself."""
    import requests

    for token in ("", "forged.token"):
        resp = requests.post(app_server.url + "/app/review", data={"token": token, "action": "merge", "key": "1:2"},
                             timeout=10)  # fmt: skip
        assert resp.status_code == 401
