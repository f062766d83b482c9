"""The matrix's crash cells (docs/faults.md, «Crashes»): Redis restarted with donations queued and a
worker running, a worker SIGKILLed in the middle of a donation's job, the web app restarted between a
webhook's answer and its job. Real `b24app worker` processes, a redis-server with AOF; every accepted
donation ends as one deal with one thank-you letter, and a lesson reminder due beside them (the robot fired
on an enrolment) as one letter and one timeline comment."""

import threading
import time

import pytest
import requests

from b24app import context
from tests.conftest import AofRedis, AppServer, PortalClient, kill_group, start_worker

from . import matrix

SETTLED = (
    90  # seconds for the queues to empty after a crash (a SIGKILLed job is resumed after GRACE)
)
LATER = ("totals-dirty-", "dedup-nightly-")  # scheduled jobs no donation or letter waits for


class Fund:
    """One portal with CloudPayments and letters on, on an AOF Redis, and a worker log."""

    def __init__(self, sandbox, tmp_path):
        sandbox.world.reset()
        self.sandbox, self.redis_server = sandbox, AofRedis(tmp_path)
        self.app = AppServer(self.redis_server.url, sandbox)
        self.portal = PortalClient(sandbox, sandbox.world.create_portal(limits=False))
        self.portal.control(
            "POST", "/install", json={"client_id": self.app.client_id, "flow": "ui", "finish": True}
        )
        self.app.run_jobs()
        self.portal.control("PATCH", "", json={"mailboxes": ["hello@dobro.example"]})
        with context.registry().change(self.portal.member_id) as record:
            record.settings |= {"cloudpayments_secret": matrix.CP_SECRET, "letter_sender": matrix.SENDER,
                                "letter_channel": "bitrix24"}  # fmt: skip
        self.log = open(tmp_path / "workers.log", "w")  # noqa: SIM115

    def pay(self, n: int) -> tuple[str, str]:
        """A signed Pay for a new donor, delivered twice; (deal key, donor e-mail)."""
        from handlers.cloudpayments import sign

        key = context.registry().require(self.portal.member_id).key
        email, name = matrix.donor("crash", n)
        raw = matrix.pay_body(str(70_000 + n), email, name)
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            **sign(raw, matrix.CP_SECRET),
        }
        for _ in range(2):
            answer = requests.post(f"{self.app.url}/hooks/{key}/cloudpayments/pay", data=raw, headers=headers,
                                   timeout=15)  # fmt: skip
            assert answer.json() == {"code": 0}, answer.text
        return f"cp:{70_000 + n}", email

    def settle(self) -> None:
        """Until nothing is queued, running or due within a minute."""
        redis, deadline = context.redis(), time.monotonic() + SETTLED
        while time.monotonic() < deadline:
            try:
                queued = sum(redis.llen(k) for k in redis.keys("rq:queue:*"))
                busy = sum(redis.zcard(k) for k in redis.keys("rq:wip:*"))
                soon = sum(not i.startswith(LATER) for k in redis.keys("rq:scheduled:*")
                           for i in (j.decode() for j in redis.zrangebyscore(k, 0, time.time() + 60)))  # fmt: skip
                if queued == busy == soon == 0:
                    return
            except Exception:  # Redis on its way back
                pass
            time.sleep(0.5)
        raise AssertionError("the queues did not settle")

    def remind(self, n: int) -> tuple[int, str]:
        """A lesson reminder due at once (the robot fired on an enrolment): (deal, e-mail)."""
        return matrix.remind_now(self.portal, self.app.client_id, n)

    def once(self, made: list[tuple[str, str]], reminder: tuple[int, str]) -> str:
        """Each payment one deal at «Успешно», one donor, one letter; the reminder one letter, one comment."""
        matrix.reminded_once(self.portal, *reminder)
        outbox = self.portal.control("GET", "/outbox")
        for key, email in made:
            deals = self.portal.result("crm.deal.list", {"filter": {"UF_CRM_B24_PAYMENT_ID": key},
                                                         "select": ["ID", "STAGE_ID"]})  # fmt: skip
            assert len(deals) == 1 and deals[0]["STAGE_ID"].endswith(":WON"), (key, deals)
            assert len(matrix.by_email(self.portal, email)) == 1, email
            assert sum(email in str(m["to"]) for m in outbox) == 1, (email, outbox)
        return (f"{len(made)} donations → {len(made)} deals, {len(made)} donors, {len(made)} letters; "
                "1 lesson reminder → 1 letter, 1 comment")  # fmt: skip

    def stop(self) -> None:
        self.app.stop()
        self.redis_server.stop()
        self.log.close()


