"""iiap run end to end: the day's batch in one command, a gate in its middle stage, the rerun that resumes it, and the
exit code of each kind of failure."""

import json
import re
import shutil
import threading

import mlflow
import pytest
from click.testing import CliRunner

from etl import lake
from etl.catalog import GOLD_TABLES, Tables, written_by
from etl.lease import held
from jobs import cli
from jobs import run as job
from tests.helpers import settings_for

ECONOMY = tuple(t.id for t in written_by("economy"))


def _settings(settings, tmp_path_factory, landing: str, name: str):
    s = settings_for(settings, tmp_path_factory.mktemp(name), landing)
    tracking = s.pipeline.tracking.model_copy(update={"local_store": str(tmp_path_factory.mktemp(f"{name}_mlflow"))})
    return s.model_copy(update={"pipeline": s.pipeline.model_copy(update={"tracking": tracking})})


def _strict(s, tmp_path_factory):
    """The same lakehouse with a gold gate every run breaks: each enterprise-day must have a login."""
    conf = tmp_path_factory.mktemp("strict_conf") / "conf"
    shutil.copytree(s.conf_dir, conf)
    path = conf / "quality.yaml"
    text = path.read_text(encoding="utf-8")
    rule = "- {name: gold_measures_non_negative, check: between, min: 0,"
    assert rule in text
    path.write_text(text.replace(rule, rule.replace("min: 0", "min: 1")), encoding="utf-8")
    return s.model_copy(update={"conf_dir": conf})


def _invoke(spark, monkeypatch, s, *args):
    monkeypatch.setattr(cli, "_session", lambda settings, name, extra=None: spark)  # keep the test session's confs
    res = CliRunner().invoke(cli.run, list(args), obj={"settings": s})
    print(res.output)  # pytest -s shows it
    return res


def _summary(res) -> dict:
    path = re.search(r"^summary: (\S+)$", res.output, re.M).group(1)
    return json.loads(open(path, encoding="utf-8").read())


def _versions(spark, s, ids) -> dict:
    t = Tables(s)
    return {i: lake.version(spark, t.path(i)) for i in ids}


def _runs(s, job_name: str) -> list:
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{s.pipeline.tracking.local_store}/mlflow.db")
    found = client.get_experiment_by_name(f"{s.pipeline.tracking.experiment_prefix}-{job_name}")
    return [] if found is None else client.search_runs([found.experiment_id])


@pytest.fixture(scope="module")
def gated_then_resumed(spark, settings, generated, tmp_path_factory):
    """The first run stops at a gold gate of its classify stage; the second, with the gate as shipped, resumes it."""
    s = _settings(settings, tmp_path_factory, generated.landing, "run_lake")
    gold = [f"gold.{g}" for g in GOLD_TABLES]
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)  # an earlier test's mlflow.set_tracking_uri may have set it
        first = _invoke(spark, mp, _strict(s, tmp_path_factory), "--truth", generated.truth)
        after_first = _versions(spark, s, gold + list(ECONOMY)), _runs(s, "index-release")
        second = _invoke(spark, mp, s, "--truth", generated.truth)
    return s, first, after_first, second


def test_a_gate_in_the_middle_stage_stops_the_run_and_leaves_the_later_stages_untouched(spark, gated_then_resumed):
    s, first, (versions, releases), _ = gated_then_resumed
    assert first.exit_code == 3, first.output
    summary = _summary(first)
    assert (summary["status"], summary["exit_code"], summary["exit_kind"], summary["attempt"]) == (
        "failed",
        3,
        "gate",
        1,
    )
    assert [(st["stage"], st["status"]) for st in summary["stages"]] == [("ingest", "done"), ("classify", "failed")]
    assert summary["error"]["stage"] == "classify" and summary["error"]["type"] == "QualityGateFailed"
    assert re.search(r"rule gold_measures_non_negative \(fail\) failed on table gold\.activity_daily", first.output)
    assert f"run {summary['run_id']} stopped in stage classify (gate):" in first.output
    assert versions == {t: None for t in versions}  # no gold table, no economy table written
    assert releases == []
    assert summary["summary_path"] == f"{s.lakehouse}/_runs/{summary['run_id']}/attempt-1.json"
    assert summary["spark"] == {
        "application_id": spark.sparkContext.applicationId,
        "master": spark.sparkContext.master,
        "ui": spark.sparkContext.uiWebUrl,
        "event_log_dir": None,  # the test session keeps no event log
    }


