"""Activities, to-dos, timeline comments, notifications and tasks (bitrix24-rest.md §4.8–§4.10)."""

import pytest

ADD = "api-reference/crm/timeline/activities/activity-base/crm-activity-add.md"


def contact(portal) -> int:
    return portal.result(
        "crm.contact.add", {"fields": {"NAME": "Клиент", "EMAIL": [{"VALUE": "client@x.example"}]}}
    )


def email_fields(owner: int, **extra) -> dict:
    return {"OWNER_TYPE_ID": 3, "OWNER_ID": owner, "TYPE_ID": 4, "DIRECTION": 2, "COMPLETED": "Y",
            "SUBJECT": "Спасибо", "DESCRIPTION": "<p>Благодарим</p>", "DESCRIPTION_TYPE": 3,
            "COMMUNICATIONS": [{"VALUE": "client@x.example", "ENTITY_ID": owner, "ENTITY_TYPE_ID": 3}],
            "SETTINGS": {"MESSAGE_FROM": "Анна Админова <admin@fund.example>"}, **extra}  # fmt: skip


def test_completed_outgoing_email_is_sent_to_outbox(portal):
    """§4.10: TYPE_ID 4 + DIRECTION 2 + COMPLETED Y sends the e-mail (tutorials/crm/how-to-add-crm-objects/how-to-send-email.md)."""
    owner = contact(portal)
    act = portal.result("crm.activity.add", {"fields": email_fields(owner)})
    assert isinstance(act, int)
    [mail] = portal.control("GET", "/outbox")
    assert mail["to"] == ["client@x.example"] and mail["subject"] == "Спасибо"
    assert mail["from"] == "Анна Админова <admin@fund.example>"
    assert (mail["body"], mail["activity_id"], mail["owner"]) == (
        "<p>Благодарим</p>",
        act,
        {"type_id": 3, "id": owner},
    )


@pytest.mark.parametrize(
    "change",
    [{"COMPLETED": "N"}, {"DIRECTION": 1}, {"TYPE_ID": 2, "COMMUNICATIONS": [{"VALUE": "+7916"}]}],
)
def test_other_activities_are_only_stored(portal, change):
    """§4.10: without all three conditions the activity is stored but nothing is sent (api-reference/crm/timeline/activities/activity-base/crm-activity-add.md)."""
    owner = contact(portal)
    act = portal.result("crm.activity.add", {"fields": email_fields(owner, **change)})
    assert portal.result("crm.activity.get", {"id": act})["SUBJECT"] == "Спасибо"
    assert portal.control("GET", "/outbox") == []


def test_missing_communications_is_an_error(portal):
    """§4.10: no COMMUNICATIONS → "The field COMMUNICATIONS is not defined or invalid." (api-reference/crm/timeline/activities/activity-base/crm-activity-add.md)."""
    answer = portal.call(
        "crm.activity.add", {"fields": email_fields(contact(portal), COMMUNICATIONS=[])}
    )
    assert (answer.status, answer.body["error"]) == (400, "")
    assert answer.body["error_description"] == "The field COMMUNICATIONS is not defined or invalid."


def test_missing_from_is_a_send_error(portal):
    """§4.10: no address in SETTINGS.MESSAGE_FROM → 'Email send error. "From" is not found.', nothing sent; the activity stays as the vendor's proxy saved it first (api-reference/crm/timeline/activities/activity-base/crm-activity-add.md)."""
    answer = portal.call(
        "crm.activity.add",
        {"fields": email_fields(contact(portal), SETTINGS={"MESSAGE_FROM": "Анна"})},
    )
    assert (
        answer.status == 400
        and answer.body["error_description"] == 'Email send error. "From" is not found.'
    )
    assert portal.control("GET", "/outbox") == []
    assert len(portal.result("crm.activity.list")) == 1


def test_a_from_that_is_not_a_connected_mailbox_is_a_send_error(portal):
    """§4.10: the portal sends only from its connected mailboxes; another From → 'Email send error. "From" is
    not found.' and nothing sent, a connected one (any case) is sent (api-reference/crm/timeline/activities/activity-base/crm-activity-add.md)."""
    portal.control("PATCH", "", json={"mailboxes": ["Hello@Fund.example"]})
    owner = contact(portal)
    refused = portal.call("crm.activity.add", {"fields": email_fields(owner)})
    assert refused.body["error_description"] == 'Email send error. "From" is not found.'
    assert portal.control("GET", "/outbox") == []
    portal.result(
        "crm.activity.add",
        {"fields": email_fields(owner, SETTINGS={"MESSAGE_FROM": "Фонд <hello@fund.example>"})},
    )
    assert [m["from_address"] for m in portal.control("GET", "/outbox")] == ["hello@fund.example"]


