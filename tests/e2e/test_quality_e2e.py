"""Data quality on the generated feed: faults found by named rules, gates that stop a batch, history and Data Docs."""

import json

import pytest
from pyspark.sql import functions as F

from etl import lake
from etl.catalog import Tables
from etl.config import FEED_NAMES
from jobs import quality as quality_job


def test_each_injected_fault_is_caught_by_a_named_rule_with_its_exact_count(one_shot, generated):
    _, result = one_shot
    truth = json.loads(open(f"{generated.truth}/manifest.json").read())["feeds"]
    for feed in FEED_NAMES:
        found: dict[str, int] = {}
        for o in result.quality:
            if o.suite == f"silver.{feed}" and o.action == "quarantine" and o.unexpected_count:
                found[o.rule] = found.get(o.rule, 0) + o.unexpected_count
        assert found == truth[feed]["quarantine"], feed
    # the gates held: no fail rule breached on a good batch
    assert [o for o in result.quality if o.gate_breached] == []
    unique = [o for o in result.quality if o.rule == "natural_key_unique"]
    assert len(unique) == 4 and all(o.success and o.unexpected_count == 0 for o in unique)


def test_history_table_and_data_docs_are_written_on_every_run(spark, one_shot):
    s, result = one_shot
    history = lake.read(spark, Tables(s).quality_history).filter(F.col("batch_id") == result.batch_id)
    assert history.count() == len(result.quality)
    row = history.filter((F.col("suite") == "silver.logins") & (F.col("rule") == "unknown_tenant")).first()
    assert (
        row.action == "quarantine" and row.unexpected_count > 0 and len(row.unexpected_samples) == 0
    )  # NULLs: samples are the missing values
    # the volume rule observed every (platform, delivery) of every feed
    volume = history.filter(F.col("rule") == "delivery_volume").select(F.explode("observed")).count()
    assert volume == sum(
        lake.read(spark, Tables(s).bronze(f)).select("platform_id", "delivery_date").distinct().count()
        for f in FEED_NAMES
    )
    docs = result.quality_docs.removeprefix("file://")
    assert open(docs, encoding="utf-8").read().count(result.batch_id) > 0


def test_iiap_quality_validates_the_latest_batch_on_its_own(spark, settings, one_shot, tmp_path):
    s, result = one_shot
    t = Tables(s)
    silver_versions = {p: lake.version(spark, p) for p in t.written_by_ingest()}
    checked = quality_job.run(spark, s)
    assert checked.batch_id == result.batch_id and checked.breaches == []
    by_rule = {(o.suite, o.rule, o.column): o.unexpected_count for o in checked.outcomes if o.action == "quarantine"}
    assert by_rule == {
        (o.suite, o.rule, o.column): o.unexpected_count for o in result.quality if o.action == "quarantine"
    }
    assert lake.read(spark, t.quality_history).filter(F.col("run_kind") == "quality").count() == len(checked.outcomes)
    assert {p: lake.version(spark, p) for p in t.written_by_ingest()} == silver_versions
    with pytest.raises(quality_job.UnknownBatch, match="batch nope has no rows in bronze"):
        quality_job.run(spark, s, "nope")
