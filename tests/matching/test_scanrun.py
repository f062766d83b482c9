"""The duplicate scan as a resumable job (product.md C5 and §3 "Fairness between portals"; bitrix24-rest.md
§2.4 ID fast pattern, §3.1 the leaky bucket, §4.4 crm.entity.mergeBatch)."""

import csv
import io
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime

import pytest
import requests
from rq.job import Job

from b24app import context
from b24app.bitrix import BitrixError
from b24app.matching import scanrun
from b24app.matching.scan import review_entries
from b24app.matching.scanrun import (
    ScanRun,
    ScanRunning,
    begin_run,
    last_report,
    run_state,
    scan_portal,
    start_scan,
)
from b24app.signing import sign
from tests.conftest import PortalClient
from tests.matching.test_scan import alive, comments, install, seed

SMALL = {"total": 300, "n_pairs": 8, "n_triples": 3, "n_review": 3, "n_spouses": 3, "n_fathers": 2,
         "n_namesakes": 3}  # fmt: skip


def assert_truth_merged(client, truth, before_ids: set[int]) -> None:
    now = alive(client)
    for group in truth.same:
        assert group[0] in now and not set(group[1:]) & set(now), group
    for pair in truth.different + truth.review:
        assert set(pair) <= set(now), pair
    gone = before_ids - set(now)
    assert gone == {i for g in truth.same for i in g[1:]}


def fail_next_batch(portal) -> None:
    """The portal's next batch request fails with a non-retryable error (docs/sandbox.md, faults)."""
    portal.control("POST", "/faults", json={"method": "batch", "error": "ERROR_CORE", "status": 400,
                                            "description": "injected"})  # fmt: skip


def finish(client, redis, member, run) -> None:
    while not ScanRun(client, redis, member, run).step():
        pass


def die_before_the_merge_commit(monkeypatch) -> None:
    real = ScanRun.commit

    def commit(self, before, updates):
        if before["phase"] == "merge" and not getattr(commit, "done", False):
            commit.done = True
            raise ConnectionError("worker killed")
        return real(self, before, updates)

    monkeypatch.setattr(ScanRun, "commit", commit)


def test_a_run_resumes_after_failed_steps_and_merges_exactly_once(registered, redis, monkeypatch):
    """A load step and a merge step fail (an error answer from the portal): the state does not move, the
    next step repeats the failed one, and the end result is the same as an uninterrupted run: every true
    cluster merged once, nothing else deleted, review pairs queued."""
    monkeypatch.setattr(scanrun, "MERGE_CLUSTERS", 3)
    client = registered.client()
    truth = seed(client, **SMALL, companies=False)
    before = set(alive(client))
    run_id = begin_run(redis, registered.member_id, "apply")
    run, failures, steps = ScanRun(client, redis, registered.member_id, run_id), 0, 0
    while True:
        state = run_state(redis, registered.member_id)
        inject = (state["phase"] == "contact" and state.get("after")) or (
            state["phase"] == "merge" and state.get("merged_upto") == "3"
        )
        if inject and failures < 2:
            fail_next_batch(registered.portal)
            with pytest.raises(BitrixError, match="ERROR_CORE"):
                run.step()
            failures += 1
            assert run_state(redis, registered.member_id)["phase"] == state["phase"]
            assert run_state(redis, registered.member_id).get("after") == state.get("after")
            assert run_state(redis, registered.member_id).get("merged_upto") == state.get(
                "merged_upto"
            )
            continue
        steps += 1
        if run.step():
            break
    report = last_report(redis, registered.member_id)
    print(
        f"\nresumed run: {steps} steps, {failures} failed and repeated, {report.requests} requests"
    )
    assert failures == 2 and steps >= 2 + 1 + len(truth.same) // 3
    assert report.merged_clusters == len(truth.same)
    assert report.merged_records == sum(len(g) - 1 for g in truth.same)
    assert_truth_merged(client, truth, before)
    queued = {tuple(sorted(e["ids"])) for e in review_entries(redis, registered.member_id).values()}
    assert all(tuple(sorted(pair)) in queued for pair in truth.review)


