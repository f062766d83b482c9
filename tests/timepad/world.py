"""A fund with Timepad connected: the sandbox portal with the app installed, and the sandbox's fake Timepad
(b24app/sandbox/timepad.py) seeded through its control API."""

from datetime import UTC, datetime, timedelta

import requests

from b24app import context
from b24app.template.resolved import SmartProcessIds

SECRET = "timepad-test-secret-7c1e9a"
TOKEN = "timepad-api-token-0123456789"


class TimepadFund:
    """An installed portal whose connector points at the fake Timepad's organisation."""

    def __init__(self, sandbox, portal, app_server, end_hours: str = "3"):
        self.sandbox, self.portal, self.app = sandbox, portal, app_server
        portal.control(
            "POST",
            "/install",
            json={"client_id": app_server.client_id, "flow": "ui", "finish": True},
        )
        app_server.run_jobs()
        self.org = self.control(
            "POST", "/organizations", json={"name": "Центр «Знание»", "token": TOKEN}
        )
        with context.registry().change(portal.member_id) as record:
            record.settings |= {"timepad_secret": SECRET, "timepad_token": TOKEN, "timepad_end_hours": end_hours,
                                "timepad_organization_id": str(self.org["id"])}  # fmt: skip
            self.key = record.key
        ids = record.settings["template_ids"]["smart_processes"]["B24_PARTICIPATION"]
        self.etid, self.type_id = ids["entityTypeId"], ids["id"]

    def control(self, verb: str, path: str, **kw):
        resp = requests.request(
            verb, f"{self.sandbox.url}/_sandbox/timepad{path}", timeout=60, **kw
        )
        assert resp.status_code < 300, resp.text
        return resp.json()

    def event(self, name: str = "Семинар", starts: timedelta = timedelta(hours=-5),
              ends: timedelta | None = timedelta(hours=-3)) -> dict:  # fmt: skip
        now = datetime.now(UTC)
        return self.control("POST", "/events", json={"organization_id": self.org["id"], "name": name,
                            "starts_at": (now + starts).isoformat(),
                            "ends_at": (now + ends).isoformat() if ends is not None else None})  # fmt: skip

    def orders(self, event: dict, *orders: dict) -> list[dict]:
        return self.control("POST", f"/events/{event['id']}/orders", json={"orders": list(orders)})[
            "orders"
        ]

    def hook(self, order: dict, shape: str = "order", secret: str = SECRET) -> list[dict]:
        url = f"{self.app.url}/hooks/{self.key}/timepad"
        return self.control("POST", f"/orders/{order['id']}/hook", json={"url": url, "secret": secret,
                                                                         "shape": shape})["sent"]  # fmt: skip

    def every(self, method: str, params: dict, items: bool = False) -> list[dict]:
        """Every row of a list method, page by page (``start``)."""
        rows, start = [], 0
        while True:
            answer = self.portal.call(method, {**params, "start": start})
            rows += answer.result["items"] if items else answer.result
            if "next" not in answer.body:
                return rows
            start = answer.body["next"]

    def items(self) -> list[dict]:
        rows = self.every(
            "crm.item.list", {"entityTypeId": self.etid, "select": ["*", "ufCrm*"]}, items=True
        )
        return sorted(rows, key=lambda r: r["id"])

    def f(self, code: str) -> str:
        """An item field's crm.item name (camelCase, bitrix24-rest.md §4.2)."""
        return SmartProcessIds(self.etid, self.type_id, 0).item_field(f"B24_{code}")

    def stage(self, item: dict) -> str:
        return item["stageId"].partition(":")[2]

    def contacts(self) -> list[dict]:
        return self.every(
            "crm.contact.list", {"select": ["*", "UF_*", "EMAIL", "PHONE"], "order": {"ID": "ASC"}}
        )

    def by_contact(self) -> dict[int, str]:
        """contact id → stage code of its participation."""
        return {int(i["contactId"]): self.stage(i) for i in self.items()}


def ticket(name: str, surname: str, mail: str, **kw) -> dict:
    return {"name": name, "surname": surname, "mail": mail, **kw}
