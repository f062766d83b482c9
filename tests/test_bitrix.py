"""The REST facade against the sandbox portal (bitrix24-rest.md §2, §3, §9.1, §9.1a)."""

import time

import pytest
import requests
from fast_bitrix24 import Bitrix

from b24app.bitrix import (
    BitrixAuthError,
    BitrixClient,
    MethodNotFound,
    NotFound,
    OperationTimeLimited,
)


@pytest.fixture
def client(portal) -> BitrixClient:
    return BitrixClient(portal.webhook)


def test_errors_are_typed_with_code_description_and_status(client):
    """§2.3/§9.1: every error keeps the Bitrix code, description and HTTP status (fast-bitrix24 alone loses them)."""
    with pytest.raises(NotFound) as nf:
        client.call("crm.contact.get", {"id": 404})
    assert (nf.value.code, nf.value.description, nf.value.status) == ("", "Not found", 400)
    with pytest.raises(MethodNotFound) as mnf:
        client.call("crm.nothing")
    assert (mnf.value.code, mnf.value.status) == ("ERROR_METHOD_NOT_FOUND", 404)
    with pytest.raises(BitrixAuthError) as auth:
        BitrixClient(client.rest_url.replace("/rest/1/", "/rest/2/")).call("server.time")
    assert auth.value.status == 401


def test_library_default_call_sends_true_as_a_string_and_we_do_not(portal, client):
    """§9.1: fast-bitrix24's plain call() turns True/None into "True"/"None"; the facade sends JSON."""
    lib = Bitrix(portal.webhook, ssl=False, verbose=False)
    lib_id = lib.call(
        "crm.contact.add", {"fields": {"NAME": "Lib", "COMMENTS": None, "POST": True}}
    )
    assert (
        portal.result("crm.contact.get", {"id": lib_id})["COMMENTS"] == "None"
    )  # the pitfall, measured
    ours = client.call(
        "crm.contact.add", {"fields": {"NAME": "Ours", "COMMENTS": None, "POST": True}}
    )
    got = portal.result("crm.contact.get", {"id": ours})
    assert got["COMMENTS"] == "" and got["POST"] == "Y"
    with pytest.raises(TypeError, match="fields\\[OPENED\\]"):
        client.batch({"a": ("crm.contact.add", {"fields": {"OPENED": True}})})


def test_get_returns_the_record_not_a_label_keyed_dict(portal, client):
    """§9.1: fast-bitrix24's get wraps the record as {"order0000000000": {...}}; ours returns it."""
    contact_id = client.call("crm.contact.add", {"fields": {"NAME": "Вера"}})
    record = client.call("crm.contact.get", {"id": contact_id})
    assert record["NAME"] == "Вера" and record["ID"] == str(contact_id)


def test_list_all_uses_the_id_fast_pattern_and_few_requests(portal, client):
    """§2.4: 1,234 contacts come back whole in 2 HTTP requests (1 counted page + 1 batch of fast pages)."""
    client.batch(
        {f"c{i}": ("crm.contact.add", {"fields": {"NAME": f"Донор {i}"}}) for i in range(1234)}
    )
    portal.control("DELETE", "/counters")
    rows = client.list_all("crm.contact.list", {"select": ["ID", "NAME"]})
    assert [int(r["ID"]) for r in rows] == list(range(1, 1235))
    counters = portal.control("GET", "/counters")
    assert counters == {"crm.contact.list": 25, "batch": 1}


def test_list_all_with_a_filter_and_crm_item_shape(portal, client):
    """§2.4: a caller's filter is kept; crm.item.list style results ({"items": [...]}) are read too."""
    client.batch(
        {
            f"c{i}": ("crm.contact.add", {"fields": {"NAME": "A" if i % 2 else "B"}})
            for i in range(130)
        }
    )
    rows = client.list_all("crm.contact.list", {"filter": {"NAME": "A"}, "select": ["ID"]})
    assert len(rows) == 65


def test_list_all_refuses_other_orders(client):
    """The ID fast pattern needs ID ascending; any other order is refused rather than silently wrong."""
    with pytest.raises(ValueError):
        client.list_all("crm.contact.list", {"order": {"NAME": "ASC"}})


def test_batch_over_50_commands_keeps_references_across_requests(portal, client):
    """§2.5: 120 commands go as 3 batches; a reference to a command in an earlier batch still resolves."""
    commands = {"first": ("crm.contact.add", {"fields": {"NAME": "Первый"}})}
    commands |= {f"n{i}": ("server.time", {}) for i in range(100)}
    commands["deal"] = (
        "crm.deal.add",
        {"fields": {"TITLE": "Для $result[first]", "CONTACT_ID": "$result[first]"}},
    )
    commands["read"] = ("crm.deal.get", {"id": "$result[deal]"})
    portal.control("DELETE", "/counters")
    out = client.batch(commands).raise_errors()
    assert out.result["read"]["CONTACT_ID"] == str(out.result["first"])
    assert out.result["read"]["TITLE"] == f"Для {out.result['first']}"
    assert portal.control("GET", "/counters")["batch"] == 3


def test_batch_errors_are_typed_per_command(client):
    """§2.5: a failing command's error is a typed error under its key; raise_errors raises them together."""
    out = client.batch({"ok": ("server.time", {}), "bad": ("crm.contact.get", {"id": 999})})
    assert "ok" in out.result and isinstance(out.errors["bad"], NotFound)
    with pytest.raises(Exception, match="1 command"):
        out.raise_errors()


