"""Per-tenant backfills as Dagster backfills: the object the UI's "Materialize -> Backfill"
creates (an asset backfill over every asset of `meter_data_job`), listed under Runs ->
Backfills, whether the daemon runs it or the command line does.

- A live daemon (recent heartbeats of its backfill and run-queue loops) gets the backfill
  submitted: it requests one run per partition through the run queue, so the per-tenant limit
  applies, the UI can cancel it, and run monitoring looks after its runs.
- Without one, `run_here` runs the partitions one after another in this process, tagged with
  the backfill, and records each partition's outcome on the backfill. The backfill is created
  with every partition already requested, so a daemon that starts meanwhile does not launch
  them a second time. Runs carry this process's id: one left STARTED by a killed process is
  marked failed by the next `reap_orphans` (and by run monitoring after its maximum runtime).

These use Dagster's backfill records (`PartitionBackfill`, `AssetBackfillData`), which Dagster
documents only through the UI and GraphQL; they are pinned with dagster 1.13.27.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import dagster as dg
from dagster._core.definitions.assets.graph.asset_graph_subset import AssetGraphSubset
from dagster._core.definitions.events import AssetKeyPartitionKey
from dagster._core.execution.backfill import BulkActionStatus, PartitionBackfill
from dagster._core.storage.tags import BACKFILL_ID_TAG, PARTITION_NAME_TAG
from dagster._core.utils import make_new_backfill_id

TRIGGER_TAG = "exnaton/trigger"
PID_TAG = "exnaton/cli-pid"
HOST_TAG = "exnaton/cli-host"
# both loops a submitted backfill needs; they beat every 30 s
DAEMONS = ("BACKFILL", "QUEUED_RUN_COORDINATOR")
HEARTBEAT_TOLERANCE_SECONDS = 60

FINISHED = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}
RUNNING = {dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING}
ENDED = {
    BulkActionStatus.COMPLETED,
    BulkActionStatus.COMPLETED_SUCCESS,
    BulkActionStatus.COMPLETED_FAILED,
    BulkActionStatus.FAILED,
    BulkActionStatus.CANCELED,
}


def daemon_is_running(instance: dg.DagsterInstance, now: float | None = None) -> bool:
    """Whether a daemon serves this instance: its backfill and run-queue loops beat lately."""
    now = time.time() if now is None else now
    beats = instance.get_daemon_heartbeats()
    return all(
        name in beats and now - beats[name].timestamp < HEARTBEAT_TOLERANCE_SECONDS
        for name in DAEMONS
    )


def create(
    instance: dg.DagsterInstance,
    defs: dg.Definitions,
    job_name: str,
    partition_keys: Sequence[str],
    title: str,
    *,
    run_here: bool,
) -> PartitionBackfill:
    """Record a backfill of every asset of `job_name` over `partition_keys`.

    `run_here`: this process runs the partitions; the backfill says so (its process id and
    host) and has all of them requested already, so that no daemon launches them as well.
    """
    graph = defs.resolve_asset_graph()
    selection = sorted(defs.resolve_job_def(job_name).asset_layer.executable_asset_keys)
    backfill = PartitionBackfill.from_asset_partitions(
        backfill_id=make_new_backfill_id(),
        asset_graph=graph,
        partition_names=list(partition_keys),
        asset_selection=selection,
        backfill_timestamp=time.time(),
        tags={TRIGGER_TAG: "cli-backfill"},
        dynamic_partitions_store=instance,
        all_partitions=False,
        title=title,
        description=None,
        run_config=None,
    )
    if run_here:
        backfill = _claimed(instance, graph, backfill)
    instance.add_backfill(backfill)
    return backfill


def take_over(
    instance: dg.DagsterInstance, defs: dg.Definitions, backfill: PartitionBackfill
) -> PartitionBackfill | None:
    """Claim a submitted backfill for this process when no daemon started on it (the daemon
    that beat a minute ago has stopped); None if a daemon has touched it meanwhile."""
    current = instance.get_backfill(backfill.backfill_id)
    graph = defs.resolve_asset_graph()
    untouched = current.get_asset_backfill_data(graph).requested_subset.is_empty
    if current.status != BulkActionStatus.REQUESTED or not untouched:
        return None
    claimed = _claimed(instance, graph, current)
    instance.update_backfill(claimed)
    return claimed


def _claimed(instance: dg.DagsterInstance, graph, backfill: PartitionBackfill) -> PartitionBackfill:
    """`backfill` run by this process: all partitions requested (so a daemon leaves them
    alone), tagged with this process's id and host (so its orphans can be found)."""
    data = backfill.get_asset_backfill_data(graph)
    data = data._replace(requested_subset=data.target_subset)
    tags = {**backfill.tags, PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname()}
    return backfill.with_asset_backfill_data(data, instance, graph)._replace(tags=tags)


