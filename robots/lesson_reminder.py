"""Robot «Напомнить о занятиях» (product.md C7): schedules one reminder per future lesson of the deal."""

from b24app.lessons import schedule_lesson_reminders
from b24app.letters import Letter
from b24app.robots import Property, Robot, RobotCall, robot_job
from b24app.template.items import Label

CODE = "blago24_lesson_reminder"


@robot_job(CODE)
def remind_of_lessons(member_id: str, call: RobotCall) -> dict:
    """The deal's reminders scheduled; returns scheduled_count and next_reminder_at."""
    values = ROBOT.values(call)
    kind, deal_id = call.entity
    if kind != "deal":
        return {"scheduled_count": 0, "next_reminder_at": ""}
    created, next_at = schedule_lesson_reminders(member_id, deal_id, values["offset_hours"],
                                                 values["template"], by=call.event_token)  # fmt: skip
    return {"scheduled_count": created, "next_reminder_at": next_at}


ROBOT = Robot(
    code=CODE,
    name=Label("Напомнить о занятиях", "Remind of lessons"),
    description=Label(
        "Письмо участнику курса перед каждым занятием (Благо24)",
        "A letter to the course participant before every lesson (Blago24)",
    ),
    properties=(
        ("offset_hours", Property(Label("За сколько часов до занятия", "Hours before the lesson"), "double", "2")),
        ("template", Property(Label("Шаблон письма", "Letter template"), "select", str(Letter.LESSON_REMINDER),
                              ((str(Letter.LESSON_REMINDER), Label("Напоминание о занятии", "Lesson reminder")),))),
    ),
    returns=(
        ("scheduled_count", Property(Label("Запланировано напоминаний", "Reminders scheduled"), "int")),
        ("next_reminder_at", Property(Label("Следующее напоминание", "Next reminder"), "string")),
    ),
    job=remind_of_lessons,
    pipeline="B24_LEARNING",
    stage="B24_ENROLLED",
)  # fmt: skip
