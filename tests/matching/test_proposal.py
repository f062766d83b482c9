"""Propose, then merge (product.md C5: a person merges; unattended merging is a portal setting): merge runs
over a person's choice, the review queue's merges, and the nightly scan, observed in the sandbox portal."""

from datetime import UTC, datetime

import pytest
import requests
from rq.registry import ScheduledJobRegistry

from b24app import context
from b24app.__main__ import main
from b24app.matching import proposal
from b24app.matching.nightly import next_night, nightly_scans, schedule_nightly
from b24app.matching.scan import review_entries
from b24app.matching.scanrun import ScanRun, begin_run, run_state, scan_portal, start_merge
from b24app.queue import BULK
from b24app.signing import sign
from tests.conftest import PortalClient
from tests.matching.test_scan import alive, comments, contact, install
from tests.matching.test_scanrun import die_before_the_merge_commit


def add(client, *people: dict) -> list[int]:
    """Contacts put into the portal in this order (so the first is the oldest of its group)."""
    out = client.batch({f"c{i}": ("crm.contact.add", {"fields": p}) for i, p in enumerate(people)})
    return [out.raise_errors().result[f"c{i}"] for i in range(len(people))]


def three_pairs(client) -> list[list[int]]:
    ids = add(client,
              contact("Ольга", "Смирнова", ["olga@example.ru"], ["+79030000001"]),
              contact("Оля", "Смирнова", ["OLGA@example.ru"], []),
              contact("Иван", "Козлов", ["kozlov@example.ru"], ["+79030000002"]),
              contact("Ваня", "Козлов", ["kozlov@example.ru"], ["89030000002"]),
              contact("Мария", "Орлова", ["orlova@example.ru"], ["+79030000003"]),
              contact("Маша", "Орлова", ["orlova@example.ru"], []))  # fmt: skip
    return [ids[0:2], ids[2:4], ids[4:6]]


def test_a_chosen_group_is_re_read_and_re_planned_and_a_gone_one_is_reported(portal, app_server):
    """Between the proposal and the click a loser got a job title and another group lost a record: the
    merge run merges the first with the new value kept in its comment, reports the second as gone (not
    an error), leaves the unchosen third alone, and settles the proposal and the figures."""
    install(portal, app_server)
    client, redis, member = context.client(portal.member_id), context.redis(), portal.member_id
    first, second, third = three_pairs(client)
    scan_portal(client, redis, member)
    assert proposal.figures(redis, member)["proposed"] == 3
    client.call("crm.contact.update", {"id": first[0], "fields": {"POST": "Директор"}})
    client.call("crm.contact.update", {"id": first[1], "fields": {"POST": "Бухгалтер"}})
    client.call("crm.contact.delete", {"id": second[1]})
    chosen = proposal.chosen(
        redis, member, [f"{first[0]}:{first[1]}", f"{second[0]}:{second[1]}", "9:99"]
    )
    assert [c.ids for c in chosen] == [first, second]
    assert start_merge(redis, member, chosen)
    app_server.run_jobs()
    state = run_state(redis, member)
    assert (state["phase"], state["merged"], state["gone"]) == ("done", "1", "1")
    now = alive(client)
    assert first[1] not in now and now[first[0]]["POST"] == "Директор"
    assert second[0] in now and set(third) <= set(now)
    note = comments(portal, first[0])
    assert f"Объединено с контактом #{first[1]}: было" in note and "Должность: «Бухгалтер»" in note
    assert [g["ids"] for g in proposal.groups(redis, member)] == [third]
    figures = proposal.figures(redis, member)
    assert (figures["proposed"], figures["merged_clusters"], figures["merged_records"]) == (1, 1, 1)


def test_a_review_queue_merge_is_a_job_that_comments_and_counts(portal, app_server):
    """A pair from the review queue merged by a person: a merge job (not inline), a timeline comment on
    the survivor even with nothing given up, the entry gone from the queue, the figures counting it."""
    install(portal, app_server)
    client, redis, member = context.client(portal.member_id), context.redis(), portal.member_id
    a, b = add(client, contact("Пётр", "Соколов", ["p.sokolov@example.ru"], ["+79260000001"]),
               contact("Пётр", "Соколов", ["sokolov.work@example.org"], ["89260000001"]))  # fmt: skip
    scan_portal(client, redis, member)
    entries = review_entries(redis, member)
    assert list(entries) == [f"{a}:{b}"] and proposal.figures(redis, member)["review"] == 1
    token = sign(
        "test-secret-key",
        "review",
        {"m": member, "i": context.registry().require(member).install_id},
    )
    page = requests.post(f"{app_server.url}/app/review", data={"token": token, "action": "merge", "key": f"{a}:{b}"},
                         timeout=10)  # fmt: skip
    assert page.status_code == 200 and "Объединение запущено" in page.text
    assert set(alive(client)) >= {a, b}  # the page only queued the job
    app_server.run_jobs()
    assert b not in alive(client)
    assert f"Blago24: объединено с дубликатами (#{b})" in comments(portal, a)
    assert not review_entries(redis, member)
    figures = proposal.figures(redis, member)
    assert (figures["review"], figures["merged_clusters"]) == (0, 1)


