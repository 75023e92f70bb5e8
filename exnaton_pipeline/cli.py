"""`exnaton`: the operator's command line (used by `make demo` too)."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import time
import warnings
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

from exnaton_pipeline.lib import settings
from exnaton_pipeline.lib.demo_data import synthetic
from exnaton_pipeline.lib.demo_data.sample import write_sample
from exnaton_pipeline.lib.ingestion.source import SourceError, open_source, s3_client
from exnaton_pipeline.lib.tenants import RegistryError, load_registry
from exnaton_pipeline.lib.warehouse import database


class CliError(RuntimeError):
    """A problem the operator must fix; printed without a traceback."""


def _s3_client():
    return s3_client(
        settings.s3_endpoint_url(),
        connect_timeout=settings.s3_connect_timeout(),
        read_timeout=settings.s3_read_timeout(),
        max_attempts=settings.s3_max_attempts(),
    )


def cmd_db_url(args: argparse.Namespace) -> int:
    if args.tenant:
        tenant = load_registry(settings.tenants_file()).get(args.tenant)
        print(database.tenant_warehouse_url(tenant))
    else:
        print(database.warehouse_url())
    return 0


def cmd_db_stop(args: argparse.Namespace) -> int:
    from exnaton_pipeline.lib.warehouse import embedded_pg

    datadir = database.embedded_datadir()
    if embedded_pg.stop(datadir):
        print(f"stopped the embedded PostgreSQL in {datadir}")
    else:
        print(f"no embedded PostgreSQL is running in {datadir}")
    return 0


def cmd_load_sample(args: argparse.Namespace) -> int:
    tenant = load_registry(settings.tenants_file()).get(args.tenant)
    source = open_source(settings.source_url(), _s3_client)
    keys = write_sample(source, tenant)
    days = sorted({key.split("/")[-2] for key in keys})
    print(
        f"wrote {len(keys)} objects for tenant {tenant.id} to {source.describe()} "
        f"({days[0]} .. {days[-1]})"
    )
    return 0


def _days(start: date, end: date) -> list[date]:
    if end < start:
        raise SystemExit(f"--end {end} is before --start {start}")
    return [start + timedelta(days=n) for n in range((end - start).days + 1)]


JOB = "meter_data_job"
# the progress lines are the operator's view of an in-process run; the full log is in the UI
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def cmd_backfill(args: argparse.Namespace) -> int:
    tenant = load_registry(settings.tenants_file()).get(args.tenant)  # refuse unknown tenants
    days = _days(args.start, args.end)  # and bad ranges, before any database is started
    _check_warehouse(database.tenant_warehouse_url(tenant))
    from exnaton_pipeline.lib.runtime import prepare_dagster_home

    prepare_dagster_home()
    import dagster as dg

    from exnaton_pipeline.definitions import defs
    from exnaton_pipeline.orchestration import backfills
    from exnaton_pipeline.orchestration.partitions import partition_key

    keys = [str(partition_key(args.tenant, day)) for day in days]
    title = f"exnaton backfill {args.tenant} {days[0]}..{days[-1]}"
    with dg.DagsterInstance.get() as instance, _interrupts_as_keyboard_interrupt():
        for run_id in backfills.reap_orphans(instance):
            print(f"marked run {run_id[:8]} failed: the backfill process that ran it is gone")
        by_daemon = backfills.daemon_is_running(instance)
        backfill = backfills.create(instance, defs, JOB, keys, title, run_here=not by_daemon)
        where = "the daemon runs it" if by_daemon else "no daemon serves the instance: run here"
        print(f"backfill {backfill.backfill_id} ({len(keys)} partitions of {args.tenant}): {where}")
        report = _Report(instance, len(keys))
        try:
            ended, daemon_ran_it = _execute(instance, defs, backfill, by_daemon, report)
        except KeyboardInterrupt:
            report.clear()
            if by_daemon:
                _cancel(instance, backfill.backfill_id)
            print(f"interrupted: backfill {backfill.backfill_id} is cancelled", flush=True)
            return 130
        report.clear()
        print(f"{report.progress.done} of {len(keys)} partitions succeeded", flush=True)
        if ended.status.value not in ("COMPLETED_SUCCESS", "COMPLETED_FAILED"):
            print(f"backfill {backfill.backfill_id} ended {ended.status.value}")
        per_day_ok = _per_day_work(instance, defs, args.tenant, daemon_ran_it)
    return 0 if report.progress.done == len(keys) and per_day_ok else 1


def _per_day_work(instance, defs, tenant_id: str, by_daemon: bool) -> bool:
    """After a backfill, the tenant's per-day work (profile and insights) for the meters whose
    days it changed: left to the daemon's insights_sensor where the daemon ran the backfill,
    else run here."""
    from exnaton_pipeline.lib.scheduling import last_settled_day
    from exnaton_pipeline.orchestration.per_day import PER_DAY_JOB, PER_DAY_STEP, per_day_config

    if by_daemon:
        print(
            f"per-day work (profile, insights): the insights_sensor requests {PER_DAY_JOB} "
            "within 15 minutes",
            flush=True,
        )
        return True
    tenant = load_registry(settings.tenants_file()).get(tenant_id)
    last_day = last_settled_day(datetime.now(UTC), tenant)
    started = time.monotonic()
    result = defs.resolve_job_def(PER_DAY_JOB).execute_in_process(
        partition_key=tenant_id,
        instance=instance,
        run_config={**QUIET, **per_day_config(last_day)},
        tags={"exnaton/trigger": "cli-backfill"},
        raise_on_error=False,
    )
    run = instance.get_run_by_id(result.run_id)
    if result.success:
        meta = result.asset_materializations_for_node(PER_DAY_STEP)[-1].metadata
        outcome = (
            f"{meta['meters_changed'].value} meter(s) changed, "
            f"{meta['rows_written'].value} insights written"
        )
    else:
        outcome = _failure(instance, run)
    print(
        f"per-day work up to {last_day} ({PER_DAY_JOB}, run {result.run_id[:8]}, "
        f"{time.monotonic() - started:.1f}s): {outcome}",
        flush=True,
    )
    return result.success


def _execute(instance, defs, backfill, by_daemon: bool, report: _Report):
    """The backfill, ended, and whether the daemon ran it (else this process did)."""
    from exnaton_pipeline.orchestration import backfills

    if by_daemon:
        ended = _follow(instance, backfill.backfill_id, report)
        if ended is not None:
            return ended, True
        claimed = backfills.take_over(instance, defs, backfill)
        if claimed is None:  # a daemon started on it after all
            return _follow(instance, backfill.backfill_id, report, patient=True), True
        print("the daemon stopped before it started on the backfill: run here", flush=True)
        backfill = claimed
    ended = backfills.run_here(instance, defs, JOB, backfill, report.outcome, run_config=QUIET)
    return ended, False


@contextlib.contextmanager
def _interrupts_as_keyboard_interrupt():
    """SIGTERM and SIGHUP stop the command like Ctrl-C does: what it runs is cancelled."""

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _follow(instance, backfill_id: str, report: _Report, patient: bool = False):
    """Report the daemon's runs of the backfill as they finish, until the backfill ends.

    None when the daemon stopped beating before it launched any run (e.g. `make demo` run
    again right after a stop: the last heartbeats are still recent), unless `patient`.
    """
    from exnaton_pipeline.orchestration import backfills

    while True:
        backfill = instance.get_backfill(backfill_id)
        finished, running = backfills.outcomes(instance, backfill_id)
        if not (patient or finished or running or backfills.daemon_is_running(instance)):
            return None
        for record in finished:
            report.finished(record)
        report.progress.running = running
        report.show()
        if backfill.status in backfills.ENDED and not running:
            return backfill
        time.sleep(1)


def _cancel(instance, backfill_id: str) -> None:
    """Cancel the daemon's backfill and wait (a minute at most, or until a second Ctrl-C)
    until no run of it is left running."""
    from exnaton_pipeline.orchestration import backfills

    backfills.cancel(instance, backfill_id)
    print("cancelling: the daemon stops its runs (Ctrl-C again to leave it to the daemon)")
    deadline = time.monotonic() + 60
    with contextlib.suppress(KeyboardInterrupt):
        while time.monotonic() < deadline:
            if instance.get_backfill(backfill_id).status in backfills.ENDED:
                return
            time.sleep(1)


class _Report:
    """One line per finished partition; on a terminal, a progress bar below them."""

    BAR = 24

    def __init__(self, instance, total: int) -> None:
        from exnaton_pipeline.orchestration.backfills import Progress

        self.instance = instance
        self.progress = Progress(total)
        self.reported: set[str] = set()
        self.tty = sys.stdout.isatty()

    def outcome(self, outcome) -> None:
        self._line(outcome.partition, outcome.run, outcome.seconds)

    def finished(self, record) -> None:
        if record.dagster_run.run_id in self.reported:
            return
        seconds = (record.end_time or 0) - (record.start_time or record.end_time or 0)
        partition = record.dagster_run.tags.get("dagster/partition", "?")
        self._line(partition, record.dagster_run, seconds)

    def _line(self, partition: str, run, seconds: float) -> None:
        import dagster as dg

        self.reported.add(run.run_id)
        ok = run.status == dg.DagsterRunStatus.SUCCESS
        self.progress.done += ok
        self.progress.failed += not ok
        p = self.progress
        detail = _summary(self.instance, run) if ok else _failure(self.instance, run)
        eta = "" if self.tty else f"  {_eta(p.eta_seconds())}"
        self.clear()
        print(
            f"[{p.finished}/{p.total}] {partition}  {'ok' if ok else 'FAILED'}  {detail}  "
            f"({seconds:.1f} s, run {run.run_id[:8]}){eta}",
            flush=True,
        )
        self.show()

    def show(self) -> None:
        if not self.tty:
            return
        p = self.progress
        filled = self.BAR * p.finished // max(p.total, 1)
        print(
            f"\r[{'#' * filled}{'-' * (self.BAR - filled)}] {p.finished}/{p.total}  "
            f"done {p.done}  failed {p.failed}  running {p.running}  queued {p.queued}  "
            f"{_eta(p.eta_seconds())}",
            end="",
            flush=True,
        )

    def clear(self) -> None:
        if self.tty:
            print("\r\033[K", end="", flush=True)


def _eta(seconds: float | None) -> str:
    if seconds is None:
        return "ETA --"
    minutes, rest = divmod(round(seconds), 60)
    return f"ETA {minutes}:{rest:02d}"


def cmd_migrate(args: argparse.Namespace) -> int:
    registry = load_registry(settings.tenants_file())
    tenants = [registry.get(args.tenant)] if args.tenant else list(registry.tenants)
    from exnaton_pipeline.lib.warehouse import migrate

    head = migrate.head_revision()
    failed = 0
    reachable: set[str] = set()
    for tenant in tenants:
        try:
            url = database.tenant_warehouse_url(tenant)  # each tenant on its own server
            if url not in reachable:
                _check_warehouse(url)
                reachable.add(url)
            done = migrate.migrate_tenant(url, tenant)
        except Exception as exc:  # one tenant's trouble must not stop the others
            reason = str(exc).strip().splitlines()[0]
            print(f"{tenant.id} ({tenant.schema}): FAILED: {reason}", flush=True)
            failed += 1
            continue
        before = done.from_revision or "none"
        what = "up to date" if before == done.to_revision else "upgraded"
        print(
            f"{tenant.id} ({done.schema}): {before} -> {done.to_revision}  {what}, {done.storage}",
            flush=True,
        )
    print(f"{len(tenants) - failed} of {len(tenants)} tenants at head {head}")
    return 1 if failed else 0


def _check_warehouse(url: str) -> None:
    """Fail fast, with the reason, when the warehouse cannot be reached."""
    import sqlalchemy as sa

    try:
        with sa.create_engine(url, connect_args={"connect_timeout": 5}).connect():
            pass
    except sa.exc.OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0]
        raise CliError(f"cannot reach the warehouse at {_safe(url)}: {reason}") from None


def _summary(instance, run) -> str:
    import dagster as dg

    for entry in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION):
        materialization = entry.asset_materialization
        if materialization.asset_key == dg.AssetKey("meter_readings"):
            meta = materialization.metadata
            return (
                f"{meta['rows_written'].value} rows written, "
                f"{meta['rows_inserted'].value} new, {meta['rows_updated'].value} updated, "
                f"{meta['rows_rejected'].value} rejected"
            )
    return "nothing to do"


def _failure(instance, run) -> str:
    """The reason a run failed: its first failed step's error, past Dagster's retry wrapper."""
    import dagster as dg

    for entry in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_FAILURE):
        error = entry.dagster_event.event_specific_data.error
        while error.cause is not None and error.message.startswith(
            ("Exceeded max_retries", "dagster._core.execution.plan.utils.RetryRequestedFromPolicy")
        ):
            error = error.cause
        message = error.message.strip().splitlines()[-1]
        kind, _, text = message.partition(": ")
        if error.cls_name and kind.endswith(error.cls_name):  # "dagster...Failure: why" -> why
            message = text
        return f"{entry.step_key}: {message}"
    return "cancelled" if run.status == dg.DagsterRunStatus.CANCELED else "run failed"


def cmd_reader_password(args: argparse.Namespace) -> int:
    from exnaton_pipeline.lib.warehouse import roles

    registry = load_registry(settings.tenants_file())
    tenants = registry.tenants if args.all else (registry.get(args.tenant),)
    by_server: dict[str, list[str]] = {}  # roles are per server: set each on its tenant's
    for tenant in tenants:
        by_server.setdefault(database.tenant_warehouse_url(tenant), []).append(tenant.schema)
    for url, schemas in by_server.items():
        try:
            with database.transaction(url) as conn:
                done = roles.set_reader_passwords(conn, schemas)
        except roles.RoleError as exc:
            raise CliError(str(exc)) from None
        print("\n".join(done), flush=True)  # after the commit: every line is true
    return 0


SHARED_WAREHOUSE = "EXNATON_DATABASE_URL"


def cmd_move_tenant(args: argparse.Namespace) -> int:
    from exnaton_pipeline.lib.tenants import WAREHOUSE_ENV
    from exnaton_pipeline.lib.warehouse import move

    tenant = load_registry(settings.tenants_file()).get(args.tenant)
    variable = args.to_env
    if variable == SHARED_WAREHOUSE:
        target = database.warehouse_url()
    elif WAREHOUSE_ENV.fullmatch(variable):
        target = settings.tenant_warehouse_url(variable)
        if target is None:
            raise CliError(f"{variable} is not set: it must hold the target warehouse's URL")
    else:
        raise CliError(
            f"--to-env {variable!r}: name EXNATON_WAREHOUSE_URL_<NAME> (a tenant warehouse) "
            f"or {SHARED_WAREHOUSE} (the shared warehouse)"
        )
    source = database.tenant_warehouse_url(tenant)
    for url in (source, target):
        _check_warehouse(url)
    try:
        moved = move.move_tenant(source, target, tenant)
    except move.MoveError as exc:
        raise CliError(f"tenant {tenant.id}: {exc}") from None
    for name, figures in moved.tables.items():
        print(f"{moved.schema}.{name}: {figures.rows} rows, equal on both servers")
    registry_line = (
        "remove its warehouse_env"
        if variable == SHARED_WAREHOUSE
        else f"set `warehouse_env: {variable}`"
    )
    print(
        f"copied {moved.rows} rows of tenant {tenant.id} to {_safe(target)}.\n"
        f"Next: in the tenant registry, {registry_line} for tenant {tenant.id} and deploy it; "
        f"the tenant's next run uses the new server. Its dashboard's "
        f"EXNATON_DASHBOARD_DATABASE_URL must name the new server too, and "
        f"`exnaton reader-password --tenant {tenant.id}` sets its reader's password there. "
        f"Once it runs there, drop the old copy on {_safe(source)}: "
        f"DROP SCHEMA {moved.schema} CASCADE"
    )
    return 0


def _safe(url: str) -> str:
    import sqlalchemy as sa

    return sa.make_url(url).render_as_string(hide_password=True)


def _synthetic_feed(args: argparse.Namespace):
    tenant = load_registry(settings.tenants_file()).get(args.tenant)
    source = open_source(settings.source_url(), _s3_client)
    return tenant, source, synthetic.households(tenant, args.meters, args.seed)


def cmd_generate(args: argparse.Namespace) -> int:
    tenant, source, meters = _synthetic_feed(args)
    end = synthetic.floor_interval(datetime.now(UTC))
    start = datetime.combine(end.date() - timedelta(days=args.days), datetime.min.time(), UTC)
    keys = synthetic.write_history(source, tenant, meters, start, end, args.seed)
    print(
        f"wrote {len(keys)} objects for tenant {tenant.id} ({len(meters)} meters, "
        f"{start:%Y-%m-%d %H:%M} .. {end:%Y-%m-%d %H:%M} UTC) to {source.describe()}"
    )
    return 0


def cmd_produce(args: argparse.Namespace) -> int:
    tenant, source, meters = _synthetic_feed(args)
    pace = "every 15 s, 15 simulated minutes each" if args.fast else "every 15 minutes"
    print(
        f"producing for tenant {tenant.id}: {len(meters)} meters, one batch {pace}, into "
        f"{source.describe()}/{tenant.source_prefix}/ (Ctrl-C stops)",
        flush=True,
    )
    with contextlib.suppress(KeyboardInterrupt):
        synthetic.produce(
            source,
            tenant,
            meters,
            seed=args.seed,
            fast=args.fast,
            ticks=args.ticks,
            report=lambda line: print(line, flush=True),
        )
    return 0


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive number")
    return value


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date YYYY-MM-DD") from None


def _synthetic_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tenant", required=True)
    p.add_argument("--meters", type=_positive, help="number of meters (default: the registry's)")
    p.add_argument("--seed", type=int, default=synthetic.DEFAULT_SEED)


def cmd_check_config(args: argparse.Namespace) -> int:
    from exnaton_pipeline.lib.secrets_check import secret_problems

    registry = load_registry(settings.tenants_file())
    problems = secret_problems(os.environ, registry.ids)
    for problem in problems:
        print(f"exnaton: refusing to start: {problem}", file=sys.stderr)
    if problems:
        return 2
    print(f"exnaton: configuration ok (no placeholder secrets; {len(registry.ids)} tenants)")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from exnaton_pipeline import demo

    return demo.run()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="exnaton", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("db-url", help="print the effective warehouse URL")
    p.add_argument("--tenant", help="the warehouse of this tenant (default: the shared one)")
    p.set_defaults(func=cmd_db_url)
    sub.add_parser(
        "db-stop", help="stop the embedded PostgreSQL of EXNATON_HOME (it outlives the demo)"
    ).set_defaults(func=cmd_db_stop)
    p = sub.add_parser("load-sample", help="write the bundled real sample into the source")
    p.add_argument("--tenant", required=True)
    p.set_defaults(func=cmd_load_sample)
    p = sub.add_parser("backfill", help="materialize every asset for tenant-day partitions")
    p.add_argument("--tenant", required=True)
    p.add_argument("--start", required=True, type=_date)
    p.add_argument("--end", required=True, type=_date)
    p.set_defaults(func=cmd_backfill)
    p = sub.add_parser("migrate", help="bring tenant schemas to the newest migration")
    p.add_argument("--tenant", help="only this tenant (default: every tenant of the registry)")
    p.set_defaults(func=cmd_migrate)
    p = sub.add_parser(
        "reader-password",
        help="set tenants' read-only role password from EXNATON_READER_PASSWORD_<TENANT>",
    )
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--tenant")
    which.add_argument("--all", action="store_true", help="every tenant of the registry")
    p.set_defaults(func=cmd_reader_password)
    p = sub.add_parser(
        "move-tenant",
        help="copy a tenant's schema to another warehouse server and verify every table",
    )
    p.add_argument("--tenant", required=True)
    p.add_argument(
        "--to-env",
        required=True,
        metavar="VARIABLE",
        help="the variable holding the target's URL: EXNATON_WAREHOUSE_URL_<NAME>, or "
        "EXNATON_DATABASE_URL for the shared warehouse",
    )
    p.set_defaults(func=cmd_move_tenant)
    p = sub.add_parser("generate", help="write synthetic households' history up to now")
    _synthetic_args(p)
    p.add_argument("--days", type=_positive, default=2, help="UTC days before today (default 2)")
    p.set_defaults(func=cmd_generate)
    p = sub.add_parser("produce", help="deliver a synthetic batch every 15 minutes until stopped")
    _synthetic_args(p)
    p.add_argument("--fast", action="store_true", help="every 15 s, 15 simulated minutes each")
    p.add_argument("--ticks", type=_positive, help="stop after this many batches")
    p.set_defaults(func=cmd_produce)
    sub.add_parser(
        "check-config",
        help="refuse placeholder or empty secrets (run first in every container)",
    ).set_defaults(func=cmd_check_config)
    sub.add_parser(
        "demo", help="load the sample, serve the Dagster UI and the dashboard until Ctrl-C"
    ).set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # pgserver's platformdirs warns about XDG_RUNTIME_DIR on every start; it is harmless
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (RegistryError, SourceError, CliError, database.WarehouseNotConfigured) as exc:
        print(f"exnaton: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
