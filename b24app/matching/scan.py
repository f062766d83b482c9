"""Portal-wide duplicate clusters of contacts and companies, and the review queue (product.md C5).

The run that loads, clusters and merges in resumable steps is scanrun.py. Contact pairs come from the matcher's
index; company pairs from equal normalised titles (SAME when they also share an e-mail or a phone,
REVIEW otherwise) and from a shared e-mail or phone under different titles (REVIEW). SAME pairs are joined into clusters (union-find); a cluster is *confident*, and proposed
for merging into its oldest record, only when it has at most MAX_CLUSTER records and every pair inside it is SAME by
itself (a chain A≈B≈C with A, C judged apart is not). Other clusters and the REVIEW pairs between
clusters go to the review queue. Pairs remembered as "not a duplicate" are neither joined nor queued.

Redis (per portal): the review queue is a hash ``review`` of ``"{id}:{id}"`` (companies
``"company:{id}:{id}"``) → ``{"ids", "score", "reasons", "source", "entity"?}``, shared with the intake;
remembered decisions are the set ``dedup:not-duplicates`` of pair keys.
"""

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from itertools import combinations

from redis import Redis

from ..portals import portal_key
from .contacts import DEFAULT_REGION, normalise_email, normalise_phone, phones_in_region
from .index import PersonIndex
from .merge import oldest_first
from .score import Decision, Person, same_person

MAX_CLUSTER = (
    10  # longer SAME chains are what transitive closure makes of namesakes: a human decides
)
MAX_TITLE_BLOCK = 50
LEGAL_FORMS = re.compile(r"\b(ооо|оао|зао|пао|ао|ано|нко|ип|бф|llc|ltd|inc)\b")

Judge = Callable[[int, int], tuple[Decision, int, str]]


@dataclass
class Cluster:
    """Records found to be one person (or company): ``ids`` oldest first; merged only when confident."""

    entity: str
    ids: list[int]
    confident: bool
    score: int | None
    reasons: str

    @property
    def key(self) -> str:
        return pair_key(self.entity, *self.ids)


@dataclass
class ScanReport:
    """What a scan found and did; ``rows`` feed the CSV report."""

    contacts: int = 0
    companies: int = 0
    clusters: int = 0
    merged_clusters: int = 0
    merged_records: int = 0
    proposed: int = 0
    review: int = 0
    skipped: int = 0
    requests: int = 0
    seconds: float = 0.0
    rows: list[dict] = field(default_factory=list)


def person_of(record: dict, region: str = DEFAULT_REGION) -> Person:
    """The matcher's view of a contact record (local phones read as ``region``'s)."""
    person = Person(record.get("NAME") or "", record.get("LAST_NAME") or "", record.get("SECOND_NAME") or "",
                    tuple(m["VALUE"] for m in record.get("EMAIL") or []),
                    tuple(m["VALUE"] for m in record.get("PHONE") or []), id=str(record["ID"]))  # fmt: skip
    return phones_in_region(person, region)


def contact_clusters(
    records: dict[int, dict], skip: set[str], region: str = DEFAULT_REGION
) -> list[Cluster]:
    """Contact clusters, confident or not, and the REVIEW pairs between them."""
    people = {i: person_of(r, region) for i, r in records.items()}
    index = PersonIndex(people.values())
    pairs = [
        (int(a.id), int(b.id), v.decision, v.score, v.reasons)
        for a, b, v in index.duplicate_pairs()
    ]

    def judge(x: int, y: int) -> tuple[Decision, int, str]:
        verdict = same_person(people[x], people[y])
        return verdict.decision, verdict.score, verdict.reasons

    return build_clusters("contact", records, pairs, skip, judge)


def company_title(record: dict) -> str:
    """A title compared without case, quotes, punctuation or the legal form: «ООО "Ромашка"» = ромашка."""
    text = (record.get("TITLE") or "").casefold().replace("ё", "е")
    text = LEGAL_FORMS.sub(" ", re.sub(r"[^\w\s]", " ", text))
    return " ".join(text.split())


