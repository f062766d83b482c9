"""The sandbox portal UI and its BX24.js stand-in in real headless Chromium (bitrix24-rest.md §1.2, §7.2)."""

import threading

import pytest
import requests
from flask import Flask, request
from werkzeug.serving import make_server

from b24app.sandbox.server import QuietHandler

pytestmark = pytest.mark.browser

SCREENSHOT = "/tmp/sandbox-ui.png"


def new_portal(sandbox) -> dict:
    resp = requests.post(f"{sandbox.url}/_sandbox/portals", json={"limits": False}, timeout=10)
    return resp.json()


def call(portal: dict, method: str, params: dict | None = None):
    """A REST call through the portal's admin incoming webhook; returns ``result``."""
    body = requests.post(portal["webhook_url"] + method, json=params or {}, timeout=10).json()
    assert "result" in body, body
    return body["result"]


def frame_of(page, ready: str = "#ready"):
    """The app iframe once its page has the ``ready`` selector."""
    page.wait_for_selector("iframe[name=appframe]", state="attached")
    frame = page.frame(name="appframe")
    frame.wait_for_selector(ready)
    return frame


# --- (a) the UI install flow with the real Blago24 app ---------------------------------------


def registered_app(sandbox, app_server) -> str:
    """The app server's client_id in the sandbox (the fixture registers it; older fixtures did not)."""
    if getattr(app_server, "client_id", None):
        return app_server.client_id
    return requests.post(f"{sandbox.url}/_sandbox/apps", json={
        "handler": app_server.url + "/app", "install_url": app_server.url + "/install",
        "scopes": ["crm", "user", "placement"]}, timeout=10).json()["client_id"]  # fmt: skip


def test_install_through_the_portal_ui_then_app_page_calls_rest(sandbox, app_server, page):
    """§1.1/§1.2: the install page runs in the iframe, BX24.installFinish() finishes it, the app opens."""
    cid = registered_app(sandbox, app_server)
    portal = new_portal(sandbox)
    member = portal["member_id"]
    page.goto(f"{sandbox.url}/portal/{member}/")
    page.click(f"[data-client-id='{cid}'] a[data-role=install-app]")
    page.wait_for_url(f"**/portal/{member}/app/{cid}")
    frame = frame_of(page, "#app-installed")
    assert portal["domain"] in frame.inner_text("#domain")
    info = requests.get(f"{sandbox.url}/_sandbox/portals/{member}", timeout=10).json()
    assert info["installs"][cid]["installed"] is True
    name = frame.evaluate("""() => new Promise(resolve => BX24.init(() =>
        BX24.callMethod("user.current", {}, r => resolve(r.data().NAME + " " + r.data().LAST_NAME))))""")
    assert name == "Анна Админова"
    page.goto(f"{sandbox.url}/portal/{member}/")
    assert page.locator("a[data-role=open-app]").count() == 1


# --- (b) the whole BX24.js API on a test page opened in a placement --------------------------

TEST_PAGE = """<!doctype html><html><head><meta charset="utf-8"><script src="{js}"></script></head>
<body><h1>BX24 test page</h1><p id="placement">{placement}</p><div id="out"></div>
<script>BX24.init(function () {{ var p = document.createElement("p"); p.id = "ready";
p.textContent = "ready"; document.body.appendChild(p); }});</script></body></html>"""


