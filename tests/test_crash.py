"""Jobs survive crashes: a real `b24app worker` killed mid-template-job, Redis restarted mid-job (AOF on),
a reinstall after a crash; each ends with the whole template, made exactly once, within two minutes.

The template job is slowed by the sandbox (latency on its first batches) so the crash lands mid-job.
"""

import time
from collections import Counter

import requests

from b24app import context
from tests.conftest import kill_group, start_worker

RESUME_LIMIT = 120  # seconds: the "within two minutes"


def slow_template(portal, seconds: float = 1.0, batches: int = 6) -> None:
    """The next ``batches`` batch requests of the portal each take ``seconds``."""
    portal.control(
        "POST", "/faults", json={"method": "batch", "latency": seconds, "count": batches}
    )


def begin_install(portal, app_server) -> None:
    result = portal.control("POST", "/install", json={"client_id": app_server.client_id, "flow": "ui",
                                                      "finish": True})  # fmt: skip
    assert result["installed"] is True, result


def wait_until_writing(portal, timeout: float = 30) -> None:
    """Until the template job has made some of its writes (so a crash now lands mid-job)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        counters = portal.control("GET", "/counters")
        if counters.get("crm.category.add", 0) or counters.get("batch", 0) >= 3:
            return
        time.sleep(0.1)
    raise AssertionError(f"the template job did not start: {portal.control('GET', '/counters')}")


def wait_for_template(member_id: str, timeout: float = RESUME_LIMIT) -> float:
    """Seconds until the template is recorded complete; fails after ``timeout``."""
    from b24app.installation import template_status

    started = time.monotonic()
    while time.monotonic() - started < timeout:
        record = context.registry().get(member_id)
        status = template_status(member_id)
        if record and record.template_version and status and status["writes"] is not None:
            return time.monotonic() - started
        time.sleep(0.5)
    raise AssertionError(f"template not complete within {timeout} s")


def all_rows(portal, method: str, params: dict | None = None, key: str | None = None) -> list:
    """Every page of a list method."""
    rows, start = [], 0
    while start is not None:
        body = portal.call(method, {**(params or {}), "start": start}).body
        page = body["result"][key] if key else body["result"]
        rows += page
        start = body.get("next")
    return rows


def assert_made_once(portal, app_server) -> None:
    """Every template item exactly once: pipelines, fields, stages, smart process, bindings."""
    from b24app.installation import plan_template

    assert plan_template(portal.member_id).missing == []
    names = Counter(
        c["name"] for c in all_rows(portal, "crm.category.list", {"entityTypeId": 2}, "categories")
    )
    assert max(names.values()) == 1, names
    for entity in ("deal", "contact", "lead", "company"):
        fields = Counter(f["FIELD_NAME"] for f in all_rows(portal, f"crm.{entity}.userfield.list"))
        assert fields and max(fields.values()) == 1, (entity, fields)
    stages = Counter((s["ENTITY_ID"], s["NAME"]) for s in all_rows(portal, "crm.status.list"))
    assert max(stages.values()) == 1, [k for k, n in stages.items() if n > 1]
    types = Counter(t["title"] for t in all_rows(portal, "crm.type.list", key="types"))
    assert max(types.values()) == 1, types
    inst = portal.control("GET", "")["installs"][app_server.client_id]
    events = Counter((e["event"], e["handler"]) for e in inst["events"])
    placements = Counter((p["placement"], p["handler"]) for p in inst["placements"])
    assert max(events.values()) == 1 and max(placements.values()) == 1, (events, placements)


def test_sigkill_of_worker_and_horse_mid_template_resumes(portal, crash_app, tmp_path, capsys):
    """SIGKILL of the worker and its work-horse mid-job; a new worker (what the test killed, restarted)
    finishes the template exactly once within two minutes."""
    slow_template(portal)
    with open(tmp_path / "worker.log", "w") as log:
        first = start_worker(crash_app, log)
        begin_install(portal, crash_app)
        wait_until_writing(portal)
        kill_group(first)
        killed_at = time.monotonic()
        assert not context.registry().require(portal.member_id).template_version  # it was mid-job
        second = start_worker(crash_app, log)
        try:
            wait_for_template(portal.member_id)
            resumed = time.monotonic() - killed_at
        finally:
            kill_group(second)
    assert_made_once(portal, crash_app)
    with capsys.disabled():
        print(f"\n  resume after SIGKILL: {resumed:.1f} s")


def test_a_redis_restart_mid_job_is_ridden_out(portal, crash_app, aof_redis, tmp_path, capsys):
    """Redis (AOF on) stopped and started again mid-job: the same worker process carries on by itself
    and the template ends complete, exactly once, within two minutes."""
    slow_template(portal)
    with open(tmp_path / "worker.log", "w") as log:
        worker = start_worker(crash_app, log)
        try:
            begin_install(portal, crash_app)
            wait_until_writing(portal)
            aof_redis.stop()
            stopped_at = time.monotonic()
            time.sleep(2)
            aof_redis.start()
            wait_for_template(portal.member_id)
            resumed = time.monotonic() - stopped_at
            assert worker.poll() is None, "the worker process exited"
        finally:
            kill_group(worker)
    assert_made_once(portal, crash_app)
    with capsys.disabled():
        print(f"\n  resume after a Redis restart: {resumed:.1f} s")


def test_a_reinstall_after_a_crash_completes_the_template(portal, crash_app, tmp_path):
    """A crash leaves the template job "started"; a reinstall then must not be swallowed by it."""
    slow_template(portal, batches=4)
    with open(tmp_path / "worker.log", "w") as log:
        first = start_worker(crash_app, log)
        begin_install(portal, crash_app)
        wait_until_writing(portal)
        kill_group(first)
        begin_install(portal, crash_app)
        second = start_worker(crash_app, log)
        try:
            wait_for_template(portal.member_id)
        finally:
            kill_group(second)
    assert_made_once(portal, crash_app)
    assert requests.get(crash_app.url + "/healthz", timeout=5).json()["redis"] == "ok"
