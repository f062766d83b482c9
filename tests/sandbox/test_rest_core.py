"""REST endpoint conformance: URLs, parameters, auth, envelopes, PHP JSON, paging (bitrix24-rest.md §2)."""

import requests

from b24app.sandbox.phpjson import flatten

TIME_KEYS = {"start", "finish", "duration", "processing", "date_start", "date_finish",
             "operating_reset_at", "operating"}  # fmt: skip


def test_url_forms_all_reach_the_method(sandbox, portal):
    """§2.1: /rest/<method>, .json suffix, upper-case names and webhook paths /rest/<user>/<code>/<method>."""
    code = portal.webhook.rstrip("/").split("/")[-1]
    urls = [
        f"{sandbox.url}/rest/1/{code}/server.time",
        f"{sandbox.url}/rest/1/{code}/server.time.json",
        f"{sandbox.url}/rest/1/{code}/SERVER.TIME",
        f"{portal.webhook}server.time",
    ]
    for url in urls:
        resp = requests.post(url, timeout=10)
        assert resp.status_code == 200, url
        assert "result" in resp.json()


def test_success_envelope_has_time_block(portal):
    """§2.2: result plus the time block with operating and operating_reset_at."""
    body = portal.call("server.time").body
    assert set(body) == {"result", "time"}
    assert set(body["time"]) == TIME_KEYS
    assert body["time"]["date_start"].endswith("+03:00")


def test_params_from_query_json_and_form_with_body_winning(portal):
    """§2.1: query and body are merged, the body wins; JSON and form bodies both parse."""
    resp = requests.post(portal.webhook + "crm.contact.add?fields[NAME]=Query&fields[LAST_NAME]=Q",
                         json={"fields": {"NAME": "Тело"}}, timeout=10)  # fmt: skip
    contact = portal.result("crm.contact.get", {"id": resp.json()["result"]})
    assert contact["NAME"] == "Тело" and contact["LAST_NAME"] == ""
    form_id = portal.result("crm.contact.add", {"fields": {"NAME": "Форма", "EMAIL": [{"VALUE": "f@x.ru"}]}},
                            form=True)  # fmt: skip
    got = portal.result("crm.contact.get", {"id": form_id})
    assert got["NAME"] == "Форма" and got["EMAIL"][0]["VALUE"] == "f@x.ru"


def test_classic_crm_prints_strings_and_add_returns_int(portal):
    """§2.2: classic crm.* prints ids and numbers as strings, booleans as Y/N; add returns an int."""
    deal_id = portal.result(
        "crm.deal.add", {"fields": {"TITLE": "Взнос", "OPPORTUNITY": 1500, "OPENED": True}}
    )
    assert isinstance(deal_id, int)
    deal = portal.result("crm.deal.get", {"id": deal_id})
    assert deal["ID"] == str(deal_id) and deal["OPPORTUNITY"] == "1500.00" and deal["OPENED"] == "Y"
    assert portal.result("crm.deal.update", {"id": deal_id, "fields": {"TITLE": "x"}}) is True


