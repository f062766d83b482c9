"""Observability against a running stack: /healthz, Prometheus /metrics, JSON logs carrying a webhook's
request id to the REST calls its job makes, the RQ dashboard behind auth, and the app under gunicorn
with the repository's config."""

import base64
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from b24app.health import MAX_WAIT, health
from b24app.queue import DEFAULT, enqueue
from tests.conftest import AppServer, free_port, kill_group, start_worker
from tests.handlers.test_cloudpayments import Fund, body

OPS = "ops-password-for-tests"
ROOT = Path(__file__).parents[1]


@pytest.fixture
def ops_app(redis_url, sandbox):
    """The web app with /metrics switched on."""
    from redis import Redis

    Redis.from_url(redis_url).flushdb()
    server = AppServer(redis_url, sandbox, extra={"ops_password": OPS})
    yield server
    server.stop()


def until(check, timeout: float = 60, every: float = 0.3):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(every)
    raise AssertionError(f"not reached within {timeout} s")


def scrape(url: str) -> str:
    resp = requests.get(f"{url}/metrics", headers={"Authorization": f"Bearer {OPS}"}, timeout=10)
    assert resp.status_code == 200, resp.text
    return resp.text


def test_health_metrics_and_a_request_id_from_webhook_to_rest_calls(portal, ops_app, tmp_path):
    """No worker → /healthz 503 naming it; a donation through a real `b24app worker` → 200, the metrics
    count the request, the job and the portal's REST calls, and the worker's JSON log lines of those REST
    calls carry the webhook's X-Request-Id."""
    fund = Fund(portal, ops_app)
    down = requests.get(f"{ops_app.url}/healthz", timeout=10)
    assert down.status_code == 503 and "no worker is alive" in down.json()["problems"]
    assert {q["name"] for q in down.json()["queues"]} == {"urgent", "default", "bulk"}

    hook = fund.deliver("pay", body("pay"))
    assert hook.status_code == 200 and (request_id := hook.headers["X-Request-Id"])
    refused = requests.post(fund.url("pay"), data=body("pay"), timeout=10,
                            headers={"Content-Type": "application/x-www-form-urlencoded", "Content-HMAC": "forged"})  # fmt: skip
    assert refused.status_code == 401
    for n in range(3):  # made-up sources count as one label, not one series each
        assert (
            requests.post(
                f"{ops_app.url}/hooks/{fund.key}/made-up-{n}", data=b"x", timeout=10
            ).status_code
            == 404
        )

    log_path = tmp_path / "worker.log"
    with open(log_path, "wb") as log:
        worker = start_worker(ops_app, log)
        try:
            until(lambda: fund.deals())
            report = until(
                lambda: (
                    (r := requests.get(f"{ops_app.url}/healthz", timeout=10)).status_code == 200
                    and r.json()
                )
            )
        finally:
            kill_group(worker)
    assert report["workers"] >= 1 and report["schedulers"] >= 1 and report["problems"] == []

    assert requests.get(f"{ops_app.url}/metrics", timeout=10).status_code == 401
    text = scrape(ops_app.url)
    assert (
        'blago24_http_requests_total{route="/hooks/<key>/<source>/<kind>",status="200"} 1.0' in text
    )
    assert (
        'blago24_deliveries_refused_total{reason="Unauthorized",source="cloudpayments"} 1.0' in text
    )
    assert 'job="handlers.cloudpayments' not in text  # jobs are named by their function
    assert (
        'blago24_jobs_total{job="b24app.donations.intake.record_donation",queue="default",state="finished"} 1.0'
        in text
    )
    assert f'blago24_rest_calls_total{{method="batch",portal="{portal.member_id}"}}' in text
    assert 'blago24_queue_depth{queue="default"} 0.0' in text

    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
    rest = [line for line in lines if line["message"].startswith(f"portal {portal.member_id}: ")]
    assert rest and all(line["request_id"] == request_id and line["job_id"] for line in rest), rest[
        :3
    ]
    assert {"time", "level", "logger", "message"} <= set(rest[0])


def test_a_job_waiting_too_long_makes_the_deployment_unhealthy(redis):
    """The oldest waiting job's age is reported, and past MAX_WAIT it is a problem by name."""
    enqueue(redis, DEFAULT, "waits", "builtins.len")
    healthy, report = health(redis, time.time() + MAX_WAIT + 5)
    assert not healthy
    assert any(p.startswith("queue default: the oldest job has waited") for p in report["problems"])
    assert next(q for q in report["queues"] if q["name"] == "default")["oldest_seconds"] > MAX_WAIT


def serve(cmd: list[str], env: dict, port: int, log) -> subprocess.Popen:
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=log, stderr=log, start_new_session=True)
    until(lambda: port_open(port) or proc.poll() is not None, timeout=30)
    assert proc.poll() is None, Path(log.name).read_text()[-2000:]
    return proc


def port_open(port: int) -> bool:
    try:
        requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
        return True
    except requests.RequestException:
        return False


def test_the_rq_dashboard_is_behind_auth(redis_url, tmp_path):
    """`b24app dashboard` serves rq-dashboard only to B24APP_OPS_PASSWORD."""
    port = free_port()
    env = dict(os.environ, B24APP_REDIS_URL=redis_url, B24APP_OPS_PASSWORD=OPS)
    with open(tmp_path / "dashboard.log", "wb") as log:
        proc = serve(
            [sys.executable, "-m", "b24app", "dashboard", "--port", str(port)], env, port, log
        )
    try:
        url = f"http://127.0.0.1:{port}/rq/"
        assert requests.get(url, timeout=10).status_code == 401
        wrong = base64.b64encode(b"admin:guess").decode()
        assert (
            requests.get(url, headers={"Authorization": f"Basic {wrong}"}, timeout=10).status_code
            == 401
        )
        right = base64.b64encode(f"admin:{OPS}".encode()).decode()
        page = requests.get(url, headers={"Authorization": f"Basic {right}"}, timeout=10)
        assert page.status_code == 200 and "RQ" in page.text
    finally:
        kill_group(proc)


def test_the_app_under_gunicorn_with_the_repositorys_config(redis_url, tmp_path):
    """deploy/gunicorn.conf.py serves wsgi:app: /healthz answers, /metrics counts it, and the web log is
    JSON lines carrying each request's id."""
    port = free_port()
    env = dict(os.environ, B24APP_REDIS_URL=redis_url, B24APP_OPS_PASSWORD=OPS, B24APP_BIND=f"127.0.0.1:{port}",
               B24APP_WEB_PROCESSES="2", B24APP_SECRET_KEY="gunicorn-test-secret")  # fmt: skip
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    log_path = tmp_path / "web.log"
    with open(log_path, "wb") as log:
        proc = serve([gunicorn, "-c", "deploy/gunicorn.conf.py", "wsgi:app"], env, port, log)
    try:
        url = f"http://127.0.0.1:{port}"
        assert requests.get(f"{url}/healthz", timeout=10).json()["redis"] == "ok"
        missing = requests.post(
            f"{url}/hooks/no-such-key/cloudpayments/pay", data=b"x=1", timeout=10
        )
        assert missing.status_code == 404 and "portal key" in missing.json()["message"]
        assert 'blago24_http_requests_total{route="/healthz",status=' in scrape(url)
    finally:
        kill_group(proc)
    lines = [json.loads(x) for x in log_path.read_text().splitlines() if x.startswith("{")]
    refused = [
        x for x in lines if x["message"].startswith("refused inbound call to /hooks/no-such-key")
    ]
    assert refused and refused[0]["request_id"] == missing.headers["X-Request-Id"]
