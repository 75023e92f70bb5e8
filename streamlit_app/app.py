"""The customer dashboard of one tenant: `streamlit run streamlit_app/app.py`.

Deployed (default): pinned to EXNATON_DASHBOARD_TENANT, connected as that tenant's read-only
role (EXNATON_DASHBOARD_DATABASE_URL), sign-in against EXNATON_DASHBOARD_USERS_FILE.
Local demo (EXNATON_DASHBOARD_AUTH=none): no sign-in, a tenant picker, and the warehouse URL
(EXNATON_DATABASE_URL, else the embedded server). Either way a page reads one tenant schema,
and only finished tables: aggregates, profile, insights, and 15-minute readings for short
ranges. Failures end in a message for the customer, never a stack trace.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta

import pandas as pd
import streamlit as st

from exnaton_pipeline.lib import settings
from exnaton_pipeline.lib.tenants import Registry, RegistryError, Tenant, load_registry
from exnaton_pipeline.lib.warehouse import database
from streamlit_app import auth, charts, community, data, periods, summaries, throttle
from streamlit_app.periods import Period

log = logging.getLogger("streamlit_app")

# Cached per argument set for as long as the pipeline's refresh interval.
_cached = st.cache_data(ttl=data.REFRESH, show_spinner=False)
_catalogue = _cached(data.load_catalogue)
_daily = _cached(data.load_daily)
_hourly = _cached(data.load_hourly)
_quarter_hours = _cached(data.load_quarter_hours)
_span = _cached(data.load_span)
_profile = _cached(data.load_profile)
_insights = _cached(data.load_insights)
_self_use = _cached(data.load_self_use)
_community_energy = _cached(data.load_community_energy)
_meter_totals = _cached(data.load_meter_totals)
_newest = _cached(data.load_newest)
_community_newest = _cached(data.load_community_newest)

# The meter picker lists at most this many matches of the search: a tenant of 10,000 meters
# is found by name or id, not scrolled through.
PICKER_LIMIT = 50
VIEWS = {"meter": "A meter or installation", "community": "The whole community"}

# Streamlit's bundled Material icons: they render without emoji fonts on the client.
SEVERITY_ICONS = {
    "warning": ":orange[:material/warning:]",
    "tip": ":green[:material/lightbulb:]",
    "info": ":blue[:material/info:]",
}


class ConfigError(Exception):
    """The deployment is not set up correctly; the message says what to set."""


@st.cache_resource(ttl=data.REFRESH, show_spinner=False)
def _registry(path: str) -> Registry:
    return load_registry(path)


def _log_to_console() -> None:
    """Let the app's own log lines (sign-in attempts, page failures) reach the console next to
    Streamlit's, which keeps its handlers to its own loggers; once per process."""
    logger = logging.getLogger("streamlit_app")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


def main() -> None:
    _log_to_console()
    st.set_page_config(page_title="My electricity", page_icon="⚡", layout="wide")
    try:
        _page()
    except (ConfigError, data.DataError) as exc:
        st.error(str(exc))
    except Exception:
        log.exception("dashboard page failed")
        st.error(
            "Something went wrong while preparing this page. Please reload it; if the problem "
            "stays, contact support."
        )


def _page() -> None:
    mode = settings.dashboard_auth()
    if mode not in ("password", "none"):
        raise ConfigError(
            f"EXNATON_DASHBOARD_AUTH is {mode!r}: use 'password' (sign-in, the default) or "
            f"'none' (local demo)."
        )
    try:
        registry = _registry(str(settings.tenants_file()))
    except RegistryError as exc:
        raise ConfigError(f"The tenant registry cannot be read: {exc}") from None
    if mode == "none":
        tenant = _tenant_picker(registry)
        try:
            url = database.tenant_warehouse_url(tenant)  # the server holding its schema
        except database.WarehouseNotConfigured as exc:
            raise ConfigError(str(exc)) from None
    else:
        tenant, url, users = _pinned_deployment(registry)
        if not _signed_in(users, tenant):
            return
    _dashboard(tenant, url)


