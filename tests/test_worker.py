"""``b24app worker`` runs RQ jobs from a real Redis."""

import os
import subprocess
import sys

from redis import Redis
from rq import Queue


def test_worker_runs_a_queued_job(redis_url):
    """A job queued on "default" is run by `b24app worker --burst` and its result stored."""
    redis = Redis.from_url(redis_url)
    job = Queue("default", connection=redis).enqueue("operator.add", 2, 3)
    env = {**os.environ, "B24APP_REDIS_URL": redis_url, "B24APP_SECRET_KEY": "test-secret-key"}
    subprocess.run([sys.executable, "-m", "b24app", "worker", "--burst"], env=env, check=True, timeout=60,
                   capture_output=True)  # fmt: skip
    job.refresh()
    assert job.get_status() == "finished" and job.return_value() == 5


def test_an_idle_worker_stops_on_sigterm_with_its_scheduler(redis_url, tmp_path):
    """SIGTERM to an idle `b24app worker`: it exits (it is not replaced by a new worker), its
    scheduler process with it."""
    import signal
    import time

    from tests.conftest import descendants

    env = {**os.environ, "B24APP_REDIS_URL": redis_url, "B24APP_SECRET_KEY": "test-secret-key"}
    with open(tmp_path / "worker.log", "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "b24app", "worker"], env=env, stdout=log, stderr=log
        )
        time.sleep(3)
        children = descendants(proc.pid)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
    time.sleep(1)
    assert [p for p in children if running(p)] == []
    assert "starting a new worker" not in (tmp_path / "worker.log").read_text()


def running(pid: int) -> bool:
    """Alive and not a zombie."""
    from pathlib import Path

    status = Path(f"/proc/{pid}/status")
    return status.exists() and "zombie" not in status.read_text()


def test_web_and_worker_refuse_the_default_secret_key(redis_url):
    """With B24APP_SECRET_KEY unset (anyone could sign the app's forms), `b24app web`, `b24app worker`
    and the WSGI entry point refuse to start with one line saying why, in the operator's language."""
    env = {k: v for k, v in os.environ.items() if k != "B24APP_SECRET_KEY"}
    env.update(B24APP_REDIS_URL=redis_url, LANG="C.UTF-8")
    for argv in (["web", "--port", "1"], ["worker", "--burst"]):
        run = subprocess.run([sys.executable, "-m", "b24app", *argv], env=env, capture_output=True,
                             text=True, timeout=60)  # fmt: skip
        assert run.returncode == 2
        assert run.stderr.strip().splitlines() == [
            "B24APP_SECRET_KEY не задан: с ключом по умолчанию любой подделает формы приложения и прочтёт его записи"
        ]
    wsgi = subprocess.run([sys.executable, "-c", "import wsgi"], env={**env, "LANG": "en_US.UTF-8"},
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert wsgi.returncode == 1
    assert "B24APP_SECRET_KEY is not set" in wsgi.stderr
    short = subprocess.run([sys.executable, "-m", "b24app", "worker", "--burst"],
                           env={**env, "B24APP_SECRET_KEY": "short"}, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert short.returncode == 2 and "короче 12 символов" in short.stderr


def test_a_job_popped_but_never_started_is_queued_again_by_the_next_worker(redis_url):
    """A worker popped a job (BLPOP over several queues keeps no copy) and lost Redis before it marked it
    started: the job is in no queue. The next `b24app worker` puts it back and runs it; a job of a live
    worker (started, registered) is left alone."""
    redis = Redis.from_url(redis_url)
    redis.flushdb()
    queue = Queue("default", connection=redis)
    job = queue.enqueue("operator.add", 2, 3, job_id="popped-then-lost")
    assert redis.lpop(queue.key) == job.id.encode()  # what the dying worker's BLPOP did
    env = {**os.environ, "B24APP_REDIS_URL": redis_url, "B24APP_SECRET_KEY": "test-secret-key"}
    subprocess.run([sys.executable, "-m", "b24app", "worker", "--burst"], env=env, check=True, timeout=60,
                   capture_output=True)  # fmt: skip
    job.refresh()
    assert job.get_status() == "finished" and job.return_value() == 5


def test_orphans_are_only_queued_status_jobs_missing_from_their_queue(redis_url):
    """``orphans`` names a popped queued job, not a waiting one, nor a finished one, nor another queue's."""
    from b24app.queue import orphans

    redis = Redis.from_url(redis_url)
    redis.flushdb()
    queue = Queue("default", connection=redis)
    popped = queue.enqueue("operator.add", 1, 1, job_id="popped")
    queue.enqueue("operator.add", 1, 2, job_id="waiting")
    Queue("other", connection=redis).enqueue("operator.add", 1, 3, job_id="elsewhere")
    redis.lrem(queue.key, 1, popped.id)
    redis.lrem("rq:queue:other", 1, "elsewhere")
    assert orphans(redis, ["default"]) == {("popped", "default")}
