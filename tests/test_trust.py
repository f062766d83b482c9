"""The install lifecycle cannot be forged: each attack of the security review replayed through the real
routes against two installed sandbox portals, and shown refused (bitrix24-rest.md §1.2–§1.6).

Portal X is the attacker's (they are its admin); portal V is the victim. An "attacker" endpoint is a
real HTTP server on 127.0.0.1 recording everything it receives.
"""

import json
import math
import time
from collections import Counter
from dataclasses import dataclass

import pytest
import requests

from b24app import context
from b24app.sandbox import lifecycle
from b24app.sandbox.phpjson import flatten

MANAGER = "2"  # the sandbox portal's non-admin user


@dataclass
class Page:
    """What Bitrix24 posts when a user opens the app (§1.2): the URL's query and the form."""

    url: str
    form: dict

    def post(self, path: str = "", **changes) -> requests.Response:
        base, _, query = self.url.partition("?")
        target = (base.rsplit("/", 1)[0] + path if path else base) + "?" + query
        return requests.post(target, data={**self.form, **changes}, timeout=15)


def open_page(world, member_id: str, client_id: str, user: str, target: str) -> Page:
    """The §1.2 POST a user's page open makes, built by the sandbox for ``user`` of ``member_id``."""
    portal, app = world.portal(member_id), world.app(client_id)
    session = lifecycle.open_session(world, portal, app, user, "DEFAULT")
    with world.lock:
        url, form = lifecycle.page_request(world, portal, app, session, target=target)
    return Page(url, form)


def install(portal, app_server) -> None:
    result = portal.control("POST", "/install", json={"client_id": app_server.client_id, "flow": "ui",
                                                      "finish": True})  # fmt: skip
    assert result["installed"] is True, result
    app_server.run_jobs()


@pytest.fixture
def two(sandbox, app_server):
    """Portals X (attacker) and V (victim), the app installed in both."""
    from tests.conftest import PortalClient

    x = PortalClient(sandbox, sandbox.world.create_portal(limits=False))
    v = PortalClient(sandbox, sandbox.world.create_portal(limits=False))
    install(x, app_server)
    install(v, app_server)
    return x, v


def record(member_id: str) -> dict:
    portal = context.registry().get(member_id)
    return json.loads(json.dumps(portal.__dict__)) if portal else {}


def queued(redis) -> int:
    return sum(redis.llen(k) for k in redis.keys("rq:queue:*")) + redis.zcard(
        "rq:scheduled:default"
    )


def page_of(sandbox, portal, app_server, user="1", target=None) -> Page:
    return open_page(
        sandbox.world,
        portal.member_id,
        app_server.client_id,
        user,
        target or app_server.url + "/app",
    )


def release_version(sandbox, app_server, portal, version: int = 2) -> list[dict]:
    """The app's new version released: the ONAPPUPDATE deliveries the portal made."""
    requests.post(f"{sandbox.url}/_sandbox/apps/{app_server.client_id}/update", json={"version": version},
                  timeout=10)  # fmt: skip
    return [
        d
        for d in portal.control("GET", "/logs/deliveries?wait=1")
        if d.get("event") == "ONAPPUPDATE"
    ]


def event_form(event: str, member_id: str, application_token: str, clean: int = 1, **auth) -> dict:
    return flatten({"event": event, "data": {"CLEAN": clean, "VERSION": "9"}, "ts": "1",
                    "auth": {"member_id": member_id, "application_token": application_token,
                             "domain": "x", **auth}})  # fmt: skip


def test_takeover_through_the_install_page_is_refused(sandbox, app_server, two):
    """X's own admin page tokens posted to /install with V's member_id: 401, V's record unchanged,
    nothing queued; events forged with the chosen token are refused; V's own update still works."""
    x, v = two
    before = record(v.member_id)
    attack = page_of(sandbox, x, app_server, target=app_server.url + "/install")
    n = queued(app_server.redis)
    resp = attack.post(member_id=v.member_id, APPLICATION_TOKEN="attacker-chosen")
    assert resp.status_code == 401 and "another portal" in resp.json()["message"]
    assert record(v.member_id) == before and queued(app_server.redis) == n
    forged = requests.post(app_server.url + "/bitrix/events",
                           data=event_form("ONAPPUNINSTALL", v.member_id, "attacker-chosen"), timeout=10)  # fmt: skip
    assert forged.status_code == 401 and queued(app_server.redis) == n
    assert release_version(sandbox, app_server, v)[-1]["status"] == 200
    stored = context.registry().require(v.member_id)
    assert (
        stored.application_token
        == v.control("GET", "")["installs"][app_server.client_id]["application_token"]
    )
    assert stored.app_version == 2