def _pinned_deployment(registry: Registry) -> tuple[Tenant, str, dict[str, auth.User]]:
    tenant_id = settings.dashboard_tenant()
    if not tenant_id:
        raise ConfigError("This dashboard is not set up: EXNATON_DASHBOARD_TENANT is not set.")
    try:
        tenant = registry.get(tenant_id)
    except RegistryError:
        raise ConfigError(
            f"This dashboard is set up for tenant {tenant_id!r}, which is not in the tenant "
            f"registry. Please contact support."
        ) from None
    url = settings.dashboard_database_url()
    if not url:
        raise ConfigError(
            "This dashboard is not set up: EXNATON_DASHBOARD_DATABASE_URL (the tenant's "
            "reader role) is not set."
        )
    users_file = settings.dashboard_users_file()
    if users_file is None:
        raise ConfigError(
            "Sign-in is not set up: EXNATON_DASHBOARD_USERS_FILE names no users file "
            "(EXNATON_DASHBOARD_AUTH=none runs the local demo without sign-in)."
        )
    try:
        users = auth.load_users(users_file)
    except auth.UsersFileError as exc:
        raise ConfigError(f"Sign-in is not set up: {exc}") from None
    return tenant, url, users


def _tenant_picker(registry: Registry) -> Tenant:
    if not registry.tenants:
        raise ConfigError("The tenant registry lists no tenants.")
    ids = registry.ids
    preferred = settings.dashboard_tenant()
    with st.sidebar:
        tenant_id = st.selectbox(
            "Tenant",
            ids,
            index=ids.index(preferred) if preferred in ids else 0,
            format_func=lambda t: registry.get(t).name,
            key="tenant",
        )
        st.caption("Local demo: no sign-in, every tenant of the registry.")
    return registry.get(tenant_id)


# --- sign-in ---------------------------------------------------------------------------


def _signed_in(users: dict[str, auth.User], tenant: Tenant) -> bool:
    username = st.session_state.get("user")
    if username in users:
        with st.sidebar:
            st.write(f"Signed in as **{summaries.plain_markdown(users[username].name)}**")
            st.button("Sign out", key="sign_out", on_click=_sign_out)
        return True
    st.title(tenant.name)
    st.subheader("Sign in")
    with st.form("sign_in"):
        st.text_input("User name", key="sign_in_user")
        st.text_input("Password", type="password", key="sign_in_password")
        st.form_submit_button("Sign in", on_click=_sign_in, args=(users,))
    message = st.session_state.get("sign_in_message")
    if message:
        st.error(message)
    return False


def _sign_in(users: dict[str, auth.User]) -> None:
    state = st.session_state
    attempt = auth.sign_in(
        users,
        throttle.SHARED,
        state.get("sign_in_user", ""),
        state.get("sign_in_password", ""),
        _client_address(),
    )
    state["sign_in_message"] = attempt.message()
    if attempt.user is not None:
        state["user"] = attempt.user.username


def _client_address() -> str | None:
    """The browser's address as the server sees it (behind a proxy: the one it forwards in
    X-Forwarded-For, when the server trusts that proxy; see docs/dashboard.md); None when
    unknown, e.g. a loopback connection."""
    address = st.context.ip_address
    # AppTest's mocked runtime answers with a mock object rather than an address
    return address if isinstance(address, str) and address else None


def _sign_out() -> None:
    st.session_state.clear()


# --- the dashboard ---------------------------------------------------------------------


def _dashboard(tenant: Tenant, url: str) -> None:
    catalogue = _catalogue(url, tenant.schema)
    meters = catalogue.meters
    st.title(tenant.name)
    if meters.empty:
        st.info(
            f"There is no meter data for {tenant.name} yet. Figures appear after the "
            f"pipeline's next update."
        )
        return
    options = summaries.choices(tenant, meters)
    with st.sidebar:
        view = st.radio("Show", list(VIEWS), format_func=VIEWS.get, key="view")
    if view == "community":
        _community_view(url, tenant, catalogue, options)
        return
    choice = options[_meter_picker(tenant, options)]
    newest = _newest(url, tenant.schema, choice.muids)
    _freshness(catalogue, newest, tenant)
    period = _period_controls(tenant, choice.first_day, choice.last_day, choice.last_complete_day)
    _meter_view(url, tenant, choice, period, newest)


