"""The dashboard's states, run headless with streamlit.testing.v1.AppTest.

Expected figures are computed by hand from the pattern in conftest.py (0.5 kWh per local
hour, 1.0 in the week of 13 Feb; high tariff Mon-Fri 07:00-20:00 at 0.32, else 0.22 CHF),
except in the last test: the real sample through the real pipeline, against figures
verified independently of this code.
"""

from __future__ import annotations

import base64
import json
import logging
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

import streamlit_app
from exnaton_pipeline.lib.warehouse import roles
from exnaton_pipeline_tests.conftest import free_port, set_up_tenant
from exnaton_pipeline_tests.dashboard.conftest import (
    AEBI,
    BRUNNER,
    HOUSE,
    PASSWORD,
    PV,
    SPARE,
    TODAY,
    ZONE,
    remove_live_readings,
)
from streamlit_app import data, summaries
from streamlit_app.periods import Period

APP = str(Path(streamlit_app.__file__).parent / "app.py")


def _run(signed_in: bool = True) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    if signed_in:
        at.session_state["user"] = "alice"
    return _checked(at.run())


def _checked(at: AppTest) -> AppTest:
    """No exception element, and no page text that looks like a stack trace."""
    assert not at.exception
    texts = [
        e.value
        for kind in ("error", "warning", "info", "markdown", "caption")
        for e in getattr(at, kind)
    ]
    assert not [t for t in texts if "Traceback" in str(t)]
    return at


def _metrics(at: AppTest) -> dict[str, tuple[str, str]]:
    return {m.label: (m.value, m.delta) for m in at.metric}


def _charts(at: AppTest) -> dict[str, dict]:
    """Plotly figure specs by widget key."""
    return {c.proto.id.rsplit("-", 1)[-1]: json.loads(c.proto.spec) for c in at.get("plotly_chart")}


def _values(array) -> np.ndarray:
    """A Plotly array, plain or as the typed-array encoding Plotly 7 uses."""
    if isinstance(array, dict):
        data = np.frombuffer(base64.b64decode(array["bdata"]), dtype=array["dtype"])
        return data.reshape([int(n) for n in str(array.get("shape", len(data))).split(",")])
    return np.asarray(array, dtype=float)


def _choose(at: AppTest, kind: str, anchor: date | None = None) -> AppTest:
    _checked(at.radio(key="period_kind").set_value(kind).run())
    if anchor is not None:
        _checked(at.date_input(key="period_anchor").set_value(anchor).run())
    return at


# --- sign-in ---------------------------------------------------------------------------


def test_signed_out_shows_only_the_sign_in_form(deployed_env) -> None:
    at = _run(signed_in=False)
    assert [t.label for t in at.text_input] == ["User name", "Password"]
    assert not at.metric
    assert not at.get("plotly_chart")
    assert not at.sidebar.selectbox  # no meter names before sign-in


def test_sign_in_refuses_a_wrong_password_then_lets_alice_in(deployed_env) -> None:
    at = _run(signed_in=False)
    at.text_input(key="sign_in_user").input("alice")
    at.text_input(key="sign_in_password").input("not the password")
    _checked(at.button[0].click().run())
    assert [e.value for e in at.error] == ["Wrong user name or password."]
    assert not at.metric

    at.text_input(key="sign_in_password").input(PASSWORD)
    _checked(at.button[0].click().run())
    assert not at.error
    assert "Signed in as **Alice Muster**" in [m.value for m in at.sidebar.markdown]
    assert _metrics(at)["Consumption"][0] == "318.0 kWh"

    _checked(at.sidebar.button(key="sign_out").click().run())
    assert [t.label for t in at.text_input] == ["User name", "Password"]
    assert not at.metric


def test_unknown_user_is_refused_like_a_wrong_password(deployed_env) -> None:
    at = _run(signed_in=False)
    at.text_input(key="sign_in_user").input("mallory")
    at.text_input(key="sign_in_password").input(PASSWORD)
    _checked(at.button[0].click().run())
    assert [e.value for e in at.error] == ["Wrong user name or password."]


def _try_sign_in(at: AppTest, user: str, password: str) -> AppTest:
    at.text_input(key="sign_in_user").input(user)
    at.text_input(key="sign_in_password").input(password)
    return _checked(at.button[0].click().run())


def _errors(at: AppTest) -> list[str]:
    return [e.value for e in at.error]


WAIT_30 = (
    "Wrong user name or password. Too many sign-in attempts: please wait 30 seconds before "
    "trying again."
)