class PageApp:
    """A tiny app: records ONAPPINSTALL and serves one page that loads the sandbox's BX24.js."""

    def __init__(self, sandbox):
        flask = Flask(__name__)
        self.installs: list[dict] = []

        @flask.post("/install")
        def install():
            self.installs.append(request.form.to_dict())
            return "OK"

        @flask.route("/page", methods=["GET", "POST"])
        def page():
            return TEST_PAGE.format(
                js=f"{sandbox.url}/bx24.js", placement=request.form.get("PLACEMENT", "")
            )

        self.httpd = make_server("127.0.0.1", 0, flask, threaded=True, request_handler=QuietHandler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture
def test_app(sandbox):
    app = PageApp(sandbox)
    yield app
    app.httpd.shutdown()


@pytest.fixture
def placed(sandbox, test_app):
    """A portal with 120 contacts, a deal, and the test app installed with a deal-tab placement."""
    portal = new_portal(sandbox)
    app = requests.post(f"{sandbox.url}/_sandbox/apps", json={
        "handler": test_app.url + "/page", "install_url": test_app.url + "/install", "ui": False,
        "scopes": ["crm", "user", "placement"]}, timeout=10).json()  # fmt: skip
    requests.post(f"{sandbox.url}/_sandbox/portals/{portal['member_id']}/install",
                  json={"client_id": app["client_id"], "flow": "event"}, timeout=10)  # fmt: skip
    token = test_app.installs[-1]["auth[access_token]"]
    bound = requests.post(portal["rest_url"] + "placement.bind", json={
        "auth": token, "PLACEMENT": "CRM_DEAL_DETAIL_TAB", "HANDLER": test_app.url + "/page",
        "TITLE": "Вкладка теста"}, timeout=10).json()  # fmt: skip
    assert bound.get("result") is True, bound
    for first in range(0, 120, 50):
        cmd = {f"c{n}": f"crm.contact.add?fields[NAME]=Донор{n}&fields[LAST_NAME]=Тестов"
               for n in range(first + 1, min(first + 50, 120) + 1)}  # fmt: skip
        call(portal, "batch", {"halt": 1, "cmd": cmd})
    deal = call(portal, "crm.deal.add", {"fields": {"TITLE": "Сбор на приют"}})
    return {"portal": portal, "app": app, "deal": deal}


def open_placement(page, sandbox, placed):
    """Open the deal card in the portal UI and click the app's tab; returns the iframe."""
    member = placed["portal"]["member_id"]
    page.goto(f"{sandbox.url}/portal/{member}/record/deal/{placed['deal']}")
    page.click("a[data-placement=CRM_DEAL_DETAIL_TAB]")
    return frame_of(page)


def run(frame, body: str):
    """Evaluate ``body`` (JS using ``done(value)``) in the app frame and return what it passed."""
    return frame.evaluate(f"() => new Promise(done => {{ {body} }})")


def test_placement_info_auth_and_lang(sandbox, placed, page):
    """§7.2: placement.info() has the code and options; getAuth() has the session's tokens."""
    frame = open_placement(page, sandbox, placed)
    assert frame.inner_text("#placement") == "CRM_DEAL_DETAIL_TAB"
    info = frame.evaluate("() => BX24.placement.info()")
    assert info == {"placement": "CRM_DEAL_DETAIL_TAB", "options": {"ID": str(placed["deal"])}}
    auth = frame.evaluate("() => BX24.getAuth()")
    portal = placed["portal"]
    assert auth["domain"] == portal["domain"] and auth["member_id"] == portal["member_id"]
    assert len(auth["access_token"]) == 32 and auth["refresh_token"] and auth["expires_in"] == 3600
    assert frame.evaluate("() => [BX24.getDomain(), BX24.getLang()]") == [portal["domain"], "ru"]
    assert run(frame, "BX24.placement.call('reloadData', {}, () => done('called'));") == "called"


def test_call_method_errors_and_paging(sandbox, placed, page):
    """§2.3/§2.4: error() names the code; next() walks 120 contacts in pages of 50."""
    frame = open_placement(page, sandbox, placed)
    err = run(
        frame,
        """BX24.callMethod("no.such.method", {}, r =>
        done({error: r.error(), desc: r.error_description(), data: r.data() === undefined}));""",
    )
    assert err["error"] == "ERROR_METHOD_NOT_FOUND" and err["desc"] and err["data"]
    pages = run(
        frame,
        """var ids = [], more = [];
        BX24.callMethod("crm.contact.list", {select: ["ID", "NAME"]}, function step(r) {
          r.data().forEach(c => ids.push(c.ID)); more.push(r.more());
          if (!r.next()) done({ids: ids, more: more, total: r.total(), time: !!r.time().start});
        });""",
    )
    assert pages["ids"] == [str(n) for n in range(1, 121)]
    assert pages["more"] == [True, True, False] and pages["total"] == 120 and pages["time"]


def test_call_batch_object_and_array(sandbox, placed, page):
    """§2.5: callBatch builds http_build_query cmd strings; results keyed like the input."""
    frame = open_placement(page, sandbox, placed)
    res = run(
        frame,
        """BX24.callBatch({
          me: ["user.current", {}],
          late: {method: "crm.contact.list", params: {filter: {">ID": 100}, select: ["ID"]}},
          bad: ["no.such.method", {}],
          one: ["crm.contact.get", {id: 7}]
        }, r => done({me: r.me.data().LAST_NAME, late: r.late.data().length, lateTotal: r.late.total(),
                      bad: r.bad.error(), badData: r.bad.data() === undefined,
                      one: r.one.data().NAME, oneErr: r.one.error()}));""",
    )
    assert res == {"me": "Админова", "late": 20, "lateTotal": 20, "bad": "ERROR_METHOD_NOT_FOUND",
                   "badData": True, "one": "Донор7", "oneErr": ""}  # fmt: skip
    batch = """BX24.callBatch([["crm.contact.get", {id: 2}], {method: "crm.deal.get", params: {id: DEAL}}],
        r => done([Array.isArray(r), r[0].data().NAME, r[1].data().TITLE]));"""
    arr = run(frame, batch.replace("DEAL", str(placed["deal"])))
    assert arr == [True, "Донор2", "Сбор на приют"]
    query = frame.evaluate(
        "() => BX24._buildQuery({filter: {'>ID': 1}, select: ['ID', 'NAME'], x: true})"
    )
    assert query == "filter%5B%3EID%5D=1&select%5B0%5D=ID&select%5B1%5D=NAME&x=1"


def test_refresh_auth_app_options_and_resize(sandbox, placed, page):
    """refreshAuth() gets new tokens (also on expired_token); appOption round-trips; resizeWindow sizes the frame."""
    frame = open_placement(page, sandbox, placed)
    before = frame.evaluate("() => BX24.getAuth().access_token")
    after = run(frame, "BX24.refreshAuth(a => done(a.access_token));")
    assert after != before
    requests.post(f"{sandbox.url}/_sandbox/tokens/expire",
                  json={"member_id": placed["portal"]["member_id"]}, timeout=10)  # fmt: skip
    me = run(frame, "BX24.callMethod('user.current', {}, r => done([r.error(), r.data().ID]));")
    assert me == ["", "1"] and frame.evaluate("() => BX24.getAuth().access_token") != after
    opt = run(
        frame,
        """BX24.appOption.set("color", "зелёный", ok =>
        BX24.appOption.get("color", v => done([ok, v, BX24.appOption.get("color")])));""",
    )
    assert opt == [True, "зелёный", "зелёный"]
    frame.evaluate("() => BX24.resizeWindow(700, 333)")
    page.wait_for_function("document.getElementById('appframe').style.height === '333px'")


# --- (c) the portal UI shows what REST created -----------------------------------------------


def test_portal_ui_lists_contacts_deals_outbox_and_timeline(sandbox, page):
    """Contacts, deals by stage, the outbox and a record's timeline as created through REST."""
    portal = new_portal(sandbox)
    cid = call(portal, "crm.contact.add", {"fields": {"NAME": "Мария", "LAST_NAME": "Иванова <b>",
               "EMAIL": [{"VALUE": "maria@example.org", "VALUE_TYPE": "WORK"}]}})  # fmt: skip
    call(portal, "crm.deal.add", {"fields": {"TITLE": "Пожертвование на приют", "CONTACT_ID": cid}})
    call(portal, "crm.deal.add", {"fields": {"TITLE": "Грант фонда", "STAGE_ID": "PREPARATION",
                                             "OPPORTUNITY": 50000, "CURRENCY_ID": "RUB"}})  # fmt: skip
    call(portal, "crm.activity.add", {"fields": {
        "OWNER_TYPE_ID": 3, "OWNER_ID": cid, "TYPE_ID": 4, "DIRECTION": 2, "COMPLETED": "Y",
        "SUBJECT": "Спасибо за поддержку", "DESCRIPTION": "Благодарим!", "DESCRIPTION_TYPE": 1,
        "COMMUNICATIONS": [{"VALUE": "maria@example.org", "ENTITY_ID": cid, "ENTITY_TYPE_ID": 3}],
        "SETTINGS": {"MESSAGE_FROM": "Фонд <fund@fund.example>"}}})  # fmt: skip
    call(
        portal,
        "crm.timeline.comment.add",
        {"fields": {"ENTITY_ID": cid, "ENTITY_TYPE": "contact", "COMMENT": "Позвонить в пятницу"}},
    )
    page.goto(f"{sandbox.url}/")
    page.click(f"text={portal['domain']}")
    # the name is escaped: shown as text, not markup
    assert page.inner_text("#contacts-table").count("Мария Иванова <b>") == 1
    assert "maria@example.org" in page.inner_text("#contacts-table")
    assert "Пожертвование на приют" in page.inner_text(".column[data-stage=NEW]")
    assert "Грант фонда" in page.inner_text(".column[data-stage=PREPARATION]")
    outbox = page.inner_text("#outbox-table")
    assert "Спасибо за поддержку" in outbox and "maria@example.org" in outbox
    page.screenshot(path=SCREENSHOT, full_page=True)
    page.click("#contacts-table a")
    timeline = page.inner_text("#timeline")
    assert "Позвонить в пятницу" in timeline and "Спасибо за поддержку" in timeline
