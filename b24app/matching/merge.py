"""The merge planner: a cluster made mergeable, then merged with ``crm.entity.mergeBatch`` (bitrix24-rest.md §4.4).

mergeBatch keeps the first id, refuses (CONFLICT) when two records hold different non-empty scalar values
and has no force flag. So before it runs: the survivor gets the losers' values where it has blanks and
every e-mail and phone it lacks (compared normalised, appended without ``ID``, §4.1); each loser takes the
survivor's value where it held another one, and gives up its e-mails and phones (the survivor has them
now, and mergeBatch's own union would bring back variants such as ``I.Vanov@gmail.com``). Every merge
leaves one timeline comment on the survivor: the records merged into it, the blanks they filled and the
values they gave up (a failed merge leaves the given-up values on the losers).
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial

from ..bitrix import BATCH_MAX, BitrixClient, OperationTimeLimited
from .contacts import DEFAULT_REGION, normalise_email, normalise_phone

ENTITY_TYPE_ID = {"contact": 3, "company": 4}
SYSTEM = {"ID", "DATE_CREATE", "DATE_MODIFY", "CREATED_BY_ID", "MODIFY_BY_ID", "ASSIGNED_BY_ID", "HAS_PHONE",
          "HAS_EMAIL", "HAS_IMOL", "OPENED", "EXPORT", "LAST_ACTIVITY_TIME", "LAST_ACTIVITY_BY", "COMPANY_ID",
          "CONTACT_ID", "LEAD_ID", "WEB", "IM", "LINK"}  # fmt: skip
MULTI: dict[str, Callable[[str], str | None]] = {"EMAIL": normalise_email, "PHONE": normalise_phone}
LABELS = {"NAME": "Имя", "LAST_NAME": "Фамилия", "SECOND_NAME": "Отчество", "POST": "Должность",
          "TITLE": "Название", "COMMENTS": "Комментарий", "BIRTHDATE": "Дата рождения", "ADDRESS": "Адрес",
          "SOURCE_ID": "Источник", "TYPE_ID": "Тип", "EMAIL": "E-mail", "PHONE": "Телефон"}  # fmt: skip
NOUN = {"contact": "контактом", "company": "компанией"}


@dataclass
class MergePlan:
    """What to write so that mergeBatch sees no conflict; ``given_up`` lists each loser's dropped values."""

    entity: str
    survivor: int
    losers: list[int]
    fill: dict = field(default_factory=dict)
    align: dict[int, dict] = field(default_factory=dict)
    given_up: dict[int, list[tuple[str, str]]] = field(default_factory=dict)

    @property
    def ids(self) -> list[int]:
        return [self.survivor, *self.losers]


@dataclass
class MergeResult:
    """How a merge ended: ``status`` is mergeBatch's (SUCCESS / CONFLICT / ERROR …) or the REST error code."""

    plan: MergePlan
    status: str
    reason: str = ""

    @property
    def merged(self) -> bool:
        return self.status == "SUCCESS"


def oldest_first(records: list[dict]) -> list[dict]:
    """Records by creation time, then id: the first one survives."""
    return sorted(records, key=lambda r: (created(r), int(r["ID"])))


def created(record: dict) -> float:
    try:
        return datetime.fromisoformat(record.get("DATE_CREATE") or "").timestamp()
    except ValueError:
        return float("inf")


def is_empty(value) -> bool:
    """Empty as mergeBatch sees it: blank, null, an empty list or a zero number."""
    if value in (None, "", [], {}):
        return True
    try:
        return float(value) == 0
    except (TypeError, ValueError):
        return False


def plan_merge(
    records: list[dict], entity: str = "contact", region: str = DEFAULT_REGION
) -> MergePlan:
    """The plan for merging these records into the oldest one (local phones read as ``region``'s)."""
    survivor, *losers = oldest_first(records)
    plan = MergePlan(entity, int(survivor["ID"]), [int(r["ID"]) for r in losers])
    plan_scalars(plan, survivor, losers)
    plan_multifields(plan, survivor, losers, region)
    return plan


