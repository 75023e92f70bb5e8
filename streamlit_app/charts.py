"""Plotly figures of the dashboard. Times on the x axes are the tenant's local wall clock."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import plotly.graph_objects as go

CONSUMPTION_COLOUR = "#d62728"
FEED_IN_COLOUR = "#2ca02c"
HIGH_BAND_FILL = "rgba(255, 160, 0, 0.14)"
UNITS = {"15min": "kWh per 15 min", "hour": "kWh per hour", "day": "kWh per day"}


def _layout(fig: go.Figure, height: int, **extra) -> go.Figure:
    fig.update_layout(
        height=height,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0},
        **extra,
    )
    return fig


def energy_over_time(
    frame: pd.DataFrame,
    resolution: str,
    series: dict[str, str],
    high_windows: list[tuple[datetime, datetime]],
) -> go.Figure:
    """Consumption above and feed-in below the axis per interval; high-tariff windows shaded
    behind the lines.

    `frame` has `start` (local wall-clock interval start) and the columns named in `series`
    (column -> legend name, e.g. import_kwh -> Consumption).
    """
    fig = go.Figure()
    colours = {"import_kwh": CONSUMPTION_COLOUR, "export_kwh": FEED_IN_COLOUR}
    for column, name in series.items():
        # feed-in leaves the site: drawn below the axis, its hover shows kWh fed in
        sign = -1 if column == "export_kwh" else 1
        y = sign * frame[column].astype(float)
        hover = f"{name}: %{{customdata:.3f}} kWh<extra></extra>"
        if resolution == "day":
            fig.add_bar(
                x=frame["start"],
                y=y,
                name=name,
                marker_color=colours[column],
                customdata=frame[column],
                hovertemplate=hover,
            )
        else:
            fig.add_scatter(
                x=frame["start"],
                y=y,
                customdata=frame[column],
                hovertemplate=hover,
                name=name,
                mode="lines",
                line={"color": colours[column], "width": 1.6, "shape": "hv"},
            )
    if high_windows:
        fig.update_layout(
            shapes=[
                {
                    "type": "rect",
                    "xref": "x",
                    "yref": "paper",
                    "x0": start,
                    "x1": end,
                    "y0": 0,
                    "y1": 1,
                    "fillcolor": HIGH_BAND_FILL,
                    "line": {"width": 0},
                    "layer": "below",
                }
                for start, end in high_windows
            ]
        )
        # a legend entry for the shading
        fig.add_scatter(
            x=[None],
            y=[None],
            mode="markers",
            name="High tariff",
            marker={"symbol": "square", "size": 12, "color": "rgba(255, 160, 0, 0.35)"},
        )
    return _layout(
        fig,
        380,
        yaxis_title=f"{UNITS[resolution]} (feed-in below zero)",
        yaxis_zeroline=True,
        hovermode="x unified",
        barmode="relative",
        bargap=0.15,
    )


def weekday_hour_heatmap(matrix: pd.DataFrame, colourscale: str) -> go.Figure:
    """Rows Monday (top) to Sunday, columns local hours."""
    fig = go.Figure(
        go.Heatmap(
            z=matrix.to_numpy(),
            x=[f"{h:02d}" for h in matrix.columns],
            y=list(matrix.index),
            colorscale=colourscale,
            colorbar={"title": {"text": "kWh"}},
            hovertemplate="%{y} %{x}:00 — %{z:.3f} kWh<extra></extra>",
        )
    )
    return _layout(fig, 320, yaxis={"autorange": "reversed"}, xaxis_title="Hour of day")


def daily_profile(profile: pd.DataFrame) -> go.Figure:
    """Average energy per hour of day, weekdays against weekends."""
    fig = go.Figure()
    for column, dash in (("Weekdays", "solid"), ("Weekends", "dot")):
        fig.add_scatter(
            x=list(profile.index),
            y=profile[column],
            name=column,
            mode="lines+markers",
            line={"dash": dash, "width": 2},
        )
    return _layout(fig, 320, xaxis={"title": "Hour of day", "dtick": 3}, yaxis_title="kWh per hour")


def distribution(consumption: pd.Series) -> go.Figure:
    """How many meters consumed how much over the period (kWh per meter)."""
    fig = go.Figure(go.Histogram(x=consumption, marker_color=CONSUMPTION_COLOUR, nbinsx=40))
    return _layout(fig, 320, xaxis_title="kWh per meter in the period", yaxis_title="meters")