def test_a_merge_step_repeated_after_its_writes_keeps_every_given_up_value(
    registered, redis, monkeypatch
):
    """The worker dies after a merge step's writes and mergeBatch but before the step's commit (the
    commit is made to fail once). The repeated step finds the saved plans: the clusters whose losers are
    gone count as merged, and the comment with each loser's differing POST is still written (§4.4)."""
    client = registered.client()
    truth = seed(client, **SMALL, companies=False)
    run_id = begin_run(redis, registered.member_id, "apply")
    scan = ScanRun(client, redis, registered.member_id, run_id)
    die_before_the_merge_commit(monkeypatch)
    with pytest.raises(ConnectionError):
        while not scan.step():
            pass
    assert run_state(redis, registered.member_id)["phase"] == "merge"
    finish(client, redis, registered.member_id, run_id)  # the retried job
    report = last_report(redis, registered.member_id)
    assert report.merged_clusters == len(truth.same) and not any(
        r["action"] == "skipped" for r in report.rows
    )
    assert truth.conflicts
    for loser, post in truth.conflicts.items():
        group = next(g for g in truth.same if loser in g)
        note = comments(registered.portal, group[0])
        assert note.count(f"Объединено с контактом #{loser}") == 1 and f"«{post}»" in note


def test_a_replaced_or_forgotten_run_writes_nothing(registered, redis, monkeypatch):
    """A step still running when its run was replaced (or the portal uninstalled with CLEAN) commits
    nothing: the new run keeps its own position, and no key of a forgotten portal comes back."""
    client = registered.client()
    seed(client, **SMALL, companies=False)
    member = registered.member_id
    old = begin_run(redis, member, "apply")
    ScanRun(client, redis, member, old).step()
    monkeypatch.setattr(scanrun, "STALE_AFTER", 0)
    new = begin_run(redis, member, "apply")
    assert ScanRun(client, redis, member, old).step() is True
    state = run_state(redis, member)
    assert state["run"] == new and state.get("after") == "" and "loaded_contact" not in state
    assert not redis.exists(scanrun.run_key(member, "contact"))
    redis.delete(*redis.keys(f"b24:p:{member}:*"))
    assert ScanRun(client, redis, member, new).step() is True
    assert not redis.keys(f"b24:p:{member}:*")


def test_a_failed_run_says_so_and_does_not_block_the_next(registered, redis, monkeypatch):
    """A run that dies for good (here the CLI's, on an error) is marked failed with the reason; a new
    scan may start at once instead of waiting for STALE_AFTER."""
    client = registered.client()
    seed(client, **SMALL, companies=False)

    def broken(*args):
        raise ValueError("portal answered nonsense")

    monkeypatch.setattr(scanrun, "read_records", broken)
    with pytest.raises(ValueError):
        scan_portal(client, redis, registered.member_id, apply=True)
    state = run_state(redis, registered.member_id)
    assert state["phase"] == "failed" and "portal answered nonsense" in state["error"]
    assert begin_run(redis, registered.member_id, "apply")


