"""The resources carry the effective settings of their environment (what the UI's resource
view shows), never the warehouse password."""

from exnaton_pipeline.defs import resources

PRODUCTION = {
    "EXNATON_DATABASE_URL": "postgresql+psycopg2://exnaton:S3cret-pw@db.example:5433/warehouse",
    "EXNATON_SOURCE_URL": "s3://meter-data/readings",
    "EXNATON_TENANTS_FILE": "/app/tenants.yaml",
    "AWS_ENDPOINT_URL": "http://minio:9000",
    "EXNATON_S3_READ_TIMEOUT": "12.5",
}


def loaded(monkeypatch, env: dict[str, str]) -> dict:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return resources.resources.load_fn().resources


def test_production_settings_are_visible_and_the_password_is_not(monkeypatch):
    found = loaded(monkeypatch, PRODUCTION)
    assert (
        found["warehouse"].server == "postgresql+psycopg2://exnaton:***@db.example:5433/warehouse"
    )
    assert found["warehouse"].database_url == ""  # the URL itself is read when a step connects
    assert found["source"].source_url == "s3://meter-data/readings"
    s3 = found["source"].s3
    assert (s3.endpoint_url, s3.connect_timeout, s3.read_timeout, s3.max_attempts) == (
        "http://minio:9000",
        5.0,
        12.5,
        3,
    )
    assert found["tenants"].path == "/app/tenants.yaml"
    shown = repr({key: vars(value) for key, value in found.items()})
    assert "S3cret-pw" not in shown


def test_the_embedded_defaults_are_named(monkeypatch, tmp_path):
    for name in ("EXNATON_DATABASE_URL", "EXNATON_SOURCE_URL", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    found = loaded(monkeypatch, {"EXNATON_HOME": str(tmp_path)})
    assert found["warehouse"].server == (
        f"embedded PostgreSQL in {tmp_path / 'pg'}, database exnaton"
    )
    assert found["source"].source_url == str(tmp_path / "source")
    assert found["source"].s3.endpoint_url is None
    assert not (tmp_path / "pg").exists()  # describing it started nothing
