"""The table catalogue: one entry per table, the README's list is the catalogue's, jobs take their tables from it."""

from etl.catalog import CATALOG, GOLD_TABLES, TABLES, Tables, entry, read_by, readme_rows, written_by
from etl.config import PROJECT_ROOT


def test_readme_lists_exactly_the_catalogue():
    text = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    start = text.index(readme_rows()[0])
    assert text[start : start + len(readme_rows())] == readme_rows()
    assert text[start + len(readme_rows())] == ""  # and no row the catalogue lacks


def test_every_table_once_with_its_writer_suite_and_layout():
    assert len(CATALOG) == len(TABLES) == 37
    assert [t.id for t in written_by("classify")] == [f"gold.{g}" for g in GOLD_TABLES]
    assert [t.id for t in read_by("classify")] == [
        "silver.logins",
        "silver.resource_usage",
        "silver.traffic",
        "silver.enterprise_master",
    ]
    assert [t.id for t in read_by("release")] == [
        "gold.app_sessions_daily",
        "gold.enterprise_labels",
        "gold.economy_section",
        "gold.economy_province",
    ]
    assert len(written_by("economy")) == 10
    roster = entry("silver.roster")
    assert (roster.write, roster.keys, roster.suite, roster.relative_path) == (
        "upsert",
        ("platform_id", "tenant_id"),
        "silver.roster",
        "silver/roster",
    )
    assert (entry("silver.logins").partition_by, entry("bronze.traffic").partition_by) == (
        ("event_date",),
        ("delivery_date",),
    )
    assert {t.suite for t in TABLES if t.suite} == {
        f"{layer}.{f}" for layer in ("bronze", "silver") for f in ("roster", "logins", "resource_usage", "traffic")
    } | {"silver.enterprise_master", *(f"gold.{g}" for g in GOLD_TABLES)}


def test_bronze_columns_follow_feeds_yaml(settings):
    assert entry("bronze.traffic").ddl(settings) == (
        "batch_id string, ingested_at timestamp, platform_id string, source_file string, delivery_date date, "
        "raw_record string, "
        "parse_error string, missing_fields array<string>, extra_fields map<string,string>, "
        "tenant_id string, event_ts string, bytes_in string, bytes_out string, requests string"
    )


def test_ingest_writes_in_an_order_that_keeps_readers_consistent(settings):
    t = Tables(settings)
    names = [p.removeprefix(settings.lakehouse.rstrip("/") + "/") for p in t.written_by_ingest()]
    assert names == [
        "bronze/roster",
        "bronze/logins",
        "bronze/resource_usage",
        "bronze/traffic",
        "silver/roster",
        "silver/logins",
        "silver/resource_usage",
        "silver/traffic",
        "silver/enterprise_master",
        "quarantine/records",
        "ops/ingest_audit",
        "ops/file_manifest",
    ]  # not ops/batches: the batch log keeps the record of a batch that --recover undoes