@pytest.fixture(scope="module")
def fund(sandbox_server, tmp_path_factory):
    fund = Fund(sandbox_server, tmp_path_factory.mktemp("crash"))
    yield fund
    fund.stop()


def record(name: str, outcome) -> None:
    try:
        matrix.ENVIRONMENT[name] = outcome()
    except BaseException as exc:
        matrix.ENVIRONMENT[name] = f"FAILED: {type(exc).__name__}: {str(exc)[:120]}".replace(
            "|", "/"
        )
        raise


def test_redis_restarted_with_donations_queued(fund):
    """Eight Pays accepted and a lesson reminder due; a worker starts on them (each deal's batch slowed); Redis stops for two
    seconds and comes back from its AOF; the same worker carries on: each donation once."""
    made, reminder = [fund.pay(n) for n in range(8)], fund.remind(0)
    fund.portal.control("POST", "/faults", json={"method": "batch", "command": "crm.deal.add", "latency": 0.5,
                                                 "count": 8})  # fmt: skip

    def outcome() -> str:
        worker = start_worker(fund.app, fund.log)
        try:
            deadline = time.monotonic() + 30
            while fund.portal.control("GET", "/counters").get("crm.deal.add", 0) < 2:
                assert time.monotonic() < deadline, "the worker did not start"
                time.sleep(0.1)
            fund.redis_server.stop()
            time.sleep(2)
            fund.redis_server.start()
            fund.settle()
            assert worker.poll() is None, "the worker process exited"
        finally:
            kill_group(worker)
        return fund.once(made, reminder)

    record("redis-restart", outcome)


def test_worker_sigkilled_mid_donation_job(fund):
    """The worker and its work-horse SIGKILLed while the deal's write batch is in flight (the portal
    applies it); a new worker resumes the job, which finds the deal: one deal, one letter (and the reminder
    due beside it once)."""
    made, reminder = [fund.pay(100)], fund.remind(100)
    fund.portal.control("DELETE", "/counters")
    fund.portal.control(
        "POST", "/faults", json={"method": "batch", "command": "crm.deal.add", "latency": 2}
    )

    def outcome() -> str:
        first = start_worker(fund.app, fund.log)
        deadline = time.monotonic() + 30
        while fund.portal.control("GET", "/faults")["faults"]:  # taken: the write is in flight
            assert time.monotonic() < deadline, "the job did not reach its write"
            time.sleep(0.02)
        assert not fund.portal.control("GET", "/counters").get("crm.deal.add")  # not applied yet
        kill_group(first)
        time.sleep(2.5)  # the write lands in the portal after its holder died
        second = start_worker(fund.app, fund.log)
        try:
            fund.settle()
        finally:
            kill_group(second)
        return fund.once(made, reminder)

    record("worker-sigkill", outcome)


def test_web_app_restarted_between_webhook_and_job(fund):
    """Pays and the reminder robot's call answered by one web app, which is then stopped; a new one (same Redis) takes the repeats,
    which queue nothing; a worker started afterwards makes each donation once."""
    made, reminder = [fund.pay(n) for n in range(200, 203)], fund.remind(200)

    def outcome() -> str:
        restart(fund.app)
        again = [
            fund.pay(n) for n in range(200, 203)
        ]  # CloudPayments' repeats reach the new process
        assert again == made
        worker = start_worker(fund.app, fund.log)
        try:
            fund.settle()
        finally:
            kill_group(worker)
        return fund.once(made, reminder)

    record("web-restart", outcome)


def restart(app: AppServer) -> None:
    """Stop the web app's server and its Flask app; serve a new one, built from the same settings, on
    the same port (nothing of the old process's memory carries over)."""
    from werkzeug.serving import make_server

    from b24app import create_app
    from b24app.sandbox.server import QuietHandler

    settings = app.flask.config["SETTINGS"]
    port = app.httpd.server_port
    app.httpd.shutdown()
    app.httpd.server_close()
    app.flask = create_app(dict(settings))
    app.redis = app.flask.extensions["redis"]
    app.httpd = make_server(
        "127.0.0.1", port, app._wsgi, threaded=True, request_handler=QuietHandler
    )
    threading.Thread(target=app.httpd.serve_forever, daemon=True).start()
