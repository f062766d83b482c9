"""An old integration's duplicate deals (a deal per status of one payment, seeds/001) merged into one.

Deals of one pipeline (ours by default) that share a key (our «ID в платёжном шлюзе» by default; an old
integration's own field when named) form a group. The oldest survives; its final stage is the most
advanced of the group by the precedence of the intake (Возврат > Успешно > Отказ > Начато; an old
pipeline's stage is read by its semantics and name). ``crm.entity.mergeBatch`` refuses two different
non-empty values of a field (bitrix24-rest.md §4.4), so the values the survivor does not keep are first
aligned on the others, and each dropped value goes into a timeline comment on the survivor. A group is
re-read right before it is merged, so a run interrupted and run again goes on where it stopped; a merged
group is one deal, so a second run proposes nothing.
"""

import csv
import io
import json
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field as dc_field

from redis import Redis

from .. import context
from ..bitrix import BitrixClient
from ..jobs import portal_job
from ..matching.merge import is_empty, oldest_first
from ..matching.report import language
from ..portals import portal_key
from ..queue import BULK, enqueue_once
from ..template.resolved import field, resolve
from . import PRECEDENCE, Status
from .intake import PIPELINE, STATUS_OF_STAGE, deal_key
from .rollup import donation_changed

DEAL = 2  # crm.entity.mergeBatch's entityTypeId of deals
KEPT = {
    "ID",
    "DATE_CREATE",
    "DATE_MODIFY",
    "CREATED_BY_ID",
    "MODIFY_BY_ID",
    "ASSIGNED_BY_ID",
    "MOVED_TIME",
    "MOVED_BY_ID",
    "LAST_ACTIVITY_TIME",
    "LAST_ACTIVITY_BY",
    "STAGE_ID",
    "STAGE_SEMANTIC_ID",
    "CATEGORY_ID",
    "CLOSED",
    "IS_NEW",
    "OPENED",
    "BEGINDATE",
    "CLOSEDATE",
    "OPPORTUNITY_ACCOUNT",
    "ACCOUNT_CURRENCY_ID",
    "PREVIOUS_STAGE_ID",
    "CONTACT_IDS",
    "COMPANY_IDS",
}  # fmt: skip  (bookkeeping: the survivor's own)
NAMES = {
    Status.STARTED: "Начато",
    Status.SUCCEEDED: "Успешно",
    Status.FAILED: "Отказ",
    Status.REFUNDED: "Возврат",
}
Progress = Callable[[int, int, str], None]


@dataclass
class Group:
    """Deals of one payment: the survivor, its final stage, and what the others hold that it will not."""

    key: str
    deals: list[dict]  # oldest first: the first survives
    status: Status
    stage: str
    keep: dict = dc_field(
        default_factory=dict
    )  # field → the value all will hold (no conflict left)
    dropped: list[tuple[int, str, str]] = dc_field(default_factory=list)  # (deal id, field, value)

    @property
    def survivor(self) -> int:
        return int(self.deals[0]["ID"])


class Finder:
    """The portal's deal groups in one pipeline by one key field."""

    def __init__(self, client: BitrixClient, redis: Redis, member_id: str, pipeline: int | None,
                 key_field: str | None):  # fmt: skip
        self.client, self.member_id = client, member_id
        self.resolved = resolve(context.registry().require(member_id), client, redis)
        self.ours = pipeline is None or pipeline == self.resolved.pipeline(PIPELINE)
        self.category = self.resolved.pipeline(PIPELINE) if pipeline is None else pipeline
        self.key_field = key_field or field("B24_PAYMENT_ID")
        self.statuses = self.stage_statuses()

    def stage_statuses(self) -> dict[str, Status]:
        """Each stage of the pipeline as a payment status: ours by code, another's by semantics and name."""
        entity = "DEAL_STAGE" if self.category == 0 else f"DEAL_STAGE_{self.category}"
        out = {}
        for row in self.client.call("crm.status.list", {"filter": {"ENTITY_ID": entity}}) or []:
            code, name = row["STATUS_ID"], str(row.get("NAME") or "").lower()
            if self.ours and code.partition(":")[2] in STATUS_OF_STAGE:
                out[code] = STATUS_OF_STAGE[code.partition(":")[2]]
            elif "возврат" in name or "refund" in name:
                out[code] = Status.REFUNDED
            else:
                out[code] = {"S": Status.SUCCEEDED, "F": Status.FAILED}.get(
                    row.get("SEMANTICS") or "", Status.STARTED
                )
        return out

    def read(self, key: str | None = None) -> list[dict]:
        flt = {
            "CATEGORY_ID": self.category,
            **({"=" + self.key_field: key} if key else {"!" + self.key_field: ""}),
        }
        return self.client.list_all("crm.deal.list", {"filter": flt, "select": ["*", "UF_*"]})

    def groups(self) -> list[Group]:
        by_key: dict[str, list[dict]] = defaultdict(list)
        for deal in self.read():
            if str(deal.get(self.key_field) or "").strip():
                by_key[str(deal[self.key_field]).strip()].append(deal)
        return [self.plan(key, deals) for key, deals in sorted(by_key.items()) if len(deals) > 1]

    def plan(self, key: str, deals: list[dict]) -> Group:
        deals = oldest_first(deals)
        best = max(
            deals, key=lambda d: PRECEDENCE[self.statuses.get(d["STAGE_ID"], Status.STARTED)]
        )
        group = Group(
            key, deals, self.statuses.get(best["STAGE_ID"], Status.STARTED), best["STAGE_ID"]
        )
        for deal in deals:
            for name, value in deal.items():
                if name in KEPT or isinstance(value, list | dict) or is_empty(value):
                    continue
                if name not in group.keep:
                    group.keep[name] = value
                elif str(group.keep[name]) != str(value):
                    group.dropped.append((int(deal["ID"]), name, str(value)))
        return group