def test_one_run_at_a_time_and_a_dead_run_is_replaced(registered, redis, monkeypatch):
    """Two starters racing → one run; scan_portal (and the CLI) refuse while it runs; a run that has not
    advanced for STALE_AFTER seconds (its job failed for good) no longer blocks a new one."""
    member = registered.member_id
    wins = []
    barrier = threading.Barrier(8)

    def race() -> None:
        barrier.wait()
        wins.append(begin_run(redis, member, "apply"))

    threads = [threading.Thread(target=race) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len([w for w in wins if w]) == 1
    with pytest.raises(ScanRunning):
        scan_portal(registered.client(), redis, member, apply=True)
    monkeypatch.setattr(scanrun, "STALE_AFTER", 0)
    assert begin_run(redis, member, "apply") not in (None, *wins)


def test_cli_refuses_a_second_scan(portal, app_server, capsys):
    """`b24app dedup scan` while a scan job runs for the portal: exit status 2 and a sentence, no writes."""
    from b24app.__main__ import main

    install(portal, app_server)
    assert start_scan(context.redis(), portal.member_id)
    assert main(["dedup", "scan", "--portal", portal.member_id]) == 2
    assert "already running" in capsys.readouterr().err


def test_scan_job_finishes_the_run_and_the_report_downloads_as_csv(portal, app_server):
    """The job path end to end (RQ worker, burst): the report is saved with its figures, and the review
    page serves it as CSV for Excel (BOM, ";"), only with the page's signed token."""
    install(portal, app_server)
    client, redis = context.client(portal.member_id), context.redis()
    truth = seed(client, **SMALL)
    assert start_scan(redis, portal.member_id, "apply")
    app_server.run_jobs()
    state = run_state(redis, portal.member_id)
    assert state["phase"] == "done" and int(state["requests"]) > 0
    install_id = context.registry().require(portal.member_id).install_id
    token = sign("test-secret-key", "review", {"m": portal.member_id, "i": install_id})
    resp = requests.post(
        f"{app_server.url}/app/review/report.csv", data={"token": token}, timeout=10
    )
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("text/csv")
    assert resp.text.startswith("\ufeff")
    assert (
        resp.text.splitlines()[0] == "\ufeffГруппа;Записи;Остаётся;Действие;Причины;Оценка;Сущность"
    )
    rows = list(csv.DictReader(io.StringIO(resp.text.lstrip("\ufeff")), delimiter=";"))
    merged = sorted(
        r["Записи"] for r in rows if r["Действие"] == "объединено" and r["Сущность"] == "контакт"
    )
    assert merged == sorted(" ".join(map(str, g)) for g in truth.same)
    english = requests.post(f"{app_server.url}/app/review/report.csv", data={"token": token, "lang": "en"},
                            timeout=10).text  # fmt: skip
    assert english.startswith("\ufeffGroup;Records;Survivor;Action;Reasons;Score;Entity")
    assert ";merged;" in english and ";contact" in english
    assert requests.post(f"{app_server.url}/app/review/report.csv", timeout=10).status_code == 401


def test_scan_job_of_an_uninstalled_portal_ends_quietly(portal, app_server):
    """A scan job that runs after its portal was uninstalled ends without error or retry, whether the
    portal's data was kept (no tokens left) or deleted (CLEAN), and writes nothing for it."""
    from b24app.installation import forget
    from b24app.queue import BULK, enqueue

    install(portal, app_server)
    redis, member = context.redis(), portal.member_id
    run = start_scan(redis, member)
    first = redis.lrange("rq:queue:bulk", 0, -1)[0].decode()
    forget(member, clean=False)
    app_server.run_jobs()
    job = Job.fetch(first, connection=redis)
    assert job.get_status() == "finished" and job.return_value() == "portal uninstalled"
    assert run_state(redis, member)["phase"] == "contact"  # nothing loaded
    context.registry().delete(member)
    late = enqueue(redis, BULK, f"dedup-scan-{member}-{run}-late", scanrun.scan_job, member, run)
    app_server.run_jobs()
    late.refresh()
    assert late.get_status() == "finished" and late.return_value() == "portal uninstalled"
    assert not redis.keys(f"b24:p:{member}:*")


def saturate(member_id: str, rate: tuple[float, int], stop: threading.Event) -> None:
    """Another process's work on the same portal: it spends the burst, then one request a second."""
    limiter = context.limiter()
    for _ in range(rate[1]):
        limiter.try_acquire(member_id, *rate)
    while not stop.wait(1.0):
        limiter.acquire(member_id, *rate)


def worker(app_server, patience: float, log) -> subprocess.Popen:
    """A real `b24app worker` process (with RQ's scheduler) wired like the app server."""
    env = dict(os.environ)
    for name in ("redis_url", "public_url", "oauth_servers", "client_id"):
        env[f"B24APP_{name.upper()}"] = str(getattr(context.settings(), name))
    env["B24APP_CLIENT_SECRET"] = context.settings().client_secret.get_secret_value()
    env["B24APP_SECRET_KEY"] = context.settings().secret_key.get_secret_value()
    code = (f"import b24app.matching.scanrun as s; s.PATIENCE = {patience}; "
            "from b24app.__main__ import main; main(['worker'])")  # fmt: skip
    return subprocess.Popen([sys.executable, "-c", code], env=env, stdout=log, stderr=log,
                            start_new_session=True)  # fmt: skip


def test_a_long_scan_gives_the_worker_back_to_other_portals(sandbox, portal, app_server, tmp_path):
    """One worker process; portal A's burst is spent and other work on A keeps taking a request a second,
    so each request of A's scan waits for a place. Portal B's job queued mid-scan starts within a step's time instead of after the
    whole scan: the scan re-queues itself for the limiter's moment rather than sleeping (product.md §3)."""
    from b24app.installation import apply_template
    from b24app.queue import DEFAULT, enqueue_once

    other = PortalClient(sandbox, sandbox.world.create_portal(limits=False))
    install(portal, app_server)
    install(other, app_server)
    redis = context.redis()
    client = context.client(portal.member_id)
    truth = seed(client, **SMALL, companies=False)
    before = set(alive(client))
    stop = threading.Event()
    noise = threading.Thread(
        target=saturate, args=(portal.member_id, client.rate, stop), daemon=True
    )
    noise.start()
    log = (tmp_path / "worker.log").open("w")
    proc = worker(app_server, patience=0.2, log=log)
    try:
        began = time.time()
        assert start_scan(redis, portal.member_id, "apply")
        time.sleep(2.0)
        assert run_state(redis, portal.member_id)["phase"] != "done"
        job = enqueue_once(
            redis, DEFAULT, f"template-{other.member_id}", apply_template, other.member_id
        )
        while job.get_status(refresh=True) != "finished" and time.time() - began < 60:
            time.sleep(0.1)
        while run_state(redis, portal.member_id)["phase"] != "done" and time.time() - began < 120:
            time.sleep(0.2)
    finally:
        stop.set()
        os.killpg(proc.pid, signal.SIGKILL)  # the worker and its scheduler
        proc.wait(20)
        log.close()
    state = run_state(redis, portal.member_id)
    job.refresh()
    assert job.get_status() == "finished" and state["phase"] == "done", (
        tmp_path / "worker.log"
    ).read_text()[-4000:]
    finished = datetime.fromisoformat(state["finished"])
    b_ended = job.ended_at if job.ended_at.tzinfo else job.ended_at.replace(tzinfo=UTC)
    waited = (job.started_at - job.enqueued_at).total_seconds()
    print(f"\nfairness: portal A's scan took {last_report(redis, portal.member_id).seconds:.1f} s in "
          f"{state['jobs']} jobs; portal B's job waited {waited:.2f} s for the one worker and ended "
          f"{(finished - b_ended).total_seconds():.1f} s before A's scan")  # fmt: skip
    assert waited < 4.0 and b_ended < finished
    assert int(state["jobs"]) >= 3  # it yielded
    assert_truth_merged(client, truth, before)


# --- repeated and refused merge steps (one pair: Иван Петров twice, the younger with one more e-mail) ---


def pair(client, last: str = "Петров") -> tuple[int, int]:
    """The survivor (POST «Бухгалтер», s@x.ru) and its duplicate (POST «Директор», s@x.ru + l@x.ru)."""
    ids = []
    domain = {"Петров": "x.ru"}.get(last, "y.ru")
    for post, emails in (
        ("Бухгалтер", [f"s@{domain}"]),
        ("Директор", [f"s@{domain}", f"l@{domain}"]),
    ):
        fields = {"NAME": "Иван", "LAST_NAME": last, "POST": post,
                  "EMAIL": [{"VALUE": e, "VALUE_TYPE": "WORK"} for e in emails]}  # fmt: skip
        ids.append(int(client.call("crm.contact.add", {"fields": fields})))
    return ids[0], ids[1]


def to_merge_phase(client, redis, member) -> str:
    run = begin_run(redis, member, "apply")
    scan = ScanRun(client, redis, member, run)
    while run_state(redis, member)["phase"] != "merge":
        scan.step()
    return run


def emails_of(client, contact_id) -> list[str]:
    return [
        m["VALUE"] for m in client.call("crm.contact.get", {"id": contact_id}).get("EMAIL") or []
    ]


def test_a_repeated_merge_step_never_appends_an_email_twice(registered, redis, monkeypatch):
    """Attempt 1 writes the fill and the alignment, mergeBatch is refused, the worker dies; the repeat
    (saved plan) leaves out the e-mail already appended, merges, and comments «Директор» once (§4.1, §4.4)."""
    client, member = registered.client(), registered.member_id
    survivor, loser = pair(client)
    run = to_merge_phase(client, redis, member)
    registered.portal.control("POST", "/faults", json={"method": "crm.entity.mergeBatch", "error": "ERROR_CORE",
                                                       "status": 400})  # fmt: skip
    die_before_the_merge_commit(monkeypatch)
    with pytest.raises(ConnectionError):
        ScanRun(client, redis, member, run).step()
    assert sorted(emails_of(client, survivor)) == ["l@x.ru", "s@x.ru"]  # attempt 1 did write
    finish(client, redis, member, run)
    assert sorted(emails_of(client, survivor)) == ["l@x.ru", "s@x.ru"]
    assert not alive(client).get(loser) and last_report(redis, member).merged_clusters == 1
    assert comments(registered.portal, survivor).count("«Директор»") == 1


def test_a_lost_answer_to_the_merge_batch_is_not_sent_again(registered, redis, monkeypatch):
    """The portal merged, but the answer was lost (a timeout): the write batch is not repeated inline
    (it would append the e-mail again); the step is, and counts the merge as done."""
    from b24app.bitrix import BitrixClient, BitrixUnavailable

    client, member = registered.client(), registered.member_id
    survivor, loser = pair(client)
    run = to_merge_phase(client, redis, member)
    real, lost = BitrixClient._post, []

    async def answer_lost(self, method, params, token):
        answer = await real(self, method, params, token)
        if method == "batch" and "mergeBatch" in str(params) and not lost:
            lost.append(method)
            raise BitrixUnavailable("NETWORK", "read timeout", 0, method)
        return answer

    monkeypatch.setattr(BitrixClient, "_post", answer_lost)
    with pytest.raises(BitrixUnavailable):
        ScanRun(client, redis, member, run).step()
    finish(client, redis, member, run)
    assert sorted(emails_of(client, survivor)) == ["l@x.ru", "s@x.ru"] and loser not in alive(
        client
    )
    assert last_report(redis, member).merged_clusters == 1
    assert "«Директор»" in comments(registered.portal, survivor)


def test_a_survivor_merged_away_meanwhile_leaves_the_loser_its_old_values_in_a_comment(
    registered, redis, monkeypatch
):
    """Attempt 1 aligned the loser to the survivor and died; someone deleted the survivor before the
    repeat: the loser stays, and a comment on it keeps its old POST."""
    client, member = registered.client(), registered.member_id
    survivor, loser = pair(client)
    run = to_merge_phase(client, redis, member)
    registered.portal.control("POST", "/faults", json={"method": "crm.entity.mergeBatch", "error": "ERROR_CORE",
                                                       "status": 400})  # fmt: skip
    die_before_the_merge_commit(monkeypatch)
    with pytest.raises(ConnectionError):
        ScanRun(client, redis, member, run).step()
    client.call("crm.contact.delete", {"id": survivor})
    finish(client, redis, member, run)
    assert loser in alive(client) and "«Директор»" in comments(registered.portal, loser)
    assert [r["action"] for r in last_report(redis, member).rows] == ["skipped"]


def test_comments_refused_for_now_wait_and_refused_for_good_go_to_the_report(
    registered, redis, monkeypatch
):
    """The operating limit on crm.timeline.comment.add three times: the comment waits NOTE_PAUSE each
    time and is written in the end. Refused for good (a 400) three times: its text is in the report."""
    monkeypatch.setattr(scanrun, "NOTE_PAUSE", 0.05)
    client, member = registered.client(), registered.member_id
    survivor, _ = pair(client)
    run = to_merge_phase(client, redis, member)
    registered.portal.control("POST", "/faults", json={"method": "crm.timeline.comment.add", "count": 3,
                              "error": "OPERATION_TIME_LIMIT", "status": 429})  # fmt: skip
    finish(client, redis, member, run)
    assert "«Директор»" in comments(registered.portal, survivor)
    assert scanrun.report_meta(redis, member)["notes_lost"] == 0

    other, _ = pair(client, "Сидоров")
    run = to_merge_phase(client, redis, member)
    registered.portal.control("POST", "/faults", json={"method": "crm.timeline.comment.add", "count": 3,
                              "error": "ERROR_CORE", "status": 400})  # fmt: skip
    finish(client, redis, member, run)
    report = last_report(redis, member)
    lost = [r for r in report.rows if r["action"] == "comment lost"]
    assert len(lost) == 1 and lost[0]["ids"] == str(other) and "«Директор»" in lost[0]["reasons"]
    assert "«Директор»" not in comments(registered.portal, other)


def test_the_operating_limit_inside_a_batch_reschedules_the_job_a_minute_later(portal, app_server):
    """OPERATION_TIME_LIMIT on a command inside a batch names no reset time (bitrix24-rest.md §3.2): the
    job is scheduled about a minute ahead, not at once."""
    from rq import Queue
    from rq.registry import ScheduledJobRegistry

    install(portal, app_server)
    redis, member = context.redis(), portal.member_id
    seed(context.client(member), **SMALL, companies=False)
    run = begin_run(redis, member, "apply")
    ScanRun(
        context.client(member), redis, member, run
    ).step()  # the counted first page: a plain call
    portal.control("POST", "/faults", json={"method": "crm.contact.list", "error": "OPERATION_TIME_LIMIT",
                                            "status": 429, "count": 60})  # fmt: skip
    scheduled = ScheduledJobRegistry(queue=Queue("bulk", connection=redis))
    began = time.time()
    assert scanrun.scan_job(member, run) == "waiting for the portal's limit"
    [job_id] = scheduled.get_job_ids()
    assert began + 50 < redis.zscore(scheduled.key, job_id) < began + 70


def test_plans_saved_by_another_run_are_not_taken_as_this_runs(registered, redis):
    """A replaced run's late write of its plans is ignored: the new run plans and merges for itself."""
    import json

    from b24app.matching.merge import MergePlan, plan_to_dict

    client, member = registered.client(), registered.member_id
    survivor, loser = pair(client)
    run = to_merge_phase(client, redis, member)
    stale = {
        "run": "someoneelse",
        "start": 0,
        "plans": {"0": plan_to_dict(MergePlan("contact", 999, [998]))},
    }
    redis.set(scanrun.run_key(member, "plans"), json.dumps(stale))
    finish(client, redis, member, run)
    assert loser not in alive(client) and last_report(redis, member).merged_clusters == 1


def test_progress_before_the_first_step_is_empty():
    """A run that has not taken a step yet shows no figures (the page says «начинаем»)."""
    from b24app.matching.scanrun import progress_of

    assert progress_of({"run": "x", "phase": "contact", "after": ""}) == (0, 0, "")
