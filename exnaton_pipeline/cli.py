"""`exnaton`: the operator's command line (used by `make demo` too)."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
import warnings
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

from exnaton_pipeline.lib import settings
from exnaton_pipeline.lib.demo_data import synthetic
from exnaton_pipeline.lib.demo_data.sample import write_sample
from exnaton_pipeline.lib.ingestion.source import SourceError, open_source
from exnaton_pipeline.lib.tenants import RegistryError, load_registry
from exnaton_pipeline.lib.warehouse import database


class CliError(RuntimeError):
    """A problem the operator must fix; printed without a traceback."""


def _s3_client():
    import boto3

    return boto3.client("s3", endpoint_url=settings.s3_endpoint_url())


def cmd_db_url(args: argparse.Namespace) -> int:
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


def cmd_backfill(args: argparse.Namespace) -> int:
    load_registry(settings.tenants_file()).get(args.tenant)  # refuse unknown tenants early
    days = _days(args.start, args.end)  # and bad ranges, before any database is started
    _check_warehouse(database.warehouse_url())
    from exnaton_pipeline.lib.runtime import prepare_dagster_home

    prepare_dagster_home()
    import dagster as dg

    from exnaton_pipeline.definitions import defs
    from exnaton_pipeline.orchestration.partitions import partition_key

    job = defs.resolve_job_def("meter_data_job")
    failed = 0
    with dg.DagsterInstance.get() as instance:
        for n, day in enumerate(days, 1):
            key = partition_key(args.tenant, day)
            started = time.monotonic()
            result = job.execute_in_process(
                partition_key=key,
                instance=instance,
                raise_on_error=False,
                tags={"exnaton/trigger": "cli-backfill"},
                # the progress line below is the operator's view; the full log is in the UI
                run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
            )
            seconds = time.monotonic() - started
            status = "ok" if result.success else "FAILED"
            detail = _summary(result) if result.success else _failure(result)
            print(
                f"[{n}/{len(days)}] {key}  {status}  {detail}  "
                f"({seconds:.1f} s, run {result.run_id[:8]})",
                flush=True,
            )
            failed += not result.success
    print(f"{len(days) - failed} of {len(days)} partitions succeeded")
    return 1 if failed else 0


def _check_warehouse(url: str) -> None:
    """Fail fast, with the reason, when the warehouse cannot be reached."""
    import sqlalchemy as sa

    try:
        with sa.create_engine(url, connect_args={"connect_timeout": 5}).connect():
            pass
    except sa.exc.OperationalError as exc:
        safe = sa.make_url(url).render_as_string(hide_password=True)
        reason = str(exc.orig).strip().splitlines()[0]
        raise CliError(f"cannot reach the warehouse at {safe}: {reason}") from None


def _summary(result) -> str:
    for event in result.asset_materializations_for_node("meter_readings"):
        meta = event.metadata
        return (
            f"{meta['rows_written'].value} rows written, "
            f"{meta['rows_inserted'].value} new, {meta['rows_updated'].value} updated, "
            f"{meta['rows_rejected'].value} rejected"
        )
    return "nothing to do"


def _failure(result) -> str:
    for event in result.all_events:
        if event.is_step_failure:
            return event.event_specific_data.error.message.strip().splitlines()[-1]
    return "run failed"


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
    sub.add_parser("db-url", help="print the effective warehouse URL").set_defaults(func=cmd_db_url)
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
    except (RegistryError, SourceError, CliError) as exc:
        print(f"exnaton: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