def company_contacts(record: dict, region: str = DEFAULT_REGION) -> set[str]:
    emails = {normalise_email(m["VALUE"]) for m in record.get("EMAIL") or []}
    phones = {normalise_phone(m["VALUE"], region) for m in record.get("PHONE") or []}
    return (emails | phones) - {None}


def company_clusters(
    records: dict[int, dict], skip: set[str], region: str = DEFAULT_REGION
) -> list[Cluster]:
    """Companies with one normalised title: SAME when they also share an e-mail or phone, else REVIEW;
    companies sharing an e-mail or phone under different titles: REVIEW."""
    blocks: dict[str, list[int]] = {}
    contacts = {i: company_contacts(r, region) for i, r in records.items()}
    for i, record in records.items():
        keys = {f"t:{title}"} if (title := company_title(record)) else set()
        for key in keys | {f"c:{c}" for c in contacts[i]}:
            blocks.setdefault(key, []).append(i)

    def judge(x: int, y: int) -> tuple[Decision, int, str]:
        shared = contacts[x] & contacts[y]
        if company_title(records[x]) != company_title(records[y]):
            titles = f"«{records[x].get('TITLE')}» / «{records[y].get('TITLE')}»"
            return Decision.REVIEW, 12, f"contact_same ({min(shared)}); titles differ: {titles}"
        if shared:
            return Decision.SAME, 20, f"title_same; contact_same ({min(shared)})"
        return Decision.REVIEW, 12, "title_same; no shared e-mail or phone"

    pairs = {
        (x, y)
        for ids in blocks.values()
        if len(ids) <= MAX_TITLE_BLOCK
        for x, y in combinations(ids, 2)
    }
    return build_clusters(
        "company", records, [(x, y, *judge(x, y)) for x, y in sorted(pairs)], skip, judge
    )


def build_clusters(entity: str, records: dict[int, dict], pairs: Iterable[tuple], skip: set[str],
                   judge: Judge) -> list[Cluster]:  # fmt: skip
    """SAME pairs joined (union-find) and judged as clusters; REVIEW pairs between clusters as their own."""
    pairs = [p for p in pairs if pair_key(entity, p[0], p[1]) not in skip]
    parent = {i: i for i in records}

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for x, y, decision, *_ in pairs:
        if decision is Decision.SAME:
            parent[root(max(x, y))] = root(min(x, y))
    groups: dict[int, list[int]] = {}
    for i in records:
        groups.setdefault(root(i), []).append(i)
    ids_of = [
        [int(r["ID"]) for r in oldest_first([records[i] for i in g])]
        for g in groups.values()
        if len(g) > 1
    ]
    clusters = [judge_cluster(entity, ids, skip, judge) for ids in ids_of]
    return clusters + review_pairs(entity, pairs, clusters, skip, root)


def judge_cluster(entity: str, ids: list[int], skip: set[str], judge: Judge) -> Cluster:
    """Confident when small and every pair inside is SAME; the weakest pair explains the verdict."""
    if len(ids) > MAX_CLUSTER:
        return Cluster(
            entity, ids, False, None, f"{len(ids)} records linked in a chain (> {MAX_CLUSTER})"
        )
    worst = None
    for x, y in combinations(ids, 2):
        if pair_key(entity, x, y) in skip:
            return Cluster(entity, ids, False, None, f"#{x}–#{y} remembered as not a duplicate")
        decision, score, reasons = judge(x, y)
        rank = (decision is Decision.SAME, score)
        if worst is None or rank < worst[0]:
            worst = (rank, x, y, score, reasons)
    (same, _), x, y, score, reasons = worst
    return Cluster(entity, ids, same, score, f"#{x}–#{y}: {reasons}")


