"""The ids of the applied template in one portal: pipelines, stages, fields and enumeration values.

Built from what the reconciler recorded (``portal.settings["template_ids"]``) and, for enumeration
values, one batch read cached per portal; every feature asks here instead of formatting ``C{n}:`` or
``UF_CRM_…`` inline.
"""

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field as dc_field

from redis import Redis

from ..bitrix import BitrixClient
from ..errors import Blago24Error
from ..portals import Portal, portal_key

ENUM_TTL = 24 * 3600
ENUM_ENTITIES = ("deal", "contact")


class TemplateNotReady(Blago24Error):
    """The portal's template is not applied (yet): the work waits and is retried."""


def field(code: str) -> str:
    """The CRM name of a template field: ``B24_PAYMENT_ID`` → ``UF_CRM_B24_PAYMENT_ID``."""
    return f"UF_CRM_{code}"


@dataclass(frozen=True)
class SmartProcessIds:
    """A smart process's ids: its entityTypeId, type id and default category."""

    entity_type_id: int
    type_id: int
    category_id: int

    def stage(self, code: str) -> str:
        """A stage's STATUS_ID: ``DT<entityTypeId>_<category>:<code>``."""
        return f"DT{self.entity_type_id}_{self.category_id}:{code}"

    def field(self, code: str) -> str:
        """A user field's original name: ``UF_CRM_<type id>_<code>`` (reconcile.spa_field_name)."""
        return f"UF_CRM_{self.type_id}_{code}"

    def item_field(self, code: str) -> str:
        """The same field as crm.item.* names it (bitrix24-rest.md §4.2): ``ufCrm<type id><Code>``, an
        underscore kept only between two digits (``UF_CRM_5_17218`` → ``ufCrm5_17218``)."""
        out = ""
        for part in self.field(code).lower().split("_"):
            glue = "_" if out[-1:].isdigit() and part[:1].isdigit() else ""
            out = part if not out else out + glue + (part if glue else part[:1].upper() + part[1:])
        return out


@dataclass(frozen=True)
class Resolved:
    pipelines: dict[str, int]
    enums: dict[str, dict[str, int]]  # "deal.UF_CRM_B24_GATEWAY" → {XML_ID: ID}
    smart_processes: dict[str, dict] = dc_field(default_factory=dict)  # code → {id, entityTypeId}
    # a smart process's default category, read only when asked for (one request, cached a day)
    category_of: Callable[[int], int | None] = dc_field(
        default=lambda _: None, compare=False, repr=False
    )

    def pipeline(self, code: str) -> int:
        if code not in self.pipelines:
            raise TemplateNotReady(f"pipeline {code} is not in the portal yet")
        return self.pipelines[code]

    def stage(self, pipeline_code: str, stage_code: str) -> str:
        """A deal stage's STATUS_ID: ``C<category>:<code>``."""
        return f"C{self.pipeline(pipeline_code)}:{stage_code}"

    def enum(self, entity: str, code: str, choice: str) -> int:
        """The id of an enumeration field's value by its code (XML_ID)."""
        try:
            return self.enums[f"{entity}.{field(code)}"][choice]
        except KeyError:
            raise TemplateNotReady(f"{entity} field {code} has no value {choice} yet") from None

    def smart_process(self, code: str) -> SmartProcessIds:
        spa = self.smart_processes.get(code) or {}
        category = self.category_of(int(spa["entityTypeId"])) if spa.get("entityTypeId") else None
        if category is None:
            raise TemplateNotReady(f"smart process {code} is not in the portal yet")
        return SmartProcessIds(int(spa["entityTypeId"]), int(spa["id"]), int(category))


def resolve(portal: Portal, client: BitrixClient, redis: Redis) -> Resolved:
    """The portal's template ids; TemplateNotReady while the template is not applied."""
    ids = portal.settings.get("template_ids") or {}
    if not portal.template_version or not ids.get("pipelines"):
        raise TemplateNotReady(f"portal {portal.member_id}: the CRM template is not applied yet")
    spas = {
        code: spa
        for code, spa in (ids.get("smart_processes") or {}).items()
        if spa.get("entityTypeId")
    }
    return Resolved(dict(ids["pipelines"]), enums_of(portal.member_id, client, redis), spas,
                    functools.partial(default_category, portal.member_id, client, redis))  # fmt: skip


def default_category(
    member_id: str, client: BitrixClient, redis: Redis, entity_type_id: int
) -> int | None:
    """The default category of a smart process (where its items live), cached a day."""
    key = portal_key(member_id, "template-spa-category", str(entity_type_id))
    if (cached := redis.get(key)) is not None:
        return int(cached)
    cats = (client.call("crm.category.list", {"entityTypeId": entity_type_id}) or {}).get(
        "categories"
    ) or []
    chosen = next((c for c in cats if c.get("isDefault") in ("Y", True)), cats[0] if cats else None)
    if chosen is None:
        return None
    redis.set(key, int(chosen["id"]), ex=ENUM_TTL)
    return int(chosen["id"])


def enums_of(
    member_id: str, client: BitrixClient, redis: Redis, fresh: bool = False
) -> dict[str, dict[str, int]]:
    """The ids of the template's enumeration values, cached a day (``fresh``: read them now)."""
    key = portal_key(member_id, "template-enums")
    if not fresh and (cached := redis.get(key)):
        return json.loads(cached)
    commands = {
        e: (f"crm.{e}.userfield.list", {"filter": {"USER_TYPE_ID": "enumeration"}})
        for e in ENUM_ENTITIES
    }
    out = client.batch(commands).raise_errors().result
    enums = {f"{entity}.{row['FIELD_NAME']}": {item["XML_ID"]: int(item["ID"]) for item in row.get("LIST") or []}
             for entity in ENUM_ENTITIES for row in out.get(entity) or []}  # fmt: skip
    redis.set(key, json.dumps(enums), ex=ENUM_TTL)
    return enums