def test_a_rerun_resumes_at_the_failed_stage_and_pins_each_stage_to_the_one_before(spark, gated_then_resumed):
    s, first, _, second = gated_then_resumed
    assert second.exit_code == 0, second.output
    one, two = _summary(first), _summary(second)
    assert (two["run_id"], two["attempt"], two["resumed"], two["status"], two["exit_code"]) == (
        one["run_id"],
        2,
        True,
        "done",
        0,
    )
    stages = {st["stage"]: st for st in two["stages"]}
    assert [(st["stage"], st["status"], st["attempt"]) for st in two["stages"]] == [
        ("ingest", "carried", 1),
        ("classify", "done", 2),
        ("economy", "done", 2),
        ("release", "done", 2),
    ]
    t = Tables(s)
    batches = lake.read(spark, t.batches).filter("status = 'committed'").collect()
    assert [b.batch_id for b in batches] == [stages["ingest"]["outputs"]["batch_id"]]  # no second ingest
    ingested = job.pins(stages["ingest"]["outputs"])
    classified = stages["classify"]["result"]
    assert classified["input_versions"] == ingested
    assert {f"gold.{k}": v for k, v in classified["output_versions"].items()} == job.pins(stages["classify"]["outputs"])
    released = stages["release"]["result"]
    for table in ("gold.enterprise_labels", "gold.app_sessions_daily"):
        assert released["input_versions"][table] == classified["output_versions"][table.removeprefix("gold.")]
    assert released["classification_run"] == classified["mlflow_run"] == stages["classify"]["outputs"]["mlflow_run"]
    assert released["economy_run"] == stages["economy"]["outputs"]["mlflow_run"]
    assert classified["evaluation"]["precision"] == 1.0
    assert [r.info.run_id for r in _runs(s, "index-release")] == [released["mlflow_run"]]

    records = lake.read(spark, t.path("ops.pipeline_runs")).orderBy("at", "attempt").collect()
    assert {r.run_id for r in records} == {one["run_id"]}
    assert [(r.attempt, r.stage, r.status, r.exit_code) for r in records] == [
        (1, "run", "started", None),
        (1, "ingest", "started", None),
        (1, "ingest", "done", None),
        (1, "classify", "started", None),
        (1, "classify", "failed", 3),
        (1, "run", "failed", 3),
        (2, "run", "started", None),
        (2, "classify", "started", None),
        (2, "classify", "done", None),
        (2, "economy", "started", None),
        (2, "economy", "done", None),
        (2, "release", "started", None),
        (2, "release", "done", None),
        (2, "run", "done", None),
    ]
    assert f"resuming run {one['run_id']} (attempt 2): ingest done before" in second.output
    assert f"run {one['run_id']} done (attempt 2)" in second.output


def test_an_overlapping_run_is_refused_with_exit_code_4(spark, settings, generated, tmp_path_factory, monkeypatch):
    s = _settings(settings, tmp_path_factory, generated.landing, "busy_lake")
    taken, release = threading.Event(), threading.Event()

    def other_job() -> None:
        with held(spark, Tables(s).lease, "classify", 20):
            taken.set()
            release.wait(120)

    holder = threading.Thread(target=other_job)
    holder.start()
    try:
        assert taken.wait(120)
        res = _invoke(spark, monkeypatch, s)
    finally:
        release.set()
        holder.join()
    assert res.exit_code == 4, res.output
    summary = _summary(res)
    assert (summary["exit_kind"], summary["error"]["stage"], summary["stages"]) == ("busy", "run", [])
    assert summary["error"]["message"].startswith("another job is writing this lakehouse: iiap classify on host ")
    assert not lake.exists(spark, Tables(s).path("ops.pipeline_runs"))


def test_a_missing_input_blocks_the_run_with_exit_code_5(spark, settings, generated, tmp_path_factory, monkeypatch):
    s = _settings(settings, tmp_path_factory, generated.landing, "empty_lake")
    res = _invoke(spark, monkeypatch, s, "--from", "classify", "--to", "classify")
    assert res.exit_code == 5, res.output
    summary = _summary(res)
    assert summary["error"]["message"] == (
        f"silver.logins ({s.lakehouse}/silver/logins) does not exist: run iiap ingest first"
    )
    assert [(st["stage"], st["status"]) for st in summary["stages"]] == [("classify", "failed")]


def test_an_unexpected_failure_exits_1_with_its_traceback(spark, settings, generated, tmp_path_factory, monkeypatch):
    s = _settings(settings, tmp_path_factory, generated.landing, "boom_lake")

    def boom(ctx):
        raise RuntimeError("boom in the economy stage")

    monkeypatch.setitem(job.RUNNERS, "economy", boom)
    out = tmp_path_factory.mktemp("scheduler") / "last_run.json"
    res = _invoke(spark, monkeypatch, s, "--from", "economy", "--to", "economy", "--summary", str(out))
    assert res.exit_code == 1, res.output
    summary = json.loads(out.read_text(encoding="utf-8"))
    assert summary == _summary(res)
    assert (summary["error"]["kind"], summary["error"]["message"]) == ("failed", "boom in the economy stage")
    assert summary["error"]["traceback"].endswith("RuntimeError: boom in the economy stage\n")
    assert "Traceback (most recent call last)" in res.output


def test_a_configuration_error_exits_2_before_any_stage(spark, settings, generated, tmp_path_factory, monkeypatch):
    s = _settings(settings, tmp_path_factory, generated.landing, "conf_lake")
    conf = tmp_path_factory.mktemp("bad_conf") / "conf"
    shutil.copytree(s.conf_dir, conf)
    (conf / "classification.yaml").write_text("default_rule_set: [unclosed\n", encoding="utf-8")
    res = _invoke(spark, monkeypatch, s.model_copy(update={"conf_dir": conf}))
    assert res.exit_code == 2, res.output
    assert res.output.startswith("Error: invalid configuration:\n") and "classification.yaml" in res.output
    res = _invoke(spark, monkeypatch, s, "--from", "release", "--to", "ingest")
    assert res.exit_code == 2
    assert "--from release comes after --to ingest" in res.output
    assert not lake.exists(spark, Tables(s).path("ops.pipeline_runs"))
