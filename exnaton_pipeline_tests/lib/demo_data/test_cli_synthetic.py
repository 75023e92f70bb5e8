"""`exnaton generate` and `exnaton produce` write the live tenant's feed into the source."""

import json
from datetime import UTC, datetime, timedelta

from exnaton_pipeline.cli import main
from exnaton_pipeline.lib.demo_data.synthetic import floor_interval
from exnaton_pipeline.lib.ingestion.responses import parse_response


def test_generate_then_produce(local_source, monkeypatch, capsys):
    monkeypatch.setenv("EXNATON_SOURCE_URL", str(local_source.root))
    assert main(["generate", "--tenant", "live", "--meters", "5", "--days", "1"]) == 0
    assert "for tenant live (5 meters" in capsys.readouterr().out
    yesterday = (datetime.now(UTC) - timedelta(days=1)).date()
    # yesterday is whole: 5 meters, 96 intervals each (PV households twice: import and export)
    objects = local_source.list(f"live/{yesterday}")
    assert len(objects) == 5
    sizes = sorted(len(parse_response(local_source.read(o.key)).readings) for o in objects)
    assert sizes == [96, 96, 96, 192, 192]

    before = floor_interval(datetime.now(UTC))
    assert main(["produce", "--tenant", "live", "--meters", "5", "--fast", "--ticks", "1"]) == 0
    assert "producing for tenant live: 5 meters" in capsys.readouterr().out
    after = floor_interval(datetime.now(UTC))
    # fast mode starts with the interval in progress; its object sits in that interval's UTC day
    # (`before` and `after` differ only if a quarter hour struck meanwhile)
    (key,) = [o.key for o in local_source.list("live") if "/batch-" in o.key]
    interval = next(t for t in (before, after) if key == f"live/{t:%Y-%m-%d}/batch-{t:%H%M}.json")
    records = json.loads(local_source.read(key))["data"]
    assert len(records) == 5
    assert {r["timestamp"] for r in records} == {f"{interval:%Y-%m-%dT%H:%M}:00.000Z"}


def test_unknown_tenant_is_refused(capsys):
    assert main(["generate", "--tenant", "nobody"]) == 2
    assert "unknown tenant 'nobody'" in capsys.readouterr().err