def test_sign_in_waits_after_three_failures_even_across_sessions(
    deployed_env, sign_in_clock, caplog
) -> None:
    caplog.set_level(logging.INFO, logger="streamlit_app")
    wrong = ["guess-1", "guess-2", "guess-3"]
    at = _run(signed_in=False)
    assert [_errors(_try_sign_in(at, "alice", password)) for password in wrong] == [
        ["Wrong user name or password."],
        ["Wrong user name or password."],
        [WAIT_30],
    ]
    # the right password during the wait is refused, unchecked
    assert _errors(_try_sign_in(at, "alice", PASSWORD)) == [
        "Too many sign-in attempts. Please wait 30 seconds before trying again."
    ]
    assert not at.metric

    # a reload is a new session: the wait goes on
    sign_in_clock.advance(12)
    at = _run(signed_in=False)
    assert not at.error
    assert _errors(_try_sign_in(at, "alice", PASSWORD)) == [
        "Too many sign-in attempts. Please wait 18 seconds before trying again."
    ]
    sign_in_clock.advance(18)
    _try_sign_in(at, "alice", PASSWORD)
    assert not at.error
    assert _metrics(at)["Consumption"][0] == "318.0 kWh"

    # the success reset the account: one more failure is its first, not its fourth (60 s)
    _checked(at.sidebar.button(key="sign_out").click().run())
    assert _errors(_try_sign_in(at, "alice", "guess-4")) == ["Wrong user name or password."]

    outcomes = [
        (r.levelno, r.getMessage()) for r in caplog.records if r.name == "streamlit_app.auth"
    ]
    assert outcomes == [
        (logging.WARNING, "sign-in failed: user='alice' client='unknown' delay=0s"),
        (logging.WARNING, "sign-in failed: user='alice' client='unknown' delay=0s"),
        (logging.WARNING, "sign-in failed: user='alice' client='unknown' delay=30s"),
        (logging.WARNING, "sign-in refused: user='alice' client='unknown' delay=30s"),
        (logging.WARNING, "sign-in refused: user='alice' client='unknown' delay=18s"),
        (logging.INFO, "sign-in signed_in: user='alice' client='unknown' delay=0s"),
        (logging.WARNING, "sign-in failed: user='alice' client='unknown' delay=0s"),
    ]
    for password in [*wrong, PASSWORD, "guess-4"]:
        assert password not in caplog.text


def test_a_client_waits_after_failures_for_many_accounts(
    deployed_env, monkeypatch: pytest.MonkeyPatch, caplog
) -> None:
    # AppTest has no browser connection: the address Streamlit would report is set here
    client = {"address": "203.0.113.7"}
    monkeypatch.setattr(type(st.context), "ip_address", property(lambda self: client["address"]))
    caplog.set_level(logging.INFO, logger="streamlit_app")
    at = _run(signed_in=False)
    for n in range(10):  # ten names tried from one address cost nothing yet
        assert _errors(_try_sign_in(at, f"user{n}", "guess")) == ["Wrong user name or password."]
    assert _errors(_try_sign_in(at, "user10", "guess")) == [WAIT_30]
    assert _errors(_try_sign_in(at, "alice", PASSWORD)) == [
        "Too many sign-in attempts. Please wait 30 seconds before trying again."
    ]
    client["address"] = "198.51.100.9"  # alice from home
    _try_sign_in(at, "alice", PASSWORD)
    assert not at.error
    assert _metrics(at)["Consumption"][0] == "318.0 kWh"
    assert caplog.messages[-3:] == [
        "sign-in failed: user='user10' client='203.0.113.7' delay=30s",
        "sign-in refused: user='alice' client='203.0.113.7' delay=30s",
        "sign-in signed_in: user='alice' client='198.51.100.9' delay=0s",
    ]


def test_a_password_longer_than_bcrypt_takes_is_just_wrong(deployed_env) -> None:
    at = _try_sign_in(_run(signed_in=False), "alice", PASSWORD * 3)  # 87 bytes
    assert _errors(at) == ["Wrong user name or password."]


# --- periods ---------------------------------------------------------------------------


def test_signed_in_opens_on_all_data_of_a_short_history(deployed_env) -> None:
    at = _run()
    assert at.sidebar.selectbox(key="meter_demo").options == [
        "Household consumption",
        "PV feed-in",
        "Consumption (0c0ffee0)",  # not in the registry: named by its register
        "home (installation, 2 meters)",  # the registry's HOUSE and PV
    ]
    # 1 - 28 Feb, 28 days of data (at most 62): all of it, nothing before to compare with
    kind = at.radio(key="period_kind")
    assert kind.options == ["Day", "Week", "Month", "Custom", "All data"]
    assert kind.value == "all"
    assert at.date_input(key="period_range").value == (date(2023, 2, 1), date(2023, 2, 28))
    assert at.date_input(key="period_range").disabled
    assert at.button(key="period_previous").disabled
    assert at.button(key="period_next").disabled
    assert at.subheader[0].value == "Household consumption · 1 – 28 Feb 2023 (all data)"
    # 12 days x 12 kWh + 7 x 24 + 12 hours x 0.5 on the 28th
    # high: 8 weekdays x 13 h x 0.5 + 5 x 13 x 1.0 + 28 Feb 07-12 5 h x 0.5 = 119.5 kWh
    assert _metrics(at) == {
        "Consumption": ("318.0 kWh", ""),
        "Feed-in": ("0.0 kWh", ""),
        "Net cost": ("81.91 CHF", ""),  # 119.5 x 0.32 + 198.5 x 0.22
        "Import cost": ("81.91 CHF", ""),
        "Feed-in credit": ("0.00 CHF", ""),
    }
    assert (
        "All data: there is no earlier period to compare with. Tariff: high 0.32 CHF/kWh, "
        "low 0.22 CHF/kWh; feed-in 0.10 CHF/kWh. 119.5 kWh of the consumption (38%) in the "
        "high tariff. Net cost = import cost − feed-in credit."
    ) in [c.value for c in at.caption]
    # 28 Feb holds the newest reading (11:45), not its last interval: a day in progress, with
    # all 48 quarter hours up to 12:00, so it is not listed
    assert [w.value for w in at.warning] == [
        "Incomplete data: 1 day with missing readings (28 Feb 2023); 8 days without any "
        "reading (20 – 27 Feb 2023). The figures cover the readings that arrived."
    ]
    energy = _charts(at)["energy_chart"]
    assert at.radio(key="resolution").value == "auto"  # 28 days: daily
    assert [t["type"] for t in energy["data"]] == ["bar"]
    assert _values(energy["data"][0]["y"]).sum() == pytest.approx(318.0)
    assert "shapes" not in energy["layout"]  # no band shading on daily bars