def test_503_is_retried_with_back_off(portal, client):
    """§3.1: 503 QUERY_LIMIT_EXCEEDED → back-off and repeat; the caller sees the result."""
    portal.control("POST", "/faults", json={"method": "server.time", "count": 2, "error": "QUERY_LIMIT_EXCEEDED",
                                            "description": "Too many requests", "status": 503})  # fmt: skip
    assert client.call("server.time")
    assert portal.control("GET", "/counters")["server.time"] == 3


def test_429_waits_until_operating_reset_at_when_short(sandbox, portal, client):
    """§3.2: 429 OPERATION_TIME_LIMIT → wait until operating_reset_at from the last answer, then repeat."""
    client.call("server.time")
    client.reset_at["server.time"] = time.time() + 1.0
    portal.control("POST", "/faults", json={"method": "server.time", "error": "OPERATION_TIME_LIMIT",
                                            "description": "Method is blocked due to operation time limit.",
                                            "status": 429})  # fmt: skip
    began = time.monotonic()
    assert client.call("server.time")
    assert time.monotonic() - began >= 0.9


def test_429_with_a_long_wait_goes_back_to_the_job(sandbox, portal, client):
    """§3.2: a block lasting minutes is not slept in-process: OperationTimeLimited carries retry_at."""
    requests.patch(f"{sandbox.url}/_sandbox/portals/{portal.member_id}", json={
        "operating_limit": True, "operating_limit_seconds": 10, "method_costs": {"crm.contact.list": 30}},
        timeout=10)  # fmt: skip
    client.call("crm.contact.list")
    with pytest.raises(OperationTimeLimited) as exc:
        client.call("crm.contact.list")
    assert exc.value.retryable and exc.value.retry_at > time.time() + 60


def test_expired_token_refreshes_once_and_repeats(sandbox, registered):
    """§1.5: 401 expired_token → one refresh (stored before use) → the call is repeated and succeeds."""
    client = registered.client()
    before = registered.registry.require(registered.member_id)
    requests.post(f"{sandbox.url}/_sandbox/tokens/expire", json={}, timeout=10)
    assert client.call("user.current")["ID"] == "1"
    after = registered.registry.require(registered.member_id)
    assert after.access_token != before.access_token and after.refresh_token != before.refresh_token
    assert registered.portal.control("GET", "/counters")["oauth.token"] == 1


def test_domain_change_302_is_followed_and_remembered(sandbox, registered):
    """§2.1: a renamed portal answers 302; the facade repeats the call at the new address and stores it."""
    client = registered.client()
    requests.patch(f"{sandbox.url}/_sandbox/portals/{registered.member_id}", json={"domain": "new-name.bitrix24.test"},
                   timeout=10)  # fmt: skip
    new_id = client.call("crm.contact.add", {"fields": {"NAME": "После переезда"}})
    hook = registered.portal.control("GET", "")["webhook_url"]
    assert requests.post(hook + "crm.contact.get", json={"id": new_id}, timeout=10).json()[
        "result"
    ]["NAME"] == ("После переезда")
    stored = registered.registry.require(registered.member_id)
    assert (
        stored.domain == "new-name.bitrix24.test"
        and "/p/new-name.bitrix24.test/rest/" in stored.client_endpoint
    )


def test_works_inside_a_running_event_loop(client):
    """§9.1: fast-bitrix24's sync wrapper returns a Task under a running loop; the facade still returns results."""
    import asyncio

    async def inside():
        return client.call("server.time")

    assert isinstance(asyncio.run(inside()), str)


def test_unreachable_portal_fails_fast_and_typed():
    """A refused connection is BitrixUnavailable (retryable) after our policy's tries, not fast-bitrix24's
    ten-fold retry loop (measured at ~117 s before this was fixed)."""
    from b24app.bitrix import BitrixUnavailable, TokenSource

    began = time.monotonic()
    with pytest.raises(BitrixUnavailable) as exc:
        BitrixClient("http://127.0.0.1:9/rest/", TokenSource(lambda: "t"), attempts=2).call(
            "app.info"
        )
    assert exc.value.retryable and exc.value.code == "NETWORK"
    assert time.monotonic() - began < 5


@pytest.mark.parametrize("method, params, again", [
    ("crm.deal.list", {}, True), ("crm.deal.update", {"id": 1, "fields": {"STAGE_ID": "WON"}}, True),
    ("crm.deal.add", {"fields": {}}, False), ("crm.entity.mergeBatch", {}, False),
    ("crm.timeline.comment.add", {}, False), ("crm.activity.todo.add", {}, False),
    ("bizproc.event.send", {}, False), ("crm.deal.productrows.set", {}, False),
    ("crm.contact.update", {"id": 1, "fields": {"EMAIL": [{"VALUE": "a@b.ru"}]}}, False),
    ("batch", {"cmd": {"a": "crm.deal.list?filter[ID]=1", "b": "crm.deal.get?id=1"}}, True),
    ("batch", {"cmd": {"a": "crm.deal.list?filter[ID]=1", "b": "crm.deal.add?fields[TITLE]=x"}}, False),
    ("batch", {"cmd": {"a": "crm.contact.update?id=1&fields[PHONE][0][VALUE]=%2B7900"}}, False),
])  # fmt: skip
def test_the_facade_decides_from_the_method_whether_a_lost_answer_may_be_resent(
    method, params, again
):
    """Writes that make something (or append e-mails and phones) are never re-sent after a lost answer."""
    from b24app.bitrix import resendable

    assert resendable(method, params) is again
