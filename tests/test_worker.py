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
    env = {**os.environ, "B24APP_REDIS_URL": redis_url}
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

    env = {**os.environ, "B24APP_REDIS_URL": redis_url}
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
