"""Data quality on the generated feed: faults found by named rules, gates that stop a batch, history and Data Docs."""

import json
import re
import shutil
from datetime import date

import pytest
from click.testing import CliRunner
from conftest import settings_for
from pyspark.sql import functions as F

from etl import lake
from etl.config import FEED_NAMES
from etl.tables import Tables
from jobs import ingest
from jobs import quality as quality_job
from jobs.cli import main
from quality.runner import QualityGateFailed
from quality.spec import load_quality

pytestmark = pytest.mark.e2e


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
    assert row.action == "quarantine" and row.unexpected_count > 0 and len(row.unexpected_samples) == 0  # NULLs: samples are the missing values
    # the volume rule observed every (platform, delivery) of every feed
    volume = history.filter(F.col("rule") == "delivery_volume").select(F.explode("observed")).count()
    assert volume == sum(lake.read(spark, Tables(s).bronze(f)).select("platform_id", "delivery_date").distinct().count() for f in FEED_NAMES)
    docs = result.quality_docs.removeprefix("file://")
    assert open(docs, encoding="utf-8").read().count(result.batch_id) > 0


def _copy_conf(settings, tmp_path, edit):
    conf = tmp_path / "conf"
    shutil.copytree(settings.conf_dir, conf)
    path = conf / "quality.yaml"
    path.write_text(edit(path.read_text(encoding="utf-8")), encoding="utf-8")
    return conf


def test_a_breached_fail_rule_stops_the_batch_before_anything_downstream_is_written(spark, settings, generated, tmp_path):
    s = settings_for(settings, tmp_path / "lake", generated.landing)
    t = Tables(s)
    first = ingest.run(spark, s, until=date(2020, 6, 15))
    assert first.batch_id
    before = {p: lake.version(spark, p) for p in t.written_by_ingest()}
    # A gate at 0%: any log row from a tenant missing from the roster now stops the batch.
    conf = _copy_conf(settings, tmp_path, lambda y: y.replace("action: quarantine, fail_above_percent: 20,", "action: quarantine, fail_above_percent: 0,"))
    strict = s.model_copy(update={"conf_dir": conf})
    with pytest.raises(QualityGateFailed) as err:
        ingest.run(spark, strict, quality=load_quality(strict))
    message = str(err.value)
    assert re.search(r"rule unknown_tenant \(quarantine, gate at 0\.0%\) failed on table silver\.logins in batch \S+: [\d,]+ of [\d,]+ rows", message)
    assert "downstream tables were not written" in message
    assert {p: lake.version(spark, p) for p in t.written_by_ingest()} == before
    statuses = [r.status for r in lake.read(spark, t.batches).filter(F.col("batch_id") == err.value.batch_id).collect()]
    assert sorted(statuses) == ["rejected", "started"]
    breached = lake.read(spark, t.quality_history).filter((F.col("batch_id") == err.value.batch_id) & F.col("gate_breached")).select("suite", "rule").collect()
    assert [(r.suite, r.rule) for r in breached] == [("silver.logins", "unknown_tenant")]

    # The CLI says the same and exits non-zero; still nothing downstream is written.
    cli = CliRunner().invoke(main, ["--conf", str(conf), "--lakehouse", s.pipeline.lakehouse_root, "--landing", generated.landing, "ingest"])
    assert cli.exit_code == 1
    assert "rule unknown_tenant (quarantine, gate at 0.0%) failed on table silver.logins" in cli.output
    assert {p: lake.version(spark, p) for p in t.written_by_ingest()} == before
    # the rejected files are still new: nothing was recorded in the file manifest
    assert lake.read(spark, t.manifest).count() == first.files


def test_iiap_quality_validates_the_latest_batch_on_its_own(spark, settings, one_shot, tmp_path):
    s, result = one_shot
    t = Tables(s)
    silver_versions = {p: lake.version(spark, p) for p in t.written_by_ingest()}
    checked = quality_job.run(spark, s)
    assert checked.batch_id == result.batch_id and checked.breaches == []
    by_rule = {(o.suite, o.rule, o.column): o.unexpected_count for o in checked.outcomes if o.action == "quarantine"}
    assert by_rule == {(o.suite, o.rule, o.column): o.unexpected_count for o in result.quality if o.action == "quarantine"}
    assert lake.read(spark, t.quality_history).filter(F.col("run_kind") == "quality").count() == len(checked.outcomes)
    assert {p: lake.version(spark, p) for p in t.written_by_ingest()} == silver_versions
    with pytest.raises(quality_job.UnknownBatch, match="batch nope has no rows in bronze"):
        quality_job.run(spark, s, "nope")
