"""The tenant registry: who the customer organisations are and how their data is read.

Loaded from `tenants.yaml` (EXNATON_TENANTS_FILE). A tenant id is the one piece of input
that reaches SQL identifiers and S3 keys, so it is checked against a strict pattern here,
before anything else sees it.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

import yaml

from exnaton_pipeline.lib.energy.tariffs import TariffError, TariffPlan, parse_plan

TENANT_ID = re.compile(r"[a-z][a-z0-9_-]{1,39}")
MUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
DEFAULT_TIMEZONE = "Europe/Zurich"
# An energy value above this per 15-minute interval is a fault, not a reading (it would be a
# 4 MW connection); a tenant with larger sites raises it with `max_interval_kwh`.
DEFAULT_MAX_INTERVAL_KWH = 1000.0
# A tenant's own warehouse is named by an environment variable of this family, never by a URL
# in the registry (the URL holds a password); the prefix keeps a registry from naming any
# other secret of the process.
WAREHOUSE_ENV = re.compile(r"EXNATON_WAREHOUSE_URL_[A-Z0-9_]{1,40}")


class RegistryError(ValueError):
    """The tenant registry or a tenant id is not usable; the message names what is wrong."""


def validate_tenant_id(tenant_id: Any) -> str:
    """Return `tenant_id` if it matches `[a-z][a-z0-9_-]{1,39}`, else raise RegistryError."""
    if not isinstance(tenant_id, str) or not TENANT_ID.fullmatch(tenant_id):
        raise RegistryError(f"invalid tenant id {tenant_id!r}: must match [a-z][a-z0-9_-]{{1,39}}")
    return tenant_id


def schema_name(tenant_id: str) -> str:
    """The PostgreSQL schema holding a tenant's tables (`-` becomes `_`)."""
    return "tenant_" + validate_tenant_id(tenant_id).replace("-", "_")


@dataclass(frozen=True)
class Meter:
    """A meter named in the registry; `installation` groups registers of one site."""

    muid: str
    name: str
    installation: str | None = None


@dataclass(frozen=True)
class Tenant:
    id: str
    name: str
    timezone: str
    tariff: TariffPlan
    source_prefix: str
    live: bool = False
    meters: tuple[Meter, ...] = field(default=())
    max_interval_kwh: float = DEFAULT_MAX_INTERVAL_KWH
    # the variable holding the URL of the tenant's own warehouse; None: the shared warehouse
    warehouse_env: str | None = None
    # TimescaleDB: compress readings chunks older than this many days; None: no compression
    compress_after_days: int | None = None

    @property
    def schema(self) -> str:
        return schema_name(self.id)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def meter_name(self, muid: str) -> str | None:
        return next((m.name for m in self.meters if m.muid == muid), None)


@dataclass(frozen=True)
class Registry:
    tenants: tuple[Tenant, ...]

    @property
    def ids(self) -> list[str]:
        return [t.id for t in self.tenants]

    def get(self, tenant_id: str) -> Tenant:
        validate_tenant_id(tenant_id)
        for tenant in self.tenants:
            if tenant.id == tenant_id:
                return tenant
        raise RegistryError(
            f"unknown tenant {tenant_id!r}; the registry has: {', '.join(self.ids) or 'none'}"
        )


def load_registry(path: Path) -> Registry:
    """Read and check the registry file; raises RegistryError naming the bad field."""
    try:
        raw = yaml.safe_load(Path(path).read_text())
    except FileNotFoundError:
        raise RegistryError(f"tenant registry {path} does not exist") from None
    except yaml.YAMLError as exc:
        raise RegistryError(f"tenant registry {path} is not valid YAML: {exc}") from None
    return parse_registry(raw, source=str(path))


def parse_registry(raw: Any, source: str = "tenants.yaml") -> Registry:
    if not isinstance(raw, dict) or not isinstance(raw.get("tenants"), list):
        raise RegistryError(f"{source}: expected a mapping with a list under 'tenants'")
    raw_plans = raw.get("tariff_plans") or {}
    if not isinstance(raw_plans, dict):
        raise RegistryError(f"{source}: tariff_plans: expected a mapping of plan name to plan")
    tenants: list[Tenant] = []
    for index, item in enumerate(raw["tenants"]):
        tenant = _parse_tenant(item, index, raw_plans, source)
        if tenant.id in (t.id for t in tenants):
            raise RegistryError(f"{source}: tenants[{index}].id: {tenant.id!r} is listed twice")
        if tenant.schema in (t.schema for t in tenants):
            raise RegistryError(
                f"{source}: tenants[{index}].id: {tenant.id!r} maps to the same schema "
                f"{tenant.schema} as another tenant"
            )
        # a shared prefix would let one tenant ingest another tenant's meter data
        owner = next((t.id for t in tenants if t.source_prefix == tenant.source_prefix), None)
        if owner is not None:
            raise RegistryError(
                f"{source}: tenant {tenant.id!r}: source_prefix: {tenant.source_prefix!r} is "
                f"already the prefix of tenant {owner!r}"
            )
        tenants.append(tenant)
    return Registry(tuple(tenants))


