import copy

import pytest
import yaml

from exnaton_pipeline.lib import settings
from exnaton_pipeline.lib.tenants import (
    RegistryError,
    load_registry,
    parse_registry,
    schema_name,
    validate_tenant_id,
)
from exnaton_pipeline_tests.builders import swiss_dual_plan

PLANS = {
    "flat": {
        "currency": "CHF",
        "feed_in_rate": 0.1,
        "bands": {"low": {"rate": 0.25, "windows": "otherwise"}},
    },
    "dual": swiss_dual_plan(),
}


def registry_with(*tenants, plans=None) -> dict:
    return {
        "tariff_plans": copy.deepcopy(PLANS if plans is None else plans),
        "tenants": list(tenants),
    }


def refused(raw) -> str:
    with pytest.raises(RegistryError) as err:
        parse_registry(raw)
    return str(err.value)


@pytest.mark.parametrize("tenant_id", ["ab", "demo", "nyc-coop", "x_1", "a" * 40, "a-"])
def test_good_tenant_ids(tenant_id):
    assert validate_tenant_id(tenant_id) == tenant_id


@pytest.mark.parametrize(
    "tenant_id",
    [
        "Demo",
        "DEMO",
        "a",
        "",
        "a" * 41,
        "1demo",
        "-demo",
        "_demo",
        "demo; DROP SCHEMA public CASCADE",
        "demo'--",
        'demo"',
        "de mo",
        "demo/../x",
        "démo",
        "demo\n",
        None,
        42,
    ],
)
def test_bad_tenant_ids_are_refused(tenant_id):
    with pytest.raises(RegistryError) as err:
        validate_tenant_id(tenant_id)
    assert str(err.value) == (
        f"invalid tenant id {tenant_id!r}: must match [a-z][a-z0-9_-]{{1,39}}"
    )


def test_schema_name_maps_dashes_to_underscores():
    assert schema_name("nyc-coop") == "tenant_nyc_coop"
    assert schema_name("demo") == "tenant_demo"
    with pytest.raises(RegistryError, match="invalid tenant id 'Bad'"):
        schema_name("Bad")


def test_registry_reads_tenants_with_defaults():
    registry = parse_registry(
        registry_with(
            {"id": "alpha", "tariff_plan": "flat"},
            {
                "id": "beta-grid",
                "name": "Beta Grid",
                "timezone": "America/New_York",
                "tariff_plan": "dual",
                "source_prefix": "eu/beta",
                "live": True,
                "meters": {"95ce3367-cbce-4a4d-bbe3-da082831d7bd": "House"},
                "max_interval_kwh": 25_000,
                "warehouse_env": "EXNATON_WAREHOUSE_URL_EAST_2",
                "compress_after_days": 7,
            },
        )
    )
    assert registry.ids == ["alpha", "beta-grid"]
    alpha, beta = registry.tenants
    assert (alpha.name, alpha.timezone, alpha.source_prefix, alpha.live) == (
        "alpha",
        "Europe/Zurich",
        "alpha",
        False,
    )
    assert (alpha.max_interval_kwh, beta.max_interval_kwh) == (1000.0, 25_000.0)
    # the shared warehouse and no compression unless the registry says otherwise
    assert (alpha.warehouse_env, alpha.compress_after_days) == (None, None)
    assert (beta.warehouse_env, beta.compress_after_days) == ("EXNATON_WAREHOUSE_URL_EAST_2", 7)
    assert beta.schema == "tenant_beta_grid"
    assert beta.zone.key == "America/New_York"
    assert beta.source_prefix == "eu/beta"
    assert beta.tariff.rate("high") == 0.32
    assert beta.meter_name("95ce3367-cbce-4a4d-bbe3-da082831d7bd") == "House"
    assert registry.get("beta-grid") is beta


def test_unknown_tenant_lists_the_known_ones():
    registry = parse_registry(registry_with({"id": "alpha", "tariff_plan": "flat"}))
    with pytest.raises(RegistryError, match="unknown tenant 'gamma'; the registry has: alpha"):
        registry.get("gamma")
    with pytest.raises(RegistryError, match="invalid tenant id 'Alpha'"):
        registry.get("Alpha")


