"""Fixtures for sandbox conformance tests: an app installed by the no-UI flow, with its tokens."""

from dataclasses import dataclass

import pytest
import requests

from b24app.inbound import unflatten


@dataclass
class InstalledApp:
    """An app installed into a portal: its registration and the ONAPPINSTALL auth block."""

    app: dict
    auth: dict
    rest_url: str

    def call(
        self, method: str, params: dict | None = None, token: str | None = None
    ) -> requests.Response:
        body = {**(params or {}), "auth": token or self.auth["access_token"]}
        return requests.post(self.rest_url + method, json=body, timeout=30)


@pytest.fixture
def installed_app(sandbox, portal, recorder) -> InstalledApp:
    """Register an app whose handler is the recorder and install it by the no-UI flow (ONAPPINSTALL)."""
    app = requests.post(f"{sandbox.url}/_sandbox/apps",
                        json={"handler": recorder.url + "/install", "ui": False,
                              "scopes": ["crm", "user", "placement", "bizproc"]}, timeout=10).json()  # fmt: skip
    portal.control("POST", "/install", json={"client_id": app["client_id"], "flow": "event"})
    form = unflatten(recorder.wait(1)[0]["form"])
    return InstalledApp(app, form["auth"], form["auth"]["client_endpoint"])
