"""The sandbox control API (docs/sandbox.md): portals, counters, injected faults, reset, saving state."""

import time

import requests

from b24app.sandbox import SandboxServer


def test_create_portal_returns_member_id_and_admin_webhook(sandbox):
    """POST /_sandbox/portals gives member_id, domain and a working admin incoming-webhook URL."""
    info = requests.post(f"{sandbox.url}/_sandbox/portals", json={"domain": "fond.bitrix24.test",
                                                                  "plan": "enterprise"}, timeout=10).json()  # fmt: skip
    assert len(info["member_id"]) == 32 and info["domain"] == "fond.bitrix24.test"
    assert info["settings"]["plan"] == "enterprise"
    assert (
        requests.post(info["webhook_url"] + "profile", timeout=10).json()["result"]["ADMIN"] is True
    )


def test_bad_control_calls_are_4xx_with_a_message(sandbox):
    """Control calls name the problem: unknown plan, unknown portal, missing handler."""
    bad_plan = requests.post(f"{sandbox.url}/_sandbox/portals", json={"plan": "gold"}, timeout=10)
    assert bad_plan.status_code == 400 and "plan" in bad_plan.json()["error"]
    assert requests.get(f"{sandbox.url}/_sandbox/portals/nope", timeout=10).status_code == 404
    assert requests.post(f"{sandbox.url}/_sandbox/apps", json={}, timeout=10).status_code == 400


def test_counters_count_each_method_including_batch_commands(portal):
    """Per-method request counters: batch and each command inside it count; reset clears them."""
    portal.result("crm.contact.add", {"fields": {"NAME": "A"}})
    portal.result(
        "batch", {"cmd": {"a": "crm.contact.list", "b": "crm.contact.add?fields[NAME]=B"}}
    )
    assert portal.control("GET", "/counters") == {
        "crm.contact.add": 2,
        "batch": 1,
        "crm.contact.list": 1,
    }
    portal.control("DELETE", "/counters")
    assert portal.control("GET", "/counters") == {}


def test_fault_injection_error_and_status(portal):
    """Faults: the next N calls of method M fail with error E and HTTP status S, then it works again."""
    portal.control("POST", "/faults", json={"method": "crm.contact.add", "count": 2,
                                            "error": "INTERNAL_SERVER_ERROR", "status": 500})  # fmt: skip
    answers = [portal.call("crm.contact.add", {"fields": {"NAME": "x"}}) for _ in range(3)]
    assert [a.status for a in answers] == [500, 500, 200]
    assert answers[0].body["error"] == "INTERNAL_SERVER_ERROR"
    assert portal.call("crm.contact.list").body["total"] == 1


def test_fault_injection_latency(portal):
    """Faults: added latency slows the next call without failing it."""
    portal.control("POST", "/faults", json={"method": "server.time", "latency": 0.5})
    began = time.monotonic()
    assert portal.call("server.time").status == 200
    assert time.monotonic() - began >= 0.5


def test_fault_can_simulate_a_rate_limit(portal):
    """Faults: a 503 QUERY_LIMIT_EXCEEDED on demand, for retry tests of clients."""
    portal.control("POST", "/faults", json={"method": "*", "error": "QUERY_LIMIT_EXCEEDED",
                                            "description": "Too many requests", "status": 503})  # fmt: skip
    assert portal.call("server.time").status == 503
    assert portal.call("server.time").status == 200


def test_reset_forgets_everything(sandbox, portal):
    """POST /_sandbox/reset empties the world."""
    requests.post(f"{sandbox.url}/_sandbox/reset", json={}, timeout=10)
    assert requests.get(f"{sandbox.url}/_sandbox/portals", timeout=10).json() == []


def test_state_saved_to_a_json_file_and_loaded_back(tmp_path):
    """State can be kept in a JSON file: a new server on the same file sees the same portal and data."""
    path = tmp_path / "world.json"
    first = SandboxServer(save_path=str(path)).start()
    portal = first.world.create_portal(limits=False)
    hook = first.world.webhook_url(portal)
    requests.post(hook + "crm.contact.add", json={"fields": {"NAME": "Сохранённый"}}, timeout=10)
    first.stop()
    second = SandboxServer(save_path=str(path)).start()
    try:
        hook2 = second.world.webhook_url(second.world.portal(portal.member_id))
        got = requests.post(hook2 + "crm.contact.get", json={"id": 1}, timeout=10).json()["result"]
        assert got["NAME"] == "Сохранённый"
    finally:
        second.stop()


def test_faults_reach_commands_inside_a_batch(portal):
    """Faults apply to commands inside a batch too (fast-bitrix24's call() always sends a batch)."""
    portal.control("POST", "/faults", json={"method": "crm.contact.add", "error": "INTERNAL_SERVER_ERROR",
                                            "status": 500})  # fmt: skip
    out = portal.result(
        "batch",
        {"cmd": {"a": "crm.contact.add?fields[NAME]=x", "b": "crm.contact.add?fields[NAME]=y"}},
    )
    assert out["result_error"]["a"]["error"] == "INTERNAL_SERVER_ERROR" and isinstance(
        out["result"]["b"], int
    )


def test_settings_are_validated(sandbox, portal):
    """A bad time zone, limit or cost is refused with 400 instead of breaking the portal later."""
    url = f"{sandbox.url}/_sandbox/portals/{portal.member_id}"
    for bad in ({"timezone": "Mars/Base"}, {"operating_limit_seconds": "many"}, {"method_costs": {"x": "slow"}},
                {"rate_limit": "yes"}):  # fmt: skip
        resp = requests.patch(url, json=bad, timeout=10)
        assert resp.status_code == 400, bad
    assert portal.call("server.time").status == 200


def test_install_into_an_unreachable_app_is_502(sandbox, portal):
    """Installing an app whose handler does not answer is a 502 naming the app, not a 500."""
    app = requests.post(
        f"{sandbox.url}/_sandbox/apps", json={"handler": "http://127.0.0.1:9/none"}, timeout=10
    ).json()
    resp = requests.post(f"{sandbox.url}/_sandbox/portals/{portal.member_id}/install",
                         json={"client_id": app["client_id"], "flow": "ui"}, timeout=30)  # fmt: skip
    assert resp.status_code == 502 and "did not answer" in resp.json()["error"]