def _parse_tenant(item: Any, index: int, raw_plans: dict, source: str) -> Tenant:
    where = f"{source}: tenants[{index}]"
    if not isinstance(item, dict):
        raise RegistryError(f"{where}: expected a mapping")
    try:
        tenant_id = validate_tenant_id(item.get("id"))
    except RegistryError as exc:
        raise RegistryError(f"{where}.id: {exc}") from None
    where = f"{source}: tenant {tenant_id!r}"
    name = item.get("name") or tenant_id
    timezone = item.get("timezone") or DEFAULT_TIMEZONE
    if not isinstance(timezone, str) or timezone not in _zones():
        raise RegistryError(f"{where}: timezone: {timezone!r} is not an IANA time zone")
    plan_name = item.get("tariff_plan", "swiss_dual")
    if plan_name not in raw_plans:
        raise RegistryError(
            f"{where}: tariff_plan: {plan_name!r} is not defined under tariff_plans"
        )
    try:
        plan = parse_plan(plan_name, raw_plans[plan_name])
    except TariffError as exc:
        raise RegistryError(f"{where}: {exc}") from None
    prefix = item.get("source_prefix") or tenant_id
    if (
        not isinstance(prefix, str)
        or not re.fullmatch(r"[A-Za-z0-9_.\-]+(/[A-Za-z0-9_.\-]+)*", prefix)
        or any(part in (".", "..") for part in prefix.split("/"))  # would leave the source root
    ):
        raise RegistryError(f"{where}: source_prefix: {prefix!r} is not a relative key prefix")
    return Tenant(
        id=tenant_id,
        name=str(name),
        timezone=timezone,
        tariff=plan,
        source_prefix=prefix,
        live=bool(item.get("live", False)),
        meters=_parse_meters(item.get("meters") or {}, where),
        max_interval_kwh=_max_interval_kwh(item.get("max_interval_kwh"), where),
        warehouse_env=_warehouse_env(item.get("warehouse_env"), where),
        compress_after_days=_compress_after_days(item.get("compress_after_days"), where),
    )


def _warehouse_env(raw: Any, where: str) -> str | None:
    if raw is None:
        return None
    if not isinstance(raw, str) or not WAREHOUSE_ENV.fullmatch(raw):
        raise RegistryError(
            f"{where}: warehouse_env: {raw!r} is not the name of a warehouse URL variable: "
            "expected EXNATON_WAREHOUSE_URL_<NAME> (<NAME> of A-Z, 0-9, _)"
        )
    return raw


def _compress_after_days(raw: Any, where: str) -> int | None:
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < 1:
        raise RegistryError(
            f"{where}: compress_after_days: expected a whole number of days >= 1, got {raw!r}"
        )
    return raw


def _max_interval_kwh(raw: Any, where: str) -> float:
    if raw is None:
        return DEFAULT_MAX_INTERVAL_KWH
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not 0 < raw < float("inf"):
        raise RegistryError(
            f"{where}: max_interval_kwh: expected a positive number of kWh per 15 minutes, "
            f"got {raw!r}"
        )
    return float(raw)


def _parse_meters(raw: Any, where: str) -> tuple[Meter, ...]:
    if not isinstance(raw, dict):
        raise RegistryError(f"{where}: meters: expected a mapping of muid to name/installation")
    meters = []
    for muid, spec in raw.items():
        if not isinstance(muid, str) or not MUID.fullmatch(muid):
            raise RegistryError(f"{where}: meters: {muid!r} is not a meter uuid")
        spec = spec if isinstance(spec, dict) else {"name": spec}
        meters.append(Meter(muid, str(spec.get("name") or muid), spec.get("installation")))
    return tuple(meters)


@functools.cache
def _zones() -> set[str]:
    return available_timezones()
