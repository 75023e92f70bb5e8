"""The tenant schema and rows the release before migrations left (`previous_release/`)."""

from __future__ import annotations

import gzip
from pathlib import Path

from psycopg2 import sql

from exnaton_pipeline.lib.warehouse import database

SNAPSHOT = Path(__file__).with_name("previous_release")
SCHEMA = "tenant_demo"  # the schema the snapshot was taken of
TABLES = (
    "meter_readings",
    "rejected_readings",
    "ingested_objects",
    "tariff_slots",
    "hourly_energy",
    "daily_energy",
    "weekday_hour_profile",
    "insights",
)


def execute(url: str, statements: str) -> None:
    """Run `statements` on a connection of their own (autocommit), e.g. DDL made by hand."""
    conn = database.autocommit_connection(url)
    try:
        with conn.cursor() as cur:
            cur.execute(statements)
    finally:
        conn.close()


def create_schema(url: str, schema: str = SCHEMA) -> None:
    """The release's tables, without rows, as its pg_dump has them, in `schema`."""
    ddl = "\n".join(
        line
        for line in (SNAPSHOT / "schema.sql").read_text().splitlines()
        if not line.startswith("\\")  # psql meta-commands (\restrict)
    )
    execute(url, ddl.replace(SCHEMA, schema))  # own connection: the dump empties search_path


def load_rows(url: str) -> None:
    """Every row the release stored in tenant_demo (the real February sample)."""
    conn = database.autocommit_connection(url)
    try:
        with conn.cursor() as cur:
            for table in TABLES:
                with gzip.open(SNAPSHOT / f"{table}.csv.gz", "rt", newline="") as file:
                    cur.copy_expert(
                        sql.SQL("COPY {}.{} FROM STDIN WITH (FORMAT csv, HEADER true)").format(
                            sql.Identifier(SCHEMA), sql.Identifier(table)
                        ),
                        file,
                    )
    finally:
        conn.close()


def stored_rows(table: str) -> tuple[list[str], list[str]]:
    """The columns and the sorted CSV lines of what the release stored in `table`."""
    with gzip.open(SNAPSHOT / f"{table}.csv.gz", "rt", newline="") as file:
        header, *lines = file.read().splitlines()
    return header.split(","), sorted(lines)
