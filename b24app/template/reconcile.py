"""Bring a portal to the template: ``plan`` says what is present, missing or different; ``apply`` creates
only what is missing, in batches. Nothing users made is ever deleted or renamed; a second ``apply``
makes zero write calls.

The app remembers the ids of what it created (pipelines, the smart process) in ``ids``, so a pipeline a
user renamed is still recognised; on a first install an existing pipeline with the template's name is
adopted instead of duplicated. Right after the app creates a pipeline, Bitrix24 fills it with default
stages (bitrix24-rest.md §4.5): those are shaped once into the template's stages; never later.
"""

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..bitrix import BitrixClient
from .items import Pipeline, Placement, ReferenceList, SmartProcess, Stage, Template, UserField

ENTITY_METHODS = {
    "lead": "crm.lead",
    "contact": "crm.contact",
    "company": "crm.company",
    "deal": "crm.deal",
}
UF_TYPES = {
    "money": "money",
    "employee": "employee",
}  # template type → USER_TYPE_ID where they differ


@dataclass
class Item:
    """One template item's state in the portal."""

    kind: str
    key: str
    title: str
    status: str  # present | missing | differs | created
    detail: str = ""


@dataclass
class PortalState:
    """What the portal holds that the template cares about (read in two batches)."""

    categories: list[dict] = field(default_factory=list)
    stages: dict[str, list[dict]] = field(default_factory=dict)  # ENTITY_ID → statuses
    lists: dict[str, list[dict]] = field(default_factory=dict)
    userfields: dict[str, list[dict]] = field(default_factory=dict)
    types: list[dict] = field(default_factory=list)
    spa_fields: dict[int, list[dict]] = field(default_factory=dict)
    spa_categories: dict[int, list[dict]] = field(default_factory=dict)
    product_properties: list[dict] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)
    placements: list[dict] = field(default_factory=list)
    robots: list[str] = field(default_factory=list)


@dataclass
class Plan:
    """The portal measured against the template."""

    items: list[Item]
    state: PortalState
    ids: dict

    @property
    def missing(self) -> list[Item]:
        return [i for i in self.items if i.status == "missing"]