def plan_scalars(plan: MergePlan, survivor: dict, losers: list[dict]) -> None:
    """Blanks filled on the survivor; a loser's differing value replaced by the survivor's and kept aside."""
    for loser in losers:
        lid = int(loser["ID"])
        for key, value in loser.items():
            if key in SYSTEM or key in MULTI or isinstance(value, list | dict) or is_empty(value):
                continue
            mine = plan.fill.get(key, survivor.get(key))
            if is_empty(mine):
                plan.fill[key] = value
            elif str(mine) != str(value):
                plan.align.setdefault(lid, {})[key] = mine
                plan.given_up.setdefault(lid, []).append((key, str(value)))


def plan_multifields(
    plan: MergePlan, survivor: dict, losers: list[dict], region: str = DEFAULT_REGION
) -> None:
    """The losers' e-mails and phones appended to the survivor once each; removed from the losers."""
    for name, norm in {**MULTI, "PHONE": partial(normalise_phone, region=region)}.items():
        have = {norm(m["VALUE"]) or m["VALUE"] for m in survivor.get(name) or []}
        extra = []
        for loser in losers:
            items = loser.get(name) or []
            for m in items:
                if (key := norm(m["VALUE"]) or m["VALUE"]) not in have:
                    have.add(key)
                    extra.append({"VALUE": m["VALUE"], "VALUE_TYPE": m.get("VALUE_TYPE") or "WORK"})
            if items:
                drop = [{"ID": m["ID"], "DELETE": "Y"} for m in items if m.get("ID")]
                plan.align.setdefault(int(loser["ID"]), {})[name] = drop
        if extra:
            plan.fill[name] = extra


def write_commands(plan: MergePlan, tag: str) -> dict[str, tuple[str, dict]]:
    """Batch commands: fill the survivor, align the losers, then mergeBatch (survivor first)."""
    method = f"crm.{plan.entity}.update"
    cmds: dict[str, tuple[str, dict]] = {}
    if plan.fill:
        cmds[f"{tag}_fill"] = (method, {"id": plan.survivor, "fields": plan.fill})
    for lid, fields in plan.align.items():
        cmds[f"{tag}_align{lid}"] = (method, {"id": lid, "fields": fields})
    params = {"entityTypeId": ENTITY_TYPE_ID[plan.entity], "entityIds": plan.ids}
    cmds[f"{tag}_merge"] = ("crm.entity.mergeBatch", {"params": params})
    return cmds


def comment_commands(result: MergeResult, tag: str) -> dict[str, tuple[str, dict]]:
    """The timeline comment keeping the values the losers gave up: on the survivor, or on each loser if
    the merge failed (their fields were already aligned)."""
    plan = result.plan
    if result.merged:
        return {f"{tag}_note": comment(plan.entity, plan.survivor, merged_text(plan))}
    if not plan.given_up:
        return {}
    return {f"{tag}_note{lid}": comment(plan.entity, lid, failed_text(plan, lid, result.reason))
            for lid in plan.given_up}  # fmt: skip


def comment(entity: str, entity_id: int, text: str) -> tuple[str, dict]:
    fields = {"ENTITY_ID": entity_id, "ENTITY_TYPE": entity, "COMMENT": text}
    return "crm.timeline.comment.add", {"fields": fields}


def values_text(pairs: list[tuple[str, str]]) -> str:
    return "; ".join(f"{LABELS.get(key, key)}: «{value}»" for key, value in pairs)


def merged_text(plan: MergePlan) -> str:
    """What the survivor's timeline keeps: which records were merged into it, the blanks they filled,
    «Объединено с контактом #N: было …» for every loser that gave up a value, then a line in English."""
    merged = ", ".join(f"#{lid}" for lid in plan.losers)
    lines = [f"Blago24: объединено с дубликатами ({merged})."]
    if filled := fill_pairs(plan):
        lines.append(f"Заполнено: {values_text(filled)}")
    lines += [f"Объединено с {NOUN[plan.entity]} #{lid}: было {values_text(pairs)}"
              for lid, pairs in plan.given_up.items()]  # fmt: skip
    return (
        "\n".join(lines)
        + f"\nMerged with {merged}; filled blanks and differing values are listed above."
    )


def fill_pairs(plan: MergePlan) -> list[tuple[str, str]]:
    """(field, value) of what the merge fills in on the survivor, e-mails and phones one by one."""
    out = []
    for key, value in plan.fill.items():
        values = [m["VALUE"] for m in value] if key in MULTI else [value]
        out += [(key, str(v)) for v in values]
    return out


