"""iiap classify on the tiny national feed: labels against the ground truth, counts, and the MLflow run."""

import json
import re
import shutil

import mlflow
import pytest
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from etl import lake
from etl.catalog import GOLD_TABLES, Tables
from jobs import classify
from quality.runner import QualityGateFailed
from quality.spec import load_quality
from tests.helpers import Crash, crash_before_write


@pytest.fixture(scope="module")
def classified(spark, one_shot, generated, tmp_path_factory):
    s, _ = one_shot
    tracking = s.pipeline.tracking.model_copy(update={"local_store": str(tmp_path_factory.mktemp("mlflow"))})
    s = s.model_copy(update={"pipeline": s.pipeline.model_copy(update={"tracking": tracking})})
    return s, classify.run(spark, s, truth=generated.truth)


def test_labels_match_the_ground_truth(spark, classified, generated):
    s, result = classified
    truth = spark.read.parquet(f"{generated.truth}/enterprises")
    labels = lake.read(spark, Tables(s).gold("enterprise_labels"))
    manifest = json.loads(open(f"{generated.truth}/manifest.json").read())
    # every connected enterprise (the master) is labelled once, and every true enterprise is connected
    assert (
        labels.count()
        == labels.select("credit_code").distinct().count()
        == lake.read(spark, Tables(s).master).count()
        == result.connected
    )
    assert result.connected == manifest["enterprises"]
    by_archetype = {
        (r.archetype, r.effective): r["count"]
        for r in labels.join(truth.select("credit_code", "archetype"), on="credit_code", how="inner")
        .groupBy("archetype", "effective")
        .count()
        .collect()
    }
    # the effective archetypes are all labelled effective, the others none
    assert by_archetype == {
        (a, a in ("regular", "heavy", "api_only", "bursty")): n for a, n in manifest["archetypes"].items()
    }
    assert result.evaluation == {
        "true_positive": manifest["effective"],
        "false_positive": 0,
        "false_negative": 0,
        "true_negative": manifest["enterprises"] - manifest["effective"],
        "truth_not_labelled": 0,
        "labelled_not_in_truth": 0,
        "precision": 1.0,
        "recall": 1.0,
    }
    assert result.effective == manifest["effective"]


def test_counts_add_up_across_dimensions(classified):
    _, result = classified
    by_dim: dict[str, list[dict]] = {}
    for c in result.counts:
        by_dim.setdefault(c["dimension"], []).append(c)
    (national,) = by_dim["national"]
    for dim in ("province", "section", "sub_industry"):
        assert sum(c["connected"] for c in by_dim[dim]) == national["connected"], dim
        assert sum(c["effective"] for c in by_dim[dim]) == national["effective"], dim
    assert (
        sum(c["connected"] for c in by_dim["platform"]) > national["connected"]
    )  # multi-platform enterprises count in each platform
    assert len(by_dim["province"]) == 31 and len(by_dim["platform"]) == 34
    assert all(c["access_ratio"] == c["effective"] / c["connected"] for c in result.counts)


def test_the_mlflow_run_records_inputs_rules_and_outputs(spark, classified):
    s, result = classified
    t = Tables(s)
    run = mlflow.MlflowClient(tracking_uri=f"sqlite:///{s.pipeline.tracking.local_store}/mlflow.db").get_run(
        result.run_id
    )
    params = run.data.params
    for name in classify.INPUTS:
        assert (
            params[f"input_version.{name}"]
            == str(lake.version(spark, t.path(name)))
            == str(result.input_versions[name])
        )
    assert params["rule_set"] == "activity-2of3-v1" and params["threshold.login.login_days"] == "5.0"
    assert (params["window_start"], params["window_end"], params["window_timezone"]) == (
        "2020-06-01",
        "2020-06-30",
        "Asia/Shanghai",
    )
    assert params["git_revision"] == run.data.tags["git_revision"] != ""
    for name, version in result.output_versions.items():
        assert params[f"output_version.gold.{name}"] == str(version) == str(lake.version(spark, t.gold(name)))
    assert run.data.metrics["effective"] == result.effective and run.data.metrics["precision"] == 1.0
    artifacts = {
        a.path
        for a in mlflow.MlflowClient(
            tracking_uri=f"sqlite:///{s.pipeline.tracking.local_store}/mlflow.db"
        ).list_artifacts(result.run_id, "counts")
    }
    assert artifacts == {f"counts/{d}.csv" for d in ("national", "province", "section", "sub_industry", "platform")}
    assert (
        lake.read(spark, t.gold("enterprise_labels")).select("run_id").distinct().collect()[0].run_id == result.run_id
    )


