from datetime import date

from exnaton_pipeline_tests.conftest import day_range, materialize_days


def test_sample_lands(warehouse_url, local_source, registry, tmp_path):
    from exnaton_pipeline.lib.sample import write_sample

    write_sample(local_source, registry.get("demo"))
    results = materialize_days(
        "demo", day_range(date(2023, 2, 1), date(2023, 2, 2)), warehouse_url, str(local_source.root)
    )
    assert all(r.success for r in results)