def test_a_merge_run_repeated_after_a_lost_commit_merges_and_comments_once(
    registered, redis, monkeypatch
):
    """The worker dies after mergeBatch but before the merge step's commit: the repeated step finds the
    saved plans, counts the group merged, and the comment is written once."""
    client = registered.client()
    pair = add(client, contact("Анна", "Белова", ["belova@example.ru"], [], post="Врач"),
               contact("Аня", "Белова", ["belova@example.ru"], [], post="Волонтёр"))  # fmt: skip
    scan_portal(client, redis, registered.member_id)
    run = begin_run(
        redis,
        registered.member_id,
        "merge",
        clusters=proposal.chosen(redis, registered.member_id, None),
    )
    scan = ScanRun(client, redis, registered.member_id, run)
    die_before_the_merge_commit(monkeypatch)
    with pytest.raises(ConnectionError):
        while not scan.step():
            pass
    while not ScanRun(client, redis, registered.member_id, run).step():
        pass
    assert run_state(redis, registered.member_id)["merged"] == "1"
    note = comments(registered.portal, pair[0])
    assert note.count("Blago24: объединено с дубликатами") == 1 and "«Волонтёр»" in note
    assert not proposal.groups(redis, registered.member_id)


def test_the_nightly_scan_proposes_unless_the_portal_merges_automatically(
    sandbox, portal, app_server
):
    """One night: the portal with «Объединять уверенные дубликаты автоматически» gets its groups merged,
    the other only a proposal; the next night is scheduled, and a second start the same night does nothing."""
    other = PortalClient(sandbox, sandbox.world.create_portal(limits=False))
    install(portal, app_server)
    install(other, app_server)
    assert main(["settings", "--portal", portal.member_id, "dedup_auto_merge=yes"]) == 0
    redis = context.redis()
    auto, manual = (three_pairs(context.client(p.member_id)) for p in (portal, other))
    night = datetime.now(UTC).date().isoformat()
    assert nightly_scans(night) == "2 scans started, 2 totals recomputes started"
    for p in (portal, other):  # each portal's daily donations jobs start with the night's chain
        assert (
            redis.exists(
                f"rq:job:donations-daily-{p.member_id}-{night}",
                f"rq:job:donations-reconcile-{p.member_id}-{night}",
            )
            == 2
        )
    app_server.run_jobs()
    merged, kept = alive(context.client(portal.member_id)), alive(context.client(other.member_id))
    assert all(g[0] in merged and g[1] not in merged for g in auto)
    assert all(set(g) <= set(kept) for g in manual)
    assert len(proposal.groups(redis, other.member_id)) == 3
    assert not proposal.groups(redis, portal.member_id)
    assert nightly_scans(night) == "0 scans started, 0 totals recomputes started"
    coming = next_night(datetime.now(UTC))
    assert (
        f"dedup-nightly-{coming:%Y%m%d}"
        in ScheduledJobRegistry(BULK, connection=redis).get_job_ids()
    )
    assert schedule_nightly(redis).id == f"dedup-nightly-{coming:%Y%m%d}"  # once, whoever asks


def test_the_review_page_refuses_bad_merge_requests_without_a_500(portal, app_server):
    """Every inbound field is the attacker's: unknown keys merge nothing, an unknown action is a 400."""
    install(portal, app_server)
    member = portal.member_id
    token = sign(
        "test-secret-key",
        "review",
        {"m": member, "i": context.registry().require(member).install_id},
    )
    url = f"{app_server.url}/app/review"
    chosen = requests.post(url, data={"token": token, "action": "merge-selected", "keys": ["1:2", "x" * 5000]},
                           timeout=10)  # fmt: skip
    assert chosen.status_code == 200 and "Ничего не выбрано" in chosen.text
    assert (
        requests.post(url, data={"token": token, "action": "merge-all"}, timeout=10).status_code
        == 200
    )
    assert (
        requests.post(url, data={"token": token, "action": "explode"}, timeout=10).status_code
        == 400
    )
    assert run_state(context.redis(), member) == {}
