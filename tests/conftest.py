"""Shared fixtures: a real redis-server on a free port and the sandbox world on 127.0.0.1."""

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from b24app.sandbox import SandboxServer
from b24app.sandbox.phpjson import flatten


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    """A private redis-server for the test session (never the machine's own on 6379)."""
    binary = shutil.which("redis-server")
    if not binary:
        pytest.fail("redis-server is not installed; run the README test command, which installs it")
    port = free_port()
    workdir = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(workdir)],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
        except OSError:
            time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/0"
    proc.terminate()
    proc.wait(10)


@pytest.fixture(scope="session")
def sandbox_server():
    server = SandboxServer().start()
    yield server
    server.stop()


@pytest.fixture
def sandbox(sandbox_server):
    """The sandbox server with a fresh, empty world for this test."""
    sandbox_server.world.reset()
    return sandbox_server


@pytest.fixture
def world(sandbox):
    return sandbox.world


@dataclass
class Answer:
    """An HTTP answer from the sandbox portal: status and decoded JSON body."""

    status: int
    body: Any

    @property
    def result(self) -> Any:
        assert self.status == 200, (self.status, self.body)
        return self.body["result"]


class PortalClient:
    """Calls one sandbox portal's REST API through its admin incoming webhook, JSON or form-encoded."""

    def __init__(self, sandbox: SandboxServer, portal):
        self.sandbox = sandbox
        self.portal = portal
        self.member_id = portal.member_id
        self.webhook = sandbox.world.webhook_url(portal)

    def call(self, method: str, params: dict | None = None, form: bool = False, **kw) -> Answer:
        url = self.webhook + method
        if form:
            resp = requests.post(url, data=flatten(params or {}), timeout=30, **kw)
        else:
            resp = requests.post(url, json=params or {}, timeout=30, **kw)
        return Answer(resp.status_code, resp.json())

    def result(self, method: str, params: dict | None = None, **kw) -> Any:
        return self.call(method, params, **kw).result

    def control(self, verb: str, path: str, **kw) -> Any:
        resp = requests.request(verb, f"{self.sandbox.url}/_sandbox/portals/{self.member_id}{path}",
                                timeout=30, **kw)  # fmt: skip
        assert resp.status_code < 300, resp.text
        return resp.json()


@pytest.fixture
def portal(sandbox) -> PortalClient:
    """A fresh portal with its limits switched off (unit tests); see ``limited_portal`` for limits on."""
    return PortalClient(sandbox, sandbox.world.create_portal(limits=False))


@pytest.fixture
def limited_portal(sandbox) -> PortalClient:
    """A fresh portal with the leaky bucket and the operating-time limiter on."""
    return PortalClient(sandbox, sandbox.world.create_portal(limits=True))


class Recorder:
    """A real HTTP server on 127.0.0.1 that records every request (an app's handler, for the portal to call)."""

    def __init__(self):
        import threading

        from werkzeug.serving import make_server
        from werkzeug.wrappers import Request, Response

        from b24app.sandbox.server import QuietHandler

        self.requests: list[dict] = []
        self.reply = ("OK", 200)
        self._cv = threading.Condition()

        @Request.application
        def app(request: Request) -> Response:
            entry = {"path": request.path, "args": request.args.to_dict(),
                     "form": list(request.form.items(multi=True)), "body": request.get_data(as_text=True),
                     "content_type": request.content_type}  # fmt: skip
            with self._cv:
                self.requests.append(entry)
                self._cv.notify_all()
            body, status = self.reply(entry) if callable(self.reply) else self.reply
            return Response(body, status=status, content_type="text/html; charset=utf-8")

        self.httpd = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietHandler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def wait(self, n: int = 1, timeout: float = 10) -> list[dict]:
        """Block until at least ``n`` requests arrived; returns them all."""
        with self._cv:
            self._cv.wait_for(lambda: len(self.requests) >= n, timeout)
            return list(self.requests)

    def stop(self) -> None:
        self.httpd.shutdown()


