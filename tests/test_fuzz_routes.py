"""Every route fuzzed (hypothesis): bracket forms, JSON, raw bytes in any encoding, tokens of every shape.

Whatever arrives, the answer is never a 500, and refused input (any 4xx) queues nothing. The portal is
really installed, so fields may carry its true member_id and domain next to forged tokens.
"""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from b24app import context

ROUTES = ["/install", "/bitrix/events", "/app", "/app/settings", "/app/review", "/app/review/report.csv",
          "/robots/remind", "/robots/%D1%80%D0%BE%D0%B1%D0%BE%D1%82", "/healthz",
          "/hooks/x/cloudpayments/pay", "/hooks/{key}/cloudpayments/pay", "/hooks/{key}/cloudpayments/refund",
          "/hooks/{key}/cloudpayments", "/hooks/{key}/timepad", "/hooks/{key}/leyka", "/app/leyka-bridge.zip", "/app/totals",
          "/app/cancel-subscription", "/app/cancel-subscription/confirm", "/app/deal-duplicates",
          "/app/timepad", "/app/timepad/sync", "/app/timepad/status", "/app/timepad/event"]  # fmt: skip
NAMES = ["event", "auth", "data", "AUTH_ID", "REFRESH_ID", "member_id", "APPLICATION_TOKEN", "SERVER_ENDPOINT",
         "DOMAIN", "PLACEMENT", "PLACEMENT_OPTIONS", "token", "action", "key", "code", "document_id",
         "properties", "AUTH_EXPIRES", "LANG", "status"]  # fmt: skip
SUBKEYS = ["access_token", "refresh_token", "member_id", "application_token", "domain", "client_endpoint",
           "server_endpoint", "expires_in", "CLEAN", "VERSION", "0", "1", "", "FIELDS", "ID"]  # fmt: skip
EVENTS = ["ONAPPINSTALL", "ONAPPUPDATE", "ONAPPUNINSTALL", "ONCRMDEALADD", "onappinstall", ""]
FUZZ = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

text = st.text(max_size=40)
tokens = st.one_of(
    text, st.text(alphabet="abcdef0123456789.-_=", max_size=120), st.just("токен.подпись")
)


@st.composite
def keys(draw, real: dict) -> str:
    """A form key: a known name with up to 12 bracket levels of known or random subkeys."""
    head = draw(st.one_of(st.sampled_from(NAMES), text))
    subs = draw(st.lists(st.one_of(st.sampled_from(SUBKEYS), text), max_size=12))
    return head + "".join(f"[{s}]" for s in subs)


@st.composite
def values(draw, real: dict) -> str:
    return draw(
        st.one_of(text, tokens, st.sampled_from(EVENTS), st.sampled_from(list(real.values())))
    )


@st.composite
def bodies(draw, real: dict) -> tuple[bytes, str | None]:
    """(raw body, Content-Type): a bracket form, JSON, or raw bytes under any content type."""
    kind = draw(st.sampled_from(["form", "json", "bytes"]))
    if kind == "form":
        from urllib.parse import urlencode

        pairs = draw(st.lists(st.tuples(keys(real), values(real)), max_size=25))
        charset = draw(
            st.sampled_from(["", "; charset=utf-8", "; charset=windows-1251", "; charset=bogus"])
        )
        return urlencode(pairs).encode(), "application/x-www-form-urlencoded" + charset
    if kind == "json":
        leaf = st.one_of(st.none(), st.booleans(), st.integers(), text, tokens)
        doc = st.recursive(
            leaf,
            lambda c: st.lists(c, max_size=4) | st.dictionaries(text, c, max_size=4),
            max_leaves=20,
        )
        return json.dumps(draw(doc)).encode(), "application/json"
    ctype = draw(
        st.sampled_from(
            [
                None,
                "text/plain",
                "multipart/form-data; boundary=x",
                "application/x-www-form-urlencoded",
            ]
        )
    )
    return draw(st.binary(max_size=2048)), ctype


def queued(redis) -> int:
    return sum(redis.llen(k) for k in redis.keys("rq:queue:*")) + sum(
        redis.zcard(k) for k in redis.keys("rq:scheduled:*")
    )


@pytest.fixture
def installed(portal, app_server):
    """The app installed in a portal; the values an attacker could know (member_id, domain)."""
    portal.control(
        "POST", "/install", json={"client_id": app_server.client_id, "flow": "ui", "finish": True}
    )
    app_server.run_jobs()
    record = context.registry().require(portal.member_id)
    with context.registry().change(portal.member_id) as fresh:
        fresh.settings["cloudpayments_secret"] = "fuzz-secret"
        fresh.settings["leyka_secret"] = "fuzz-secret"
        fresh.settings["timepad_secret"] = "fuzz-secret"
    return app_server, {"member_id": record.member_id, "domain": record.domain, "key": record.key}


def test_no_route_answers_500_and_refused_input_queues_nothing(installed):
    """Fuzz every route with every body shape and query: status < 500; a 4xx leaves the queues as they were."""
    app_server, real = installed
    client = app_server.flask.test_client()

    @FUZZ
    @given(route=st.sampled_from(ROUTES), method=st.sampled_from(["POST", "GET"]), body=bodies(real),
           query=st.lists(st.tuples(st.sampled_from(["DOMAIN", "LANG", "PROTOCOL", "APP_SID", "token"]), values(real)),
                          max_size=4))  # fmt: skip
    def check(route, method, body, query):
        raw, ctype = body
        before = queued(app_server.redis)
        headers = {"Content-Type": ctype} if ctype else {}
        route = route.format(key=real["key"])
        resp = client.open(route, method=method, data=raw, headers=headers, query_string=query)
        health = (
            route == "/healthz" and resp.status_code == 503 and resp.json["ok"] is False
        )  # no worker here
        assert resp.status_code < 500 or health, (route, raw[:200], resp.data[:300])
        if 400 <= resp.status_code < 500:
            assert queued(app_server.redis) == before, (route, raw[:200])

    check()