def test_week_view_compares_with_the_week_before(deployed_env) -> None:
    at = _choose(_run(), "week", date(2023, 2, 15))
    assert at.date_input(key="period_anchor").value == date(2023, 2, 13)  # snaps to Monday
    # 13 - 19 Feb: 168 h x 1.0; high 5 x 13 = 65 kWh; 6 - 12 Feb half of it
    assert _metrics(at) == {
        "Consumption": ("168.0 kWh", "+84.0 kWh (+100%)"),
        "Feed-in": ("0.0 kWh", ""),  # none either week: no change shown
        "Net cost": ("43.46 CHF", "+21.73 CHF (+100%)"),
        "Import cost": ("43.46 CHF", "+21.73 CHF (+100%)"),
        "Feed-in credit": ("0.00 CHF", ""),
    }
    assert not at.warning  # every day of the week is complete
    energy = _charts(at)["energy_chart"]
    y = _values(energy["data"][0]["y"])
    assert (len(y), y.sum()) == (168, pytest.approx(168.0))  # auto: hourly
    shapes = energy["layout"]["shapes"]
    assert [(s["x0"], s["x1"]) for s in shapes] == [
        (f"2023-02-{d}T07:00:00", f"2023-02-{d}T20:00:00") for d in range(13, 18)
    ]

    _checked(at.button(key="period_previous").click().run())
    # 6 - 12 Feb: 84 kWh, against 30 Jan - 5 Feb of which 1 - 5 Feb have 12 kWh each
    assert _metrics(at)["Consumption"] == ("84.0 kWh", "+24.0 kWh (+40%)")
    assert at.date_input(key="period_anchor").value == date(2023, 2, 6)


def test_day_view_reads_quarter_hours(deployed_env) -> None:
    at = _choose(_run(), "day", date(2023, 2, 13))
    # Monday 13 Feb: 24 kWh, 13 of them 07-20 h; Sunday 12 Feb: 12 kWh all low tariff
    assert _metrics(at)["Consumption"] == ("24.0 kWh", "+12.0 kWh (+100%)")
    # 13 x 0.32 + 11 x 0.22 = 6.58 CHF against 12 x 0.22 = 2.64 CHF
    assert _metrics(at)["Import cost"] == ("6.58 CHF", "+3.94 CHF (+149%)")
    assert at.caption[0].value.startswith(
        "Changes against the day before (12 Feb 2023). Tariff: high 0.32 CHF/kWh, "
        "low 0.22 CHF/kWh; feed-in 0.10 CHF/kWh."
    )
    energy = _charts(at)["energy_chart"]
    y = _values(energy["data"][0]["y"])
    assert (len(y), set(y)) == (96, {0.25})
    assert energy["data"][0]["x"][0].startswith("2023-02-13T00:00:00")  # local, not UTC
    assert [(s["x0"], s["x1"]) for s in energy["layout"]["shapes"]] == [
        ("2023-02-13T07:00:00", "2023-02-13T20:00:00")
    ]
    # the same day hourly, by choice
    _checked(at.radio(key="resolution").set_value("hour").run())
    assert len(_values(_charts(at)["energy_chart"]["data"][0]["y"])) == 24

    _checked(at.button(key="period_next").click().run())
    assert _metrics(at)["Consumption"] == ("24.0 kWh", "+0.0 kWh (+0%)")  # Tue 14 Feb


def test_custom_range_and_resolution_choices(deployed_env) -> None:
    at = _choose(_run(), "custom")
    _checked(
        at.date_input(key="period_range").set_value((date(2023, 2, 6), date(2023, 2, 19))).run()
    )
    # 6 - 19 Feb: 7 x 12 + 7 x 24 = 252 kWh; the 14 days before hold 1 - 5 Feb: 60 kWh
    assert _metrics(at)["Consumption"] == ("252.0 kWh", "+192.0 kWh (+320%)")
    assert at.radio(key="resolution").options == ["Auto (hourly)", "15 minutes", "Hourly", "Daily"]
    _checked(at.radio(key="resolution").set_value("day").run())
    energy = _charts(at)["energy_chart"]
    assert list(_values(energy["data"][0]["y"])) == [12.0] * 7 + [24.0] * 7
    assert at.get("download_button")[0].proto.label == "Download these data (CSV)"