def test_subject_and_type_are_required(portal):
    """§4.10: SUBJECT and TYPE_ID are checked (api-reference/crm/timeline/activities/activity-base/crm-activity-add.md)."""
    owner = contact(portal)
    no_subject = portal.call("crm.activity.add", {"fields": email_fields(owner, SUBJECT="")})
    assert no_subject.body["error_description"] == "The field SUBJECT is not defined or empty."
    no_type = portal.call("crm.activity.add", {"fields": email_fields(owner, TYPE_ID=99)})
    assert no_type.body["error_description"] == "The field TYPE_ID is not defined or invalid."


def test_activity_list_update_delete(portal):
    """§4.10: list filters by owner (COMMUNICATIONS only when selected), update changes fields, delete removes (api-reference/crm/timeline/activities/activity-base/crm-activity-list.md)."""
    owner = contact(portal)
    act = portal.result(
        "crm.activity.add", {"fields": email_fields(owner, COMPLETED="N")}, form=True
    )
    rows = portal.result("crm.activity.list", {"filter": {"OWNER_ID": owner, "OWNER_TYPE_ID": 3}})
    assert [r["ID"] for r in rows] == [str(act)] and "COMMUNICATIONS" not in rows[0]
    chosen = portal.result("crm.activity.list", {"select": ["ID", "COMMUNICATIONS"]})
    assert chosen[0]["COMMUNICATIONS"][0]["VALUE"] == "client@x.example"
    assert portal.result("crm.activity.update", {"id": act, "fields": {"COMPLETED": "Y"}}) is True
    assert portal.result("crm.activity.get", {"id": act})["COMPLETED"] == "Y"
    assert portal.result("crm.activity.delete", {"id": act}) is True
    assert portal.call("crm.activity.get", {"id": act}).body == {
        "error": "",
        "error_description": "Not found",
    }


def test_todo_add_returns_id_object(portal):
    """§4.8: crm.activity.todo.add → {"id": n}; the to-do is an activity of the owner (api-reference/crm/timeline/activities/todo/crm-activity-todo-add.md)."""
    deal = portal.result("crm.deal.add", {"fields": {"TITLE": "Взнос"}})
    got = portal.result("crm.activity.todo.add", {"ownerTypeId": 2, "ownerId": deal, "deadline": "2026-02-03T15:00:00",
                                                  "title": "Позвонить", "pingOffsets": [0, 15]})  # fmt: skip
    assert list(got) == ["id"] and isinstance(got["id"], int)
    stored = portal.result("crm.activity.get", {"id": got["id"]})
    assert (stored["SUBJECT"], stored["OWNER_ID"], stored["PROVIDER_ID"]) == (
        "Позвонить",
        str(deal),
        "CRM_TODO",
    )


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"ownerTypeId": 2, "ownerId": 1}, 100),
        ({"ownerTypeId": 2, "ownerId": 999, "deadline": "2026-02-03T15:00:00"}, "OWNER_NOT_FOUND"),
        ({"ownerTypeId": 2, "ownerId": "DEAL", "deadline": "tomorrow"}, "WRONG_DATETIME_FORMAT"),
    ],
)
def test_todo_add_errors(portal, params, error):
    """§4.8: 100 for a missing parameter, OWNER_NOT_FOUND, WRONG_DATETIME_FORMAT (api-reference/crm/timeline/activities/todo/crm-activity-todo-add.md)."""
    deal = portal.result("crm.deal.add", {"fields": {"TITLE": "x"}})
    if params.get("ownerId") == "DEAL":
        params = {**params, "ownerId": deal}
    answer = portal.call("crm.activity.todo.add", params)
    assert (answer.status, answer.body["error"]) == (400, error)


