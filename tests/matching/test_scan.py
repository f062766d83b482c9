"""Portal-wide scan and merge on a seeded sandbox portal (bitrix24-rest.md §4.4; product.md C5)."""

import random
import time

from b24app.matching.scan import mark_not_duplicate, scan_contacts

FIRST = [
    "Анна",
    "Мария",
    "Елена",
    "Ольга",
    "Татьяна",
    "Ирина",
    "Наталья",
    "Светлана",
    "Юлия",
    "Ксения",
    "Иван",
    "Пётр",
    "Сергей",
    "Андрей",
    "Дмитрий",
    "Алексей",
    "Михаил",
    "Николай",
    "Павел",
    "Олег",
]
LAST = ["Смирнов", "Кузнецов", "Попов", "Васильев", "Соколов", "Михайлов", "Новиков", "Фёдоров", "Морозов",
        "Волков", "Алексеев", "Лебедев", "Семёнов", "Егоров", "Павлов", "Козлов", "Степанов", "Николаев"]  # fmt: skip


POSTS = {
    (0, 0): "Директор",
    (0, 1): "Бухгалтер",
    (1, 1): "Учитель",
}  # a conflict and a blank to fill


def fields(first, last, email, phone, post=""):
    female = first in FIRST[:10]
    return {"NAME": first, "LAST_NAME": last + ("а" if female else ""), "POST": post,
            "EMAIL": [{"VALUE": email}], "PHONE": [{"VALUE": phone}]}  # fmt: skip


def seed(client, n_people=1800, n_pairs=100, n_triples=40, n_spouses=30):
    """Unique people plus known duplicate pairs/triples (e-mail case, phone format) and spouses sharing e-mail."""
    rng = random.Random(7)
    rows, truth_dupes, spouses = [], [], []
    for i in range(n_people):
        rows.append(
            fields(rng.choice(FIRST), rng.choice(LAST), f"person{i}@example.ru", f"+7916{i:07d}")
        )
    for k, size in [(k, 2) for k in range(n_pairs)] + [(n_pairs + k, 3) for k in range(n_triples)]:
        first, last = rng.choice(FIRST), rng.choice(LAST)
        group = [len(rows) + j for j in range(size)]
        for j in range(size):
            email = f"dupe{k}@example.ru" if j != 1 else f"DUPE{k}@Example.ru"
            phone = (
                f"+7925{k:07d}"
                if j != 2
                else f"8 (925) {k:03d}-{0:02d}-{0:02d}"[:0] + f"8925{k:07d}"
            )
            rows.append(fields(first, last, email, phone, post=POSTS.get((k, j), "")))
        truth_dupes.append(group)
    for k in range(n_spouses):
        last = rng.choice(LAST)
        spouses.append([len(rows), len(rows) + 1])
        rows.append(fields("Анна", last, f"family{k}@example.ru", f"+7903{k:07d}"))
        rows.append(fields("Иван", last, f"family{k}@example.ru", f"+7904{k:07d}"))
    out = client.batch(
        {f"c{i}": ("crm.contact.add", {"fields": r}) for i, r in enumerate(rows)}
    ).raise_errors()
    ids = [out.result[f"c{i}"] for i in range(len(rows))]
    return ids, [[ids[i] for i in g] for g in truth_dupes], [[ids[i] for i in g] for g in spouses]


def test_scan_merges_every_confident_cluster_and_nothing_else(registered, redis):
    """2,180 contacts with 140 known clusters: all merged into the oldest; spouses kept apart; rerun is a no-op."""
    client = registered.client()
    ids, dupes, spouses = seed(client)
    registered.portal.control("DELETE", "/counters")
    began = time.monotonic()
    report = scan_contacts(client, redis, registered.member_id)
    seconds = time.monotonic() - began
    http = registered.portal.control("GET", "/counters").get("batch", 0) + 1
    print(f"\nscan: {report.contacts} contacts, {report.clusters} clusters, {report.merged_contacts} merged away, "
          f"{report.review} to review, ~{http} HTTP requests, {seconds:.1f} s")  # fmt: skip
    assert report.contacts == len(ids) == 2180
    alive = {int(r["ID"]) for r in client.list_all("crm.contact.list", {"select": ["ID"]})}
    for group in dupes:
        assert group[0] in alive and not set(group[1:]) & alive, group
    for pair in spouses:
        assert set(pair) <= alive, pair
    assert report.merged_contacts == sum(len(g) - 1 for g in dupes)
    survivor = registered.portal.result("crm.contact.get", {"id": dupes[0][0]})
    assert {e["VALUE"].lower() for e in survivor["EMAIL"]} == {"dupe0@example.ru"}
    comments = registered.portal.result("crm.timeline.comment.list", {"filter": {"ENTITY_ID": dupes[0][0],
                                                                                 "ENTITY_TYPE": "contact"}})  # fmt: skip
    assert survivor["POST"] == "Директор" and any("Бухгалтер" in c["COMMENT"] for c in comments)
    assert registered.portal.result("crm.contact.get", {"id": dupes[1][0]})["POST"] == "Учитель"
    registered.portal.control("DELETE", "/counters")
    again = scan_contacts(client, redis, registered.member_id)
    counters = registered.portal.control("GET", "/counters")
    assert again.merged_contacts == 0 and not [
        m for m in counters if m.endswith((".add", ".update", "mergeBatch"))
    ]


def test_dry_run_writes_nothing_and_not_a_duplicate_is_remembered(registered, redis):
    """--dry-run makes no write call; a pair marked «не дубликат» is never merged or queued again."""
    client = registered.client()
    ids, dupes, _ = seed(client, n_people=50, n_pairs=3, n_triples=0, n_spouses=0)
    registered.portal.control("DELETE", "/counters")
    report = scan_contacts(client, redis, registered.member_id, dry_run=True)
    counters = registered.portal.control("GET", "/counters")
    assert report.clusters == 3 and not [
        m for m in counters if m.endswith((".add", ".update", "mergeBatch"))
    ]
    mark_not_duplicate(redis, registered.member_id, *dupes[0])
    report = scan_contacts(client, redis, registered.member_id)
    alive = {int(r["ID"]) for r in client.list_all("crm.contact.list", {"select": ["ID"]})}
    assert set(dupes[0]) <= alive and report.merged_contacts == 2