def test_month_switches_with_previous_and_next(deployed_env) -> None:
    at = _choose(_run(), "month")
    assert at.date_input(key="period_anchor").value == date(2023, 2, 1)
    assert _metrics(at)["Consumption"] == ("318.0 kWh", "")  # as all data: 1 - 28 Feb
    # the newest reading starts 28 Feb 11:45, so February is still in progress: the 28 days
    # before it count up to the same point, 12:00 on their 28th day
    assert at.caption[0].value.startswith(
        "No readings in 4 – 31 Jan 2023 up to 12:00 to compare with."
    )
    assert at.button(key="period_next").disabled  # February holds the newest day
    assert at.button(key="period_previous").disabled  # and the first
    _checked(at.radio(key="period_kind").set_value("week").run())
    # the week of the newest day: Mon 27 Feb - Sun 5 Mar, only 28 Feb has readings
    assert _metrics(at)["Consumption"][0] == "6.0 kWh"
    assert at.button(key="period_next").disabled


def test_all_data_to_custom_and_back(deployed_env) -> None:
    at = _choose(_run(), "custom")  # starts from the whole range, now editable
    assert at.date_input(key="period_range").value == (date(2023, 2, 1), date(2023, 2, 28))
    assert not at.date_input(key="period_range").disabled
    _checked(
        at.date_input(key="period_range").set_value((date(2023, 2, 13), date(2023, 2, 19))).run()
    )
    assert _metrics(at)["Consumption"] == ("168.0 kWh", "+84.0 kWh (+100%)")
    _choose(at, "all")
    assert at.date_input(key="period_range").value == (date(2023, 2, 1), date(2023, 2, 28))
    assert _metrics(at)["Consumption"] == ("318.0 kWh", "")


# --- a period still in progress: like with like ---------------------------------------
#
# Tenant `live` (conftest): readings up to Thu 16 Feb 13:30 local, i.e. today up to 13:45.
# On a weekday 00:00 - 13:45 holds 55 quarter hours, 27 of them (07:00 - 13:45) in the high
# tariff (0.32 CHF/kWh) and 28 in the low (0.22); a whole weekday 52 high and 44 low.


def _comparison(at: AppTest) -> str:
    return next(c.value for c in at.caption if c.value.startswith(("Changes", "No readings")))


def test_a_live_tenant_compares_today_with_yesterday_up_to_the_same_time(live_env) -> None:
    at = _run()
    assert at.sidebar.selectbox(key="meter_live").value == AEBI
    assert at.radio(key="period_kind").value == "day"
    assert at.date_input(key="period_anchor").value == TODAY
    assert at.subheader[0].value == "Household Aebi · Thu 16 Feb 2023"
    # today 55 x 0.2 = 11.0 kWh (high 5.4, low 5.6); yesterday to 13:45 55 x 0.1 = 5.5 kWh
    # (high 2.7, low 2.8), not its whole 9.6 kWh
    assert _metrics(at) == {
        "Consumption": ("11.0 kWh", "+5.5 kWh (+100%)"),
        "Feed-in": ("0.0 kWh", ""),
        "Net cost": ("2.96 CHF", "+1.48 CHF (+100%)"),  # 1.728 + 1.232 against 1.48
        "Import cost": ("2.96 CHF", "+1.48 CHF (+100%)"),
        "Feed-in credit": ("0.00 CHF", ""),
    }
    assert _comparison(at) == (
        "Changes against 15 Feb 2023 up to 13:45, the same span as this period so far. "
        "Tariff: high 0.32 CHF/kWh, low 0.22 CHF/kWh; feed-in 0.10 CHF/kWh. 5.4 kWh of the "
        "consumption (49%) in the high tariff. Net cost = import cost − feed-in credit."
    )

    # the PV household: 10:00 - 13:45 today 15 x 0.2 kWh, yesterday 15 x 0.1 (of its 2.4)
    _checked(at.sidebar.selectbox(key="meter_live").set_value(BRUNNER).run())
    metrics = _metrics(at)
    assert metrics["Feed-in"] == ("3.0 kWh", "+1.5 kWh (+100%)")
    assert metrics["Feed-in credit"] == ("0.30 CHF", "+0.15 CHF (+100%)")
    assert metrics["Net cost"] == ("-0.30 CHF", "-0.15 CHF (-100%)")


def test_a_week_in_progress_compares_with_the_same_days_and_time(live_env) -> None:
    at = _choose(_run(), "week")
    assert at.date_input(key="period_anchor").value == date(2023, 2, 13)
    # Mon 13 - Thu 16 Feb 13:45: 3 x 96 x 0.1 + 11.0 = 39.8 kWh, high 3 x 52 x 0.1 + 5.4 =
    # 21.0, low 3 x 44 x 0.1 + 5.6 = 18.8; Mon 6 - Thu 9 Feb 13:45 at 0.04 a quarter hour:
    # (3 x 96 + 55) x 0.04 = 13.72 kWh, high 183 x 0.04 = 7.32, low 160 x 0.04 = 6.4
    assert _metrics(at) == {
        "Consumption": ("39.8 kWh", "+26.1 kWh (+190%)"),  # 26.08 / 13.72
        "Feed-in": ("0.0 kWh", ""),
        "Net cost": ("10.86 CHF", "+7.11 CHF (+189%)"),  # 10.856 against 3.7504
        "Import cost": ("10.86 CHF", "+7.11 CHF (+189%)"),
        "Feed-in credit": ("0.00 CHF", ""),
    }
    assert _comparison(at).startswith(
        "Changes against 6 – 9 Feb 2023 up to 13:45, the same span as this period so far."
    )


