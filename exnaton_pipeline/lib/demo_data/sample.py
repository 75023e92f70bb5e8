"""The bundled real sample (two meters, February 2023) written into a source in its layout.

Each bundled file is one API response for a whole month; the source contract wants one
response per meter and UTC day, as the upstream API returns for `start=<day>&stop=<day+1>`.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from exnaton_pipeline.lib.ingestion.source import Source
from exnaton_pipeline.lib.tenants import Tenant

SAMPLE_DIR = Path(__file__).resolve().parents[2] / "sample"


def sample_files() -> list[Path]:
    return sorted(SAMPLE_DIR.glob("*.json"))


def write_sample(source: Source, tenant: Tenant) -> list[str]:
    """Write the sample for `tenant`, one object per meter and UTC day; return the keys."""
    keys = []
    for path in sample_files():
        records = json.loads(path.read_bytes())["data"]
        by_day: dict[tuple[str, str], list] = defaultdict(list)
        for record in records:
            by_day[(record["timestamp"][:10], record["tags"]["muid"])].append(record)
        for (day, muid), day_records in sorted(by_day.items()):
            key = f"{tenant.source_prefix}/{day}/{muid}.json"
            source.write(key, json.dumps({"data": day_records}, separators=(",", ":")).encode())
            keys.append(key)
    return keys
