"""Install, update, uninstall and the CRM template against the sandbox portal (bitrix24-rest.md §1, §4–§7)."""

import json

import pytest
import requests

from b24app import context
from b24app.__main__ import main
from b24app.template import NONPROFIT

WRITE_VERBS = (".add", ".update", ".delete", ".bind", ".unbind", ".set")


def install(portal, app_server, flow="ui"):
    result = portal.control(
        "POST", "/install", json={"client_id": app_server.client_id, "flow": flow, "finish": True}
    )
    assert result["installed"] is True, result
    app_server.run_jobs()
    return result


def writes(counters: dict) -> dict:
    return {m: n for m, n in counters.items() if m.endswith(WRITE_VERBS)}


def status(member_id):
    from b24app.installation import template_status

    return template_status(member_id)


def test_ui_flow_creates_the_whole_template(portal, app_server):
    """§1.1 UI flow: install page → installFinish; the job creates every template item (nothing missing)."""
    install(portal, app_server)
    items = status(portal.member_id)["items"]
    assert [i for i in items if i["status"] != "present"] == []
    assert len(items) > 150
    names = {
        c["name"] for c in portal.result("crm.category.list", {"entityTypeId": 2})["categories"]
    }
    assert {p.name.ru for p in NONPROFIT.pipelines} <= names
    fields = {f["FIELD_NAME"] for f in portal.result("crm.deal.userfield.list")}
    assert {"UF_CRM_B24_PAYMENT_ID", "UF_CRM_B24_THANKS", "UF_CRM_B24_LESSON_DATES"} <= fields
    inst = portal.control("GET", "")["installs"][app_server.client_id]
    assert {e["event"] for e in inst["events"]} == {"ONAPPUPDATE", "ONAPPUNINSTALL", "ONCRMPRODUCTUPDATE",
                                                   "ONCRMDEALUPDATE"}  # fmt: skip
    record = context.registry().require(portal.member_id)
    assert record.status == "installed" and record.template_version == NONPROFIT.version


def test_online_donations_pipeline_has_its_stages_with_semantics(portal, app_server):
    """§4.5/§4.6: the pipeline «Электронные пожертвования» holds Начато → Успешно (S) / Отказ, Возврат (F)."""
    install(portal, app_server)
    cat = next(c for c in portal.result("crm.category.list", {"entityTypeId": 2})["categories"]
               if c["name"] == "Электронные пожертвования")  # fmt: skip
    stages = portal.result("crm.status.list", {"filter": {"ENTITY_ID": f"DEAL_STAGE_{cat['id']}"},
                                               "order": {"SORT": "ASC"}})  # fmt: skip
    assert [s["NAME"] for s in stages] == ["Начато", "Успешно", "Отказ", "Возврат"]
    assert [s["SEMANTICS"] for s in stages] == [None, "S", "F", "F"]


def test_no_ui_flow_creates_the_same_template(sandbox, portal, redis_url):
    """§1.1 no-UI flow (ONAPPINSTALL) ends with the same template as the UI flow."""
    from tests.conftest import AppServer

    server = AppServer(redis_url, sandbox, ui=False)
    try:
        result = portal.control(
            "POST", "/install", json={"client_id": server.client_id, "flow": "event"}
        )
        assert result == {"status": 200, "installed": True}
        server.run_jobs()
        items = status(portal.member_id)["items"]
        assert [i for i in items if i["status"] != "present"] == []
    finally:
        server.stop()


def test_second_install_makes_zero_write_calls(portal, app_server):
    """A second install (and ONAPPUPDATE) re-plans with reads only: 0 write calls on the sandbox counters."""
    install(portal, app_server)
    first = status(portal.member_id)["writes"]
    assert first > 100
    portal.control("DELETE", "/counters")
    install(portal, app_server)
    counters = portal.control("GET", "/counters")
    assert writes(counters) == {} and counters["batch"] <= 7  # 6 to plan, 1 for the enumeration ids
    assert status(portal.member_id)["writes"] == 0


