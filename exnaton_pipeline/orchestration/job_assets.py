"""The assets and checks of one of the code location's jobs, for materializing them in-process
(tests, benchmarks) with resources of the caller's choice."""

import dagster as dg


def job_assets(defs: dg.Definitions, job_name: str) -> list:
    """The asset and check definitions whose keys `job_name` executes."""
    keys = defs.resolve_job_def(job_name).asset_layer.executable_asset_keys
    assets = [a for a in defs.assets or [] if set(a.keys) & keys]
    checks = [c for c in defs.asset_checks or [] if {k.asset_key for k in c.check_keys} & keys]
    return [*assets, *checks]