class Reconciler:
    """Plans and applies the template on one portal through the REST facade."""

    def __init__(self, client: BitrixClient, template: Template, ids: dict | None, public_url: str,
                 robots: Sequence[dict] = ()):  # fmt: skip
        self.client = client
        self.template = template
        self.ids = {"pipelines": {}, "smart_processes": {}, "robots": {}, **(ids or {})}
        self.public_url = public_url.rstrip("/")
        self.robots = list(robots)
        self.writes = 0

    # --- reading ------------------------------------------------------------------------------

    def read(self) -> PortalState:
        """Everything the plan needs, in two batch requests."""
        t = self.template
        cmds: dict[str, tuple[str, dict]] = {
            "categories": ("crm.category.list", {"entityTypeId": 2}),
            "types": ("crm.type.list", {}),
            "props": ("crm.product.property.list", {}),
            "events": ("event.get", {}),
            "placements": ("placement.get", {}),
        }
        if self.robots:
            cmds["robots"] = ("bizproc.robot.list", {})
        for entity in {f.entity for f in t.fields}:
            cmds[f"uf_{entity}"] = (
                f"{ENTITY_METHODS[entity]}.userfield.list",
                {"order": {"ID": "ASC"}},
            )
        for ref in t.lists:
            cmds[f"list_{ref.entity_id}"] = (
                "crm.status.list",
                {"filter": {"ENTITY_ID": ref.entity_id}},
            )
        out = self.client.batch(cmds).raise_errors().result
        state = PortalState(
            categories=_rows(out["categories"], "categories"),
            types=_rows(out["types"], "types"),
            product_properties=_rows(out["props"]),
            events=_rows(out["events"]),
            placements=_rows(out["placements"]),
            robots=[str(r) for r in _rows(out.get("robots"))],
            userfields={e: _rows(out[f"uf_{e}"]) for e in {f.entity for f in t.fields}},
            lists={r.entity_id: _rows(out[f"list_{r.entity_id}"]) for r in t.lists},
        )
        self._read_second(state)
        return state

    def _read_second(self, state: PortalState) -> None:
        """Stages of the template's pipelines and the smart process's categories, stages and fields."""
        cmds: dict[str, tuple[str, dict]] = {}
        for pipeline in self.template.pipelines:
            cat = self._category(state, pipeline)
            if cat is not None:
                cmds[f"stages_{cat}"] = (
                    "crm.status.list",
                    {"filter": {"ENTITY_ID": f"DEAL_STAGE_{cat}"}},
                )
        for spa in self.template.smart_processes:
            typ = self._type(state, spa)
            if typ:
                etid = typ["entityTypeId"]
                cmds[f"spacats_{etid}"] = ("crm.category.list", {"entityTypeId": etid})
                cmds[f"spafields_{typ['id']}"] = ("userfieldconfig.list",
                                                  {"moduleId": "crm", "filter": {"entityId": f"CRM_{typ['id']}"}})  # fmt: skip
        if not cmds:
            return
        out = self.client.batch(cmds).raise_errors().result
        for key, value in out.items():
            kind, _, ident = key.partition("_")
            if kind == "stages":
                state.stages[f"DEAL_STAGE_{ident}"] = _rows(value)
            elif kind == "spacats":
                state.spa_categories[int(ident)] = _rows(value, "categories")
            elif kind == "spafields":
                state.spa_fields[int(ident)] = _rows(value, "fields")
        spa_stage_cmds = {
            f"spastages_{etid}_{cat['id']}": (
                "crm.status.list",
                {"filter": {"ENTITY_ID": f"DYNAMIC_{etid}_STAGE_{cat['id']}"}},
            )  # fmt: skip
            for etid, cats in state.spa_categories.items()
            for cat in cats[:1]
        }
        if spa_stage_cmds:
            out = self.client.batch(spa_stage_cmds).raise_errors().result
            for key, value in out.items():
                _, etid, cat = key.split("_")
                state.stages[f"DYNAMIC_{etid}_STAGE_{cat}"] = _rows(value)

    def _category(self, state: PortalState, pipeline: Pipeline) -> int | None:
        """The pipeline's category id: the remembered one if it still exists, else one with its name."""
        existing = {int(c["id"]): c for c in state.categories}
        remembered = self.ids["pipelines"].get(pipeline.code)
        if remembered is not None and int(remembered) in existing:
            return int(remembered)
        for cat in state.categories:
            if cat["name"] in (pipeline.name.ru, pipeline.name.en) and int(cat["id"]) != 0:
                self.ids["pipelines"][pipeline.code] = int(cat["id"])
                return int(cat["id"])
        return None

    def _type(self, state: PortalState, spa: SmartProcess) -> dict | None:
        remembered = self.ids["smart_processes"].get(spa.code) or {}
        for typ in state.types:
            if typ.get("entityTypeId") == remembered.get("entityTypeId") or typ.get("title") in (spa.title.ru,
                                                                                                   spa.title.en):  # fmt: skip
                self.ids["smart_processes"][spa.code] = {
                    "id": typ["id"],
                    "entityTypeId": typ["entityTypeId"],
                }
                return typ
        return None

    def placement_code(self, pl: Placement) -> str:
        """The placement's code, its smart process's entityTypeId filled in when known."""
        if not pl.smart_process:
            return pl.code
        etid = (self.ids["smart_processes"].get(pl.smart_process) or {}).get("entityTypeId")
        return pl.code.format(entityTypeId=etid) if etid else pl.code

    # --- planning -----------------------------------------------------------------------------

    def plan(self) -> Plan:
        """Each template item: present, missing or differs (with what differs)."""
        state = self.read()
        items: list[Item] = []
        for pipeline in self.template.pipelines:
            items += self._plan_pipeline(state, pipeline)
        for ref in self.template.lists:
            items += self._plan_list(state, ref)
        for uf in self.template.fields:
            items.append(self._plan_field(state.userfields.get(uf.entity, []), uf, uf.field_name))
        for spa in self.template.smart_processes:
            items += self._plan_spa(state, spa)
        for prop in self.template.product_properties:
            found = any(p.get("CODE") == prop.code for p in state.product_properties)
            items.append(
                Item("product property", prop.code, prop.name.ru, "present" if found else "missing")
            )
        for ev in self.template.events:
            found = any(e.get("event", "").upper() == ev.event and e.get("handler") == self.url(ev.path)
                        for e in state.events)  # fmt: skip
            items.append(Item("event", ev.event, ev.event, "present" if found else "missing"))
        for pl in self.template.placements:
            code = self.placement_code(pl)
            found = any(
                (p.get("placement") or p.get("PLACEMENT")) == code for p in state.placements
            )
            items.append(Item("placement", code, pl.title.ru, "present" if found else "missing"))
        for robot in self.robots:
            items.append(
                Item(
                    "robot", robot["CODE"], _ru(robot.get("NAME")), self._robot_status(state, robot)
                )
            )
        return Plan(items, state, self.ids)

    def _robot_status(self, state: PortalState, robot: dict) -> str:
        """missing, present, or differs: registered from another spec (its fingerprint is not the stored one)."""
        if robot["CODE"] not in state.robots:
            return "missing"
        return (
            "present" if self.ids["robots"].get(robot["CODE"]) == fingerprint(robot) else "differs"
        )

    def url(self, path: str) -> str:
        return self.public_url + path

    def _plan_pipeline(self, state: PortalState, pipeline: Pipeline) -> list[Item]:
        cat = self._category(state, pipeline)
        if cat is None:
            return [Item("pipeline", pipeline.code, pipeline.name.ru, "missing")] + [
                Item(
                    "stage",
                    f"{pipeline.code}:{s.code}",
                    f"{pipeline.name.ru} / {s.name.ru}",
                    "missing",
                )
                for s in pipeline.stages
            ]
        name = next(c["name"] for c in state.categories if int(c["id"]) == cat)
        head = Item("pipeline", pipeline.code, pipeline.name.ru, "present" if name == pipeline.name.ru else "differs",
                    "" if name == pipeline.name.ru else f"named «{name}» in the portal")  # fmt: skip
        existing = {s["STATUS_ID"]: s for s in state.stages.get(f"DEAL_STAGE_{cat}", [])}
        return [head] + [self._plan_stage(existing, f"C{cat}:", pipeline.code, pipeline.name.ru, s)
                         for s in pipeline.stages]  # fmt: skip

    @staticmethod
    def _plan_stage(existing: dict, prefix: str, code: str, title: str, stage: Stage) -> Item:
        row = existing.get(prefix + stage.code)
        key, label = f"{code}:{stage.code}", f"{title} / {stage.name.ru}"
        if row is None:
            return Item("stage", key, label, "missing")
        if row.get("NAME") != stage.name.ru:
            return Item("stage", key, label, "differs", f"named «{row.get('NAME')}» in the portal")
        return Item("stage", key, label, "present")

    @staticmethod
    def _plan_list(state: PortalState, ref: ReferenceList) -> list[Item]:
        existing = {s["STATUS_ID"]: s for s in state.lists.get(ref.entity_id, [])}
        out = []
        for choice in ref.items:
            row = existing.get(choice.code)
            status = (
                "missing"
                if row is None
                else ("present" if row.get("NAME") == choice.name.ru else "differs")
            )
            out.append(Item("list item", f"{ref.entity_id}:{choice.code}", choice.name.ru, status))
        return out

    @staticmethod
    def _plan_field(rows: list[dict], uf: UserField, field_name: str) -> Item:
        row = next(
            (r for r in rows if (r.get("FIELD_NAME") or r.get("fieldName")) == field_name), None
        )
        if row is None:
            return Item("field", field_name, uf.label.ru, "missing")
        kind = row.get("USER_TYPE_ID") or row.get("userTypeId")
        if kind != UF_TYPES.get(uf.type, uf.type):
            return Item("field", field_name, uf.label.ru, "differs", f"type {kind} in the portal")
        missing = _missing_choices(row, uf)
        if missing:
            return Item(
                "field",
                field_name,
                uf.label.ru,
                "missing",
                f"list values {', '.join(missing)} missing",
            )
        return Item("field", field_name, uf.label.ru, "present")

    def _plan_spa(self, state: PortalState, spa: SmartProcess) -> list[Item]:
        typ = self._type(state, spa)
        if typ is None:
            return [Item("smart process", spa.code, spa.title.ru, "missing")] + [
                Item("field", f"{spa.code}:{f.code}", f.label.ru, "missing") for f in spa.fields
            ]
        items = [Item("smart process", spa.code, spa.title.ru, "present")]
        cats = state.spa_categories.get(typ["entityTypeId"], [])
        if cats:
            prefix = f"DT{typ['entityTypeId']}_{cats[0]['id']}:"
            existing = {
                s["STATUS_ID"]: s
                for s in state.stages.get(
                    f"DYNAMIC_{typ['entityTypeId']}_STAGE_{cats[0]['id']}", []
                )
            }
            items += [
                self._plan_stage(existing, prefix, spa.code, spa.title.ru, s) for s in spa.stages
            ]
        rows = state.spa_fields.get(int(typ["id"]), [])
        items += [self._plan_field(rows, f, spa_field_name(typ, f)) for f in spa.fields]
        return items

    # --- applying -----------------------------------------------------------------------------

    def apply(self) -> Plan:
        """Create what is missing (batched); returns the plan measured afterwards."""
        self.writes = 0
        state = self.read()
        created = self._create_containers(state)
        if created:
            state = self.read()
            self._shape_new(state, created)
            state = self.read()
        self._write(self._missing_commands(state))
        return self.plan()

    def _write(self, cmds: dict[str, tuple[str, dict]]) -> dict:
        if not cmds:
            return {}
        self.writes += len(cmds)
        return self.client.batch(cmds).raise_errors().result

    def _create_containers(self, state: PortalState) -> set[str]:
        """Create missing pipelines and smart processes; returns their codes."""
        cmds: dict[str, tuple[str, dict]] = {}
        for n, pipeline in enumerate(self.template.pipelines):
            if self._category(state, pipeline) is None:
                cmds[f"cat_{pipeline.code}"] = ("crm.category.add", {"entityTypeId": 2, "fields": {
                    "name": pipeline.name.ru, "sort": 500 + 10 * n}})  # fmt: skip
        for spa in self.template.smart_processes:
            if self._type(state, spa) is None:
                cmds[f"type_{spa.code}"] = ("crm.type.add", {"fields": {
                    "title": spa.title.ru, "isStagesEnabled": "Y", "isCategoriesEnabled": "N",
                    "isClientEnabled": "Y", "isAutomationEnabled": "Y", "isBizProcEnabled": "Y"}})  # fmt: skip
        out = self._write(cmds)
        for key, value in out.items():
            kind, _, code = key.partition("_")
            if kind == "cat":
                self.ids["pipelines"][code] = int(value["category"]["id"])
            else:
                typ = value["type"]
                self.ids["smart_processes"][code] = {
                    "id": typ["id"],
                    "entityTypeId": typ["entityTypeId"],
                }
        return {key.partition("_")[2] for key in out}

    def _shape_new(self, state: PortalState, created: set[str]) -> None:
        """Turn the default stages of just-created pipelines into the template's (rename, drop unused)."""
        cmds: dict[str, tuple[str, dict]] = {}
        for pipeline in self.template.pipelines:
            if pipeline.code in created:
                cat = self.ids["pipelines"][pipeline.code]
                cmds |= shape_stages(
                    state.stages.get(f"DEAL_STAGE_{cat}", []),
                    f"C{cat}:",
                    pipeline.stages,
                    pipeline.code,
                )
        for spa in self.template.smart_processes:
            if spa.code in created:
                etid = self.ids["smart_processes"][spa.code]["entityTypeId"]
                for cat in state.spa_categories.get(etid, [])[:1]:
                    rows = state.stages.get(f"DYNAMIC_{etid}_STAGE_{cat['id']}", [])
                    cmds |= shape_stages(rows, f"DT{etid}_{cat['id']}:", spa.stages, spa.code)
        self._write(cmds)

    def _missing_commands(self, state: PortalState) -> dict[str, tuple[str, dict]]:
        cmds: dict[str, tuple[str, dict]] = {}
        for pipeline in self.template.pipelines:
            cat = self._category(state, pipeline)
            cmds |= stage_commands(f"DEAL_STAGE_{cat}", f"C{cat}:", pipeline.stages,
                                   state.stages.get(f"DEAL_STAGE_{cat}", []), f"st_{cat}")  # fmt: skip
        for ref in self.template.lists:
            wanted = [Stage(c.code, c.name, ref.semantics.get(c.code, "")) for c in ref.items]
            rows = state.lists.get(ref.entity_id, [])
            cmds |= stage_commands(
                ref.entity_id, "", wanted, rows, f"li_{ref.entity_id}", ref.order
            )
        for uf in self.template.fields:
            cmds |= self._field_commands(state.userfields.get(uf.entity, []), uf)
        for spa in self.template.smart_processes:
            cmds |= self._spa_commands(state, spa)
        cmds |= self._binding_commands(state)
        return cmds

    def _field_commands(self, rows: list[dict], uf: UserField) -> dict[str, tuple[str, dict]]:
        method = ENTITY_METHODS[uf.entity]
        row = next((r for r in rows if r.get("FIELD_NAME") == uf.field_name), None)
        if row is None:
            return {
                f"uf_{uf.entity}_{uf.code}": (
                    f"{method}.userfield.add",
                    {"fields": userfield_fields(uf)},
                )
            }
        missing = _missing_choices(row, uf)
        if not missing:
            return {}
        items = [{"VALUE": c.name.ru, "XML_ID": c.code, "SORT": 10 * (n + 1)}
                 for n, c in enumerate(uf.choices) if c.code in missing]  # fmt: skip
        return {
            f"ufl_{uf.entity}_{uf.code}": (
                f"{method}.userfield.update",
                {"id": row["ID"], "fields": {"LIST": items}},
            )
        }

    def _spa_commands(self, state: PortalState, spa: SmartProcess) -> dict[str, tuple[str, dict]]:
        typ = self._type(state, spa)
        if typ is None:
            return {}
        cmds: dict[str, tuple[str, dict]] = {}
        cats = state.spa_categories.get(typ["entityTypeId"], [])
        if cats:
            entity_id = f"DYNAMIC_{typ['entityTypeId']}_STAGE_{cats[0]['id']}"
            prefix = f"DT{typ['entityTypeId']}_{cats[0]['id']}:"
            cmds |= stage_commands(
                entity_id, prefix, spa.stages, state.stages.get(entity_id, []), "spst"
            )
        have = {r.get("fieldName") for r in state.spa_fields.get(int(typ["id"]), [])}
        for f in spa.fields:
            name = spa_field_name(typ, f)
            if name not in have:
                cmds[f"spuf_{f.code}"] = ("userfieldconfig.add", {"moduleId": "crm", "field": {
                    "entityId": f"CRM_{typ['id']}", "fieldName": name, "userTypeId": f.type,
                    "multiple": "Y" if f.multiple else "N", "editFormLabel": f.label.as_map(),
                    "listColumnLabel": f.label.as_map(), "xmlId": f.code}})  # fmt: skip
        return cmds

    def _binding_commands(self, state: PortalState) -> dict[str, tuple[str, dict]]:
        cmds: dict[str, tuple[str, dict]] = {}
        for ev in self.template.events:
            handler = self.url(ev.path)
            if not any(
                e.get("event", "").upper() == ev.event and e.get("handler") == handler
                for e in state.events
            ):
                cmds[f"ev_{ev.event}"] = ("event.bind", {"event": ev.event, "handler": handler})
        for pl in self.template.placements:
            code = self.placement_code(pl)
            if "{" not in code and not any(
                (p.get("placement") or p.get("PLACEMENT")) == code for p in state.placements
            ):
                cmds[f"pl_{code}"] = ("placement.bind", {"PLACEMENT": code, "HANDLER": self.url(pl.path),
                    "TITLE": pl.title.ru, "LANG_ALL": {"ru": {"TITLE": pl.title.ru}, "en": {"TITLE": pl.title.en}}})  # fmt: skip
        for prop in self.template.product_properties:
            if not any(p.get("CODE") == prop.code for p in state.product_properties):
                cmds[f"pp_{prop.code}"] = ("crm.product.property.add", {"fields": {
                    "NAME": prop.name.ru, "CODE": prop.code, "PROPERTY_TYPE": prop.property_type,
                    "USER_TYPE": prop.user_type, "MULTIPLE": "Y" if prop.multiple else "N", "ACTIVE": "Y"}})  # fmt: skip
        for robot in self.robots:
            status, code = self._robot_status(state, robot), robot["CODE"]
            if status == "missing":
                cmds[f"rb_{code}"] = ("bizproc.robot.add", robot)
            elif status == "differs":
                fields = {k: v for k, v in robot.items() if k not in ("CODE", "DOCUMENT_TYPE")}
                cmds[f"rbu_{code}"] = ("bizproc.robot.update", {"CODE": code, "FIELDS": fields})
            self.ids["robots"][code] = fingerprint(robot)  # kept only when the batch succeeds
        return cmds