def _meter_picker(tenant: Tenant, options: dict[str, summaries.Choice]) -> str:
    """The chosen meter's or installation's key: a search box narrows the list to at most
    PICKER_LIMIT matches (the selectbox also filters as one types)."""
    key = f"meter_{tenant.id}"
    current = st.session_state.get(key, next(iter(options)))
    with st.sidebar:
        text = st.text_input(
            "Find a meter", key=f"meter_search_{tenant.id}", placeholder="name or id"
        )
        shown = summaries.search(options, text, current, PICKER_LIMIT)
        if current not in options:
            st.session_state[key] = shown[0]
        chosen = st.selectbox("Meter", shown, format_func=lambda k: options[k].name, key=key)
        matches = len(summaries.search(options, text, "", len(options)))
        if matches > PICKER_LIMIT:
            st.caption(f"{PICKER_LIMIT} of {matches:,} shown: type a name or id to narrow.")
        elif text and not matches:
            st.caption(f"No meter or installation matches {text!r}.")
    return chosen


def _meter_view(
    url: str, tenant: Tenant, choice: summaries.Choice, period: Period, newest: datetime | None
) -> None:
    meters, name = choice.muids, choice.name
    previous = period.previous()
    daily = _daily(url, tenant.schema, meters, (previous or period).start, period.end)
    current = summaries.totals(daily, period)
    st.subheader(f"{name} · {period.label()}")
    if current is None:
        st.info(
            f"No readings for {name} in {period.label()}. Readings are available "
            f"from {choice.first_day:%-d %b %Y} to {choice.last_day:%-d %b %Y}."
        )
    else:
        so_far = _day_so_far(url, tenant, meters, period, newest)
        notice = summaries.completeness(
            daily, period, choice.first_day, choice.last_day, so_far
        ).notice()
        if notice:
            st.warning(notice)
        progress = periods.in_progress(period, newest, tenant.zone)
        if progress is None:
            before = summaries.totals(daily, previous) if previous else None
            spans = (
                period.utc_bounds(tenant.zone),
                previous.utc_bounds(tenant.zone) if previous else None,
            )
        else:  # like with like: both periods up to the same point
            # None only while the pipeline has not yet aggregated the span: keep the daily sum
            current = _span_totals(url, tenant, meters, progress.span) or current
            before = _span_totals(url, tenant, meters, progress.previous_span)
            spans = tuple(_utc(span) for span in (progress.span, progress.previous_span))
        year_ago = _year_earlier(url, tenant, meters, period, progress, choice.first_day)
        self_use = None
        if choice.has_both_registers:
            self_use = tuple(
                _self_use(url, tenant.schema, meters, *span) if span else None for span in spans
            )
        _headline(current, before, period, progress, year_ago, tenant, self_use)
        _energy_over_time(url, tenant, choice, period, daily)
    _typical_week(url, tenant, meters, choice.registers)
    _insight_list(url, tenant, meters)