@pytest.fixture
def recorder():
    """An HTTP receiver standing in for an app's handlers; ``.requests`` holds what arrived."""
    rec = Recorder()
    yield rec
    rec.stop()


def _burst_worker():
    from rq import SimpleWorker

    class BurstWorker(SimpleWorker):
        """RQ's in-process worker without its command channel: nobody sends a burst run commands, and
        closing the channel races its reader thread, which then holds the run up to 60 s."""

        def subscribe(self) -> None:
            pass

    return BurstWorker


class AppServer:
    """The Blago24 web app served for real on 127.0.0.1 and registered as a local app in the sandbox."""

    def __init__(
        self, redis_url: str, sandbox: SandboxServer, ui: bool = True, extra: dict | None = None
    ):
        import threading

        from werkzeug.serving import make_server

        from b24app import create_app
        from b24app.sandbox.server import QuietHandler

        self.httpd = make_server(
            "127.0.0.1", 0, self._wsgi, threaded=True, request_handler=QuietHandler
        )
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"
        self.sandbox_app = requests.post(f"{sandbox.url}/_sandbox/apps", json={
            "handler": self.url + "/app", "install_url": self.url + "/install", "ui": ui,
            "scopes": ["crm", "user", "placement", "bizproc", "catalog", "userfieldconfig", "im", "task"]},
            timeout=10).json()  # fmt: skip
        self.client_id = self.sandbox_app["client_id"]
        self.flask = create_app({
            "redis_url": redis_url, "public_url": self.url, "bx24_js_url": f"{sandbox.url}/bx24.js",
            "oauth_servers": f"{sandbox.url}/oauth-server", "client_id": self.client_id, "uninstall_settle": 0,
            "client_secret": self.sandbox_app["client_secret"], "secret_key": "test-secret-key",
            "timepad_api_url": f"{sandbox.url}/timepad", **(extra or {})})  # fmt: skip
        self.redis = self.flask.extensions["redis"]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def _wsgi(self, environ, start_response):
        return self.flask(environ, start_response)

    def run_jobs(self) -> None:
        """Run every queued job in this process (a real RQ worker in burst mode on the test Redis)."""
        from rq import Queue

        from b24app.queue import QUEUES

        queues = [Queue(name, connection=self.redis) for name in QUEUES]
        _burst_worker()(queues, connection=self.redis).work(burst=True)

    def stop(self) -> None:
        self.httpd.shutdown()


@pytest.fixture
def app_server(redis_url, sandbox):
    """The web app on a real port (UI-flow app registration), its Redis flushed first."""
    from redis import Redis

    Redis.from_url(redis_url).flushdb()
    server = AppServer(redis_url, sandbox)
    yield server
    server.stop()


@dataclass
class Registered:
    """A sandbox portal with our app installed (no-UI flow) and recorded in a real-Redis registry."""

    registry: Any
    member_id: str
    app: dict
    portal: PortalClient

    def client(self, limiter=None):
        from b24app.bitrix import for_portal
        from b24app.trust import servers

        return for_portal(self.registry, self.member_id, self.app["client_id"], self.app["client_secret"], limiter,
                          oauth_servers=servers(f"{self.portal.sandbox.url}/oauth-server"))  # fmt: skip


def register_portal(
    sandbox, portal: PortalClient, recorder, redis, scopes=("crm", "user", "placement", "bizproc")
):
    """Install an app into ``portal`` by ONAPPINSTALL to ``recorder`` and store the record in a registry."""
    from b24app.inbound import unflatten
    from b24app.portals import Portal, PortalRegistry

    app = requests.post(f"{sandbox.url}/_sandbox/apps", json={"handler": recorder.url + "/install", "ui": False,
                                                              "scopes": list(scopes)}, timeout=10).json()  # fmt: skip
    portal.control("POST", "/install", json={"client_id": app["client_id"], "flow": "event"})
    auth = unflatten(recorder.wait(1)[-1]["form"])["auth"]
    registry = PortalRegistry(redis, "test-secret")
    registry.save(Portal(auth["member_id"], auth["domain"], auth["client_endpoint"], auth["server_endpoint"],
                         auth["application_token"], auth["access_token"], auth["refresh_token"],
                         time.time() + int(auth["expires_in"]), auth["scope"].split(","), status="installed"))  # fmt: skip
    return Registered(registry, auth["member_id"], app, portal)