@pytest.mark.parametrize(
    ("tenant", "message"),
    [
        (
            {"id": "Alpha", "tariff_plan": "flat"},
            "tenants.yaml: tenants[0].id: invalid tenant id 'Alpha': must match "
            "[a-z][a-z0-9_-]{1,39}",
        ),
        (
            {"id": "x' OR 1=1 --", "tariff_plan": "flat"},
            'tenants.yaml: tenants[0].id: invalid tenant id "x\' OR 1=1 --"',
        ),
        ({"tariff_plan": "flat"}, "tenants.yaml: tenants[0].id: invalid tenant id None"),
        (
            {"id": "alpha", "timezone": "Mars/Olympus", "tariff_plan": "flat"},
            "tenants.yaml: tenant 'alpha': timezone: 'Mars/Olympus' is not an IANA time zone",
        ),
        (
            {"id": "alpha", "timezone": "Europe/Zurik", "tariff_plan": "flat"},
            "tenants.yaml: tenant 'alpha': timezone: 'Europe/Zurik' is not an IANA time zone",
        ),
        (
            {"id": "alpha", "tariff_plan": "gold"},
            "tenants.yaml: tenant 'alpha': tariff_plan: 'gold' is not defined under tariff_plans",
        ),
        (
            {"id": "alpha", "tariff_plan": "flat", "source_prefix": "../other"},
            "tenants.yaml: tenant 'alpha': source_prefix: '../other' is not a relative key prefix",
        ),
        (
            {"id": "alpha", "tariff_plan": "flat", "source_prefix": "eu/./alpha"},
            "tenants.yaml: tenant 'alpha': source_prefix: 'eu/./alpha' is not a relative key",
        ),
        (
            {"id": "alpha", "tariff_plan": "flat", "source_prefix": "/alpha"},
            "tenants.yaml: tenant 'alpha': source_prefix: '/alpha' is not a relative key prefix",
        ),
        (
            {"id": "alpha", "tariff_plan": "flat", "meters": {"m1": "House"}},
            "tenants.yaml: tenant 'alpha': meters: 'm1' is not a meter uuid",
        ),
        ("alpha", "tenants.yaml: tenants[0]: expected a mapping"),
        (
            {"id": "alpha", "tariff_plan": "flat", "max_interval_kwh": 0},
            "tenants.yaml: tenant 'alpha': max_interval_kwh: expected a positive number of kWh "
            "per 15 minutes, got 0",
        ),
        (
            {"id": "alpha", "tariff_plan": "flat", "max_interval_kwh": "lots"},
            "tenants.yaml: tenant 'alpha': max_interval_kwh: expected a positive number",
        ),
        (
            {"id": "alpha", "tariff_plan": "flat", "warehouse_env": "AWS_SECRET_ACCESS_KEY"},
            "tenants.yaml: tenant 'alpha': warehouse_env: 'AWS_SECRET_ACCESS_KEY' is not the name "
            "of a warehouse URL variable: expected EXNATON_WAREHOUSE_URL_<NAME>",
        ),
        (
            {"id": "alpha", "tariff_plan": "flat", "warehouse_env": "postgresql://u:p@east/db"},
            "tenants.yaml: tenant 'alpha': warehouse_env: 'postgresql://u:p@east/db' is not",
        ),
        (
            {"id": "alpha", "tariff_plan": "flat", "warehouse_env": "EXNATON_WAREHOUSE_URL_east"},
            "tenants.yaml: tenant 'alpha': warehouse_env: 'EXNATON_WAREHOUSE_URL_east' is not",
        ),
        (
            {"id": "alpha", "tariff_plan": "flat", "compress_after_days": 0},
            "tenants.yaml: tenant 'alpha': compress_after_days: expected a whole number of days "
            ">= 1, got 0",
        ),
        (
            {"id": "alpha", "tariff_plan": "flat", "compress_after_days": "7 days"},
            "tenants.yaml: tenant 'alpha': compress_after_days: expected a whole number of days "
            ">= 1, got '7 days'",
        ),
    ],
)
def test_bad_tenant_fields_are_named(tenant, message):
    assert refused(registry_with(tenant)).startswith(message)


def test_duplicate_ids_are_refused():
    message = refused(
        registry_with(
            {"id": "alpha", "tariff_plan": "flat"}, {"id": "alpha", "tariff_plan": "flat"}
        )
    )
    assert message == "tenants.yaml: tenants[1].id: 'alpha' is listed twice"


def test_tenants_sharing_a_source_prefix_are_refused():
    message = refused(
        registry_with(
            {"id": "alpha", "tariff_plan": "flat", "source_prefix": "shared"},
            {"id": "beta", "tariff_plan": "flat", "source_prefix": "shared"},
        )
    )
    assert message == (
        "tenants.yaml: tenant 'beta': source_prefix: 'shared' is already the prefix of tenant "
        "'alpha'"
    )


def test_ids_that_share_a_schema_are_refused():
    message = refused(
        registry_with({"id": "a-b", "tariff_plan": "flat"}, {"id": "a_b", "tariff_plan": "flat"})
    )
    assert message == (
        "tenants.yaml: tenants[1].id: 'a_b' maps to the same schema tenant_a_b as another tenant"
    )


def test_a_bad_tariff_plan_is_refused_naming_tenant_and_field():
    plan = swiss_dual_plan()
    plan["bands"]["high"]["rate"] = -0.1
    assert refused(registry_with({"id": "alpha", "tariff_plan": "p"}, plans={"p": plan})) == (
        "tenants.yaml: tenant 'alpha': tariff_plans.p.bands.high.rate: rate -0.1 is below zero"
    )


def test_a_bad_plan_in_the_registry_file_stops_the_load(tmp_path):
    plan = swiss_dual_plan()
    plan["bands"]["low"]["rate"] = -0.22
    path = tmp_path / "tenants.yaml"
    path.write_text(
        yaml.safe_dump(registry_with({"id": "alpha", "tariff_plan": "p"}, plans={"p": plan}))
    )
    with pytest.raises(RegistryError, match=r"tenant 'alpha': .*bands\.low\.rate: rate -0.22"):
        load_registry(path)


def test_registry_file_errors(tmp_path):
    with pytest.raises(RegistryError, match=r"tenant registry .*missing\.yaml does not exist"):
        load_registry(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("tenants: [\n")
    with pytest.raises(RegistryError, match=r"tenant registry .*bad\.yaml is not valid YAML"):
        load_registry(bad)
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    with pytest.raises(RegistryError, match="expected a mapping with a list under 'tenants'"):
        load_registry(empty)


def test_shipped_registry_has_the_demo_tenant():
    registry = load_registry(settings.REPO_ROOT / "tenants.yaml")
    demo = registry.get("demo")
    assert demo.timezone == "Europe/Zurich"
    assert demo.source_prefix == "demo"
    assert demo.tariff.currency == "CHF"
    assert (demo.tariff.rate("high"), demo.tariff.rate("low")) == (0.32, 0.22)