def _community_view(
    url: str, tenant: Tenant, catalogue: data.Catalogue, options: dict[str, summaries.Choice]
) -> None:
    """The tenant as one community: totals against the previous period, the share of its
    consumption covered by members' feed-in, the energy over time, how consumption is spread
    over the meters, the largest consumers and producers, and meters with missing data."""
    meters = catalogue.meters
    first, last = meters["first_day"].min(), meters["last_day"].max()
    complete = meters["last_complete_day"].dropna()
    newest = _community_newest(url, tenant.schema)
    _freshness(catalogue, newest, tenant)
    period = _period_controls(tenant, first, last, complete.max() if len(complete) else None)
    previous = period.previous()
    st.subheader(f"All meters · {period.label()}")
    progress = periods.in_progress(period, newest, tenant.zone)
    if progress is None:
        spans = [
            period.utc_bounds(tenant.zone),
            previous.utc_bounds(tenant.zone) if previous else None,
        ]
    else:  # like with like, as for a meter
        spans = [_utc(progress.span), _utc(progress.previous_span)]
    # a live tenant's day in progress is not over: its missing quarter hours are not missing
    # yet (a historical tenant's last partial day is over, as in the meter view)
    open_day = period.end + timedelta(days=1)
    if progress is not None and tenant.live:
        open_day = progress.span[1].date()
    per_meter = _meter_totals(url, tenant.schema, period.start, period.end, open_day)
    now, before = (
        community.totals(_community_energy(url, tenant.schema, *span, "day"), len(per_meter))
        if span
        else None
        for span in spans
    )
    if now is None:
        st.info(f"No readings in {period.label()}.")
        return
    figures = [  # label, value, previous value, unit, colour of a rise
        ("Consumption", now.consumption, before and before.consumption, "kWh", "inverse"),
        ("Feed-in", now.feed_in, before and before.feed_in, "kWh", "normal"),
        # counted over this period's daily rows only: no comparison
        ("Meters with readings", now.meters, None, "meters", "off"),
    ]
    columns = st.columns(4)
    for column, (label, value, old, unit, colour) in zip(columns, figures, strict=False):
        decimals = 1 if unit == "kWh" else 0
        delta = summaries.change_text(value, old, unit, decimals)
        column.metric(label, f"{value:,.{decimals}f} {unit}", delta, delta_color=colour)
    coverage = now.coverage
    old = before.coverage if before else None
    columns[3].metric(
        "Covered by members' feed-in",
        "–" if coverage is None else f"{coverage:.1%}",
        None if coverage is None or old is None else f"{(coverage - old) * 100:+.1f} pp",
    )
    st.caption(
        f"Covered by members' feed-in: the share of the community's consumption that members "
        f"fed in during the same quarter hour ({now.shared:,.1f} of {now.consumption:,.1f} "
        f"kWh). " + ("" if previous else "All data: there is no earlier period to compare with.")
    )
    names = {key: choice.name for key, choice in options.items()}
    _community_over_time(url, tenant, period)
    st.markdown("#### Consumption across meters")
    left, right = st.columns(2)
    consumers = per_meter["import_kwh"][per_meter["import_kwh"] > 0]
    left.markdown(f"**{len(consumers):,} meters that drew energy, by consumption**")
    left.plotly_chart(charts.distribution(consumers), width="stretch", key="distribution")
    right.markdown("**Largest consumers**")
    right.dataframe(community.ranking(per_meter, names, "import_kwh", 10), hide_index=True)
    right.markdown("**Largest producers**")
    right.dataframe(community.ranking(per_meter, names, "export_kwh", 10), hide_index=True)
    gaps = community.missing_data(per_meter, meters, names, period.start, period.end)
    st.markdown("#### Meters with missing data")
    if gaps.empty:
        st.caption("Every meter has all its readings in this period.")
    else:
        st.caption(f"{len(gaps):,} meters lack readings in this period; most days first.")
        st.dataframe(gaps.head(100), hide_index=True)


def _community_over_time(url: str, tenant: Tenant, period: Period) -> None:
    st.markdown("#### Consumption and feed-in over time")
    resolution = _resolution(period)
    frame = _community_energy(url, tenant.schema, *period.utc_bounds(tenant.zone), resolution)
    if resolution != "day":
        frame["start"] = frame["start"].dt.tz_convert(tenant.timezone).dt.tz_localize(None)
    series = {"import_kwh": "Consumption", "export_kwh": "Feed-in"}
    st.plotly_chart(
        charts.energy_over_time(frame, resolution, series, []), width="stretch", key="energy_chart"
    )


def _utc(span: tuple[datetime, datetime]) -> tuple[datetime, datetime]:
    start, end = span
    return start.astimezone(UTC), end.astimezone(UTC)


def _day_so_far(
    url: str, tenant: Tenant, meters: tuple[str, ...], period: Period, newest: datetime | None
) -> summaries.DaySoFar | None:
    """The day in progress, when `period` holds it, judged by its quarter hours up to the
    newest reading (read for exactly that span, not taken from its daily row, which may be
    cached from a few minutes before or after that reading). Only a live tenant has one: a
    historical tenant's last partial day is over, and its missing readings are missing."""
    if not tenant.live:
        return None
    span = periods.day_in_progress(newest, tenant.zone)
    if span is None or not period.contains(span[0].date()):
        return None
    return summaries.day_so_far(span, _quarter_hours(url, tenant.schema, meters, *_utc(span)))


