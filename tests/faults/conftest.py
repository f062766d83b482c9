"""One sandbox world, one Redis and one web app per module for the fault matrix; jobs drained in-process
with their retries and scheduled looks pulled forward; docs/faults.md written at the session's end."""

import time
from pathlib import Path

import pytest
import time_machine
from rq import Queue
from rq.job import Job
from rq.registry import ScheduledJobRegistry

from b24app import bitrix
from b24app.queue import QUEUES
from tests.conftest import AppServer, PortalClient

from . import matrix

DOC = Path(__file__).parents[2] / "docs" / "faults.md"
PULL_AHEAD = (
    3600  # scheduled jobs due within this many seconds are run now (retries, settle windows)
)


class Lab:
    """The shared world of a module: the sandbox, the web app, a portal per flow."""

    def __init__(self, sandbox, redis_url):
        from redis import Redis

        self.sandbox = sandbox
        sandbox.world.reset()
        Redis.from_url(redis_url).flushdb()
        self.app = AppServer(redis_url, sandbox)
        self.portals: dict[str, PortalClient] = {}
        self.flows: dict[str, matrix.Flow] = {}

    def portal(self, name: str) -> PortalClient:
        """The flow's own portal with the app installed and the template applied."""
        if name not in self.portals:
            portal = PortalClient(self.sandbox, self.sandbox.world.create_portal(limits=False))
            portal.control("POST", "/install", json={"client_id": self.app.client_id, "flow": "ui",
                                                     "finish": True})  # fmt: skip
            self.drain()
            self.portals[name] = portal
        return self.portals[name]

    def flow(self, name: str) -> "matrix.Flow":
        if name not in self.flows:
            self.flows[name] = matrix.BY_FLOW[name](self)
        return self.flows[name]

    def drain(self, rounds: int = 40, clocked: bool = False) -> None:
        """Run every queued job; pull retries and near scheduled jobs forward until nothing is left (with
        ``clocked``, a controlled clock is moved to the next of them instead: time-machine)."""
        if not clocked:
            return self._drain(rounds, None)
        with time_machine.travel(time.time(), tick=True) as clock:
            return self._drain(rounds, clock)

    def _drain(self, rounds: int, clock) -> None:
        redis = self.app.redis
        for _ in range(rounds):
            self.app.run_jobs()
            pulled, later = 0, []
            for name in QUEUES:
                registry = ScheduledJobRegistry(name, connection=redis)
                for job_id in registry.get_job_ids():
                    at = registry.get_scheduled_time(job_id).timestamp()
                    if at > time.time() + PULL_AHEAD or job_id.startswith("dedup-nightly-"):
                        continue
                    if clock is not None and at > time.time():
                        later.append(at)
                        continue
                    job = Job.fetch(job_id, connection=redis)
                    registry.remove(job)
                    Queue(name, connection=redis).enqueue_job(job)
                    pulled += 1
            if not pulled and later:
                clock.move_to(min(later) + 0.01)
                continue
            if not pulled and not any(Queue(n, connection=redis).count for n in QUEUES):
                return
        raise AssertionError("jobs kept coming back: the drain did not settle")

    def stop(self) -> None:
        self.app.stop()


@pytest.fixture(scope="module")
def lab(sandbox_server, redis_url):
    patch = pytest.MonkeyPatch()
    patch.setattr(bitrix, "TIMEOUT", matrix.TIMEOUT)
    lab = Lab(sandbox_server, redis_url)
    yield lab
    lab.stop()
    patch.undo()


def pytest_sessionfinish(session, exitstatus):
    """Write docs/faults.md when the whole matrix ran (a partial run leaves the committed file alone)."""
    if set(matrix.RESULTS) >= set(matrix.CELLS):
        DOC.write_text(matrix.document(), encoding="utf-8")