@dataclass
class Outcome:
    """What happened to one partition of a backfill."""

    partition: str
    run: dg.DagsterRun
    seconds: float


@dataclass
class Progress:
    """Counts of a backfill's partitions, and an estimate of the time left."""

    total: int
    started_at: float = field(default_factory=time.monotonic)
    done: int = 0
    failed: int = 0
    running: int = 0

    @property
    def finished(self) -> int:
        return self.done + self.failed

    @property
    def queued(self) -> int:
        return self.total - self.finished - self.running

    def eta_seconds(self) -> float | None:
        if not self.finished:
            return None
        elapsed = time.monotonic() - self.started_at
        return elapsed / self.finished * (self.total - self.finished)


def run_here(
    instance: dg.DagsterInstance,
    defs: dg.Definitions,
    job_name: str,
    backfill: PartitionBackfill,
    on_outcome: Callable[[Outcome], None],
    run_config: dict | None = None,
) -> PartitionBackfill:
    """Run the backfill's partitions one after another in this process; return it ended.

    Stops before the next partition when the backfill was cancelled (in the UI). On an
    interrupt (Ctrl-C, SIGTERM), the run in progress and the backfill are marked cancelled.
    """
    job = defs.resolve_job_def(job_name)
    graph = defs.resolve_asset_graph()
    assets = set(job.asset_layer.executable_asset_keys)
    tags = {BACKFILL_ID_TAG: backfill.backfill_id, **backfill.tags}  # its pid and host too
    materialized: set[AssetKeyPartitionKey] = set()
    try:
        for key in sorted(backfill.get_asset_backfill_data(graph).get_partition_names() or []):
            current = instance.get_backfill(backfill.backfill_id)
            if current is None or current.status != BulkActionStatus.REQUESTED:
                return _cancelled(instance, backfill.backfill_id)
            started = time.monotonic()
            result = job.execute_in_process(
                partition_key=key,
                instance=instance,
                raise_on_error=False,
                tags=tags,
                run_config=run_config,
            )
            if _interrupted(result):
                # Dagster caught the Ctrl-C inside the run and failed it; stop here too
                raise KeyboardInterrupt
            materialized |= {
                AssetKeyPartitionKey(event.asset_key, key)
                for event in result.all_events
                if event.is_step_materialization and event.asset_key in assets
            }
            run = instance.get_run_by_id(result.run_id)
            on_outcome(Outcome(key, run, time.monotonic() - started))
            _record(instance, backfill.backfill_id, graph, materialized, ended=False)
    except KeyboardInterrupt:
        _cancel_unfinished_runs(instance, backfill.backfill_id, "the exnaton backfill was stopped")
        _cancelled(instance, backfill.backfill_id)
        raise
    return _record(instance, backfill.backfill_id, graph, materialized, ended=True)


INTERRUPTS = {"DagsterExecutionInterruptedError", "KeyboardInterrupt"}


def _interrupted(result: dg.ExecuteInProcessResult) -> bool:
    """Whether Dagster stopped the run for a Ctrl-C or SIGTERM (in a step, or while it set up
    the resources): it fails the run and returns instead of raising."""
    for event in result.all_events:
        error = getattr(event.event_specific_data, "error", None)
        while error is not None:
            if error.cls_name in INTERRUPTS:
                return True
            error = error.cause
    return False


