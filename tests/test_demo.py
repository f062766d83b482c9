"""``python -m b24app demo``: everything comes up, the app opens in the portal UI, Ctrl-C stops it all."""

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import free_port

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip
MARKER = "Портал (sandbox portal UI):"


def read_lines(stream, lines: queue.Queue) -> None:
    """Pump the demo's stdout into a queue (so a full pipe never blocks it)."""
    for line in iter(stream.readline, ""):
        lines.put(line)
    lines.put(None)


def wait_for_portal_url(lines: queue.Queue, timeout: float = 60) -> str:
    """The portal UI URL from the demo's banner."""
    return wait_for_line(lines, MARKER, timeout)


def wait_for_line(lines: queue.Queue, marker: str, timeout: float = 60) -> str:
    """What follows ``marker`` in the first line of the demo's output that has it."""
    deadline, seen = time.monotonic() + timeout, []
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.5)
        except queue.Empty:
            continue
        if line is None:
            break
        seen.append(line)
        if marker in line:
            return line.split(marker, 1)[1].strip()
    pytest.fail(f"the demo printed no {marker!r} in {timeout} s:\n{''.join(seen)}")


def descendants(pid: int) -> set[int]:
    """Every live descendant of a process, from /proc."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def alive(pid: int) -> bool:
    """True for a running (not zombie) process."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def group_members(pgid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "-g", str(pgid)], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split() if alive(int(p))]


def open_app_in_browser(url: str) -> str:
    """Open the portal UI, click the app's open button; the app page text inside the iframe."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page()
            page.set_default_timeout(20_000)
            page.goto(url)
            page.click("a[data-role=open-app]")
            page.wait_for_selector("iframe[name=appframe]", state="attached")
            frame = page.frame(name="appframe")
            return frame.wait_for_selector("#app-installed").inner_text()
        finally:
            browser.close()


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def deals(webhook: str) -> list[dict]:
    """The demo portal's donation deals, oldest first."""
    import requests

    rows = requests.post(
        webhook + "crm.deal.list", json={"select": ["ID", "TITLE"]}, timeout=10
    ).json()["result"]
    return [r for r in rows if r["TITLE"].startswith("Пожертвование")]  # not the seeded course deal


def lesson_letters(portal_ui: str) -> list[dict]:
    """The lesson reminders in the demo portal's outbox (the sandbox control API beside its UI)."""
    import requests

    outbox = portal_ui.replace("/portal/", "/_sandbox/portals/").rstrip("/") + "/outbox"
    return [
        m
        for m in requests.get(outbox, timeout=10).json()
        if "заняти" in str(m.get("subject", "")).lower()
    ]


def is_worker(pid: int) -> bool:
    return cmdline(pid).rstrip().endswith("-m b24app worker")


def wait_for(condition, timeout: float = 20) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


def stop(proc: subprocess.Popen) -> int:
    """Ctrl-C to the demo (its own process only); kill the group if it hangs."""
    proc.send_signal(signal.SIGINT)
    try:
        return proc.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
        pytest.fail("the demo did not stop within 30 s of SIGINT")


def test_demo_starts_opens_the_app_and_stops_everything():
    """The demo's portal UI opens the installed app; its donation lines make deals; its finished Timepad
    event (36 participants in the fake Timepad) syncs by the printed command; its robot line fires the
    lesson reminder on a course deal (3 lessons scheduled, the first one's letter at once); SIGINT stops
    redis, sandbox, web and worker."""
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is not installed; the README test command installs it")
    argv = [sys.executable, "-m", "b24app", "demo", "--sandbox-port", str(free_port()),
            "--web-port", str(free_port())]  # fmt: skip
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, start_new_session=True,
                            cwd=Path(__file__).resolve().parents[1])  # fmt: skip
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=read_lines, args=(proc.stdout, lines), daemon=True).start()
    try:
        url = wait_for_portal_url(lines)
        children = descendants(proc.pid)
        assert len(children) >= 4, children  # redis-server, sandbox, web app, RQ worker
        assert "Приложение установлено" in open_app_in_browser(url)
        webhook = wait_for_line(lines, "Incoming webhook (admin):")
        curl = "curl " + wait_for_line(lines, "curl ")
        assert (
            subprocess.run(curl, shell=True, capture_output=True, text=True, timeout=30).stdout
            == '{"code":0}\n'
        )
        assert wait_for(lambda: deals(webhook), timeout=90), "the demo's curl line made no deal"
        assert deals(webhook)[0]["TITLE"].startswith("Пожертвование 500.00 RUB")
        leyka = "bash " + wait_for_line(lines, "  bash ")
        sent = subprocess.run(leyka, shell=True, capture_output=True, text=True, timeout=30,
                              cwd=Path(__file__).resolve().parents[1]).stdout  # fmt: skip
        assert sent.count('"ok":true') == 2, sent
        assert wait_for(lambda: len(deals(webhook)) == 2, timeout=90), (
            "the Leyka script made no deal"
        )
        assert deals(webhook)[1]["TITLE"] == "Пожертвование 750.00 RUB: Помощь подопечным"
        sync = "b24app timepad sync " + wait_for_line(lines, "  b24app timepad sync ")
        robot = "bash " + wait_for_line(lines, "  bash ")
        fired = subprocess.run(robot, shell=True, capture_output=True, text=True, timeout=120,
                               cwd=Path(__file__).resolve().parents[1])  # fmt: skip
        assert fired.returncode == 0 and '"scheduled_count": "3"' in fired.stdout, (
            fired.stdout + fired.stderr
        )
        assert wait_for(lambda: lesson_letters(url), timeout=90), (
            "the robot sent no lesson reminder"
        )
        done = subprocess.run(["bash", "-c", f"source .demo/env && {sync}"], capture_output=True, text=True,
                              timeout=120, cwd=Path(__file__).resolve().parents[1])  # fmt: skip
        assert done.returncode == 0 and '"created": 36' in done.stdout, done.stderr[-2000:]
        worker = next(p for p in children if "worker" in cmdline(p))
        os.kill(worker, signal.SIGKILL)
        assert wait_for(
            lambda: any("worker" in cmdline(p) for p in descendants(proc.pid) if p != worker)
        )
        assert (
            proc.poll() is None
        )  # the supervisor restarted the worker instead of stopping the demo
    except BaseException:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
        raise
    assert stop(proc) == 0
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and (
        [p for p in children if alive(p)] or group_members(proc.pid)
    ):
        time.sleep(0.2)
    assert [p for p in children if alive(p)] == []
    assert group_members(proc.pid) == []


def test_the_supervisor_restarts_a_dead_child_and_gives_up_on_one_that_keeps_dying(capsys):
    """Children.revive: a dead child is started again (and said so); past RESTARTS_MAX it gives up."""
    from b24app.demo import Children

    children = Children()
    children.start([sys.executable, "-c", "raise SystemExit(3)"])
    outcomes = []
    for _ in range(Children.RESTARTS_MAX + 1):
        children.procs[-1].wait(10)
        outcomes.append(children.revive())
    children.stop()
    assert outcomes == [True] * Children.RESTARTS_MAX + [False]
    assert "exited with code 3; restarting it" in capsys.readouterr().err