def test_timeline_comment_add_get_list_delete(portal):
    """§4.8: crm.timeline.comment.add → int; get/list print classic strings; delete → null (api-reference/crm/timeline/comments/crm-timeline-comment-add.md)."""
    deal = portal.result("crm.deal.add", {"fields": {"TITLE": "Взнос"}})
    note = portal.result(
        "crm.timeline.comment.add",
        {"fields": {"ENTITY_ID": deal, "ENTITY_TYPE": "deal", "COMMENT": "Позвонили"}},
    )
    assert isinstance(note, int)
    got = portal.result("crm.timeline.comment.get", {"id": note})
    assert (got["ENTITY_ID"], got["ENTITY_TYPE"], got["COMMENT"], got["AUTHOR_ID"]) == (
        str(deal),
        "deal",
        "Позвонили",
        "1",
    )
    listed = portal.call(
        "crm.timeline.comment.list", {"filter": {"ENTITY_ID": deal, "ENTITY_TYPE": "deal"}}
    ).body
    assert [c["ID"] for c in listed["result"]] == [str(note)] and listed["total"] == 1
    assert portal.result("crm.timeline.comment.delete", {"id": note}) is None
    assert portal.call("crm.timeline.comment.get", {"id": note}).status == 400


def test_timeline_comment_errors(portal):
    """§4.8: unknown owner → OWNER_NOT_FOUND, empty comment → INVALID_ARG_VALUE, no fields → 100 (api-reference/crm/timeline/comments/crm-timeline-comment-add.md)."""
    deal = portal.result("crm.deal.add", {"fields": {"TITLE": "x"}})
    assert (
        portal.call(
            "crm.timeline.comment.add",
            {"fields": {"ENTITY_ID": 999, "ENTITY_TYPE": "deal", "COMMENT": "c"}},
        ).body["error"]
        == "OWNER_NOT_FOUND"
    )
    assert (
        portal.call(
            "crm.timeline.comment.add",
            {"fields": {"ENTITY_ID": deal, "ENTITY_TYPE": "deal", "COMMENT": ""}},
        ).body["error"]
        == "INVALID_ARG_VALUE"
    )
    assert portal.call("crm.timeline.comment.add", {}).body["error"] == 100


def test_notify_system_add_logs_notification(portal):
    """§4.9: im.notify.system.add → int id; the notification is in the portal's log (api-reference/chats/notifications/im-notify-system-add.md)."""
    got = portal.result(
        "im.notify.system.add", {"USER_ID": 2, "MESSAGE": "Новый взнос [b]1000[/b]", "TAG": "DON|1"}
    )
    assert isinstance(got, int)
    [entry] = portal.control("GET", "/logs/notifications")
    assert (entry["id"], entry["user_id"], entry["message"], entry["tag"]) == (
        got,
        2,
        "Новый взнос [b]1000[/b]",
        "DON|1",
    )


@pytest.mark.parametrize(
    ("params", "error"), [({"MESSAGE": "m"}, "USER_ID_EMPTY"), ({"USER_ID": 1}, "MESSAGE_EMPTY")]
)
def test_notify_system_add_errors(portal, params, error):
    """§4.9: USER_ID_EMPTY and MESSAGE_EMPTY (api-reference/chats/notifications/im-notify-system-add.md)."""
    answer = portal.call("im.notify.system.add", params)
    assert (answer.status, answer.body["error"]) == (400, error)


def test_task_add_returns_camelcase_strings(portal, world):
    """§4.8: tasks.task.add → {"task": {"id": "1", "title": ..., "responsibleId": "2"...}} and the task is stored (api-reference/tasks/tasks-task-add.md)."""
    task = portal.result(
        "tasks.task.add",
        {"fields": {"TITLE": "Поблагодарить", "RESPONSIBLE_ID": 2, "UF_CRM_TASK": ["D_1"]}},
    )["task"]
    assert (
        task["id"],
        task["title"],
        task["responsibleId"],
        task["createdBy"],
        task["status"],
    ) == ("1", "Поблагодарить", "2", "1", "2")
    with world.lock:
        assert world.portal(portal.member_id).table("task")["1"]["ufCrmTask"] == ["D_1"]


@pytest.mark.parametrize(
    ("params", "error", "description"),
    [
        ({}, 100, "Could not find value for parameter {fields}"),
        ({"fields": {"RESPONSIBLE_ID": 1}}, "ERROR_CORE", "Task title is not specified<br>"),
        ({"fields": {"TITLE": "t"}}, "ERROR_CORE", "Responsible person not specified<br>"),
    ],
)
def test_task_add_errors(portal, params, error, description):
    """§4.8: 100 without fields; ERROR_CORE for a missing title or responsible (api-reference/tasks/tasks-task-add.md)."""
    answer = portal.call("tasks.task.add", params)
    assert (answer.status, answer.body["error"], answer.body["error_description"]) == (
        400,
        error,
        description,
    )
