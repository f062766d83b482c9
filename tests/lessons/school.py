"""A fund teaching courses: the app installed in a sandbox portal, a course product with its lesson times,
enrolments in «Обучение», the robot fired as a placed automation rule would (bitrix24-rest.md §5.2, §5.4)."""

import time

from rq import Queue
from rq.registry import ScheduledJobRegistry

from b24app import context
from b24app.queue import URGENT

SENDER = "Курсы фонда «Добро» <hello@dobro.example>"
REMINDER = "blago24_lesson_reminder"


class School:
    def __init__(self, portal, app_server, **settings):
        self.portal, self.app = portal, app_server
        portal.control(
            "POST",
            "/install",
            json={"client_id": app_server.client_id, "flow": "ui", "finish": True},
        )
        app_server.run_jobs()
        portal.control("PATCH", "", json={"mailboxes": ["hello@dobro.example"]})
        self.configure(letter_sender=SENDER, letter_channel="bitrix24", **settings)
        ids = context.registry().require(portal.member_id).settings["template_ids"]
        self.category = int(ids["pipelines"]["B24_LEARNING"])
        [prop] = [
            p for p in portal.result("crm.product.property.list") if p["CODE"] == "B24_LESSON_DATES"
        ]
        self.prop = f"PROPERTY_{prop['ID']}"

    def configure(self, **settings) -> None:
        with context.registry().change(self.portal.member_id) as record:
            record.settings.update(settings)

    def course(self, name: str, lessons: list[str]) -> int:
        """A course product whose «Даты занятий» are ``lessons`` (as Bitrix24 stores them)."""
        return self.portal.result(
            "crm.product.add",
            {"fields": {"NAME": name, "PRICE": 0, self.prop: [{"value": t} for t in lessons]}},
        )

    def move_lessons(self, product_id: int, lessons: list[str]) -> None:
        self.portal.result(
            "crm.product.update",
            {"id": product_id, "fields": {self.prop: [{"value": t} for t in lessons]}},
        )

    def enrol(
        self,
        product_id: int,
        email: str = "anna@example.org",
        stage: str = "B24_ENROLLED",
        **fields,
    ) -> int:
        """A contact and their deal in «Обучение» at ``stage`` with the course in its product rows."""
        contact = self.portal.result(
            "crm.contact.add",
            {
                "fields": {
                    "NAME": "Анна",
                    "LAST_NAME": "Иванова",
                    **({"EMAIL": [{"VALUE": email, "VALUE_TYPE": "WORK"}]} if email else {}),
                    **{k: v for k, v in fields.items() if k.startswith("UF_CRM_B24_NO")},
                }
            },
        )
        deal = self.portal.result(
            "crm.deal.add",
            {
                "fields": {
                    "TITLE": "Запись на курс",
                    "CATEGORY_ID": self.category,
                    "STAGE_ID": f"C{self.category}:{stage}",
                    "CONTACT_ID": contact,
                    **{k: v for k, v in fields.items() if not k.startswith("UF_CRM_B24_NO")},
                }
            },
        )
        self.portal.result(
            "crm.deal.productrows.set",
            {"id": deal, "rows": [{"PRODUCT_ID": product_id, "PRICE": 0, "QUANTITY": 1}]},
        )
        return deal

    def move_deal(self, deal_id: int, stage: str) -> None:
        self.portal.result(
            "crm.deal.update", {"id": deal_id, "fields": {"STAGE_ID": f"C{self.category}:{stage}"}}
        )

    def fire(self, deal_id: int, code: str = REMINDER, run: bool = True, **properties) -> dict:
        """The robot run on the deal through the sandbox's control API; its handler call delivered and (with
        ``run``) its job run."""
        started = self.portal.control(
            "POST",
            "/robots/fire",
            json={
                "client_id": self.app.client_id,
                "code": code,
                "document": f"DEAL_{deal_id}",
                "properties": {k: str(v) for k, v in properties.items()},
            },
        )
        self.portal.control("GET", "/robots/runs?wait=1")
        if run:
            self.run_due()
        return self.run(started["id"])

    def run(self, run_id: int) -> dict:
        return next(r for r in self.portal.control("GET", "/robots/runs") if r["id"] == run_id)

    def deliveries(self) -> None:
        """Events the portal queued reach the app (ONCRMPRODUCTUPDATE, ONCRMDEALUPDATE)."""
        self.portal.control("GET", "/robots/runs?wait=1")

    def run_due(self) -> None:
        """What RQ's scheduler does at this moment (jobs due by the clock moved to their queue), then the
        queued jobs run in a burst worker."""
        redis = self.app.redis
        registry, queue = (
            ScheduledJobRegistry(URGENT, connection=redis),
            Queue(URGENT, connection=redis),
        )
        for job_id in registry.get_jobs_to_schedule(int(time.time())):
            job = queue.fetch_job(job_id)
            registry.remove(job_id)
            if job is not None:
                queue.enqueue_job(job)
        self.app.run_jobs()

    def reminders(self) -> list[dict]:
        """The reminder letters in the sandbox outbox."""
        return [
            m
            for m in self.portal.control("GET", "/outbox")
            if "занят" in str(m.get("subject", "")).lower()
        ]

    def comments(self, deal_id: int) -> list[str]:
        rows = self.portal.result(
            "crm.timeline.comment.list", {"filter": {"ENTITY_TYPE": "deal", "ENTITY_ID": deal_id}}
        )
        return [r["COMMENT"] for r in rows]