def test_a_no_ui_install_never_sends_the_client_secret_to_the_endpoints_it_names(
    sandbox, app_server, two, recorder
):
    """ONAPPINSTALL naming the attacker's client_endpoint and server_endpoint: 401, nothing reaches the
    attacker, V unchanged; naming only a client_endpoint: the token is asked of trusted servers only."""
    x, v = two
    before = record(v.member_id)
    page = page_of(sandbox, x, app_server)
    fake = recorder.url + "/rest/"
    for server in (fake, ""):
        body = flatten({"event": "ONAPPINSTALL", "data": {"VERSION": "1"}, "auth": {
            "access_token": page.form["AUTH_ID"], "refresh_token": page.form["REFRESH_ID"], "expires_in": "3600",
            "domain": "attacker.example", "member_id": v.member_id, "application_token": "chosen",
            "client_endpoint": fake, "server_endpoint": server, "scope": "crm"}})  # fmt: skip
        resp = requests.post(app_server.url + "/install", data=body, timeout=15)
        assert resp.status_code == 401, resp.text
    assert recorder.requests == [] and record(v.member_id) == before


def test_the_install_pages_domain_reaches_nothing(sandbox, app_server, two, recorder):
    """The install page's DOMAIN pointing at the attacker (SSRF): no request goes there."""
    x, _ = two
    page = page_of(sandbox, x, app_server, target=app_server.url + "/install")
    attacker = recorder.url.removeprefix("http://")
    url = page.url.replace(f"DOMAIN={x.portal.domain}", f"DOMAIN={attacker}")
    resp = requests.post(url, data=page.form, timeout=15)
    assert resp.status_code == 401 and "DOMAIN" in resp.json()["message"]
    resp = requests.post(
        url, data={**page.form, "SERVER_ENDPOINT": recorder.url + "/rest/"}, timeout=15
    )
    assert resp.status_code == 401 and "does not trust" in resp.json()["message"]
    assert recorder.requests == []


def test_a_stored_untrusted_oauth_server_never_gets_the_secret(sandbox, app_server, two, recorder):
    """A record naming another OAuth server (one written before the allow-list) is not refreshed there."""
    from b24app.oauth import RefreshFailed, refresh_tokens

    _, v = two
    registry = context.registry()
    portal = registry.require(v.member_id)
    portal.server_endpoint = recorder.url + "/rest/"
    registry.save(portal)
    s = context.settings()
    with pytest.raises(RefreshFailed, match="untrusted_server"):
        refresh_tokens(registry, v.member_id, portal.access_token, s.client_id, s.client_secret.get_secret_value(),
                       context.oauth_servers())  # fmt: skip
    assert recorder.requests == []


def test_a_non_admin_cannot_replace_the_application_token(sandbox, app_server, two):
    """ONAPPUPDATE with a manager's own page token: refused, the stored token unchanged, nothing queued."""
    _, v = two
    before = record(v.member_id)
    page = page_of(sandbox, v, app_server, user=MANAGER)
    n = queued(app_server.redis)
    form = event_form(
        "ONAPPUPDATE", v.member_id, "manager-chosen", access_token=page.form["AUTH_ID"]
    )
    resp = requests.post(app_server.url + "/bitrix/events", data=form, timeout=10)
    assert resp.status_code == 403 and "administrator" in resp.json()["message"]
    assert record(v.member_id) == before and queued(app_server.redis) == n


def test_an_admin_token_without_a_newer_version_cannot_replace_it_either(sandbox, app_server, two):
    """ONAPPUPDATE with an admin's page token but no new version installed: 401, unchanged."""
    _, v = two
    before = record(v.member_id)
    page = page_of(sandbox, v, app_server)
    form = event_form("ONAPPUPDATE", v.member_id, "chosen", access_token=page.form["AUTH_ID"])
    resp = requests.post(app_server.url + "/bitrix/events", data=form, timeout=10)
    assert resp.status_code == 401 and "not newer" in resp.json()["message"]
    assert record(v.member_id) == before


