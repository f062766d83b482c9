"""Redis with a primary, two replicas and Sentinel, started by the test: the primary is SIGKILLed while
donations arrive; every acknowledged donation still ends as exactly one deal, and the refresh token the
app rotated just before the failover survives it (deploy.md; bitrix24-rest.md §1.5: a spent refresh
token is useless, so losing the new one bricks the portal)."""

import shutil
import signal
import subprocess
import threading
import time
from collections import Counter

import pytest
import requests
from redis import Redis

from b24app import context
from tests.conftest import AppServer, free_port, kill_group, start_worker
from tests.handlers.test_cloudpayments import Fund, body

PAYMENTS = 24


class Cluster:
    """redis-server primary + 2 replicas (AOF everysec) and one Sentinel (quorum 1), on free ports."""

    def __init__(self, workdir):
        self.dir, self.procs = workdir, {}
        self.primary, self.replicas, self.sentinel = (
            free_port(),
            [free_port(), free_port()],
            free_port(),
        )
        self.start("primary", self.primary)
        for i, port in enumerate(self.replicas):
            self.start(f"replica{i}", port, "--replicaof", "127.0.0.1", str(self.primary))
        conf = workdir / "sentinel.conf"
        conf.write_text(f"port {self.sentinel}\nbind 127.0.0.1\ndir {workdir}\n"
                        f"sentinel monitor blago24 127.0.0.1 {self.primary} 1\n"
                        "sentinel down-after-milliseconds blago24 1000\nsentinel failover-timeout blago24 5000\n")  # fmt: skip
        self.procs["sentinel"] = subprocess.Popen([shutil.which("redis-server"), str(conf), "--sentinel"],
                                                  stdout=subprocess.DEVNULL)  # fmt: skip
        self.wait_synced()

    def start(self, name: str, port: int, *extra: str) -> None:
        (self.dir / name).mkdir()
        self.procs[name] = subprocess.Popen(
            [shutil.which("redis-server"), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "yes", "--appendfsync", "everysec", "--repl-diskless-sync-delay", "0",
             "--dir", str(self.dir / name), *extra],
            stdout=subprocess.DEVNULL)  # fmt: skip

    def wait_synced(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                links = [
                    Redis(port=p).info("replication")["master_link_status"] for p in self.replicas
                ]
                sentinel = Redis(port=self.sentinel).sentinel_master("blago24")
                if (
                    links == ["up", "up"] and sentinel.get("num-slaves") == 2
                ):  # the first sync is done
                    return
            except Exception:
                pass
            time.sleep(0.2)
        raise AssertionError("the replicas or Sentinel did not come up")

    def master_port(self) -> int:
        return int(Redis(port=self.sentinel).sentinel_get_master_addr_by_name("blago24")[1])

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
                proc.wait(10)


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(tmp_path)
    yield c
    c.stop()


def deliver_until_acknowledged(fund: Fund, kind: str, raw: bytes, timeout: float = 90) -> None:
    """Like CloudPayments: send again until the answer is 200 (a 503 during the failover is expected)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            resp = fund.deliver(kind, raw)
            assert resp.status_code in (200, 503), (resp.status_code, resp.text)
            if resp.status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise AssertionError(f"{kind} never acknowledged")


def test_a_failover_mid_run_loses_no_acknowledged_donation_and_no_token(
    cluster, portal, sandbox, tmp_path
):
    app = AppServer(f"redis://127.0.0.1:{cluster.primary}/0", sandbox, extra={
        "redis_sentinels": f"127.0.0.1:{cluster.sentinel}", "redis_sentinel_master": "blago24",
        "redis_replicas": 1, "redis_wait_ms": 2000})  # fmt: skip
    log = open(tmp_path / "worker.log", "wb")  # noqa: SIM115 (closed in finally, after the worker)
    worker = None
    try:
        fund = Fund(portal, app)
        worker = start_worker(app, log)
        acknowledged: list[int] = []

        def send() -> None:
            for i in range(PAYMENTS):
                raw = body("pay", InvoiceId=str(9000 + i), TransactionId=str(500000 + i))
                deliver_until_acknowledged(fund, "pay", raw)
                acknowledged.append(9000 + i)
                time.sleep(0.15)

        sender = threading.Thread(target=send)
        sender.start()
        while len(acknowledged) < PAYMENTS // 3:
            time.sleep(0.05)
        before = context.registry().require(portal.member_id).refresh_token
        sandbox_expire(sandbox, portal.member_id)
        assert (
            context.client(portal.member_id).call("crm.deal.list", {"select": ["ID"]}) is not None
        )
        rotated = context.registry().require(portal.member_id).refresh_token
        assert rotated != before  # the refresh happened, and was written with WAIT for a replica

        cluster.procs["primary"].send_signal(signal.SIGKILL)
        sender.join(180)
        assert not sender.is_alive() and len(acknowledged) == PAYMENTS
        assert cluster.master_port() in cluster.replicas

        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and len(keys := payment_keys(fund)) < PAYMENTS:
            time.sleep(0.5)
        counts = Counter(keys)
        assert set(counts) == {f"cp:{n}" for n in acknowledged} and max(counts.values()) == 1, (
            counts
        )

        assert context.registry().require(portal.member_id).refresh_token == rotated
        sandbox_expire(
            sandbox, portal.member_id
        )  # the next call must refresh with the surviving token
        assert (
            len(context.client(portal.member_id).call("crm.deal.list", {"select": ["ID"]}))
            >= PAYMENTS
        )
    finally:
        if worker is not None:
            kill_group(worker)
        log.close()
        app.stop()


def sandbox_expire(sandbox, member_id: str) -> None:
    assert requests.post(
        f"{sandbox.url}/_sandbox/tokens/expire", json={"member_id": member_id}, timeout=10
    ).ok


def payment_keys(fund: Fund) -> list[str]:
    deals, start = [], 0
    while start is not None:
        page = fund.portal.call(
            "crm.deal.list", {"select": ["ID", "UF_CRM_B24_PAYMENT_ID"], "start": start}
        ).body
        deals += page["result"]
        start = page.get("next")
    return [d["UF_CRM_B24_PAYMENT_ID"] for d in deals]
