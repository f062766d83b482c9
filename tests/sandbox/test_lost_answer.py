"""The "lost answer" fault (docs/sandbox.md, Observing and disturbing a portal): the call is applied, then
the connection is closed at once or held past the client's timeout; ``command`` narrows a batch plan."""

import time

import pytest
import requests


def contacts(portal) -> list[str]:
    return [c["NAME"] for c in portal.result("crm.contact.list", {"select": ["NAME"]})]


def test_lost_close_applies_the_call_and_drops_the_answer(portal):
    """The client sees the connection die, yet the contact exists (exactly once)."""
    portal.control("POST", "/faults", json={"method": "crm.contact.add", "lost": "close"})
    with pytest.raises(requests.ConnectionError):
        portal.call("crm.contact.add", {"fields": {"NAME": "Потерянный"}})
    assert contacts(portal) == ["Потерянный"]
    portal.call("crm.contact.add", {"fields": {"NAME": "Второй"}})  # the plan is used up
    assert contacts(portal) == ["Потерянный", "Второй"]


def test_lost_timeout_holds_the_answer_past_the_clients_patience(portal):
    """``timeout`` holds the connection ``hold`` seconds: a client with less patience times out."""
    portal.control(
        "POST", "/faults", json={"method": "crm.contact.add", "lost": "timeout", "hold": 1.5}
    )
    began = time.monotonic()
    with pytest.raises(requests.Timeout):
        requests.post(portal.webhook + "crm.contact.add", json={"fields": {"NAME": "Долгий"}},
                      timeout=0.5)  # fmt: skip
    assert time.monotonic() - began < 1.4
    time.sleep(1.2)
    assert contacts(portal) == ["Долгий"]


def test_command_filter_loses_only_the_batch_that_holds_the_command(portal):
    """A ``batch`` plan with ``command`` passes batches without that command and loses the first with it."""
    portal.control(
        "POST", "/faults", json={"method": "batch", "command": "crm.contact.add", "lost": "close"}
    )
    read = portal.result("batch", {"cmd": {"a": "crm.contact.list"}})
    assert read["result"]["a"] == []
    with pytest.raises(requests.ConnectionError):
        portal.call(
            "batch", {"cmd": {"a": "crm.contact.list", "b": "crm.contact.add?fields[NAME]=Пакет"}}
        )
    assert contacts(portal) == ["Пакет"]


def test_command_filter_fails_one_batch_with_an_error(portal):
    """An error plan with ``command`` fails only the HTTP request of a batch holding that command."""
    portal.control("POST", "/faults", json={"method": "batch", "command": "crm.deal.add", "error":
                                            "QUERY_LIMIT_EXCEEDED", "status": 503})  # fmt: skip
    assert portal.call("batch", {"cmd": {"a": "crm.contact.add?fields[NAME]=x"}}).status == 200
    answer = portal.call("batch", {"cmd": {"a": "crm.deal.add?fields[TITLE]=y"}})
    assert answer.status == 503 and answer.body["error"] == "QUERY_LIMIT_EXCEEDED"
    assert portal.result("crm.deal.list") == []


def test_active_faults_can_be_read_and_bad_plans_are_400(sandbox, portal):
    """GET …/faults lists the plans with calls left; an unknown ``lost`` is a 400 naming the field."""
    portal.control("POST", "/faults", json={"method": "server.time", "lost": "close", "count": 2})
    portal.control(
        "POST", "/faults", json={"method": "crm.deal.add", "error": "INTERNAL", "status": 500}
    )
    with pytest.raises(requests.ConnectionError):
        portal.call("server.time")
    plans = portal.control("GET", "/faults")["faults"]
    assert [(p["method"], p["count"], p["lost"]) for p in plans] == [
        ("server.time", 1, "close"), ("crm.deal.add", 1, None)]  # fmt: skip
    resp = requests.post(f"{sandbox.url}/_sandbox/portals/{portal.member_id}/faults",
                         json={"method": "x", "lost": "later"}, timeout=10)  # fmt: skip
    assert resp.status_code == 400 and "lost" in resp.json()["error"]