def test_a_forged_uninstall_with_the_page_token_keeps_the_data(sandbox, app_server, two, caplog):
    """ONAPPUNINSTALL CLEAN with the APPLICATION_TOKEN every page open hands out: answered 200 and
    decided in a job, which keeps everything because the app's tokens still work."""
    _, v = two
    app_server.run_jobs()
    before = record(v.member_id)
    token = page_of(sandbox, v, app_server, user=MANAGER).form["APPLICATION_TOKEN"]
    resp = requests.post(app_server.url + "/bitrix/events", data=event_form("ONAPPUNINSTALL", v.member_id, token),
                         timeout=10)  # fmt: skip
    assert resp.status_code == 200
    with caplog.at_level("WARNING"):
        app_server.run_jobs()
    assert record(v.member_id) == before
    assert "ONAPPUNINSTALL ignored" in caplog.text


@pytest.mark.parametrize("change", ["application_token", "member_id"])
def test_an_uninstall_that_does_not_match_is_401_at_once(app_server, two, change):
    """§1.4: a mismatching application_token or member_id: 401, nothing queued."""
    _, v = two
    stored = context.registry().require(v.member_id)
    values = {
        "member_id": v.member_id,
        "application_token": stored.application_token,
        change: "forged",
    }
    n = queued(app_server.redis)
    resp = requests.post(
        app_server.url + "/bitrix/events", data=event_form("ONAPPUNINSTALL", **values), timeout=10
    )
    assert resp.status_code == 401 and queued(app_server.redis) == n


@pytest.mark.parametrize("failing", ["oauth.app.info", "oauth.token"])
def test_a_transient_failure_keeps_the_uninstall_for_the_job(sandbox, app_server, two, failing):
    """The uninstall job meets a failing OAuth server: it raises (RQ retries) and deletes nothing; the
    next attempt, the server back, deletes the data of the genuinely uninstalled portal."""
    from b24app.errors import Unavailable
    from b24app.lifecycle import decide_uninstall

    _, v = two
    v.control("POST", "/uninstall", json={"client_id": app_server.client_id, "clean": True})
    v.control("GET", "/logs/deliveries?wait=1")
    requests.post(
        f"{sandbox.url}/_sandbox/oauth-server/faults", json={"method": failing}, timeout=10
    )
    with pytest.raises(Unavailable):
        decide_uninstall(v.member_id)
    assert context.registry().get(v.member_id) is not None
    assert decide_uninstall(v.member_id) == "forgotten"
    assert context.registry().get(v.member_id) is None


def test_page_tokens_die_with_the_portal(sandbox, app_server, two):
    """After a CLEAN uninstall the settings and review tokens are 401 (not 500): no keys re-created,
    nothing queued."""
    _, v = two
    html = page_of(sandbox, v, app_server).post().text
    token = html.split('name="token" value="', 1)[1].split('"', 1)[0]
    v.control("POST", "/uninstall", json={"client_id": app_server.client_id, "clean": True})
    v.control("GET", "/logs/deliveries?wait=1")
    app_server.run_jobs()
    assert context.registry().get(v.member_id) is None
    n = queued(app_server.redis)
    for path, data in (("/app/settings", {"token": token, "letter_channel": "smtp"}),
                       ("/app/review", {"token": token, "action": "scan"}),
                       ("/app/review/report.csv", {"token": token})):  # fmt: skip
        resp = requests.post(app_server.url + path, data=data, timeout=10)
        assert resp.status_code == 401, (path, resp.status_code)
    assert [k for k in app_server.redis.keys("*") if v.member_id in k.decode()] == []
    assert queued(app_server.redis) == n


def test_a_page_token_of_one_portal_does_not_open_another(sandbox, app_server, two):
    """A token is bound to its portal's current install: a reinstall ends the old one."""
    x, _ = two
    html = page_of(sandbox, x, app_server).post().text
    token = html.split('name="token" value="', 1)[1].split('"', 1)[0]
    assert (
        requests.post(app_server.url + "/app/review", data={"token": token}, timeout=10).status_code
        == 200
    )
    install(x, app_server)
    assert (
        requests.post(app_server.url + "/app/review", data={"token": token}, timeout=10).status_code
        == 401
    )


@pytest.mark.parametrize(
    "token", ["токен.подпись", "abc", "", "a.b", "x" * 5000, "eyJtIjoxfQ.\u00e9"]
)
def test_odd_tokens_are_401_never_500(app_server, token):
    """Non-ASCII, truncated, empty or junk signed tokens on every token-taking route: 401."""
    for path in ("/app/settings", "/app/review", "/app/review/report.csv"):
        resp = requests.post(app_server.url + path, data={"token": token}, timeout=10)
        assert resp.status_code == 401, (path, token, resp.status_code)