def test_a_finished_period_of_a_live_tenant_compares_whole_periods(live_env) -> None:
    at = _run()
    _checked(at.button(key="period_previous").click().run())
    # Wed 15 Feb against Tue 14 Feb: 96 x 0.1 kWh each
    assert at.subheader[0].value == "Household Aebi · Wed 15 Feb 2023"
    assert _metrics(at)["Consumption"] == ("9.6 kWh", "+0.0 kWh (+0%)")
    assert _comparison(at).startswith("Changes against the day before (14 Feb 2023).")

    _choose(at, "week")
    _checked(at.button(key="period_previous").click().run())
    # 6 - 12 Feb: 672 x 0.04 = 26.88 kWh; nothing in the week before it
    assert _metrics(at)["Consumption"] == ("26.9 kWh", "")
    assert _comparison(at).startswith("No readings in the 7 days before to compare with.")


def test_the_day_in_progress_is_not_reported_as_missing_readings(live_env) -> None:
    # today has all 55 quarter hours up to 13:45 and every earlier day all 96
    at = _run()
    assert at.date_input(key="period_anchor").value == TODAY
    assert not at.warning
    _choose(at, "week")  # Mon 13 - Sun 19 Feb, today included
    assert not at.warning
    _choose(at, "all")  # 6 - 16 Feb
    assert not at.warning


def test_a_gap_before_the_newest_reading_of_today_is_reported(
    live_env, warehouse_url, registry
) -> None:
    remove_live_readings(
        warehouse_url,
        registry.get("live"),
        AEBI,
        datetime(2023, 2, 16, 10, 0, tzinfo=ZONE),  # today, before the cut
        datetime(2023, 2, 14, 9, 0, tzinfo=ZONE),  # an earlier day
        datetime(2023, 2, 14, 9, 15, tzinfo=ZONE),
    )
    at = _run()
    # today 54 x 0.2 = 10.8 kWh against 55 x 0.1 yesterday up to 13:45
    assert _metrics(at)["Consumption"] == ("10.8 kWh", "+5.3 kWh (+96%)")
    assert [w.value for w in at.warning] == [
        "Incomplete data: 16 Feb 2023 so far (readings up to 13:45): 1 quarter hour without "
        "a reading. The figures cover the readings that arrived."
    ]
    _choose(at, "week")
    assert [w.value for w in at.warning] == [
        "Incomplete data: 1 day with missing readings (14 Feb 2023); 16 Feb 2023 so far "
        "(readings up to 13:45): 1 quarter hour without a reading. The figures cover the "
        "readings that arrived."
    ]
    _checked(at.button(key="period_previous").click().run())  # 6 - 12 Feb: complete
    assert not at.warning

    # the PV household's readings are all there
    _checked(at.sidebar.selectbox(key="meter_live").set_value(BRUNNER).run())
    _choose(at, "day", TODAY)
    assert not at.warning


# --- the same period a year earlier ---------------------------------------------------
#
# Fixture demo_a_year_on: HOUSE also imports 0.4 kWh every local hour of Tue 1 - Sun 27 Feb
# 2022 (19 weekdays: 247 high-tariff hours), none on Mon 28 Feb 2022.


def _year_earlier(at: AppTest) -> dict[str, str]:
    """The line below each headline figure, by the figure's label."""
    return {
        column.metric[0].label: column.caption[0].value
        for column in at.columns
        if column.metric and column.caption
    }


def test_a_month_in_progress_against_the_same_month_a_year_earlier(
    demo_a_year_on, deployed_env
) -> None:
    at = _run()
    # 1 Feb 2022 - 28 Feb 2023 is more than 62 days: the month of the newest complete day
    assert at.subheader[0].value == "Household consumption · February 2023"
    # February 2023 up to 28 Feb 12:00, as before: 318.0 kWh, 119.5 high (38.24 CHF), 198.5
    # low (43.67 CHF). February 2022 up to 28 Feb 12:00: 27 x 24 x 0.4 = 259.2 kWh, of it
    # 247 x 0.4 = 98.8 high (31.616 CHF) and 160.4 low (35.288 CHF)
    assert _metrics(at)["Consumption"] == ("318.0 kWh", "")  # nothing in January 2023
    assert _year_earlier(at) == {
        "Consumption": "A year earlier: 259.2 kWh · +58.8 kWh (+23%)",
        "Feed-in": "A year earlier: 0.0 kWh",
        "Net cost": "A year earlier: 66.90 CHF · +15.01 CHF (+22%)",
        "Import cost": "A year earlier: 66.90 CHF · +15.01 CHF (+22%)",
        "Feed-in credit": "A year earlier: 0.00 CHF",
    }
    assert _comparison(at).startswith(
        "No readings in 4 – 31 Jan 2023 up to 12:00 to compare with. Below each figure: the "
        "same month a year earlier (1 – 28 Feb 2022 up to 12:00). Tariff:"
    )


