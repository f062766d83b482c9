"""The portal registry: encryption at rest, indexes, deletion, and token refresh under rotation (§1.5)."""

import multiprocessing
import time

import requests

from b24app.bitrix import for_portal
from b24app.portals import Portal, PortalRegistry
from b24app.trust import servers


def make(member_id="m1", domain="fond.bitrix24.ru") -> Portal:
    return Portal(member_id, domain, f"https://{domain}/rest/", "https://oauth.bitrix.info/rest/",
                  "apptoken-SECRET", "access-SECRET", "refresh-SECRET", time.time() + 3600)  # fmt: skip


def test_records_are_encrypted_at_rest(redis):
    """Tokens and secrets never appear in Redis in clear; the record reads back whole."""
    registry = PortalRegistry(redis, "key-1")
    portal = make()
    portal.settings = {"timepad_secret": "tp-SECRET"}
    registry.save(portal)
    for key in redis.keys("*"):
        raw = redis.dump(key)
        assert b"SECRET" not in raw, key
    assert registry.get("m1") == portal
    assert "SECRET" not in repr(portal)


def test_lookup_by_key_and_domain_and_domain_change(redis):
    """A portal is found by its webhook key and its domain; a new domain replaces the old index entry."""
    registry = PortalRegistry(redis, "k")
    portal = make()
    registry.save(portal)
    assert registry.by_key(portal.key).member_id == "m1"
    portal.domain = "new.bitrix24.ru"
    registry.save(portal)
    assert registry.by_domain("new.bitrix24.ru").member_id == "m1"
    assert registry.by_domain("fond.bitrix24.ru") is None


def test_delete_forgets_everything_of_that_portal_only(redis):
    """Uninstall with CLEAN: the record, its indexes and every b24:p:<member_id>:* key go; others stay."""
    registry = PortalRegistry(redis, "k")
    registry.save(make("m1", "a.bitrix24.ru"))
    registry.save(make("m2", "b.bitrix24.ru"))
    redis.set("b24:p:m1:idempotency:x", 1)
    redis.set("b24:p:m2:idempotency:x", 1)
    registry.delete("m1")
    assert registry.get("m1") is None and registry.by_domain("a.bitrix24.ru") is None
    assert not redis.keys("*m1*")
    assert registry.get("m2") is not None and redis.get("b24:p:m2:idempotency:x")


def _call_after_barrier(registered_args, barrier, results):
    redis_url, member_id, client_id, secret, template = registered_args
    from redis import Redis

    registry = PortalRegistry(Redis.from_url(redis_url), "test-secret")
    client = for_portal(registry, member_id, client_id, secret, oauth_servers=servers(template))
    barrier.wait()
    try:
        results.put(client.call("user.current")["ID"])
    except Exception as exc:  # reported to the parent
        results.put(repr(exc))


def test_two_processes_refreshing_at_once_keep_the_portal(sandbox, registered, redis_url):
    """§1.5: with rotating refresh tokens, two processes meeting expired_token together refresh once."""
    requests.post(f"{sandbox.url}/_sandbox/tokens/expire", json={}, timeout=10)
    ctx = multiprocessing.get_context("fork")
    barrier, results = ctx.Barrier(2), ctx.Queue()
    args = (redis_url, registered.member_id, registered.app["client_id"], registered.app["client_secret"],
            f"{sandbox.url}/oauth-server")  # fmt: skip
    procs = [
        ctx.Process(target=_call_after_barrier, args=(args, barrier, results)) for _ in range(2)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
    assert sorted(results.get(timeout=5) for _ in procs) == ["1", "1"]
    assert registered.portal.control("GET", "/counters")["oauth.token"] == 1
    client = registered.client()
    requests.post(f"{sandbox.url}/_sandbox/tokens/expire", json={}, timeout=10)
    assert client.call("user.current")["ID"] == "1"  # the stored refresh token is the live one


def test_a_long_job_outlives_its_token_and_carries_on(sandbox, registered):
    """§1.5: a job whose access token expires midway refreshes once and finishes its work."""
    client = registered.client()
    for i in range(30):
        if i == 10:
            requests.post(f"{sandbox.url}/_sandbox/tokens/expire", json={}, timeout=10)
        client.call("crm.contact.add", {"fields": {"NAME": f"Участник {i}"}})
    assert registered.portal.result("crm.contact.list")[-1]["NAME"] == "Участник 29"
    assert registered.portal.control("GET", "/counters")["oauth.token"] == 1
