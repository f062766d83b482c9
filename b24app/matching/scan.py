"""Portal-wide duplicate scan and merge of contacts (product.md C5; bitrix24-rest.md §4.4).

Contacts are loaded by the ID fast pattern, indexed, and linked into clusters by SAME verdicts only;
pairs judged REVIEW go to the review queue. ``crm.entity.mergeBatch`` refuses conflicting values and has
no force flag, so each cluster is prepared first: the survivor (the oldest contact) gets the losers'
values where it has blanks and their e-mails and phones it lacks; where a loser holds a different value,
the loser takes the survivor's value and the loser's own goes into one timeline comment on the survivor.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass, field

from redis import Redis

from ..bitrix import BitrixClient
from ..portals import portal_key
from .contacts import normalise_email, normalise_phone
from .index import PersonIndex
from .score import Decision, Person

SYSTEM = {"ID", "DATE_CREATE", "DATE_MODIFY", "CREATED_BY_ID", "MODIFY_BY_ID", "ASSIGNED_BY_ID", "HAS_PHONE",
          "HAS_EMAIL", "HAS_IMOL", "OPENED", "EXPORT", "LAST_ACTIVITY_TIME", "LAST_ACTIVITY_BY", "TYPE_ID",
          "SOURCE_ID", "COMPANY_ID", "LEAD_ID"}  # fmt: skip
MULTI = {"EMAIL": normalise_email, "PHONE": normalise_phone}


@dataclass
class ScanReport:
    """What a scan found and did; ``rows`` feed the CSV report."""

    contacts: int = 0
    clusters: int = 0
    merged_clusters: int = 0
    merged_contacts: int = 0
    review: int = 0
    writes: int = 0
    rows: list[dict] = field(default_factory=list)


def scan_contacts(client: BitrixClient, redis: Redis, member_id: str, *, dry_run: bool = False,
                  progress: Callable[[str], None] | None = None) -> ScanReport:  # fmt: skip
    """Find duplicate clusters, merge the confident ones (unless ``dry_run``), queue the rest for review."""
    records = {
        int(r["ID"]): r
        for r in client.list_all("crm.contact.list", {"select": ["*", "UF_*", "EMAIL", "PHONE"]})
    }
    report = ScanReport(contacts=len(records))
    if progress:
        progress(f"{len(records)} contacts loaded")
    not_dupes = {
        m.decode() for m in redis.smembers(portal_key(member_id, "dedup", "not-duplicates"))
    }
    clusters, review = cluster(records, not_dupes)
    report.clusters = len(clusters)
    commands: dict[str, tuple[str, dict]] = {}
    for n, ids in enumerate(clusters):
        commands |= merge_commands(n, [records[i] for i in ids])
        report.rows.append({"cluster": n, "ids": " ".join(map(str, ids)), "survivor": ids[0], "action": "merge",
                            "reasons": ""})  # fmt: skip
    for a, b, reasons in review:
        redis.hset(portal_key(member_id, "review"), f"{a}:{b}",
                   json.dumps({"ids": [a, b], "reasons": reasons, "source": "scan"}, ensure_ascii=False))  # fmt: skip
        report.rows.append(
            {
                "cluster": "",
                "ids": f"{a} {b}",
                "survivor": "",
                "action": "review",
                "reasons": reasons,
            }
        )
    report.review = len(review)
    if dry_run or not commands:
        return report
    report.writes = len(commands)
    out = client.batch(commands)
    for n, ids in enumerate(clusters):
        result = out.result.get(f"merge{n}") or {}
        if f"merge{n}" in out.errors or result.get("STATUS") != "SUCCESS":
            report.rows[n]["action"] = (
                f"review ({result.get('STATUS') or out.errors.get(f'merge{n}')})"
            )
            continue
        report.merged_clusters += 1
        report.merged_contacts += len(ids) - 1
        report.rows[n]["action"] = "merged"
    return report


def cluster(
    records: dict[int, dict], not_dupes: set[str]
) -> tuple[list[list[int]], list[tuple[int, int, str]]]:
    """Clusters joined by SAME verdicts (sorted ids, oldest first) and the REVIEW pairs outside them."""
    index = PersonIndex(person_of(r) for r in records.values())
    parent = {i: i for i in records}

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    review = []
    for a, b, verdict in index.duplicate_pairs(at_least=Decision.REVIEW):
        x, y = sorted((int(a.id), int(b.id)))
        if f"{x}:{y}" in not_dupes:
            continue
        if verdict.decision == Decision.SAME:
            parent[root(y)] = root(x)
        else:
            review.append((x, y, verdict.reasons))
    groups: dict[int, list[int]] = {}
    for i in records:
        groups.setdefault(root(i), []).append(i)
    clusters = sorted(sorted(g) for g in groups.values() if len(g) > 1)
    return clusters, [(x, y, r) for x, y, r in review if root(x) != root(y)]


def person_of(record: dict) -> Person:
    return Person(record.get("NAME", ""), record.get("LAST_NAME", ""), record.get("SECOND_NAME", ""),
                  tuple(m["VALUE"] for m in record.get("EMAIL") or []),
                  tuple(m["VALUE"] for m in record.get("PHONE") or []), id=str(record["ID"]))  # fmt: skip


def merge_commands(n: int, group: list[dict]) -> dict[str, tuple[str, dict]]:
    """Updates that remove every conflict, a timeline comment with the dropped values, then mergeBatch."""
    survivor, losers = group[0], group[1:]
    fill: dict = {}
    notes: list[str] = []
    cmds: dict[str, tuple[str, dict]] = {}
    for loser in losers:
        align: dict = {}
        for key, value in loser.items():
            if key in SYSTEM or key in MULTI or not isinstance(value, str) or not value:
                continue
            mine = fill.get(key, survivor.get(key) or "")
            if not mine:
                fill[key] = value
            elif mine != value:
                align[key] = mine
                notes.append(f"{key}: «{value}» (контакт #{loser['ID']})")
        if align:
            cmds[f"align{n}_{loser['ID']}"] = (
                "crm.contact.update",
                {"id": loser["ID"], "fields": align},
            )
    fill |= new_multifields(survivor, losers)
    if fill:
        cmds[f"fill{n}"] = ("crm.contact.update", {"id": survivor["ID"], "fields": fill})
    if notes:
        text = (f"Объединено с контактами {', '.join('#' + str(r['ID']) for r in losers)}. Отличались значения: "
                + "; ".join(notes) + " / Merged; the merged contacts' differing values are listed above.")  # fmt: skip
        cmds[f"note{n}"] = ("crm.timeline.comment.add", {"fields": {"ENTITY_ID": survivor["ID"],
                                                                   "ENTITY_TYPE": "contact", "COMMENT": text}})  # fmt: skip
    ids = [int(r["ID"]) for r in group]
    cmds[f"merge{n}"] = ("crm.entity.mergeBatch", {"params": {"entityTypeId": 3, "entityIds": ids}})
    return cmds


def new_multifields(survivor: dict, losers: list[dict]) -> dict:
    """The losers' e-mails and phones the survivor lacks (compared normalised), as items to append."""
    out: dict = {}
    for name, norm in MULTI.items():
        have = {norm(m["VALUE"]) or m["VALUE"] for m in survivor.get(name) or []}
        extra = []
        for loser in losers:
            for m in loser.get(name) or []:
                key = norm(m["VALUE"]) or m["VALUE"]
                if key not in have:
                    have.add(key)
                    extra.append({"VALUE": m["VALUE"], "VALUE_TYPE": m.get("VALUE_TYPE", "WORK")})
        if extra:
            out[name] = extra
    return out


def mark_not_duplicate(redis: Redis, member_id: str, a: int, b: int) -> None:
    """Remember that two contacts are different people; later scans skip the pair."""
    x, y = sorted((a, b))
    redis.sadd(portal_key(member_id, "dedup", "not-duplicates"), f"{x}:{y}")
    redis.hdel(portal_key(member_id, "review"), f"{x}:{y}")