def test_a_day_and_weeks_against_a_year_earlier(demo_a_year_on, deployed_env) -> None:
    at = _choose(_run(), "day", date(2023, 2, 13))
    # Mon 13 Feb 2023: 24 kWh (13 high: 4.16 CHF, 11 low: 2.42 CHF); Sun 13 Feb 2022:
    # 24 x 0.4 = 9.6 kWh, all low tariff: 2.112 CHF
    assert _year_earlier(at) == {
        "Consumption": "A year earlier: 9.6 kWh · +14.4 kWh (+150%)",
        "Feed-in": "A year earlier: 0.0 kWh",
        "Net cost": "A year earlier: 2.11 CHF · +4.47 CHF (+212%)",  # 6.58 against 2.112
        "Import cost": "A year earlier: 2.11 CHF · +4.47 CHF (+212%)",
        "Feed-in credit": "A year earlier: 0.00 CHF",
    }
    assert _metrics(at)["Consumption"] == ("24.0 kWh", "+12.0 kWh (+100%)")  # the day before
    assert _comparison(at).startswith(
        "Changes against the day before (12 Feb 2023). Below each figure: the same day a year "
        "earlier (Sun 13 Feb 2022). Tariff:"
    )

    _choose(at, "week")
    # 13 - 19 Feb 2023: 168 kWh; 52 weeks before, Mon 14 - Sun 20 Feb 2022: 168 x 0.4
    assert _year_earlier(at)["Consumption"] == "A year earlier: 67.2 kWh · +100.8 kWh (+150%)"
    assert "Below each figure: the week 52 weeks before (14 – 20 Feb 2022)." in _comparison(at)
    _checked(at.button(key="period_previous").click().run())
    # 6 - 12 Feb 2023: 84 kWh; 7 - 13 Feb 2022: 67.2 kWh
    assert _year_earlier(at)["Consumption"] == "A year earlier: 67.2 kWh · +16.8 kWh (+25%)"
    _checked(at.button(key="period_previous").click().run())
    # 30 Jan - 5 Feb 2023; 52 weeks before, 31 Jan - 6 Feb 2022, starts before HOUSE's
    # history (1 Feb 2022): no comparison, although 1 - 6 Feb 2022 have readings
    assert _metrics(at)["Consumption"] == ("60.0 kWh", "")
    assert _year_earlier(at) == {}
    assert _comparison(at).startswith("No readings in the 7 days before to compare with. Tariff:")


def test_no_year_earlier_figures_without_readings_then(demo_a_year_on, deployed_env) -> None:
    at = _choose(_run(), "day", date(2023, 2, 28))
    # 28 Feb 2023 up to 12:00: 6.0 kWh; 28 Feb 2022 lies within HOUSE's history but has no
    # readings: no comparison rather than 0.0 kWh
    assert _metrics(at)["Consumption"][0] == "6.0 kWh"
    assert _year_earlier(at) == {}
    assert "a year earlier" not in _comparison(at)

    _choose(at, "custom")
    _checked(
        at.date_input(key="period_range").set_value((date(2023, 2, 13), date(2023, 2, 19))).run()
    )
    # Mon 13 - Sun 19 Feb 2023: 168 kWh; the same dates a year earlier, Sun 13 - Sat 19 Feb
    # 2022: 7 x 9.6 kWh
    assert _year_earlier(at)["Consumption"] == "A year earlier: 67.2 kWh · +100.8 kWh (+150%)"
    assert _comparison(at).startswith(
        "Changes against the 7 days before (6 – 12 Feb 2023). Below each figure: the same dates "
        "a year earlier (13 – 19 Feb 2022). Tariff:"
    )
    # the PV meter's history starts on 1 Feb 2023
    _checked(at.sidebar.selectbox(key="meter_demo").set_value(PV).run())
    assert _metrics(at)["Feed-in"] == ("10.5 kWh", "+0.0 kWh (+0%)")
    assert _year_earlier(at) == {}


def test_a_period_without_readings_says_so(deployed_env) -> None:
    at = _choose(_run(), "week", date(2023, 2, 22))
    assert [i.value for i in at.info] == [
        "No readings for Household consumption in 20 – 26 Feb 2023. Readings are available "
        "from 1 Feb 2023 to 28 Feb 2023."
    ]
    assert not at.metric
    assert "energy_chart" not in _charts(at)
    assert {"heatmap", "daily_profile"} <= set(_charts(at))  # the typical week still shows


# --- typical week, insights, freshness -------------------------------------------------


def test_typical_week_heatmap_is_monday_first_and_profile_weighted(deployed_env) -> None:
    charts = _charts(_run())
    heat = charts["heatmap"]["data"][0]
    assert heat["y"] == ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
    assert charts["heatmap"]["layout"]["yaxis"]["autorange"] == "reversed"
    z = _values(heat["z"])
    assert (z[0][5], z[6][23]) == (105.0, 723.0)  # 100 x weekday + hour
    weekdays, weekends = charts["daily_profile"]["data"]
    # hour 0: (100x4 + 200x3 + 300x3 + 400x3 + 500x3) / 16 and (600x3 + 700x4) / 7
    assert _values(weekdays["y"])[0] == pytest.approx(287.5)
    assert _values(weekends["y"])[0] == pytest.approx(4600 / 7)