def find_groups(client: BitrixClient, redis: Redis, member_id: str, pipeline: int | None = None,
                key_field: str | None = None) -> list[Group]:  # fmt: skip
    """The proposal: every group of deals sharing a key."""
    return Finder(client, redis, member_id, pipeline, key_field).groups()


def comment_text(group: Group, names: dict[str, str]) -> str:
    lines = [f"Объединены сделки платежа {group.key}: {', '.join(d['ID'] for d in group.deals)}. "
             f"Итоговый статус: {NAMES[group.status]} ({names.get(group.stage, group.stage)})."]  # fmt: skip
    if group.dropped:
        lines.append("Отброшенные значения:")
        lines += [f"сделка {deal_id}: {name} = {value}" for deal_id, name, value in group.dropped]
    return "\n".join(lines)


def merge_group(finder: Finder, redis: Redis, group: Group) -> bool:
    """One group merged after it is read again; False when mergeBatch refused (the reason logged)."""
    fresh = finder.read(group.key)
    if len(fresh) < 2:
        leave_comment(
            finder, redis, group.key
        )  # merged by an earlier run, maybe with its answer lost
        return True
    group = finder.plan(group.key, fresh)
    commands: dict[str, tuple[str, dict]] = {}
    survivor = group.deals[0]
    if survivor["STAGE_ID"] != group.stage:
        commands["stage"] = (
            "crm.deal.update",
            {"id": group.survivor, "fields": {"STAGE_ID": group.stage}},
        )
    for deal in group.deals:
        fields = {
            n: v
            for n, v in group.keep.items()
            if not is_empty(deal.get(n)) and str(deal.get(n)) != str(v)
        }
        if fields:
            commands[f"align{deal['ID']}"] = (
                "crm.deal.update",
                {"id": int(deal["ID"]), "fields": fields},
            )
    ids = [int(d["ID"]) for d in group.deals]
    commands["merge"] = (
        "crm.entity.mergeBatch",
        {"params": {"entityTypeId": DEAL, "entityIds": ids}},
    )
    names = {
        s["STATUS_ID"]: s["NAME"]
        for s in finder.client.call("crm.status.list", {"filter": {"STATUS_ID": group.stage}}) or []
    }
    # the dropped values live only in this comment: kept before the merge, so a lost answer keeps them
    pending = comment_key(finder.member_id, group.key)
    redis.set(
        pending,
        json.dumps({"key": group.key, "deal": group.survivor, "text": comment_text(group, names)}),
        ex=KEEP,
    )
    out = finder.client.batch(commands, halt=True)
    if out.errors or (out.result.get("merge") or {}).get("STATUS") != "SUCCESS":
        redis.delete(pending)
        return False
    leave_comment(finder, redis, group.key)
    if finder.ours:
        redis.delete(
            deal_key(finder.member_id, group.key)
        )  # the intake finds the survivor by its key
    donation_changed(redis, finder.member_id, group.keep.get("CONTACT_ID"))
    return True


def comment_key(member_id: str, key: str) -> str:
    return portal_key(member_id, "deal-merge", key, "comment")


def leave_comment(finder: Finder, redis: Redis, key: str) -> None:
    """The merge's pending comment on the survivor, unless its timeline already has it."""
    raw = redis.get(comment_key(finder.member_id, key))
    if raw is None:
        return
    pending = json.loads(raw)
    filter_ = {"ENTITY_TYPE": "deal", "ENTITY_ID": pending["deal"]}
    comments = finder.client.call("crm.timeline.comment.list", {"filter": filter_}) or []
    if not any(c.get("COMMENT") == pending["text"] for c in comments):
        finder.client.call(
            "crm.timeline.comment.add", {"fields": {**filter_, "COMMENT": pending["text"]}}
        )
    redis.delete(comment_key(finder.member_id, key))


