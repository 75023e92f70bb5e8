import json
from collections import Counter

from exnaton_pipeline.lib.demo_data.sample import sample_files, write_sample
from exnaton_pipeline_tests.builders import EXPORT_MUID, IMPORT_MUID


def test_sample_is_written_one_object_per_meter_and_utc_day(local_source, registry):
    keys = write_sample(local_source, registry.get("demo"))
    # 2 meters x 28 days of February 2023
    assert len(keys) == 56 == len(set(keys))
    assert f"demo/2023-02-01/{IMPORT_MUID}.json" in keys
    assert f"demo/2023-02-28/{EXPORT_MUID}.json" in keys
    assert Counter(key.split("/")[1] for key in keys) == {
        f"2023-02-{day:02d}": 2 for day in range(1, 29)
    }
    for key in (f"demo/2023-02-14/{IMPORT_MUID}.json", f"demo/2023-02-14/{EXPORT_MUID}.json"):
        records = json.loads(local_source.read(key))["data"]
        assert len(records) == 96
        assert {r["timestamp"][:10] for r in records} == {"2023-02-14"}
    assert [p.stem for p in sample_files()] == [EXPORT_MUID, IMPORT_MUID]
