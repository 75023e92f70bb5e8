"""How fresh each asset is expected to be; Dagster's freshness daemon checks it (UI: Freshness).

The tick assets follow the 15-minute schedule: a live tenant's data is stale after an hour
without a materialization (four missed ticks), worth a warning after 30 minutes. The per-day
assets follow the local day: recomputed within 30 minutes after a day settles, so stale after
26 hours (a missed day), worth a warning after 25.
"""

from datetime import timedelta

import dagster as dg

TICK_FRESHNESS = dg.FreshnessPolicy.time_window(
    fail_window=timedelta(hours=1), warn_window=timedelta(minutes=30)
)
DAY_FRESHNESS = dg.FreshnessPolicy.time_window(
    fail_window=timedelta(hours=26), warn_window=timedelta(hours=25)
)
