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
