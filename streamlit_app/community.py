"""What the community view computes from the loaded rows: the community's totals and the
share of its consumption covered by members' feed-in, the largest consumers and producers,
and the meters with missing data. Plain pandas; no database, no Streamlit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pandas as pd


@dataclass(frozen=True)
class CommunityTotals:
    """The community over a span: kWh drawn, fed in, and drawn while members fed in."""

    consumption: float
    feed_in: float
    shared: float  # sum over quarter hours of min(import, export)
    meters: int  # meters with daily rows in the period

    @property
    def coverage(self) -> float | None:
        """Share of the community's consumption covered by members' feed-in in the same
        quarter hour; None without consumption."""
        return self.shared / self.consumption if self.consumption > 0 else None


def totals(energy: pd.DataFrame, meters: int) -> CommunityTotals | None:
    """Sum rows of `data.load_community_energy`; None without any."""
    if energy.empty:
        return None
    return CommunityTotals(
        float(energy["import_kwh"].sum()),
        float(energy["export_kwh"].sum()),
        float(energy["shared_kwh"].sum()),
        meters,
    )


def ranking(per_meter: pd.DataFrame, names: dict[str, str], column: str, n: int) -> pd.DataFrame:
    """The `n` meters with the most `column` (import_kwh or export_kwh) and their share of
    the community's total, largest first; meters with none are left out."""
    total = float(per_meter[column].sum())
    top = per_meter[per_meter[column] > 0].nlargest(n, column)
    return pd.DataFrame(
        {
            "Meter": [names.get(m, m) for m in top["muid"]],
            "kWh": top[column].round(1).to_numpy(),
            "Share": (top[column] / total).map("{:.1%}".format).to_numpy() if total else [],
        }
    )


def missing_data(
    per_meter: pd.DataFrame,
    catalogue: pd.DataFrame,
    names: dict[str, str],
    start: date,
    end: date,
) -> pd.DataFrame:
    """Meters whose days of start..end within their own data range (first to last day with
    data) lack readings: days without any reading and days with missing quarter hours.
    Most days missing first."""
    frame = catalogue[["muid", "first_day", "last_day"]].merge(per_meter, on="muid", how="left")
    frame = frame[(frame["first_day"] <= end) & (frame["last_day"] >= start)]
    first = frame["first_day"].where(frame["first_day"] > start, start)
    last = frame["last_day"].where(frame["last_day"] < end, end)
    expected = [(b - a).days + 1 for a, b in zip(first, last, strict=True)]
    without = pd.Series(expected, index=frame.index) - frame["days"].fillna(0).astype(int)
    incomplete = frame["incomplete_days"].fillna(0).astype(int)
    gaps = pd.DataFrame(
        {
            "Meter": [names.get(m, m) for m in frame["muid"]],
            "Days without readings": without.to_numpy(),
            "Days with gaps": incomplete.to_numpy(),
        }
    )
    gaps = gaps[(gaps["Days without readings"] > 0) | (gaps["Days with gaps"] > 0)]
    order = ["Days without readings", "Days with gaps", "Meter"]
    return gaps.sort_values(order, ascending=[False, False, True], ignore_index=True)