def shape_stages(
    rows: list[dict], prefix: str, stages: Sequence[Stage], code: str
) -> dict[str, tuple[str, dict]]:
    """Rename default stages the template reuses; delete the defaults it does not use (new pipelines only)."""
    wanted = {prefix + s.code: s for s in stages}
    cmds: dict[str, tuple[str, dict]] = {}
    for row in rows:
        stage = wanted.get(row["STATUS_ID"])
        if stage is not None and row.get("NAME") != stage.name.ru:
            cmds[f"rn_{code}_{row['ID']}"] = (
                "crm.status.update",
                {"id": row["ID"], "fields": {"NAME": stage.name.ru}},
            )
        elif stage is None:
            cmds[f"rm_{code}_{row['ID']}"] = (
                "crm.status.delete",
                {"id": row["ID"], "params": {"FORCED": "Y"}},
            )
    return cmds


def stage_commands(entity_id: str, prefix: str, wanted: Sequence[Stage], rows: list[dict], key: str,
                   order: Sequence[str] = ()) -> dict[str, tuple[str, dict]]:  # fmt: skip
    """crm.status.add for each missing stage, sorted into place between the stages that exist."""
    have = {r["STATUS_ID"]: int(r.get("SORT") or 0) for r in rows}
    sorts = place_sorts([prefix + code for code in (order or [w.code for w in wanted])], have)
    cmds = {}
    for stage in wanted:
        if prefix + stage.code in have:
            continue
        fields = {"ENTITY_ID": entity_id, "STATUS_ID": stage.code, "NAME": stage.name.ru,
                  "SORT": sorts[prefix + stage.code]}  # fmt: skip
        if stage.semantics:
            fields["SEMANTICS"] = stage.semantics
        cmds[f"{key}_{stage.code}"] = ("crm.status.add", {"fields": fields})
    return cmds