def test_a_second_run_is_reproducible_from_the_versions_the_first_recorded(spark, classified):
    s, first = classified
    t = Tables(s)
    second = classify.run(spark, s)
    assert second.run_id != first.run_id and second.input_versions == first.input_versions
    assert second.counts == first.counts and second.evaluation is None
    assert {k: v - 1 for k, v in second.output_versions.items()} == first.output_versions
    cols = [c for c in lake.read(spark, t.gold("enterprise_labels")).columns if c != "run_id"]
    assertDataFrameEqual(
        lake.read(spark, t.gold("enterprise_labels"), first.output_versions["enterprise_labels"]).select(cols),
        lake.read(spark, t.gold("enterprise_labels")).select(cols),
    )


def test_a_breached_gold_gate_fails_the_run_and_keeps_the_gold_tables(spark, classified, tmp_path):
    s, _ = classified
    t = Tables(s)
    before = {name: lake.version(spark, t.gold(name)) for name in GOLD_TABLES}
    conf = tmp_path / "conf"
    shutil.copytree(s.conf_dir, conf)
    path = conf / "quality.yaml"
    # every enterprise-day must now have a login: days with only usage or traffic break the gate
    path.write_text(
        path.read_text(encoding="utf-8").replace(
            "- {name: gold_measures_non_negative, check: between, min: 0,",
            "- {name: gold_measures_non_negative, check: between, min: 1,",
        ),
        encoding="utf-8",
    )
    strict = s.model_copy(update={"conf_dir": conf})
    with pytest.raises(QualityGateFailed) as err:
        classify.run(spark, strict, quality=load_quality(strict))
    assert re.search(
        r"rule gold_measures_non_negative \(fail\) failed on table gold\.activity_daily in batch [0-9a-f]{32}: "
        r"[\d,]+ of [\d,]+ rows",
        str(err.value),
    )
    assert {name: lake.version(spark, t.gold(name)) for name in before} == before
    run = mlflow.MlflowClient(tracking_uri=f"sqlite:///{s.pipeline.tracking.local_store}/mlflow.db").get_run(
        err.value.batch_id
    )
    assert run.info.status == "FAILED"
    history = (
        lake.read(spark, t.quality_history)
        .filter((F.col("batch_id") == err.value.batch_id) & F.col("gate_breached"))
        .select("suite", "rule")
        .distinct()
        .collect()
    )
    assert [(r.suite, r.rule) for r in history] == [("gold.activity_daily", "gold_measures_non_negative")]


def _gold_frames(spark, t: Tables) -> dict:
    return {f"gold.{name}": lake.read(spark, t.gold(name)) for name in GOLD_TABLES}


def test_a_classify_crashed_between_gold_writes_is_never_released_and_a_rerun_restores_the_gold(spark, classified):
    """Killed before its k-th gold table (2: after activity_daily; 5: after the labels, before the counts): the
    gold tables hold two runs, which the index release refuses; the next classify makes them one run again, with
    the rows of an uninterrupted run (the first run's, read at its versions)."""
    from types import SimpleNamespace

    from jobs import index_release

    s, first = classified
    t = Tables(s)
    for k in (2, 5):
        with pytest.MonkeyPatch.context() as mp:
            crash_before_write(mp, k, tables="gold.")
            with pytest.raises(Crash, match=rf"^crashed before write {k} \(gold\.{GOLD_TABLES[k - 1]}\)$"):
                classify.run(spark, s)
        labels_run = index_release.classification_lineage(lake.read(spark, t.gold("enterprise_labels")))["run_id"]
        with pytest.raises(index_release.MissingInput, match=r"a classify did not finish; run iiap classify again$"):
            index_release.one_classification(SimpleNamespace(frames=_gold_frames(spark, t)), labels_run)
    again = classify.run(spark, s)
    index_release.one_classification(SimpleNamespace(frames=_gold_frames(spark, t)), again.run_id)
    assert again.counts == first.counts
    for name in GOLD_TABLES:
        cols = [c for c in lake.read(spark, t.gold(name)).columns if c != "run_id"]
        assertDataFrameEqual(
            lake.read(spark, t.gold(name), first.output_versions[name]).select(cols),
            lake.read(spark, t.gold(name)).select(cols),
        )
