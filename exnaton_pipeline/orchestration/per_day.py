"""How the per-day work of a tenant (the `insights_job`) is asked for, by its sensor or the CLI."""

from datetime import date

PER_DAY_JOB = "insights_job"
PER_DAY_STEP = "per_day_analytics"


def per_day_config(last_day: date, all_meters: bool = False) -> dict:
    """Run config of the per-day step: windows end at local day `last_day`."""
    return {
        "ops": {
            PER_DAY_STEP: {"config": {"last_day": last_day.isoformat(), "all_meters": all_meters}}
        }
    }