def place_sorts(codes: list[str], have: dict[str, int]) -> dict[str, int]:
    """SORT values for missing codes: evenly between the existing neighbours in template order.

    Bitrix24 keeps stages in zones (in progress < success < failure) and refuses a stage sorted into the
    wrong zone (bitrix24-rest.md §4.6), so a missing stage must land between the ones around it.
    """
    out: dict[str, int] = {}
    i = 0
    while i < len(codes):
        if codes[i] in have:
            i += 1
            continue
        j = i
        while j < len(codes) and codes[j] not in have:
            j += 1
        low = have[codes[i - 1]] if i > 0 else 0
        high = have[codes[j]] if j < len(codes) else max([low, *have.values()]) + 10 * (j - i + 1)
        step = (high - low) / (j - i + 1)
        for k in range(i, j):
            out[codes[k]] = int(low + step * (k - i + 1))
        i = j
    return out


def userfield_fields(uf: UserField) -> dict:
    """crm.*.userfield.add fields with Russian and English labels."""
    labels = uf.label.as_map()
    fields: dict[str, Any] = {
        "FIELD_NAME": uf.code, "USER_TYPE_ID": UF_TYPES.get(uf.type, uf.type), "XML_ID": uf.code,
        "MULTIPLE": "Y" if uf.multiple else "N", "LABEL": uf.label.ru, "EDIT_FORM_LABEL": labels,
        "LIST_COLUMN_LABEL": labels, "LIST_FILTER_LABEL": labels, "SHOW_FILTER": "Y",
    }  # fmt: skip
    if uf.choices:
        fields["LIST"] = [
            {"VALUE": c.name.ru, "XML_ID": c.code, "SORT": 10 * (n + 1)}
            for n, c in enumerate(uf.choices)
        ]
    return fields


def spa_field_name(typ: dict, uf: UserField) -> str:
    """Smart-process user fields are named UF_CRM_<type id>_<code>."""
    return f"UF_CRM_{typ['id']}_{uf.code}"


def _missing_choices(row: dict, uf: UserField) -> list[str]:
    have = {
        item.get("XML_ID") or item.get("xmlId") for item in row.get("LIST") or row.get("enum") or []
    }
    return [c.code for c in uf.choices if c.code not in have]


def _rows(value: Any, key: str | None = None) -> list:
    if key and isinstance(value, dict):
        value = value.get(key, [])
    if isinstance(value, dict):
        return list(value.values())
    return list(value or [])


def fingerprint(registration: dict) -> str:
    """A robot registration's digest: a changed spec is updated in the portal (``bizproc.robot.update``)."""
    text = json.dumps(registration, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _ru(name: Any) -> str:
    return name.get("ru", "") if isinstance(name, dict) else str(name or "")