def _year_earlier(
    url: str,
    tenant: Tenant,
    meters: tuple[str, ...],
    period: Period,
    progress: periods.Progress | None,
    first: date,
) -> tuple[str, summaries.Totals] | None:
    """The same period a year earlier, up to the same point while this one is in progress:
    what it is ('the same month a year earlier (February 2022)') and its figures. None when
    the meter's history starts after its first day or it has no readings: no comparison
    rather than one with a partial or an empty period."""
    earlier = period.year_earlier()
    if earlier is None or earlier.start < first:
        return None
    if progress is None:
        daily = _daily(url, tenant.schema, meters, earlier.start, earlier.end)
        label, totals = earlier.label(), summaries.totals(daily, earlier)
    else:
        label = periods.span_label(earlier.start, progress.year_earlier_span[1])
        totals = _span_totals(url, tenant, meters, progress.year_earlier_span)
    if totals is None:
        return None
    return f"{periods.YEAR_EARLIER_NAMES[period.kind]} ({label})", totals


def _span_totals(
    url: str, tenant: Tenant, meters: tuple[str, ...], span: tuple[datetime, datetime]
) -> summaries.Totals | None:
    """The figures of the meter (or installation) for the local instants [start, end): its
    whole local hours, and the quarter hours of a last, partial hour priced by their tariff
    slots as the pipeline prices the hours."""
    hourly, quarters = _span(url, tenant.schema, meters, span)
    parts = [hourly]
    if quarters is not None:
        parts.append(summaries.priced_quarter_hours(quarters, tenant.tariff, tenant.zone))
    return summaries.sum_totals(parts)


def _freshness(catalogue: data.Catalogue, newest: datetime | None, tenant: Tenant) -> None:
    with st.sidebar:
        st.caption(
            f"Newest reading: {_when(newest, tenant)}  \n"
            f"Last pipeline update: {_when(catalogue.last_update, tenant)}"
        )


def _when(moment: datetime | pd.Timestamp | None, tenant: Tenant) -> str:
    if moment is None or pd.isna(moment):
        return "none yet"
    return pd.Timestamp(moment).tz_convert(tenant.timezone).strftime("%-d %b %Y, %H:%M %Z")


# --- period ----------------------------------------------------------------------------


def _period_controls(tenant: Tenant, first: date, last: date, last_complete: date | None) -> Period:
    """Kind, date (or range) and previous/next, bounded by the meter's days with data.

    The chosen period lives in session state under "period"; widgets forget their values
    while hidden, so they are filled from it when shown again or moved by a button.
    """
    state = st.session_state
    stored = state.get("period")
    if stored is None or not periods.overlaps(stored, first, last):
        stored = periods.default_period(first, last, last_complete, tenant.live)
    elif stored.kind == periods.ALL:  # follows the meter chosen and its newest data
        stored = periods.all_data(first, last)
    if stored != state.get("period"):
        _set_period(stored)
    sync = state.pop("period_sync", False)
    anchor = periods.clamp(stored.start, first, last)
    widget_values = {
        "period_kind": stored.kind,
        "period_anchor": anchor,
        "period_range": (anchor, periods.clamp(stored.end, first, last)),
    }
    for key, value in widget_values.items():
        if sync or key not in state:
            state[key] = value
    columns = st.columns([3, 2, 1, 1], vertical_alignment="bottom")
    kind_col, date_col, back_col, forward_col = columns
    kind_col.radio(
        "Period",
        periods.KINDS,
        format_func=periods.KIND_LABELS.get,
        horizontal=True,
        key="period_kind",
        on_change=_on_kind,
        args=(first, last, last_complete),
    )
    if stored.kind in ("custom", periods.ALL):
        date_col.date_input(
            "From – to",
            min_value=first,
            max_value=last,
            format="YYYY-MM-DD",
            key="period_range",
            on_change=_on_range,
            disabled=stored.kind == periods.ALL,  # the range is the data's
        )
    else:
        date_col.date_input(
            "Date",
            min_value=first,
            max_value=last,
            format="YYYY-MM-DD",
            key="period_anchor",
            on_change=_on_anchor,
        )
    back_col.button(
        "◀ Previous",
        key="period_previous",
        disabled=stored.start <= first,
        on_click=_shift,
        args=(-1,),
        width="stretch",
    )
    forward_col.button(
        "Next ▶",
        key="period_next",
        disabled=stored.end >= last,
        on_click=_shift,
        args=(1,),
        width="stretch",
    )
    return state["period"]


