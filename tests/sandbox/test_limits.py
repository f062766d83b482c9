"""Limits (bitrix24-rest.md §3; docs limits.md): the per-portal leaky bucket and the operating-time limiter."""

import time

import requests


def settings(sandbox, portal, **values):
    resp = requests.patch(
        f"{sandbox.url}/_sandbox/portals/{portal.member_id}", json=values, timeout=10
    )
    assert resp.ok, resp.text


def burst(portal, n):
    return [portal.call("server.time") for _ in range(n)]


def test_leaky_bucket_admits_a_burst_of_50_then_503(limited_portal):
    """§3.1: bucket 50, drained 2/s; over it → 503 QUERY_LIMIT_EXCEEDED "Too many requests"."""
    answers = burst(limited_portal, 60)
    assert all(a.status == 200 for a in answers[:50])
    refused = [a for a in answers[50:] if a.status == 503]
    assert len(refused) >= 8
    assert refused[0].body == {
        "error": "QUERY_LIMIT_EXCEEDED",
        "error_description": "Too many requests",
    }


def test_bucket_drains_two_per_second(limited_portal):
    """§3.1: after a full burst, about 2 requests a second get through again."""
    burst(limited_portal, 55)
    time.sleep(1.1)
    again = burst(limited_portal, 5)
    assert [a.status for a in again].count(200) in (
        2,
        3,
    )  # 2.2 drained, plus what the burst left below 50
    assert again[-1].status == 503


def test_batch_counts_as_one_request(limited_portal):
    """§3.1: a batch of 50 commands is one request for the bucket."""
    cmd = {f"c{i}": "server.time" for i in range(50)}
    answers = [limited_portal.call("batch", {"cmd": cmd}) for _ in range(45)]
    assert all(a.status == 200 for a in answers)


def test_enterprise_plan_has_bucket_250(sandbox, limited_portal):
    """§3.1: Enterprise drains 5/s with a bucket of 250."""
    settings(sandbox, limited_portal, plan="enterprise")
    began = time.monotonic()
    answers = burst(limited_portal, 400)
    elapsed = time.monotonic() - began
    admitted = [a.status for a in answers].count(200)
    assert all(a.status == 200 for a in answers[:250])
    assert 250 <= admitted <= 250 + 5 * elapsed + 1
    assert [a.status for a in answers].count(503) >= 100


def test_limits_can_be_switched_off(portal):
    """Unit-test portals have both limits off: 120 quick calls all pass."""
    assert all(a.status == 200 for a in burst(portal, 120))


def test_operating_limit_blocks_the_method_with_429(sandbox, portal):
    """§3.2: accumulated time over the limit → 429 OPERATION_TIME_LIMIT; the call that crosses it completes."""
    settings(sandbox, portal, operating_limit=True, operating_limit_seconds=250,
             method_costs={"crm.contact.list": 100})  # fmt: skip
    first = [portal.call("crm.contact.list") for _ in range(3)]
    assert [a.status for a in first] == [200, 200, 200]
    assert first[-1].body["time"]["operating"] == 300
    assert first[-1].body["time"]["operating_reset_at"] > time.time()
    blocked = portal.call("crm.contact.list")
    assert blocked.status == 429
    assert blocked.body == {"error": "OPERATION_TIME_LIMIT",
                            "error_description": "Method is blocked due to operation time limit."}  # fmt: skip
    assert portal.call("crm.contact.add", {"fields": {"NAME": "другой метод"}}).status == 200


def test_operating_limit_applies_inside_batch_per_method(sandbox, portal):
    """§2.5/§3.2: batch itself is not limited; its commands are counted per method."""
    settings(sandbox, portal, operating_limit=True, operating_limit_seconds=150,
             method_costs={"crm.contact.list": 100})  # fmt: skip
    out = portal.result("batch", {"cmd": {"a": "crm.contact.list", "b": "crm.contact.list",
                                          "c": "crm.contact.list", "t": "server.time"}})  # fmt: skip
    assert set(out["result"]) == {"a", "b", "t"}
    assert out["result_error"]["c"]["error"] == "OPERATION_TIME_LIMIT"
    assert out["result_time"]["b"]["operating"] == 200


def test_short_calls_are_not_recorded(sandbox, limited_portal):
    """§3.2: calls shorter than 0.1 s add nothing to the operating time."""
    body = limited_portal.call("server.time").body
    assert body["time"]["operating"] == 0