def test_auth_by_param_access_token_and_bearer(sandbox, installed_app):
    """§2.1: the OAuth token may come as auth=, access_token= or Authorization: Bearer."""
    token, url = installed_app.auth["access_token"], installed_app.rest_url + "user.current"
    assert requests.post(url, data={"auth": token}, timeout=10).status_code == 200
    assert requests.get(url, params={"access_token": token}, timeout=10).status_code == 200
    resp = requests.post(url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert resp.json()["result"]["NAME"] == "Анна"
    assert requests.post(
        f"{sandbox.url}/rest/user.current.json", json={"auth": token}, timeout=10
    ).ok


def test_auth_errors(sandbox, portal, installed_app):
    """§2.3: no auth → 401 NO_AUTH_FOUND; unknown token → 401 invalid_token; bad webhook → 401."""
    resp = requests.post(f"{sandbox.url}/rest/server.time", timeout=10)
    assert (resp.status_code, resp.json()["error"]) == (401, "NO_AUTH_FOUND")
    resp = requests.post(f"{sandbox.url}/rest/server.time", json={"auth": "nope"}, timeout=10)
    assert (resp.status_code, resp.json()["error"]) == (401, "invalid_token")
    resp = requests.post(f"{sandbox.url}/rest/1/wrongcode/server.time", timeout=10)
    assert resp.status_code == 401


def test_expired_token_is_401_expired_token(sandbox, installed_app):
    """§1.5/§2.3: an expired access token gets 401 expired_token with the documented text."""
    requests.post(f"{sandbox.url}/_sandbox/tokens/expire", json={}, timeout=10)
    resp = installed_app.call("user.current")
    assert resp.status_code == 401
    assert resp.json() == {
        "error": "expired_token",
        "error_description": "The access token provided has expired.",
    }


def test_unknown_method_is_404(portal):
    """§2.3: unknown method → 404 ERROR_METHOD_NOT_FOUND "Method not found!"."""
    answer = portal.call("crm.nothing.here")
    assert answer.status == 404
    assert answer.body == {
        "error": "ERROR_METHOD_NOT_FOUND",
        "error_description": "Method not found!",
    }


def test_error_envelope_of_classic_crm(portal):
    """§2.3/§4.1: classic methods use an empty error code: "Not found", "ID is not defined or invalid."."""
    assert portal.call("crm.contact.get", {"id": 999}).body == {
        "error": "",
        "error_description": "Not found",
    }
    bad = portal.call("crm.contact.get", {"id": "abc"})
    assert (bad.status, bad.body["error_description"]) == (400, "ID is not defined or invalid.")


def test_insufficient_scope(sandbox, portal, recorder):
    """§2.3: a method outside the app's scopes → 401 insufficient_scope."""
    from b24app.inbound import unflatten

    app = requests.post(
        f"{sandbox.url}/_sandbox/apps",
        json={"handler": recorder.url, "ui": False, "scopes": ["user"]},
        timeout=10,
    ).json()
    portal.control("POST", "/install", json={"client_id": app["client_id"], "flow": "event"})
    auth = unflatten(recorder.wait(1)[0]["form"])["auth"]
    resp = requests.post(
        auth["client_endpoint"] + "crm.contact.list",
        json={"auth": auth["access_token"]},
        timeout=10,
    )
    assert (resp.status_code, resp.json()["error"]) == (401, "insufficient_scope")


def test_paging_by_50_with_total_and_next(portal):
    """§2.4: pages of 50, total, next only while more rows exist; start is an offset."""
    portal.result(
        "batch", {"cmd": {f"c{i}": f"crm.contact.add?fields[NAME]=N{i}" for i in range(50)}}
    )
    portal.result(
        "batch", {"cmd": {f"c{i}": f"crm.contact.add?fields[NAME]=M{i}" for i in range(20)}}
    )
    first = portal.call("crm.contact.list", {"order": {"ID": "ASC"}}).body
    assert (len(first["result"]), first["total"], first["next"]) == (50, 70, 50)
    second = portal.call("crm.contact.list", {"order": {"ID": "ASC"}, "start": 50}).body
    assert len(second["result"]) == 20 and second["total"] == 70 and "next" not in second
    assert second["result"][0]["ID"] == "51"


def test_fast_mode_start_minus_one(portal):
    """§2.4: start=-1 skips counting: no next, total 0; the >ID filter pattern walks everything."""
    portal.result(
        "batch", {"cmd": {f"c{i}": f"crm.contact.add?fields[NAME]=N{i}" for i in range(50)}}
    )
    portal.result(
        "batch", {"cmd": {f"c{i}": f"crm.contact.add?fields[NAME]=M{i}" for i in range(10)}}
    )
    seen, last = [], 0
    while True:
        body = portal.call("crm.contact.list", {"order": {"ID": "ASC"}, "filter": {">ID": last},
                                                "select": ["ID"], "start": -1}).body  # fmt: skip
        assert "next" not in body and body["total"] == 0
        seen += [int(r["ID"]) for r in body["result"]]
        if len(body["result"]) < 50:
            break
        last = seen[-1]
    assert seen == list(range(1, 61))


def test_empty_list_prints_as_empty_array(portal):
    """§2.2: an empty PHP array prints [] (e.g. an empty list result and empty batch maps)."""
    body = portal.call("crm.contact.list").body
    assert body["result"] == [] and body["total"] == 0
    assert portal.result("batch", {"cmd": {"a": "server.time"}})["result_error"] == []


def test_renamed_portal_answers_302(sandbox, portal):
    """§2.1: a renamed portal redirects its old domain's REST URLs with 302 to the new host."""
    old = portal.webhook
    resp = requests.patch(f"{sandbox.url}/_sandbox/portals/{portal.member_id}", json={"domain": "renamed.bitrix24.test"},
                          timeout=10)  # fmt: skip
    assert resp.ok
    moved = requests.post(old + "server.time", allow_redirects=False, timeout=10)
    assert moved.status_code == 302
    assert "/p/renamed.bitrix24.test/rest/" in moved.headers["Location"]


def test_form_body_with_php_brackets_in_nested_lists(portal):
    """§2.1: PHP bracket notation builds lists of maps (multifields) from a form body."""
    params = {"fields": {"NAME": "Ольга", "PHONE": [{"VALUE": "+79990001122", "VALUE_TYPE": "MOBILE"},
                                                     {"VALUE": "+74950001122"}]}}  # fmt: skip
    resp = requests.post(portal.webhook + "crm.contact.add", data=flatten(params), timeout=10)
    phones = portal.result("crm.contact.get", {"id": resp.json()["result"]})["PHONE"]
    assert [(p["VALUE"], p["VALUE_TYPE"]) for p in phones] == [
        ("+79990001122", "MOBILE"),
        ("+74950001122", "WORK"),
    ]