def _set_period(period: Period) -> None:
    st.session_state["period"] = period
    st.session_state["period_sync"] = True


def _on_kind(first: date, last: date, last_complete: date | None) -> None:
    state = st.session_state
    _set_period(
        periods.switch_kind(state["period"], state["period_kind"], first, last, last_complete)
    )


def _on_anchor() -> None:
    state = st.session_state
    _set_period(periods.period_of(state["period"].kind, state["period_anchor"]))


def _shift(step: int) -> None:
    _set_period(periods.shift(st.session_state["period"], step))


def _on_range() -> None:
    chosen = st.session_state["period_range"]
    if len(chosen) == 2:  # one date means the customer is still picking the end
        _set_period(Period("custom", chosen[0], chosen[1]))


# --- figures ---------------------------------------------------------------------------


def _headline(
    current: summaries.Totals,
    before: summaries.Totals | None,
    period: Period,
    progress: periods.Progress | None,
    year_ago: tuple[str, summaries.Totals] | None,
    tenant: Tenant,
    self_use: tuple[data.SelfUse | None, data.SelfUse | None] | None = None,
) -> None:
    """The period's figures, each with its change against the previous period (the metric's
    delta) and, where the history reaches back, the same period a year earlier below it. A
    site with import and export (`self_use` given: this period's and the previous one's)
    shows its net grid exchange and self-use instead of the import cost."""
    currency = tenant.tariff.currency
    previous = period.previous()
    figures = summaries.METER_FIGURES if self_use is None else summaries.SITE_FIGURES
    # a site: five figures and two shares, in a row of four and one of three
    columns = (
        [*st.columns(3), *st.columns(3)] if self_use is None else [*st.columns(4), *st.columns(3)]
    )
    for column, (label, attribute, unit, colour) in zip(columns, figures, strict=False):
        unit = currency if unit == "money" else unit
        decimals = 1 if unit == "kWh" else 2
        value = getattr(current, attribute)
        old = getattr(before, attribute) if before else None
        delta = summaries.change_text(value, old, unit, decimals)
        column.metric(label, f"{value:,.{decimals}f} {unit}", delta, delta_color=colour)
        if year_ago is not None:
            then = getattr(year_ago[1], attribute)
            change = summaries.change_text(value, then, unit, decimals)
            column.caption(
                f"A year earlier: {then:,.{decimals}f} {unit}" + (f" · {change}" if change else "")
            )
    if self_use is not None:
        shares = columns[len(figures) :]
        for column, (label, attribute) in zip(shares, summaries.SELF_USE_FIGURES, strict=True):
            value, delta = summaries.share_figure(*self_use, attribute)
            column.metric(label, value, delta)
    if previous is None:
        comparison = "All data: there is no earlier period to compare with."
    elif progress is not None:
        span = periods.span_label(previous.start, progress.previous_span[1])
        if before is None:
            comparison = f"No readings in {span} to compare with."
        else:
            comparison = f"Changes against {span}, the same span as this period so far."
    else:
        before_text = "day before" if previous.days == 1 else f"{previous.days} days before"
        if before is None:
            comparison = f"No readings in the {before_text} to compare with."
        else:
            comparison = f"Changes against the {before_text} ({previous.label()})."
    if year_ago is not None:
        comparison += f" Below each figure: {year_ago[0]}."
    caption = f"{comparison} {summaries.tariff_text(tenant.tariff, period.start, period.end)}"
    if current.consumption > 0:
        share = current.high_tariff_kwh / current.consumption
        caption += (
            f" {current.high_tariff_kwh:,.1f} kWh of the consumption ({share:.0%}) in the high "
            f"tariff."
        )
    st.caption(f"{caption} Net cost = import cost − feed-in credit.")
    if self_use is not None:
        st.caption(
            "Net grid exchange = consumption − feed-in. Self-consumption and "
            "self-sufficiency: the energy drawn from the grid in the same quarter hours in "
            "which energy was fed in, as a share of the feed-in and of the consumption — what "
            "using your own energy at those times would have kept on site (grid meters do not "
            "see what is used before it reaches them)."
        )


