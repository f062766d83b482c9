"""The ``b24app`` command line: sandbox, web, worker, demo."""

import argparse
import json
import logging
import os
import sys


def cmd_sandbox(args: argparse.Namespace) -> int:
    """Serve the sandbox world (portal, OAuth server, control API, portal UI) on 127.0.0.1."""
    from .sandbox import SandboxServer

    server = SandboxServer(port=args.port, save_path=args.save, access_ttl=args.access_ttl)
    print(
        f"sandbox: {server.url}  (control API: {server.url}/_sandbox/, UI: {server.url}/)",
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.world.save()
    return 0


def cmd_web(args: argparse.Namespace) -> int:
    """Serve the web app (install, events, robots, pages, webhooks)."""
    from werkzeug.serving import run_simple

    from . import create_app

    run_simple(args.host, args.port, create_app(), threaded=True, use_reloader=False)
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    """Run an RQ worker with the built-in scheduler on the given queues; it outlives Redis restarts."""
    from . import context, worker

    return worker.run(context.redis(), args.queues.split(","), burst=args.burst)


def cmd_dashboard(args: argparse.Namespace) -> int:
    """Serve rq-dashboard (queues, jobs, workers) at /rq behind basic auth (B24APP_OPS_PASSWORD)."""
    from werkzeug.serving import run_simple

    from . import context
    from .dashboard import create_dashboard

    run_simple(args.host, args.port, create_dashboard(context.settings()), threaded=True)
    return 0


def cmd_install(args: argparse.Namespace) -> int:
    """Bring an installed portal to the CRM template (``--plan``: only show what is missing or differs)."""
    from . import installation

    if args.plan:
        plan = installation.plan_template(args.portal)
        for item in plan.items:
            if item.status != "present":
                print(
                    f"{item.status:8} {item.kind:16} {item.title}"
                    + (f"  ({item.detail})" if item.detail else "")
                )
        print(f"{len(plan.items)} items: {len(plan.missing)} missing", flush=True)
        return 0
    result = installation.apply_template(args.portal)
    print(json.dumps(result, ensure_ascii=False))
    return 0 if result["missing"] == 0 else 1


def cmd_portals(args: argparse.Namespace) -> int:
    """The installed portals as JSON (member_id, domain, status, webhook URLs); or the registry's
    encrypted backup written to / restored from FILE."""
    from handlers import SOURCES

    from . import connectors, context

    if args.action != "list":
        return backup_command(args)

    public_url = context.settings().public_url
    paths = [path for source in SOURCES for path in source.paths()]
    rows = [{"member_id": p.member_id, "domain": p.domain, "status": p.status,
             "template_version": p.template_version, "webhooks": connectors.webhook_urls(public_url, p, paths)}
            for p in context.registry().all()]  # fmt: skip
    print(json.dumps(rows, ensure_ascii=False, indent=2))
    return 0


def backup_command(args: argparse.Namespace) -> int:
    """``portals export FILE`` / ``portals import FILE [--replace]`` with B24APP_BACKUP_KEY."""
    from . import backup, context

    if not args.file:
        print(f"b24app portals {args.action}: FILE is required", file=sys.stderr)
        return 2
    key, registry = context.settings().backup_key.get_secret_value(), context.registry()
    try:
        if args.action == "export":
            blob, written, unreadable = backup.export(registry, key)
            fd = os.open(args.file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.fchmod(fd, 0o600)  # an existing file keeps its mode through O_CREAT
            with os.fdopen(fd, "wb") as out:
                out.write(blob)
            print(f"{written} portal(s) written to {args.file}")
            if unreadable:
                print(f"b24app portals export: {len(unreadable)} record(s) cannot be decrypted with this "
                      f"B24APP_SECRET_KEY and are NOT in the backup: {', '.join(unreadable)}", file=sys.stderr)  # fmt: skip
                return 1
            return 0
        with open(args.file, "rb") as f:
            restored, skipped = backup.restore(registry, backup.read(f.read(), key), args.replace)
    except (backup.BackupError, OSError) as exc:
        print(f"b24app portals {args.action}: {exc}", file=sys.stderr)
        return 1
    print(f"{len(restored)} portal(s) restored" + (f"; kept as they are (use --replace): {', '.join(skipped)}"
                                                   if skipped else ""))  # fmt: skip
    return 0


def cmd_settings(args: argparse.Namespace) -> int:
    """Set connector settings of a portal: key=value ...; prints the settings (secrets as "set")."""
    from . import connectors, context
    from .errors import BadRequest

    registry = context.registry()
    portal = registry.require(args.portal)
    pairs = dict(kv.split("=", 1) for kv in args.values if "=" in kv)
    if len(pairs) != len(args.values):
        print("settings are key=value pairs", file=sys.stderr)
        return 2
    try:
        connectors.update_settings(portal, pairs)
    except BadRequest as exc:
        print(exc, file=sys.stderr)
        return 2
    registry.save(portal)
    print(json.dumps(connectors.public_view(portal), ensure_ascii=False, indent=2))
    return 0


def cmd_dedup(args: argparse.Namespace) -> int:
    """Scan a portal's contacts and companies for duplicates: propose confident clusters (merge them with
    --apply), queue the rest for review."""
    import os

    from . import context
    from .matching.nightly import scan_options
    from .matching.report import report_csv
    from .matching.scanrun import ScanRunning, scan_portal

    _, region = scan_options(context.registry().require(args.portal))
    try:
        report = scan_portal(context.client(args.portal), context.redis(), args.portal, apply=args.apply,
                             region=region, progress=progress_bar)  # fmt: skip
    except ScanRunning as exc:
        print(f"b24app dedup: {exc}", file=sys.stderr)
        return 2
    if args.report:
        with open(args.report, "w", newline="", encoding="utf-8") as f:
            f.write(report_csv(report.rows, os.environ.get("LANG")))
    summary = {k: v for k, v in vars(report).items() if k != "rows"}
    print(json.dumps({**summary, "applied": args.apply}, ensure_ascii=False))
    return 0


def progress_bar(done: int, total: int, what: str) -> None:
    """A one-line progress bar on stderr, ended when done reaches total."""
    filled = 30 * done // max(total, 1)
    print(f"\r[{'#' * filled}{' ' * (30 - filled)}] {done}/{total} {what}", end="", file=sys.stderr,
          flush=True)  # fmt: skip
    if done >= total:
        print(file=sys.stderr, flush=True)


def cmd_totals(args: argparse.Namespace) -> int:
    """Recompute donor totals and segments: the whole portal with a progress bar, or one donor."""
    from . import context
    from .donations.recompute import RecomputeRunning, recompute_portal
    from .donations.rollup import refresh_donors
    from .portals import PortalNotFound

    try:
        client = context.client(args.portal)
        if args.contact:
            updated = refresh_donors(client, context.redis(), args.portal, [args.contact])
            print(json.dumps({"contact": args.contact, "updated": updated}))
            return 0
        state = recompute_portal(client, context.redis(), args.portal, progress=progress_bar)
    except PortalNotFound:
        print(
            f"b24app totals: no installed portal {args.portal!r} (see b24app portals)",
            file=sys.stderr,
        )
        return 2
    except RecomputeRunning as exc:
        print(f"b24app totals: {exc}", file=sys.stderr)
        return 2
    keys = ("requests", "updated", "loaded", "writes", "started", "finished")
    print(json.dumps({k: state.get(k) for k in keys}, ensure_ascii=False))
    return 0


def cmd_timepad(args: argparse.Namespace) -> int:
    """Sync one Timepad event's participants into the portal, with a progress bar; non-zero when it failed."""
    from . import context
    from .errors import Blago24Error
    from .portals import PortalNotFound
    from .timepad.sync import ACTIONS, sync_event

    try:
        state = sync_event(context.client(args.portal), context.redis(), args.portal, args.event_id,
                           progress=progress_bar)  # fmt: skip
    except PortalNotFound:
        print(
            f"b24app timepad: no installed portal {args.portal!r} (see b24app portals)",
            file=sys.stderr,
        )
        return 2
    except Blago24Error as exc:
        print(f"\nb24app timepad: the sync failed: {exc}", file=sys.stderr)
        return 1
    keys = ("name", "orders", "people", "started", "finished")
    print(json.dumps({**{k: state.get(k) for k in keys}, **{a: int(state.get(a) or 0) for a in ACTIONS}},
                     ensure_ascii=False))  # fmt: skip
    return 0


def cmd_donations(args: argparse.Namespace) -> int:
    """Donations: backfill CloudPayments' payments since a date; merge an old integration's duplicate deals."""
    from datetime import date

    from . import context
    from .errors import Blago24Error
    from .portals import PortalNotFound

    try:
        context.registry().require(args.portal)
        if args.action == "backfill":
            from .donations.reconcile import backfill

            since = date.fromisoformat(args.since) if args.since else None
            if since is None:
                print("b24app donations backfill: --since YYYY-MM-DD is required", file=sys.stderr)
                return 2
            state = backfill(args.portal, since, progress=progress_bar)
            print(json.dumps({k: state[k] for k in ("since", "seen", "fed")}, ensure_ascii=False))
            return 0
        return merge_duplicates(args)
    except PortalNotFound:
        print(
            f"b24app donations: no installed portal {args.portal!r} (see b24app portals)",
            file=sys.stderr,
        )
        return 2
    except (Blago24Error, ValueError) as exc:
        print(f"b24app donations: {exc}", file=sys.stderr)
        return 2


def merge_duplicates(args: argparse.Namespace) -> int:
    """Propose (or with --apply merge) the deals that share a payment key; the report as CSV."""
    import os

    from . import context
    from .donations.duplicates import find_groups, merge_groups, report_csv

    client = context.client(args.portal)
    groups = find_groups(client, context.redis(), args.portal, args.pipeline, args.key_field)
    merged = (merge_groups(client, context.redis(), args.portal, groups, args.pipeline, args.key_field,
                           progress=progress_bar) if args.apply else [])  # fmt: skip
    if args.report:
        with open(args.report, "w", newline="", encoding="utf-8") as f:
            f.write(report_csv(groups, os.environ.get("LANG")))
    print(json.dumps({"groups": len(groups), "deals": sum(len(g.deals) for g in groups), "applied": args.apply,
                      "merged": sum(1 for m in merged if m), "failed": sum(1 for m in merged if not m)}))  # fmt: skip
    return 0 if all(merged) else 1


def cmd_demo(args: argparse.Namespace) -> int:
    """Everything started and wired on the sandbox world; Ctrl-C stops it all."""
    from .demo import run_demo

    return run_demo(args.sandbox_port, args.web_port)


def cmd_match(args: argparse.Namespace) -> int:
    """Judge pairs of people from a CSV: one "same|review|different<TAB>score<TAB>reasons" per row."""
    import csv

    from .matching import Person, same_person

    with open(args.file, encoding="utf-8-sig", newline="") as f:
        text = f.read()
    first_line = text.split("\n", 1)[0]
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    for n, row in enumerate(csv.reader(text.splitlines(), delimiter=delimiter)):
        if not any(cell.strip() for cell in row):
            continue
        if n == 0 and all(c.strip().lower().startswith(("a_", "b_")) for c in row if c.strip()):
            continue  # the header row (a_first, a_last, …) is optional
        cells = [cell.strip() for cell in row] + [""] * (10 - len(row))
        a, b = (Person(c[0], c[1], c[2], c[3], c[4]) for c in (cells[:5], cells[5:10]))
        verdict = same_person(a, b)
        print(f"{verdict.decision}\t{verdict.score}\t{verdict.reasons}")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="b24app", description="Blago24 — Bitrix24 CRM toolkit for nonprofits"
    )
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("sandbox", help=cmd_sandbox.__doc__)
    s.add_argument("--port", type=int, default=8800)
    s.add_argument("--save", help="keep the world's state in this JSON file")
    s.add_argument("--access-ttl", type=int, default=3600, help="access token lifetime, seconds")
    s.set_defaults(fn=cmd_sandbox)
    w = sub.add_parser("web", help=cmd_web.__doc__)
    w.add_argument("--host", default="127.0.0.1")
    w.add_argument("--port", type=int, default=5000)
    w.set_defaults(fn=cmd_web)
    k = sub.add_parser("worker", help=cmd_worker.__doc__)
    k.add_argument("--queues", default="urgent,default,bulk")
    k.add_argument("--burst", action="store_true", help="stop when the queues are empty")
    k.set_defaults(fn=cmd_worker)
    db = sub.add_parser("dashboard", help=cmd_dashboard.__doc__)
    db.add_argument("--host", default="127.0.0.1")
    db.add_argument("--port", type=int, default=9181)
    db.set_defaults(fn=cmd_dashboard)
    i = sub.add_parser("install", help=cmd_install.__doc__)
    i.add_argument("--portal", required=True, help="member_id")
    i.add_argument("--plan", action="store_true", help="only show the plan")
    i.set_defaults(fn=cmd_install)
    p_ = sub.add_parser("portals", help=cmd_portals.__doc__)
    p_.add_argument("action", nargs="?", choices=["list", "export", "import"], default="list")
    p_.add_argument(
        "file", nargs="?", help="the backup file (export/import), encrypted with B24APP_BACKUP_KEY"
    )
    p_.add_argument("--replace", action="store_true", help="import over portals already present")
    p_.set_defaults(fn=cmd_portals)
    st = sub.add_parser("settings", help=cmd_settings.__doc__)
    st.add_argument("--portal", required=True, help="member_id")
    st.add_argument("values", nargs="+", metavar="key=value")
    st.set_defaults(fn=cmd_settings)
    dd = sub.add_parser("dedup", help=cmd_dedup.__doc__)
    dd.add_argument("action", choices=["scan"])
    dd.add_argument("--portal", required=True, help="member_id")
    dd.add_argument(
        "--apply", action="store_true", help="merge the confident clusters (else only propose)"
    )
    dd.add_argument("--report", help="write the CSV report here (headers in the language of LANG)")
    dd.set_defaults(fn=cmd_dedup)
    tt = sub.add_parser("totals", help=cmd_totals.__doc__)
    tt.add_argument("action", choices=["recompute"])
    tt.add_argument("--portal", required=True, help="member_id")
    tt.add_argument("--contact", type=int, help="only this donor (contact id)")
    tt.set_defaults(fn=cmd_totals)
    tp = sub.add_parser("timepad", help=cmd_timepad.__doc__)
    tp.add_argument("action", choices=["sync"])
    tp.add_argument("event_id", type=int, help="the Timepad event id")
    tp.add_argument("--portal", required=True, help="member_id")
    tp.set_defaults(fn=cmd_timepad)
    dn = sub.add_parser("donations", help=cmd_donations.__doc__)
    dn.add_argument("action", choices=["backfill", "merge-duplicates"])
    dn.add_argument("--portal", required=True, help="member_id")
    dn.add_argument("--since", help="backfill: the first day (YYYY-MM-DD)")
    dn.add_argument(
        "--pipeline", type=int, help="merge-duplicates: the deals' pipeline id (default: ours)"
    )
    dn.add_argument(
        "--key-field", help="merge-duplicates: the field that keys a payment (default: ours)"
    )
    dn.add_argument(
        "--apply", action="store_true", help="merge-duplicates: merge (else only propose)"
    )
    dn.add_argument("--report", help="merge-duplicates: write the proposal as CSV here")
    dn.set_defaults(fn=cmd_donations)
    d = sub.add_parser("demo", help=cmd_demo.__doc__)
    d.add_argument("--sandbox-port", type=int, default=8800)
    d.add_argument("--web-port", type=int, default=5000)
    d.set_defaults(fn=cmd_demo)
    m = sub.add_parser("match", help="contact matching tools")
    m_sub = m.add_subparsers(dest="match_command", required=True)
    mp = m_sub.add_parser("pairs", help=cmd_match.__doc__)
    mp.add_argument("file", help="CSV: a_first,a_last,a_middle,a_email,a_phone,b_first,...,b_phone")
    mp.set_defaults(fn=cmd_match)
    return p


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    args = parser().parse_args(argv)
    if args.command in ("web", "worker"):
        from . import context, logs
        from .config import unsafe_secret_key

        refused = unsafe_secret_key(context.settings(), os.environ.get("LANG", "").startswith("en"))
        if refused:
            print(refused, file=sys.stderr)
            return 2

        if context.settings().json_logs:
            logs.use_json()
    if getattr(args, "portal", None) is not None and (refusal := unknown_portal(args.portal)):
        print(refusal, file=sys.stderr)
        return 2
    return args.fn(args)


def unknown_portal(member_id: str) -> str:
    """One line in the user's language when ``--portal`` names no installed portal (or Redis is away);
    "" when it is installed."""
    from redis.exceptions import RedisError

    from . import context
    from .i18n import env_language, gettext_in

    lang = env_language()
    try:
        portal = context.registry().get(member_id)
    except RedisError:
        return gettext_in(
            lang, "b24app: the storage (Redis) cannot be reached: check B24APP_REDIS_URL"
        )
    if portal is None or portal.status == "uninstalled":
        return gettext_in(
            lang,
            "b24app: no installed portal %(portal)s (b24app portals lists them)",
            portal=member_id,
        )
    return ""


if __name__ == "__main__":
    sys.exit(main())
