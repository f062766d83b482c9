"""The Timepad connector's settings (issue 16): new keys validated, and no switching it on without the
webhook secret (every hook would be refused)."""

import json

from b24app import context
from b24app.__main__ import main


def test_timepad_cannot_be_switched_on_without_its_webhook_secret(portal, app_server, capsys):
    portal.control(
        "POST", "/install", json={"client_id": app_server.client_id, "flow": "ui", "finish": True}
    )
    app_server.run_jobs()
    m = portal.member_id
    assert main(["settings", "--portal", m, "timepad_token=tok-0123456789abcdef"]) == 2
    assert "timepad_secret" in capsys.readouterr().err
    assert main(["settings", "--portal", m, "timepad_organization_id=29963"]) == 2
    assert not context.registry().require(m).settings.get("timepad_organization_id")  # nothing kept
    assert (
        main(
            [
                "settings",
                "--portal",
                m,
                "timepad_organization_id=12a",
                "timepad_secret=s3cret-phrase-1",
            ]
        )
        == 2
    )
    assert (
        main(
            ["settings", "--portal", m, "timepad_end_hours=three", "timepad_secret=s3cret-phrase-1"]
        )
        == 2
    )
    capsys.readouterr()
    assert main(["settings", "--portal", m, "timepad_secret=s3cret-phrase-1", "timepad_token=tok-0123456789abcdef",
                 "timepad_organization_id=29963", "timepad_end_hours=5"]) == 0  # fmt: skip
    shown = json.loads(capsys.readouterr().out)
    assert shown["timepad_secret"] == "set" and shown["timepad_token"] == "set"
    assert shown["timepad_organization_id"] == "29963" and shown["timepad_end_hours"] == "5"