def merge_groups(client: BitrixClient, redis: Redis, member_id: str, groups: list[Group],
                 pipeline: int | None = None, key_field: str | None = None,
                 progress: Progress | None = None) -> list[bool]:  # fmt: skip
    """Every group merged, one by one; whether each was."""
    finder = Finder(client, redis, member_id, pipeline, key_field)
    for raw in redis.scan_iter(
        comment_key(member_id, "*"), count=500
    ):  # earlier merges' answers lost
        leave_comment(finder, redis, json.loads(redis.get(raw) or "{}").get("key", ""))
    done = []
    for n, group in enumerate(groups, 1):
        done.append(merge_group(finder, redis, group))
        if progress:
            progress(n, len(groups), "групп / groups")
    return done


HEADERS = {"ru": ("Ключ", "Остаётся", "Сделки", "Итоговый статус", "Итоговая стадия", "Отброшенные значения"),
           "en": ("Key", "Survivor", "Deals", "Final status", "Final stage", "Dropped values")}  # fmt: skip


def report_csv(groups: list[Group], lang: str | None = "ru") -> str:
    """The proposal as CSV for Excel: UTF-8 with a BOM, ";", headers in the reader's language."""
    lang = language(lang)
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, delimiter=";")
    writer.writerow(HEADERS[lang])
    for g in groups:
        dropped = "; ".join(f"{d}: {n} = {v}" for d, n, v in g.dropped)
        status = NAMES[g.status] if lang == "ru" else g.status.value
        writer.writerow(
            [g.key, g.survivor, ", ".join(d["ID"] for d in g.deals), status, g.stage, dropped]
        )
    return out.getvalue()


# --- the app page's run: a proposal job, then «Объединить» as a resumable merge job ----------------

KEEP = 7 * 86400
SHOWN = 50


def run_key(member_id: str) -> str:
    return portal_key(member_id, "deal-duplicates")


def page_state(redis: Redis, member_id: str) -> dict:
    """The page's view: phase (proposing, proposed, merging, merged, failed), the groups, progress."""
    raw = redis.get(run_key(member_id))
    return json.loads(raw) if raw else {}


def save(redis: Redis, member_id: str, state: dict) -> None:
    redis.set(run_key(member_id), json.dumps(state, ensure_ascii=False), ex=KEEP)


def start(redis: Redis, member_id: str, phase: str) -> bool:
    """Queue the proposal (``proposing``) or the merge of the proposed groups (``merging``); False when
    the run is not in a state for it (a merge needs a proposal)."""
    state = page_state(redis, member_id)
    if phase == "merging" and state.get("phase") not in ("proposed", "merging"):
        return False
    save(redis, member_id, {**state, "phase": phase, "error": ""})
    job = proposal_job if phase == "proposing" else merge_job
    enqueue_once(redis, BULK, f"deal-duplicates-{phase}-{member_id}", job, member_id)
    return True


def as_row(group: Group) -> dict:
    return {"key": group.key, "survivor": group.survivor, "deals": [int(d["ID"]) for d in group.deals],
            "status": NAMES[group.status], "dropped": [list(d) for d in group.dropped]}  # fmt: skip


@portal_job
def proposal_job(member_id: str) -> str:
    """Job: the proposal of our pipeline's duplicate deals, kept for the page."""
    redis = context.redis()
    groups = find_groups(context.client(member_id), redis, member_id)
    save(redis, member_id, {"phase": "proposed", "groups": [as_row(g) for g in groups], "done": 0,
                            "merged": 0, "failed": 0})  # fmt: skip
    return f"{len(groups)} group(s) proposed"


@portal_job
def merge_job(member_id: str) -> str:
    """Job: the proposed groups merged one by one, the position kept after each, so that a retried job
    goes on where the last one stopped (each group is read again before it is merged anyway)."""
    redis, client = context.redis(), context.client(member_id)
    state = page_state(redis, member_id)
    finder = Finder(client, redis, member_id, None, None)
    rows = state.get("groups") or []
    while state["done"] < len(rows):
        row = rows[state["done"]]
        merged = merge_group(finder, redis, Group(row["key"], [], Status.STARTED, ""))
        state |= {
            "done": state["done"] + 1,
            "merged": state["merged"] + merged,
            "failed": state["failed"] + (not merged),
        }
        save(redis, member_id, state)
    save(redis, member_id, {**state, "phase": "merged"})
    return f"{state['merged']} group(s) merged, {state['failed']} refused"