@pytest.fixture
def redis(redis_url):
    """A client of the test Redis, flushed."""
    from redis import Redis

    client = Redis.from_url(redis_url)
    client.flushdb()
    return client


@pytest.fixture
def registered(sandbox, portal, recorder, redis) -> Registered:
    return register_portal(sandbox, portal, recorder, redis)


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium (Debian's, never a downloaded one) per test module.

    Module scope on purpose: Playwright's sync API keeps an event loop running in the main thread while
    it is open, which would change how code under test behaves in every later module.
    """
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is not installed; the README test command installs it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    pg.set_default_timeout(15_000)
    yield pg
    context.close()


# --- real workers and a Redis that can be restarted (crash and storm tests) ---------------------


class AofRedis:
    """A redis-server with AOF on a fixed port, which a test can stop and start again."""

    def __init__(self, workdir):
        self.port, self.dir = free_port(), str(workdir)
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [shutil.which("redis-server"), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "yes", "--appendfsync", "always", "--dir", self.dir],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        from redis import Redis

        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                Redis.from_url(self.url).ping()
                return
            except Exception:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


@pytest.fixture
def aof_redis(tmp_path):
    server = AofRedis(tmp_path)
    yield server
    server.stop()


@pytest.fixture
def crash_app(aof_redis, sandbox):
    server = AppServer(aof_redis.url, sandbox)
    yield server
    server.stop()


def start_worker(app_server, log) -> subprocess.Popen:
    """A real `b24app worker` in its own process group (so a test can kill it with its work-horse)."""
    from b24app import context

    s = context.settings()
    env = dict(os.environ, B24APP_REDIS_URL=s.redis_url, B24APP_PUBLIC_URL=s.public_url,
               B24APP_OAUTH_SERVERS=s.oauth_servers, B24APP_CLIENT_ID=s.client_id,
               B24APP_CLIENT_SECRET=s.client_secret.get_secret_value(),
               B24APP_SECRET_KEY=s.secret_key.get_secret_value(), B24APP_REDIS_SENTINELS=s.redis_sentinels,
               B24APP_REDIS_SENTINEL_MASTER=s.redis_sentinel_master, B24APP_REDIS_REPLICAS=str(s.redis_replicas),
               B24APP_TIMEPAD_API_URL=s.timepad_api_url)  # fmt: skip
    return subprocess.Popen([sys.executable, "-m", "b24app", "worker"], env=env, stdout=log, stderr=log,
                            start_new_session=True)  # fmt: skip


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (RQ spawns its work-horse in a process group of its own)."""
    out = subprocess.run(["ps", "-e", "-o", "pid=,ppid="], capture_output=True, text=True).stdout
    children: dict[int, list[int]] = {}
    for line in out.splitlines():
        child, parent = map(int, line.split())
        children.setdefault(parent, []).append(child)
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the worker, its work-horse and its scheduler at once."""
    for pid in [proc.pid, *descendants(proc.pid)]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    proc.wait(10)


def lose_answer(monkeypatch, method: str, needle: str) -> list:
    """The first REST call of ``method`` whose params name ``needle`` is applied and its answer lost
    (BitrixUnavailable); returns a list that holds one item once that happened."""
    from b24app.bitrix import BitrixClient, BitrixUnavailable

    real, lost = BitrixClient._post, []

    async def answer_lost(self, called, params, token):
        answer = await real(self, called, params, token)
        if called == method and needle in str(params) and not lost:
            lost.append(1)
            raise BitrixUnavailable("NETWORK", "read timeout", 0, called)
        return answer

    monkeypatch.setattr(BitrixClient, "_post", answer_lost)
    return lost
