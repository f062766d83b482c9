"""What a scan proposes to merge, and the figures a merge updates (product.md C5: a person merges).

A scan that proposes keeps, per confident cluster, a group: the record that will survive, what the merge
will fill in on it, the timeline comment it will write, and each record in brief with the path of its
card (``BX24.openPath``). A merge run settles groups: merged or gone ones leave the proposal and the
review queue, and the last report's rows and figures say what happened.

Redis (per portal, under ``dedup``): ``proposal`` {"run", "finished", "groups": [...]} of the last scan
that proposed; ``report`` the last report (scanrun.py), updated in place by every merge run.
"""

import json

from redis import Redis

from ..portals import portal_key
from .merge import LABELS, fill_pairs, merged_text, plan_merge
from .scan import Cluster, row

PATHS = {"contact": "/crm/contact/details/{}/", "company": "/crm/company/details/{}/"}
SETTLED = ("SUCCESS", "GONE")


def proposal_key(member_id: str) -> str:
    return portal_key(member_id, "dedup", "proposal")


def report_key(member_id: str) -> str:
    return portal_key(member_id, "dedup", "report")


def group_of(cluster: Cluster, records: list[dict], region: str) -> dict:
    """A proposed merge as the page shows it, planned on the records as they are now."""
    plan = plan_merge(records, cluster.entity, region)
    by_id = {int(r["ID"]): r for r in records}
    return {"key": cluster.key, "entity": cluster.entity, "ids": plan.ids, "survivor": plan.survivor,
            "score": cluster.score, "reasons": cluster.reasons,
            "fill": [(LABELS.get(k, k), v) for k, v in fill_pairs(plan)], "comment": merged_text(plan),
            "records": [brief(cluster.entity, by_id[i]) for i in plan.ids]}  # fmt: skip


def brief(entity: str, record: dict) -> dict:
    """A record in a line: id, name or title, e-mails, phones, and the path of its card."""
    if entity == "company":
        name = record.get("TITLE") or ""
    else:
        name = " ".join(filter(None, (record.get(k) for k in ("LAST_NAME", "NAME", "SECOND_NAME"))))
    return {"id": int(record["ID"]), "name": name, "path": PATHS[entity].format(int(record["ID"])),
            "emails": [m.get("VALUE", "") for m in record.get("EMAIL") or []],
            "phones": [m.get("VALUE", "") for m in record.get("PHONE") or []]}  # fmt: skip


def groups(redis: Redis, member_id: str) -> list[dict]:
    """The groups of the last proposal still waiting for a person."""
    raw = redis.get(proposal_key(member_id))
    return json.loads(raw)["groups"] if raw else []


def chosen(redis: Redis, member_id: str, keys: list[str] | None) -> list[Cluster]:
    """The proposal's groups named by ``keys`` (all of them for None) as clusters to merge; keys that
    name no group are ignored."""
    wanted = None if keys is None else set(keys)
    return [Cluster(g["entity"], g["ids"], True, g["score"], g["reasons"])
            for g in groups(redis, member_id) if wanted is None or g["key"] in wanted]  # fmt: skip


def figures(redis: Redis, member_id: str) -> dict:
    """The page's summary: groups proposed, pairs to review, and what was merged since the last scan."""
    raw = redis.get(report_key(member_id))
    report = json.loads(raw) if raw else {}
    return {"proposed": len(groups(redis, member_id)), "review": redis.hlen(portal_key(member_id, "review")),
            "merged_clusters": report.get("merged_clusters", 0),
            "merged_records": report.get("merged_records", 0)}  # fmt: skip


def settle_updates(redis: Redis, member_id: str, clusters: list[Cluster], results: list[dict],
                   lost_rows: list[dict]) -> list[tuple]:  # fmt: skip
    """Redis writes of a finished merge run: merged and gone groups out of the proposal and the review
    queue; the last report's rows and figures updated (a report is started when there is none)."""
    settled = {clusters[r["n"]].key: r for r in results if r["status"] in SETTLED}
    updates: list[tuple] = []
    if settled:
        updates.append(("hdel", portal_key(member_id, "review"), *settled))
    raw = redis.get(proposal_key(member_id))
    if raw:
        proposal = json.loads(raw)
        proposal["groups"] = [g for g in proposal["groups"] if g["key"] not in settled]
        updates.append(("set", proposal_key(member_id), json.dumps(proposal, ensure_ascii=False)))
    report = updated_report(redis, member_id, clusters, results, lost_rows)
    return [*updates, ("set", report_key(member_id), json.dumps(report, ensure_ascii=False))]


def updated_report(redis: Redis, member_id: str, clusters: list[Cluster], results: list[dict],
                   lost_rows: list[dict]) -> dict:  # fmt: skip
    """The last report with each result's row marked merged (or skipped, when its records are gone)."""
    raw = redis.get(report_key(member_id))
    report = json.loads(raw) if raw else {"rows": []}
    rows = {(r.get("entity"), r.get("ids")): r for r in report["rows"]}
    for result in results:
        cluster = clusters[result["n"]]
        action = {"SUCCESS": "merged", "GONE": "skipped"}.get(result["status"], "review")
        done = row(cluster, action)
        if result["status"] == "SUCCESS":
            done["ids"] = " ".join(map(str, result["ids"]))
            report["merged_clusters"] = report.get("merged_clusters", 0) + 1
            report["merged_records"] = report.get("merged_records", 0) + len(result["ids"]) - 1
        else:
            done["reasons"] = f"{result['status']}: {result['reason']}"
        rows[(cluster.entity, " ".join(map(str, cluster.ids)))] = done
    report["rows"] = [*rows.values(), *lost_rows]
    for n, r in enumerate(report["rows"], 1):
        r["cluster"] = n
    return report