def test_insights_are_listed_most_important_first(deployed_env) -> None:
    at = _run()
    insight_text = next(m.value for m in at.markdown if m.value.startswith("1. "))
    assert insight_text == (
        "1. :orange[:material/warning:] 52% of your consumption is in the high tariff.\n"
        "2. :green[:material/lightbulb:] Your standby use is 0.50 kWh per hour, 12.0 kWh a day.\n"
        "3. :blue[:material/info:] You used 100% more in the week of 13 Feb than before."
    )


def test_freshness_shows_newest_reading_and_last_update_in_local_time(deployed_env) -> None:
    at = _run()
    assert at.sidebar.caption[0].value == (
        "Newest reading: 28 Feb 2023, 11:45 CET  \nLast pipeline update: 1 Mar 2023, 07:00 CET"
    )


def test_feed_in_meter_shows_feed_in_and_credit(deployed_env) -> None:
    at = _run()
    _checked(at.sidebar.selectbox(key="meter_demo").set_value(PV).run())
    _choose(at, "week", date(2023, 2, 13))
    # 6 h x 0.25 kWh a day, credited at 0.10 CHF/kWh
    metrics = _metrics(at)
    assert metrics["Feed-in"] == ("10.5 kWh", "+0.0 kWh (+0%)")
    assert metrics["Feed-in credit"] == ("1.05 CHF", "+0.00 CHF (+0%)")
    assert metrics["Net cost"][0] == "-1.05 CHF"
    energy = _charts(at)["energy_chart"]
    assert [t["name"] for t in energy["data"]] == ["Feed-in", "High tariff"]
    assert _values(_charts(at)["heatmap"]["data"][0]["z"])[0][10] == 0.25  # export profile


def test_meter_without_profile_or_insights(deployed_env) -> None:
    at = _run()
    _checked(at.sidebar.selectbox(key="meter_demo").set_value(SPARE).run())
    captions = [c.value for c in at.caption]
    assert "No weekly pattern yet: it needs a few days of readings." in captions
    assert "No insights for this meter yet." in captions


# --- error states ----------------------------------------------------------------------


def test_database_down_is_a_message(deployed_env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "EXNATON_DASHBOARD_DATABASE_URL",
        f"postgresql+psycopg2://tenant_demo_reader:x@127.0.0.1:{free_port()}/exnaton",
    )
    at = _run()
    assert [e.value for e in at.error] == [
        "The database cannot be reached right now, so no figures can be shown. "
        "Please try again in a few minutes."
    ]
    assert not at.metric