def test_what_users_renamed_is_neither_renamed_back_nor_duplicated(portal, app_server):
    """The reconciler never renames or deletes what users made: a renamed pipeline is reported as differing."""
    install(portal, app_server)
    cats = portal.result("crm.category.list", {"entityTypeId": 2})["categories"]
    online = next(c for c in cats if c["name"] == "Электронные пожертвования")
    portal.result(
        "crm.category.update", {"entityTypeId": 2, "id": online["id"], "fields": {"name": "Онлайн"}}
    )
    portal.control("DELETE", "/counters")
    app_server.run_jobs()
    from b24app.installation import apply_template

    assert apply_template(portal.member_id)["writes"] == 0
    after = portal.result("crm.category.list", {"entityTypeId": 2})["categories"]
    assert len(after) == len(cats)
    row = next(i for i in status(portal.member_id)["items"] if i["key"] == "B24_ONLINE")
    assert row["status"] == "differs" and "Онлайн" in row["detail"]


def test_update_takes_the_new_application_token_and_reapplies(sandbox, portal, app_server):
    """§1.3 ONAPPUPDATE: the new application_token is kept (after checking its access token); template re-planned."""
    install(portal, app_server)
    old = context.registry().require(portal.member_id).application_token
    requests.post(
        f"{sandbox.url}/_sandbox/apps/{app_server.client_id}/update",
        json={"version": 2},
        timeout=10,
    )
    deliveries = portal.control("GET", "/logs/deliveries?wait=1")
    update = [d for d in deliveries if d.get("event") == "ONAPPUPDATE"]
    assert update and update[-1]["status"] == 200
    new = context.registry().require(portal.member_id).application_token
    assert (
        new != old
        and new == portal.control("GET", "")["installs"][app_server.client_id]["application_token"]
    )


def test_uninstall_with_clean_leaves_nothing_stored(sandbox, portal, app_server):
    """§1.4 ONAPPUNINSTALL with CLEAN=1 (checked by application_token) deletes everything of that portal."""
    install(portal, app_server)
    assert any(portal.member_id in k.decode() for k in app_server.redis.keys("*"))
    portal.control("POST", "/uninstall", json={"client_id": app_server.client_id, "clean": True})
    portal.control("GET", "/logs/deliveries?wait=1")
    app_server.run_jobs()
    assert [k for k in app_server.redis.keys("*") if portal.member_id in k.decode()] == []
    assert context.registry().get(portal.member_id) is None


def test_uninstall_without_clean_keeps_settings(sandbox, portal, app_server):
    """§1.4 CLEAN=0: the portal is marked uninstalled, tokens dropped, its settings kept for a reinstall."""
    install(portal, app_server)
    main(["settings", "--portal", portal.member_id, "letter_sender=Фонд <fund@example.org>"])
    portal.control("POST", "/uninstall", json={"client_id": app_server.client_id, "clean": False})
    portal.control("GET", "/logs/deliveries?wait=1")
    app_server.run_jobs()
    record = context.registry().require(portal.member_id)
    assert record.status == "uninstalled" and record.access_token == ""
    assert record.settings["letter_sender"] == "Фонд <fund@example.org>"


def queued(redis) -> int:
    return sum(redis.llen(k) for k in redis.keys("rq:queue:*"))


@pytest.mark.parametrize("change", ["application_token", "member_id"])
def test_forged_event_is_401_and_queues_nothing(portal, app_server, change):
    """§6.2: an event whose application_token or member_id does not match gets 401; nothing is queued."""
    install(portal, app_server)
    record = context.registry().require(portal.member_id)
    auth = {
        "domain": record.domain,
        "member_id": record.member_id,
        "application_token": record.application_token,
    }
    auth[change] = "forged"
    form = {
        "event": "ONAPPUNINSTALL",
        "data[CLEAN]": "1",
        **{f"auth[{k}]": v for k, v in auth.items()},
    }
    before = queued(app_server.redis)
    resp = requests.post(app_server.url + "/bitrix/events", data=form, timeout=10)
    assert resp.status_code == 401 and "application_token" in resp.json()["message"]
    assert queued(app_server.redis) == before
    assert context.registry().get(portal.member_id) is not None


def test_forged_robot_call_is_401(portal, app_server):
    """§5.2: a robot call with a wrong application_token is refused before the robot is looked up."""
    install(portal, app_server)
    form = {"code": "any", "auth[member_id]": portal.member_id, "auth[application_token]": "forged"}
    assert requests.post(app_server.url + "/robots/any", data=form, timeout=10).status_code == 401
    assert queued(app_server.redis) == 0