def _record(
    instance: dg.DagsterInstance,
    backfill_id: str,
    graph,
    materialized: set[AssetKeyPartitionKey],
    *,
    ended: bool,
) -> PartitionBackfill:
    """Write which asset partitions were materialized and, of the partitions run so far, which
    failed (with what they did not reach downstream); at the end, the final status."""
    backfill = instance.get_backfill(backfill_id)
    data = backfill.get_asset_backfill_data(graph)
    done = AssetGraphSubset.from_asset_partition_set(materialized, graph)
    ran = {
        run.tags[PARTITION_NAME_TAG]
        for run in instance.get_runs(dg.RunsFilter(tags={BACKFILL_ID_TAG: backfill_id}))
        if run.status in FINISHED
    }
    tried = AssetGraphSubset.from_asset_partition_set(
        {ap for ap in data.target_subset.iterate_asset_partitions() if ap.partition_key in ran},
        graph,
    )
    data = data._replace(materialized_subset=done, failed_and_downstream_subset=tried - done)
    backfill = backfill.with_asset_backfill_data(data, instance, graph)
    if ended:
        failed = not data.failed_and_downstream_subset.is_empty
        status = BulkActionStatus.COMPLETED_FAILED if failed else BulkActionStatus.COMPLETED_SUCCESS
        backfill = backfill.with_status(status).with_end_timestamp(time.time())
    instance.update_backfill(backfill)
    return backfill


def _cancel_unfinished_runs(instance: dg.DagsterInstance, backfill_id: str, why: str) -> None:
    for run in instance.get_runs(dg.RunsFilter(tags={BACKFILL_ID_TAG: backfill_id})):
        if run.status not in FINISHED:
            instance.report_run_canceled(run, message=why)


def _cancelled(instance: dg.DagsterInstance, backfill_id: str) -> PartitionBackfill:
    backfill = instance.get_backfill(backfill_id)
    if backfill.status not in ENDED:
        backfill = backfill.with_status(BulkActionStatus.CANCELED).with_end_timestamp(time.time())
        instance.update_backfill(backfill)
    return backfill


def outcomes(instance: dg.DagsterInstance, backfill_id: str) -> tuple[list, int]:
    """The run records of the backfill's finished partitions (the latest run of each) and how
    many partitions are running now."""
    latest: dict[str, object] = {}
    records = instance.get_run_records(dg.RunsFilter(tags={BACKFILL_ID_TAG: backfill_id}))
    for record in records:  # newest first
        run = record.dagster_run
        latest.setdefault(run.tags.get(PARTITION_NAME_TAG, run.run_id), record)
    finished = [r for r in latest.values() if r.dagster_run.status in FINISHED]
    running = sum(r.dagster_run.status in RUNNING for r in latest.values())
    return finished[::-1], running


def cancel(instance: dg.DagsterInstance, backfill_id: str) -> None:
    """Ask the daemon to cancel the backfill, as the UI's Cancel does: it cancels the runs
    in progress and the queued ones, then marks the backfill cancelled."""
    backfill = instance.get_backfill(backfill_id)
    if backfill is not None and backfill.status == BulkActionStatus.REQUESTED:
        instance.update_backfill(backfill.with_status(BulkActionStatus.CANCELING))


def reap_orphans(instance: dg.DagsterInstance) -> list[str]:
    """Mark failed the runs (and end the backfills) that a killed `exnaton backfill` on this
    host left STARTED: they would hold their tenant's slot in the run queue. Returns run ids."""
    host = socket.gethostname()
    reaped = []
    unfinished = [s for s in dg.DagsterRunStatus if s not in FINISHED]
    for run in instance.get_runs(dg.RunsFilter(tags={HOST_TAG: host}, statuses=unfinished)):
        pid = int(run.tags[PID_TAG])
        if _alive(pid):
            continue
        instance.report_run_failed(
            run, f"the exnaton backfill process that ran it (pid {pid} on {host}) is gone"
        )
        reaped.append(run.run_id)
    for backfill in instance.get_backfills(status=BulkActionStatus.REQUESTED):
        if backfill.tags.get(HOST_TAG) == host and not _alive(int(backfill.tags[PID_TAG])):
            instance.update_backfill(
                backfill.with_status(BulkActionStatus.FAILED).with_end_timestamp(time.time())
            )
    return reaped


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True