@pytest.mark.parametrize("path", ["/install", "/bitrix/events", "/app", "/robots/any"])
def test_deeply_nested_form_keys_are_400_naming_the_limit(app_server, path):
    """A key nested thousands of levels deep (RecursionError before): 400 naming the depth limit."""
    body = "a" + "[b]" * 3000 + "=1"
    resp = requests.post(app_server.url + path, data=body, timeout=10,
                         headers={"Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
    assert resp.status_code == 400 and "deeper than 8" in resp.json()["message"]


def test_too_many_keys_and_too_large_bodies_are_400(app_server):
    """Over 10,000 keys, or a body over 2 MiB: 400 naming the limit."""
    many = "&".join(f"k{i}=1" for i in range(10_001))
    resp = requests.post(app_server.url + "/bitrix/events", data=many, timeout=10,
                         headers={"Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
    assert resp.status_code == 400 and "10000 form keys" in resp.json()["message"]
    big = "event=" + "x" * (2 * 1024 * 1024 + 1)
    resp = requests.post(app_server.url + "/bitrix/events", data=big, timeout=10,
                         headers={"Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
    assert resp.status_code == 400 and "2 MiB" in resp.json()["message"]


def test_non_admins_see_neither_settings_nor_webhook_urls(sandbox, app_server, two):
    """A manager's page open shows the status but no webhook URL (they carry the portal key)."""
    _, v = two
    key = context.registry().require(v.member_id).key
    manager = page_of(sandbox, v, app_server, user=MANAGER).post()
    assert (
        manager.status_code == 200
        and key not in manager.text
        and 'id="settings-form"' not in manager.text
    )
    admin = page_of(sandbox, v, app_server).post()
    assert key in admin.text and 'id="settings-form"' in admin.text


def test_a_page_open_is_confirmed_at_the_oauth_server(sandbox, app_server, two):
    """X's page open relabelled with V's member_id, or with another DOMAIN: 401."""
    x, v = two
    page = page_of(sandbox, x, app_server)
    v_token = context.registry().require(v.member_id).application_token
    assert page.post(member_id=v.member_id, APPLICATION_TOKEN=v_token).status_code == 401
    other = Page(page.url.replace(x.portal.domain, v.portal.domain), page.form)
    assert other.post().status_code == 401


def test_a_network_failure_on_update_keeps_the_event_and_a_job_takes_it(sandbox, app_server, two):
    """ONAPPUPDATE while the OAuth server fails: 200 and kept (Bitrix24 never repeats an event); the
    job takes the new token once the server answers."""
    _, v = two
    v.control(
        "POST", "/faults", json={"method": "oauth.app.info", "error": "INTERNAL", "status": 503}
    )
    assert release_version(sandbox, app_server, v)[-1]["status"] == 200
    fresh = v.control("GET", "")["installs"][app_server.client_id]["application_token"]
    assert context.registry().require(v.member_id).application_token != fresh
    app_server.run_jobs()
    stored = context.registry().require(v.member_id)
    assert (
        stored.application_token == fresh
        and stored.app_version == 2
        and not app_server.redis.exists(f"b24:p:{v.member_id}:pending-updates")
    )


def test_a_missed_update_heals_on_the_next_admin_page_open(sandbox, app_server, two):
    """An ONAPPUPDATE that never arrived: a manager's page open is refused, an admin's brings the new
    application token (the OAuth server reports the newer version), and events work again."""
    _, v = two
    client = context.client(v.member_id)
    client.call(
        "event.unbind", {"event": "ONAPPUPDATE", "handler": app_server.url + "/bitrix/events"}
    )
    assert release_version(sandbox, app_server, v) == []
    fresh = v.control("GET", "")["installs"][app_server.client_id]["application_token"]
    assert context.registry().require(v.member_id).application_token != fresh
    assert page_of(sandbox, v, app_server, user=MANAGER).post().status_code == 403
    assert page_of(sandbox, v, app_server).post().status_code == 200
    stored = context.registry().require(v.member_id)
    assert stored.application_token == fresh and stored.app_version == 2


def test_the_installing_user_must_be_an_admin(sandbox, app_server):
    """§1.2: an install page posted with a manager's token is 403 and records nothing."""
    from tests.conftest import PortalClient

    p = PortalClient(sandbox, sandbox.world.create_portal(limits=False))
    with sandbox.world.lock:
        lifecycle.begin_install(sandbox.world, p.portal, sandbox.world.app(app_server.client_id))
    resp = page_of(sandbox, p, app_server, user=MANAGER, target=app_server.url + "/install").post()
    assert resp.status_code == 403 and context.registry().get(p.member_id) is None


def test_a_forged_clean_before_the_genuine_keep_data_uninstall_deletes_nothing(
    sandbox, app_server, two, monkeypatch
):
    """A manager's forged ONAPPUNINSTALL CLEAN=1 queued just before the admin's genuine uninstall with
    CLEAN=0: the decision waits the settling time, sees both choices, and keeps the data."""
    from b24app.lifecycle import decide_uninstall

    monkeypatch.setattr(context.settings(), "uninstall_settle", 1.0)
    _, v = two
    token = page_of(sandbox, v, app_server, user=MANAGER).form["APPLICATION_TOKEN"]
    forged = requests.post(app_server.url + "/bitrix/events", data=event_form("ONAPPUNINSTALL", v.member_id, token),
                           timeout=10)  # fmt: skip
    assert forged.status_code == 200
    v.control("POST", "/uninstall", json={"client_id": app_server.client_id, "clean": False})
    v.control("GET", "/logs/deliveries?wait=1")
    started = time.monotonic()
    app_server.run_jobs()  # a settling time this short is waited out in place
    assert time.monotonic() - started >= 0.9
    stored = context.registry().require(v.member_id)
    assert stored.status == "uninstalled" and stored.access_token == ""
    assert decide_uninstall(v.member_id) == "portal uninstalled"


def test_a_long_settling_time_schedules_the_decision_a_second_late_rather_than_early(
    sandbox, app_server, two, monkeypatch
):
    """RQ schedules in whole seconds: the next decision is due at ceil(gone + settle) + 1, under an id of
    its own (the running decision never swallows it)."""
    from rq.registry import ScheduledJobRegistry

    monkeypatch.setattr(context.settings(), "uninstall_settle", 30.0)
    _, v = two
    v.control("POST", "/uninstall", json={"client_id": app_server.client_id, "clean": True})
    v.control("GET", "/logs/deliveries?wait=1")
    app_server.run_jobs()
    assert context.registry().require(v.member_id).status == "installed"
    gone_at = float(app_server.redis.get(f"b24:p:{v.member_id}:gone-at"))
    due = math.ceil(gone_at + 30) + 1
    [job_id] = ScheduledJobRegistry("default", connection=app_server.redis).get_job_ids()
    assert job_id == f"uninstall-settle-{v.member_id}-{due}"


def test_a_genuine_uninstall_arriving_while_a_forged_one_is_decided_is_not_lost(
    sandbox, app_server, two, monkeypatch
):
    """The decision of a forged CLEAN=1 saw the tokens working; the admin's real uninstall (CLEAN=1)
    arrives meanwhile: the decision looks again instead of dropping it, and the data goes."""
    from b24app import lifecycle

    _, v = two
    token = page_of(sandbox, v, app_server, user=MANAGER).form["APPLICATION_TOKEN"]
    requests.post(
        app_server.url + "/bitrix/events",
        data=event_form("ONAPPUNINSTALL", v.member_id, token),
        timeout=10,
    )
    real, rounds = lifecycle.app_gone, []

    def racing(portal):
        rounds.append(1)
        if len(rounds) == 1:  # tokens seen working; the genuine uninstall lands right after
            v.control("POST", "/uninstall", json={"client_id": app_server.client_id, "clean": True})
            v.control("GET", "/logs/deliveries?wait=1")
            return False
        return real(portal)

    monkeypatch.setattr(lifecycle, "app_gone", racing)
    assert lifecycle.decide_uninstall(v.member_id) == "forgotten"
    assert len(rounds) == 2 and context.registry().get(v.member_id) is None


def test_a_forged_keep_data_uninstall_cannot_hold_up_nor_flip_a_genuine_clean_one(
    sandbox, app_server, two
):
    """A forged CLEAN=0 decided while the app is installed is dropped; the genuine CLEAN=1 that follows
    deletes everything."""
    _, v = two
    token = page_of(sandbox, v, app_server, user=MANAGER).form["APPLICATION_TOKEN"]
    form = event_form("ONAPPUNINSTALL", v.member_id, token, clean=0)
    assert (
        requests.post(app_server.url + "/bitrix/events", data=form, timeout=10).status_code == 200
    )
    app_server.run_jobs()
    assert context.registry().require(v.member_id).status == "installed"
    v.control("POST", "/uninstall", json={"client_id": app_server.client_id, "clean": True})
    v.control("GET", "/logs/deliveries?wait=1")
    app_server.run_jobs()
    assert context.registry().get(v.member_id) is None


def test_a_stale_record_saved_after_a_refresh_keeps_the_new_tokens(sandbox, app_server, two):
    """Settings saved from a record read before a refresh never bring back the spent refresh token."""
    _, v = two
    registry = context.registry()
    stale = registry.require(v.member_id)
    requests.post(
        f"{sandbox.url}/_sandbox/tokens/expire", json={"member_id": v.member_id}, timeout=10
    )
    context.client(v.member_id).call("profile")  # refreshes
    fresh = registry.require(v.member_id)
    assert fresh.refresh_token != stale.refresh_token
    stale.settings["letter_sender"] = "Фонд <fund@example.org>"
    registry.save(stale)
    after = registry.require(v.member_id)
    assert after.refresh_token == fresh.refresh_token and after.settings[
        "letter_sender"
    ].startswith("Фонд")
    requests.post(
        f"{sandbox.url}/_sandbox/tokens/expire", json={"member_id": v.member_id}, timeout=10
    )
    assert context.client(v.member_id).call("profile")["ID"] == "1"


def test_a_flood_of_junk_updates_during_an_outage_cannot_push_out_the_genuine_one(
    sandbox, app_server, two
):
    """The genuine ONAPPUPDATE kept first survives 30 junk ones (at most 20 kept, the rest 503, nothing
    evicted); oversized tokens are a 400. After the outage the genuine one is taken."""
    _, v = two
    requests.post(f"{sandbox.url}/_sandbox/oauth-server/faults", json={"method": "oauth.app.info", "count": 100},
                  timeout=10)  # fmt: skip
    release_version(sandbox, app_server, v)
    statuses = Counter()
    for i in range(30):
        form = event_form("ONAPPUPDATE", v.member_id, f"junk{i}", access_token=f"junk{i:030d}")
        statuses[
            requests.post(app_server.url + "/bitrix/events", data=form, timeout=10).status_code
        ] += 1
    assert statuses == {200: 19, 503: 11}
    huge = event_form("ONAPPUPDATE", v.member_id, "junk", access_token="a" * 1_500_000)
    assert (
        requests.post(app_server.url + "/bitrix/events", data=huge, timeout=10).status_code == 400
    )
    with sandbox.world.lock:
        sandbox.world.runtime["faults"] = {}  # the outage ends
    app_server.run_jobs()
    fresh = v.control("GET", "")["installs"][app_server.client_id]["application_token"]
    stored = context.registry().require(v.member_id)
    assert stored.application_token == fresh and stored.app_version == 2


def test_a_dead_refresh_token_in_a_page_is_an_auth_error_not_a_500(sandbox, app_server, two):
    """A refresh refused by the OAuth server reaches callers as a BitrixAuthError (pages handle those)."""
    from b24app.bitrix import BitrixAuthError

    _, v = two
    registry = context.registry()
    portal = registry.require(v.member_id)
    portal.refresh_token = "0" * 32
    registry.save_tokens(portal)
    requests.post(
        f"{sandbox.url}/_sandbox/tokens/expire", json={"member_id": v.member_id}, timeout=10
    )
    with pytest.raises(BitrixAuthError, match="invalid_grant"):
        context.client(v.member_id).call("profile")


def test_absurd_numbers_are_400(sandbox, app_server, two):
    """AUTH_EXPIRES of 400 digits (OverflowError before): 400."""
    x, _ = two
    page = page_of(sandbox, x, app_server, target=app_server.url + "/install")
    resp = page.post(AUTH_EXPIRES="1" + "0" * 400)
    assert resp.status_code == 400 and "AUTH_EXPIRES" in resp.json()["message"]


def test_the_review_token_cannot_renew_itself(sandbox, app_server, two):
    """The review page signs its own token for no longer than the one it was opened with."""
    from b24app.signing import sign, verify

    x, _ = two
    record = context.registry().require(x.member_id)
    short = sign("test-secret-key", "review", {"m": x.member_id, "i": record.install_id}, ttl=30)
    html = requests.post(app_server.url + "/app/review", data={"token": short}, timeout=10).text
    renewed = html.split('name="token" value="', 1)[1].split('"', 1)[0]
    assert (
        verify("test-secret-key", "review", renewed)["_exp"]
        <= verify("test-secret-key", "review", short)["_exp"]
    )
