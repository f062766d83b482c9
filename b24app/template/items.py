"""The kinds of things the nonprofit CRM template puts into a portal, as frozen data."""

from dataclasses import dataclass, field

PREFIX = "B24"  # every code the app owns starts with it, and never changes once released


@dataclass(frozen=True)
class Label:
    """A text in Russian first, English second."""

    ru: str
    en: str

    def as_map(self) -> dict[str, str]:
        return {"ru": self.ru, "en": self.en}


@dataclass(frozen=True)
class Stage:
    """A pipeline stage; ``semantics`` is "" (in progress), "S" (success) or "F" (failure)."""

    code: str
    name: Label
    semantics: str = ""


@dataclass(frozen=True)
class Pipeline:
    """A deal pipeline (category) with its stages in order."""

    code: str
    name: Label
    stages: tuple[Stage, ...]


@dataclass(frozen=True)
class Choice:
    """A reference-list value or an enumeration item; ``code`` becomes STATUS_ID or XML_ID."""

    code: str
    name: Label


@dataclass(frozen=True)
class ReferenceList:
    """Values added to a crm.status list (``ENTITY_ID`` such as CONTACT_TYPE); existing ones are kept."""

    entity_id: str
    items: tuple[Choice, ...]
    semantics: dict[str, str] = field(default_factory=dict)  # code → "S"/"F" for lead statuses
    order: tuple[
        str, ...
    ] = ()  # placement order including the portal's own values (e.g. CONVERTED)


@dataclass(frozen=True)
class UserField:
    """A custom field of a CRM entity; ``code`` is the part after UF_CRM_."""

    entity: str  # lead | contact | company | deal
    code: str
    type: str  # string, double, integer, date, datetime, boolean, enumeration, url, money, employee
    label: Label
    multiple: bool = False
    choices: tuple[Choice, ...] = ()

    @property
    def field_name(self) -> str:
        return f"UF_CRM_{self.code}"


@dataclass(frozen=True)
class SmartProcess:
    """A smart process (crm.type) with its stages and fields."""

    code: str
    title: Label
    stages: tuple[Stage, ...]
    fields: tuple[UserField, ...]


@dataclass(frozen=True)
class ProductProperty:
    """A catalog product property (e.g. multiple date-time lesson dates)."""

    code: str
    name: Label
    property_type: str = "S"
    user_type: str = "DateTime"
    multiple: bool = True


@dataclass(frozen=True)
class EventBinding:
    """An event the app listens to, delivered to ``path`` on the app's public URL."""

    event: str
    path: str


@dataclass(frozen=True)
class Placement:
    """A place in the portal's UI that opens an app page at ``path``; ``{entityTypeId}`` in the code is
    the entityTypeId of the template's smart process ``smart_process`` (known once it exists)."""

    code: str
    path: str
    title: Label
    smart_process: str = ""


@dataclass(frozen=True)
class Template:
    """The whole nonprofit CRM template."""

    version: str
    pipelines: tuple[Pipeline, ...]
    lists: tuple[ReferenceList, ...]
    fields: tuple[UserField, ...]
    smart_processes: tuple[SmartProcess, ...]
    product_properties: tuple[ProductProperty, ...]
    events: tuple[EventBinding, ...]
    placements: tuple[Placement, ...]