def _resolution(period: Period) -> str:
    options = ["auto", *periods.resolutions_for(period)]
    auto = periods.auto_resolution(period)
    if st.session_state.get("resolution") not in options:
        st.session_state["resolution"] = "auto"

    def label(option: str) -> str:
        if option == "auto":
            return f"Auto ({periods.RESOLUTIONS[auto][0].lower()})"
        return periods.RESOLUTIONS[option][0]

    choice = st.radio("Resolution", options, format_func=label, horizontal=True, key="resolution")
    return auto if choice == "auto" else choice


def _energy_over_time(
    url: str,
    tenant: Tenant,
    choice: summaries.Choice,
    period: Period,
    daily: pd.DataFrame,
) -> None:
    st.markdown("#### Consumption and feed-in over time")
    resolution = _resolution(period)
    start, end = period.utc_bounds(tenant.zone)
    if resolution == "day":
        frame = daily[[period.contains(d) for d in daily["day"]]].rename(columns={"day": "start"})
    else:
        load, column = {
            "15min": (_quarter_hours, "ts"),
            "hour": (_hourly, "hour_start"),
        }[resolution]
        frame = load(url, tenant.schema, choice.muids, start, end)
        frame = frame.rename(columns={column: "start"})
        frame["start"] = frame["start"].dt.tz_convert(tenant.timezone)
    if frame.empty:
        st.info("No readings at this resolution in the period; try another resolution.")
        return
    series = {
        column: name
        for column, register, name in (
            ("import_kwh", data.IMPORT, "Consumption"),
            ("export_kwh", data.EXPORT, "Feed-in"),
        )
        if register in choice.registers or not choice.registers
    }
    x = frame["start"] if resolution == "day" else frame["start"].dt.tz_localize(None)
    windows = (
        summaries.high_band_windows(tenant.tariff, period.start, period.end)
        if resolution != "day"
        else []
    )
    st.plotly_chart(
        charts.energy_over_time(frame.assign(start=x), resolution, series, windows),
        width="stretch",
        key="energy_chart",
    )
    if windows:
        st.caption(f"Shaded: high-tariff hours. Times in {tenant.timezone}.")
    st.download_button(
        "Download these data (CSV)",
        summaries.csv_export(frame, resolution, series, tenant),
        file_name=f"{tenant.id}_{choice.key.replace(':', '_')[:20]}_{period.start}_"
        f"{period.end}_{resolution}.csv",
        mime="text/csv",
        key="download_csv",
    )


def _typical_week(
    url: str, tenant: Tenant, meters: tuple[str, ...], registers: tuple[str, ...]
) -> None:
    st.markdown("#### Typical week")
    profile = _profile(url, tenant.schema, meters)
    if profile.empty:
        st.caption("No weekly pattern yet: it needs a few days of readings.")
        return
    if data.IMPORT in registers or not registers:
        column, what, scale = "avg_import_kwh", "Consumption", "OrRd"
    else:
        column, what, scale = "avg_export_kwh", "Feed-in", "Greens"
    window = periods.date_range_label(profile["window_start"].min(), profile["window_end"].max())
    st.caption(
        f"{what}: average kWh per hour of the local day ({tenant.timezone}), {window}. "
        f"The pattern of the recent weeks; it does not follow the period above."
    )
    left, right = st.columns(2)
    left.markdown(f"**{what} by weekday and hour**")
    left.plotly_chart(
        charts.weekday_hour_heatmap(summaries.weekday_hour_matrix(profile, column), scale),
        width="stretch",
        key="heatmap",
    )
    right.markdown("**Average day: weekdays and weekends**")
    right.plotly_chart(
        charts.daily_profile(summaries.weekday_weekend_profile(profile, column)),
        width="stretch",
        key="daily_profile",
    )


def _insight_list(url: str, tenant: Tenant, meters: tuple[str, ...]) -> None:
    st.markdown("#### Insights")
    rows = _insights(url, tenant.schema, meters)
    if rows.empty:
        st.caption("No insights for this meter yet.")
        return
    st.markdown(
        "\n".join(
            f"{n}. {SEVERITY_ICONS.get(severity, '')} {summaries.plain_markdown(message)}"
            for n, (severity, message) in enumerate(
                zip(rows["severity"], rows["message"], strict=True), 1
            )
        )
    )


main()