def test_forged_placement_is_401(portal, app_server):
    """§7.1: an app page opened with a wrong application_token or unknown member_id gets 401."""
    install(portal, app_server)
    record = context.registry().require(portal.member_id)
    form = {"AUTH_ID": record.access_token, "REFRESH_ID": "x", "member_id": portal.member_id,
            "APPLICATION_TOKEN": "forged", "PLACEMENT": "LEFT_MENU"}  # fmt: skip
    url = app_server.url + "/app?DOMAIN=x&PROTOCOL=0&LANG=ru&APP_SID=1"
    assert requests.post(url, data=form, timeout=10).status_code == 401
    form.update(APPLICATION_TOKEN=record.application_token, member_id="0" * 32)
    assert requests.post(url, data=form, timeout=10).status_code == 401


def test_placement_opens_the_app_page_with_template_status(portal, app_server):
    """§7.1: the LEFT_MENU placement the installer bound opens the app page, which lists the template items."""
    install(portal, app_server)
    opened = portal.control("POST", "/placements/open", json={"client_id": app_server.client_id,
                                                              "placement": "LEFT_MENU"})  # fmt: skip
    assert opened["status"] == 200
    assert "Электронные пожертвования" in opened["html"] and 'id="settings-form"' in opened["html"]


def test_bad_install_input_is_400_naming_the_fields(app_server):
    """Bad input gets a 4xx that names the problem, never a 500."""
    resp = requests.post(app_server.url + "/install", data={"DOMAIN": "x.bitrix24.ru"}, timeout=10)
    assert resp.status_code == 400
    assert "AUTH_ID" in resp.json()["message"] and "member_id" in resp.json()["message"]


def test_forged_install_is_401(sandbox, portal, app_server):
    """§1.2: an install POST whose AUTH_ID the portal does not confirm (app.info) is refused."""
    form = {
        "AUTH_ID": "forged",
        "REFRESH_ID": "x",
        "member_id": portal.member_id,
        "APPLICATION_TOKEN": "t",
    }
    url = f"{app_server.url}/install?DOMAIN={portal.portal.domain}&PROTOCOL=0&LANG=ru&APP_SID=1"
    assert requests.post(url, data=form, timeout=10).status_code == 401
    assert context.registry().get(portal.member_id) is None


def test_cli_portals_settings_and_plan(portal, app_server, capsys):
    """`b24app portals`, `b24app settings` and `b24app install --plan` from the command line."""
    install(portal, app_server)
    capsys.readouterr()
    main(["portals"])
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["member_id"] == portal.member_id and rows[0]["status"] == "installed"
    assert rows[0]["webhooks"]["cloudpayments/pay"].startswith(app_server.url + "/hooks/")
    main(
        [
            "settings",
            "--portal",
            portal.member_id,
            "cloudpayments_secret=cp-api-secret-3f9a",
            "letter_channel=smtp",
        ]
    )
    shown = json.loads(capsys.readouterr().out)
    assert shown["cloudpayments_secret"] == "set" and shown["letter_channel"] == "smtp"
    assert main(["settings", "--portal", portal.member_id, "letter_channel=pigeon"]) == 2
    assert main(["settings", "--portal", portal.member_id, "leyka_secret=short"]) == 2  # guessable
    main(["install", "--portal", portal.member_id, "--plan"])
    assert capsys.readouterr().out.strip().endswith("0 missing")


def test_cli_dedup_scan_proposes_and_writes_the_report(
    portal, app_server, tmp_path, capsys, monkeypatch
):
    """`b24app dedup scan --report FILE` (no --apply) finds a duplicate pair, proposes it in the report
    (Russian headers, ";", BOM) and changes nothing in the portal."""
    install(portal, app_server)
    for email in ("olga@example.ru", "OLGA@example.ru"):
        portal.result("crm.contact.add", {"fields": {"NAME": "Ольга", "LAST_NAME": "Петрова",
                                                     "EMAIL": [{"VALUE": email}]}})  # fmt: skip
    portal.control("DELETE", "/counters")
    monkeypatch.setenv("LANG", "ru_RU.UTF-8")
    report = tmp_path / "dedup.csv"
    assert main(["dedup", "scan", "--portal", portal.member_id, "--report", str(report)]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["clusters"] == 1 and summary["proposed"] == 1 and summary["applied"] is False
    assert "1;1 2;1;предложено объединить;" in report.read_text(encoding="utf-8")
    assert not writes(portal.control("GET", "/counters"))