def review_pairs(entity: str, pairs: list[tuple], clusters: list[Cluster], skip: set[str],
                 root: Callable[[int], int]) -> list[Cluster]:  # fmt: skip
    """REVIEW pairs across clusters, each side named by its cluster's survivor; pairs inside one cluster
    are the cluster's own business."""
    survivor = {i: c.ids[0] for c in clusters if c.confident for i in c.ids}
    out: dict[str, Cluster] = {}
    for x, y, decision, score, reasons in pairs:
        if decision is not Decision.REVIEW or root(x) == root(y):
            continue
        ids = sorted({survivor.get(x, x), survivor.get(y, y)})
        key = pair_key(entity, *ids)
        if key not in skip and key not in out:
            out[key] = Cluster(entity, ids, False, score, reasons)
    return list(out.values())


def fill_report(report: ScanReport, confident: list[Cluster], results: list[dict],
                review: list[Cluster], skipped: list[dict]) -> None:  # fmt: skip
    """Figures and CSV rows, one per cluster or pair: merged (or "proposed" in a run that only proposes,
    which has no results), review, skipped. ``results`` hold ``n`` (the cluster's position), ``ids``,
    ``status``."""
    merged = [r for r in results if r["status"] == "SUCCESS"]
    gone = [r for r in results if r["status"] == "GONE"]
    if results or not confident:
        done = [row(replace(confident[r["n"]], ids=r["ids"]), "merged") for r in merged]
    else:
        done = [row(c, "proposed") for c in confident]
    gone_rows = [row(replace(confident[r["n"]], reasons=r["reason"]), "skipped") for r in gone]
    report.clusters = len(done) + len(review)  # failed merges are in review
    report.proposed = 0 if results else len(confident)
    report.merged_clusters = len(merged)
    report.merged_records = sum(len(r["ids"]) - 1 for r in merged)
    report.review, report.skipped = len(review), len(skipped) + len(gone)
    report.rows = done + [row(c, "review") for c in review] + gone_rows + skipped
    for n, r in enumerate(report.rows, 1):
        r["cluster"] = n


def row(c: Cluster, action: str) -> dict:
    return {"cluster": 0, "entity": c.entity, "ids": " ".join(map(str, c.ids)), "survivor": c.ids[0],
            "action": action, "score": "" if c.score is None else c.score, "reasons": c.reasons}  # fmt: skip


def skip_rows(skip: set[str]) -> list[dict]:
    """Remembered pairs, reported as skipped."""
    out = []
    for key in sorted(skip):
        *entity, x, y = key.split(":")
        out.append({"cluster": 0, "entity": entity[0] if entity else "contact", "ids": f"{x} {y}",
                    "survivor": "", "action": "skipped", "score": "",
                    "reasons": "не дубликат (решение сохранено) / remembered: not a duplicate"})  # fmt: skip
    return out


# --- the review queue and remembered decisions -------------------------------------------------------


def pair_key(entity: str, *ids: int) -> str:
    """The queue's and the memory's key for records of one entity: "12:34" for contacts (as the intake
    writes), "company:12:34" for companies."""
    key = ":".join(map(str, sorted(int(i) for i in ids)))
    return key if entity == "contact" else f"{entity}:{key}"


def not_duplicates(redis: Redis, member_id: str) -> set[str]:
    """The pair keys remembered as "not a duplicate"."""
    return {m.decode() for m in redis.smembers(portal_key(member_id, "dedup", "not-duplicates"))}


def review_entries(redis: Redis, member_id: str) -> dict[str, dict]:
    """The review queue: key → {ids, score, reasons, source, entity}, oldest contacts first."""
    raw = redis.hgetall(portal_key(member_id, "review"))
    entries = {
        k.decode(): {"entity": "contact", "score": None, **json.loads(v)} for k, v in raw.items()
    }
    return dict(sorted(entries.items(), key=lambda kv: sorted(kv[1]["ids"])))


def mark_not_duplicate(
    redis: Redis, member_id: str, ids: Iterable[int], entity: str = "contact"
) -> None:
    """Remember that these records are different people (every pair of them); later scans respect it."""
    ids = sorted(set(map(int, ids)))
    pairs = [pair_key(entity, x, y) for x, y in combinations(ids, 2)]
    redis.sadd(portal_key(member_id, "dedup", "not-duplicates"), *pairs)
    redis.hdel(portal_key(member_id, "review"), pair_key(entity, *ids), *pairs)