def failed_text(plan: MergePlan, lid: int, reason: str) -> str:
    return (f"Подготовка к объединению с #{plan.survivor} (не выполнено: {reason}); было "
            f"{values_text(plan.given_up[lid])}. Merge with #{plan.survivor} failed; old values above.")  # fmt: skip


def merge_plans(client: BitrixClient, plans: list[MergePlan]) -> list[MergeResult]:
    """Run the plans and then write their comments (see run_merges and note_commands)."""
    results = run_merges(client, plans)
    if notes := note_commands(results):
        client.batch(notes)
    return results


def run_merges(client: BitrixClient, plans: list[MergePlan]) -> list[MergeResult]:
    """The plans' writes and merges, in batches of whole clusters (write_requests of them)."""
    results: list[MergeResult] = []
    for chunk in batch_sized(plans):
        cmds: dict[str, tuple[str, dict]] = {}
        for n, plan in enumerate(chunk, len(results)):
            cmds |= write_commands(plan, f"m{n}")
        out = client.batch(cmds, idempotent=False)  # appended e-mails would be appended twice
        if limited := [e for e in out.errors.values() if isinstance(e, OperationTimeLimited)]:
            raise limited[
                0
            ]  # the portal refused commands for now, not for good: the step repeats later
        results += [result_of(plan, f"m{n}", out) for n, plan in enumerate(chunk, len(results))]
    return results


def write_requests(plans: list[MergePlan]) -> int:
    """How many batch requests run_merges sends for these plans."""
    return len(batch_sized(plans))


def note_commands(results: list[MergeResult]) -> dict[str, tuple[str, dict]]:
    """Every result's timeline comment, as batch commands."""
    notes: dict[str, tuple[str, dict]] = {}
    for n, result in enumerate(results):
        notes |= comment_commands(result, f"m{n}")
    return notes


def without_done_fill(plan: MergePlan, survivor: dict) -> MergePlan:
    """The plan with the fill the survivor already holds left out (a repeated step must not append an
    e-mail or phone twice)."""
    fill = {}
    for key, value in plan.fill.items():
        if key in MULTI:
            have = {MULTI[key](m["VALUE"]) or m["VALUE"] for m in survivor.get(key) or []}
            value = [m for m in value if (MULTI[key](m["VALUE"]) or m["VALUE"]) not in have]
            if value:
                fill[key] = value
        elif is_empty(survivor.get(key)):
            fill[key] = value
    return MergePlan(plan.entity, plan.survivor, plan.losers, fill, plan.align, plan.given_up)


def plan_to_dict(plan: MergePlan) -> dict:
    """A plan as JSON-ready data (kept between a job's steps)."""
    return {"entity": plan.entity, "survivor": plan.survivor, "losers": plan.losers, "fill": plan.fill,
            "align": {str(k): v for k, v in plan.align.items()},
            "given_up": {str(k): v for k, v in plan.given_up.items()}}  # fmt: skip


def plan_from_dict(data: dict) -> MergePlan:
    """The plan plan_to_dict described."""
    return MergePlan(data["entity"], data["survivor"], list(data["losers"]), data["fill"],
                     {int(k): v for k, v in data["align"].items()},
                     {int(k): [tuple(p) for p in v] for k, v in data["given_up"].items()})  # fmt: skip


def batch_sized(plans: list[MergePlan], size: int = BATCH_MAX) -> list[list[MergePlan]]:
    """Consecutive plans grouped so each group's commands fit one batch request (when they can)."""
    chunks: list[list[MergePlan]] = [[]]
    used = 0
    for plan in plans:
        n = len(write_commands(plan, "x"))
        if chunks[-1] and used + n > size:
            chunks.append([])
            used = 0
        chunks[-1].append(plan)
        used += n
    return [c for c in chunks if c]


def result_of(plan: MergePlan, tag: str, out) -> MergeResult:
    """The mergeBatch outcome, or the first failed write before it."""
    failed = [f"{key}: {err.code} {err.description}".strip() for key, err in out.errors.items()
              if key.startswith(f"{tag}_")]  # fmt: skip
    answer = out.result.get(f"{tag}_merge") or {}
    status = answer.get("STATUS") if isinstance(answer, dict) else None
    if status == "SUCCESS":
        return MergeResult(plan, "SUCCESS")
    reason = "; ".join(failed) or f"mergeBatch: {status or 'no answer'}"
    return MergeResult(plan, status or "ERROR", reason)