def test_unknown_tenant_is_a_message(deployed_env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXNATON_DASHBOARD_TENANT", "atlantis")
    at = _run(signed_in=False)
    assert [e.value for e in at.error] == [
        "This dashboard is set up for tenant 'atlantis', which is not in the tenant registry. "
        "Please contact support."
    ]
    assert not at.text_input  # no sign-in form for a dashboard that cannot work


def test_another_tenants_role_is_refused(deployed_env, demo_db, monkeypatch) -> None:
    set_up_tenant(demo_db.url, "tenant_alpine")
    monkeypatch.setenv(
        "EXNATON_DASHBOARD_DATABASE_URL", roles.reader_url(demo_db.url, "tenant_alpine")
    )
    at = _run()
    assert [e.value for e in at.error] == [
        "The dashboard's database account may not read this tenant's data. The operator must "
        "give it the tenant's reader role (see EXNATON_DASHBOARD_DATABASE_URL)."
    ]


def test_missing_users_file_is_a_message(deployed_env, monkeypatch) -> None:
    monkeypatch.delenv("EXNATON_DASHBOARD_USERS_FILE")
    at = _run(signed_in=False)
    assert at.error[0].value.startswith(
        "Sign-in is not set up: EXNATON_DASHBOARD_USERS_FILE names no users file"
    )


# --- local demo ------------------------------------------------------------------------


def test_local_demo_has_a_tenant_picker_and_no_sign_in(demo_db, registry, monkeypatch) -> None:
    monkeypatch.setenv("EXNATON_DASHBOARD_AUTH", "none")
    monkeypatch.delenv("EXNATON_DASHBOARD_TENANT", raising=False)
    at = _run(signed_in=False)
    picker = at.sidebar.selectbox(key="tenant")
    # every tenant of the test registry, by name, in registry order
    assert picker.options == [tenant.name for tenant in registry.tenants]
    assert picker.options[:3] == ["Demo Energy (real sample)", "Alpine Community", "New York Co-op"]
    assert [t.key for t in at.text_input] == ["meter_search_demo"]  # no sign-in form
    assert _metrics(at)["Consumption"][0] == "318.0 kWh"

    _checked(picker.set_value("alpine").run())  # no tables for this tenant yet
    assert [e.value for e in at.error] == [
        "This tenant's data has not been published yet: the pipeline has not built its "
        "tables. Please check again after the next update."
    ]


def test_local_demo_tenant_with_schema_but_no_rows(demo_db, registry, monkeypatch) -> None:
    set_up_tenant(demo_db.url, registry.get("nyc-coop"))
    monkeypatch.setenv("EXNATON_DASHBOARD_AUTH", "none")
    monkeypatch.setenv("EXNATON_DASHBOARD_TENANT", "nyc-coop")
    at = _run(signed_in=False)
    assert [i.value for i in at.info] == [
        "There is no meter data for New York Co-op yet. Figures appear after the pipeline's "
        "next update."
    ]


# --- the real sample through the real pipeline ------------------------------------------

# The local days the sample's 15-minute readings (2023-02-01 00:00 - 02-28 23:45 UTC) fall in.
WHOLE_FILE = Period("all", date(2023, 2, 1), date(2023, 3, 1))


def test_real_sample_shows_the_independently_verified_figures(real_sample_reader, registry):
    """Verified in the issue for the whole file: the import meter (HOUSE, 95ce3367) 97.6082
    kWh, of it 35.9763 high and 61.6319 low tariff, costing 25.0714 CHF; the export meter
    (PV, 1db7649e) fed in 36.19725 kWh. Read as tenant demo's read-only role."""
    tenant, url = registry.get("demo"), real_sample_reader
    meters = data.load_catalogue(url, tenant.schema).meters
    assert list(meters["muid"]) == [PV, HOUSE]
    assert {(m.first_day, m.last_day) for m in meters.itertuples()} == {
        (WHOLE_FILE.start, WHOLE_FILE.end)
    }

    daily = data.load_daily(url, tenant.schema, HOUSE, WHOLE_FILE.start, WHOLE_FILE.end)
    house = summaries.totals(daily, WHOLE_FILE)
    assert house.consumption == pytest.approx(97.6082, abs=5e-5)
    assert daily["ht_kwh"].sum() == pytest.approx(35.9763, abs=5e-5)
    assert daily["nt_kwh"].sum() == pytest.approx(61.6319, abs=5e-5)
    assert daily["cost"].sum() == pytest.approx(25.0714, abs=5e-5)
    assert house.net_cost == pytest.approx(25.0714, abs=5e-5)
    assert house.feed_in == 0
    start, end = WHOLE_FILE.utc_bounds(tenant.zone)
    hourly = data.load_hourly(url, tenant.schema, HOUSE, start, end)
    assert hourly["import_kwh"].sum() == pytest.approx(97.6082, abs=5e-5)
    assert hourly["ht_kwh"].sum() == pytest.approx(35.9763, abs=5e-5)
    assert hourly["cost"].sum() == pytest.approx(25.0714, abs=5e-5)
    quarters = data.load_quarter_hours(url, tenant.schema, HOUSE, start, end)
    assert (len(quarters), quarters["import_kwh"].sum()) == (2688, pytest.approx(97.6082))

    pv_daily = data.load_daily(url, tenant.schema, PV, WHOLE_FILE.start, WHOLE_FILE.end)
    pv = summaries.totals(pv_daily, WHOLE_FILE)
    assert pv.feed_in == pytest.approx(36.19725, abs=1e-9)
    assert pv.feed_in_credit == pytest.approx(3.619725, abs=1e-9)  # at 0.10 CHF/kWh
    assert (pv.consumption, pv.import_cost) == (0, 0)
    quarters = data.load_quarter_hours(url, tenant.schema, PV, start, end)
    assert (len(quarters), quarters["export_kwh"].sum()) == (2688, pytest.approx(36.19725))

    # the same figures as the customer sees them: the dashboard opens on the whole file
    at = _run()
    assert at.sidebar.selectbox(key="meter_demo").value == HOUSE
    assert at.radio(key="period_kind").value == "all"
    assert at.date_input(key="period_range").value == (WHOLE_FILE.start, WHOLE_FILE.end)
    assert at.subheader[0].value == "Household consumption · 1 Feb – 1 Mar 2023 (all data)"
    assert _metrics(at) == {
        "Consumption": ("97.6 kWh", ""),
        "Feed-in": ("0.0 kWh", ""),
        "Net cost": ("25.07 CHF", ""),  # all data: nothing before it to compare with
        "Import cost": ("25.07 CHF", ""),  # 35.9763 x 0.32 + 61.6319 x 0.22
        "Feed-in credit": ("0.00 CHF", ""),
    }
    # the file starts at 01:00 local on 1 Feb and ends at 00:45 local on 1 Mar: demo is a
    # historical tenant, so its last partial day is over and its missing readings are missing
    assert [w.value for w in at.warning] == [
        "Incomplete data: 2 days with missing readings (1 Feb 2023, 1 Mar 2023). "
        "The figures cover the readings that arrived."
    ]
    energy = _charts(at)["energy_chart"]
    assert _values(energy["data"][0]["y"]).sum() == pytest.approx(97.6082, abs=5e-5)

    _checked(at.sidebar.selectbox(key="meter_demo").set_value(PV).run())
    metrics = _metrics(at)
    assert metrics["Feed-in"] == ("36.2 kWh", "")
    assert metrics["Feed-in credit"] == ("3.62 CHF", "")
    assert metrics["Net cost"] == ("-3.62 CHF", "")

    # a month from there is February (the newest complete day's), not March's four readings
    _choose(at, "month")
    assert at.date_input(key="period_anchor").value == date(2023, 2, 1)
    assert at.subheader[0].value == "PV feed-in · February 2023"
